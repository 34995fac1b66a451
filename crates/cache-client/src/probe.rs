//! Probing a node over its own protocol: `INFO server memory`, read for `run_id` (the
//! generation), uptime and memory. Works against any Redis-protocol server, so a proxy can
//! sit in front of nodes that have no admin port reachable.

use cache_health::NodeHealth;
use cache_health::probe::Prober;
use cache_wire::Response;
use cache_wire::endpoint::Endpoint;
use tokio::sync::Mutex;

use crate::connection::{ConnectOptions, Connection};

/// A [`Prober`] that keeps one connection to its node and reconnects when it breaks.
#[derive(Debug)]
pub struct InfoProber {
    endpoint: Endpoint,
    options: ConnectOptions,
    connection: Mutex<Option<Connection>>,
}

impl InfoProber {
    pub fn new(endpoint: Endpoint, options: ConnectOptions) -> InfoProber {
        InfoProber {
            endpoint,
            options,
            connection: Mutex::new(None),
        }
    }
}

/// Reads the health fields out of an `INFO` text.
pub fn parse_info(text: &str) -> Option<NodeHealth> {
    let mut health = NodeHealth::default();
    for line in text.lines() {
        let Some((key, value)) = line.trim_end().split_once(':') else {
            continue;
        };
        match key {
            "run_id" => health.generation = value.to_owned(),
            "uptime_in_seconds" => health.uptime_seconds = value.parse().unwrap_or(0),
            "used_memory" => health.used_memory = value.parse().unwrap_or(0),
            "maxmemory" => health.maxmemory = value.parse().unwrap_or(0),
            _ => {}
        }
    }
    (!health.generation.is_empty()).then_some(health)
}

impl Prober for InfoProber {
    async fn probe(&self) -> Result<NodeHealth, String> {
        let mut slot = self.connection.lock().await;
        let connection = match slot.as_ref().filter(|c| !c.is_closed()) {
            Some(c) => c.clone(),
            None => {
                let c = Connection::connect(&self.endpoint, &self.options)
                    .await
                    .map_err(|e| e.to_string())?;
                *slot = Some(c.clone());
                c
            }
        };
        drop(slot);
        let reply = connection
            .call(&["INFO", "server", "memory"])
            .await
            .map_err(|e| e.to_string())?;
        let text = match reply {
            Response::Bulk(b) | Response::Verbatim(b) => String::from_utf8_lossy(&b).into_owned(),
            Response::Error(e) => return Err(e.into_owned()),
            other => return Err(format!("unexpected INFO reply {other:?}")),
        };
        parse_info(&text).ok_or_else(|| "INFO has no run_id".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_generation_uptime_and_memory() {
        let text = "# Server\r\nrun_id:abc\r\nuptime_in_seconds:12\r\n# Memory\r\nused_memory:100\r\nmaxmemory:0\r\n";
        let health = parse_info(text).unwrap();
        assert_eq!(health.generation, "abc");
        assert_eq!(health.uptime_seconds, 12);
        assert_eq!(health.used_memory, 100);
        assert!(parse_info("# Server\r\n").is_none());
    }
}
