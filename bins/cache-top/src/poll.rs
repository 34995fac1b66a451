//! Data collection: one task per target asks `INFO all` every interval (and, on a proxy,
//! `PROXY EVENTS` when its event count moved) and sends what it got on the data channel.
//!
//! A target that does not answer is reported as failed and retried with exponential backoff;
//! every call is bounded by the connection's timeout, so a dead server delays only its own
//! task, never the screen.

use std::time::{Duration, Instant};

use cache_client::{ConnectOptions, Connection};
use cache_wire::Response;
use cache_wire::endpoint::Endpoint;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::app::Event;
use crate::stats::{self, Parsed};

/// The longest wait between two attempts at a target that does not answer.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One poll of one target.
#[derive(Debug, Clone)]
pub struct Report {
    /// Index of the target in [`Config::targets`](crate::Config::targets).
    pub target: usize,
    /// When the reply arrived (or the attempt failed).
    pub at: Instant,
    pub outcome: Outcome,
}

/// What a poll found.
#[derive(Debug, Clone)]
pub enum Outcome {
    Answered {
        info: Parsed,
        /// A proxy's `PROXY EVENTS`, fetched when its `events_total` changed.
        events: Option<ProxyEvents>,
    },
    Failed {
        error: String,
        /// When the next attempt comes.
        retry_in: Duration,
    },
}

/// A proxy's recent events and the count of events it noted up to the newest of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyEvents {
    pub total: u64,
    /// Oldest first; the proxy keeps the last 64.
    pub list: Vec<String>,
}

/// The wait before attempt `failures + 1` after `failures` failures in a row: one interval,
/// then doubling, at most [`MAX_BACKOFF`] (but never less than the interval).
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    let doubled = interval.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    doubled.min(MAX_BACKOFF).max(interval)
}

/// Starts a poller per target; they stop when the channel's receiver is gone or the set is
/// dropped.
pub fn spawn(config: &crate::Config, events: &mpsc::Sender<Event>) -> JoinSet<()> {
    let mut set = JoinSet::new();
    for (index, endpoint) in config.targets.iter().enumerate() {
        set.spawn(poll_target(
            index,
            endpoint.clone(),
            config.connect.clone(),
            config.interval,
            events.clone(),
        ));
    }
    set
}

/// Polls one target until the receiver goes away.
pub async fn poll_target(
    target: usize,
    endpoint: Endpoint,
    options: ConnectOptions,
    interval: Duration,
    events: mpsc::Sender<Event>,
) {
    let mut poller = Poller {
        endpoint,
        options,
        connection: None,
        events_total: None,
    };
    let mut failures = 0u32;
    let mut next = tokio::time::Instant::now();
    loop {
        tokio::time::sleep_until(next).await;
        let started = tokio::time::Instant::now();
        let outcome = match poller.poll().await {
            Ok((info, listed)) => {
                failures = 0;
                next = started + interval;
                Outcome::Answered {
                    info,
                    events: listed,
                }
            }
            Err(error) => {
                // The client's errors start with the endpoint, which the screen already shows.
                let prefix = format!("{}: ", poller.endpoint);
                let error = error
                    .strip_prefix(&prefix)
                    .map_or(error.clone(), str::to_owned);
                poller.connection = None;
                failures = failures.saturating_add(1);
                let retry_in = backoff(interval, failures);
                next = tokio::time::Instant::now() + retry_in;
                Outcome::Failed { error, retry_in }
            }
        };
        let report = Report {
            target,
            at: Instant::now(),
            outcome,
        };
        if events.send(Event::Report(report)).await.is_err() {
            return;
        }
    }
}

struct Poller {
    endpoint: Endpoint,
    options: ConnectOptions,
    connection: Option<Connection>,
    /// The proxy's `events_total` when its events were last fetched.
    events_total: Option<u64>,
}

impl Poller {
    async fn poll(&mut self) -> Result<(Parsed, Option<ProxyEvents>), String> {
        let connection = match self.connection.as_ref().filter(|c| !c.is_closed()) {
            Some(c) => c.clone(),
            None => {
                let c = Connection::connect(&self.endpoint, &self.options)
                    .await
                    .map_err(|e| e.to_string())?;
                self.connection = Some(c.clone());
                c
            }
        };
        let info = stats::parse(&info_text(&connection, "all").await?);
        let mut events = None;
        if let Parsed::Proxy(proxy) = &info
            && let Some(total) = proxy.events_total
            && Some(total) != self.events_total
        {
            events = self.events(&connection, total).await?;
        }
        Ok((info, events))
    }

    /// The proxy's event list together with the exact count it reflects. The list and the
    /// count are two replies, so the count is read again after the list: if it did not move,
    /// no event came in between. Events are rare; after a few moving tries the list waits for
    /// the next poll.
    async fn events(
        &mut self,
        connection: &Connection,
        mut total: u64,
    ) -> Result<Option<ProxyEvents>, String> {
        for _ in 0..3 {
            let list = match call(connection, &["PROXY", "EVENTS"]).await? {
                Response::Array(items) => items
                    .into_iter()
                    .filter_map(|item| match item {
                        Response::Bulk(b) | Response::Verbatim(b) => {
                            Some(String::from_utf8_lossy(&b).into_owned())
                        }
                        _ => None,
                    })
                    .collect(),
                other => return Err(format!("unexpected reply to PROXY EVENTS: {other:?}")),
            };
            let after = match stats::parse(&info_text(connection, "proxy").await?) {
                Parsed::Proxy(proxy) => proxy.events_total,
                Parsed::Node(_) => None,
            };
            if after == Some(total) {
                self.events_total = Some(total);
                return Ok(Some(ProxyEvents { total, list }));
            }
            match after {
                Some(moved) => total = moved,
                None => return Ok(None),
            }
        }
        Ok(None)
    }
}

async fn info_text(connection: &Connection, section: &str) -> Result<String, String> {
    match call(connection, &["INFO", section]).await? {
        Response::Bulk(b) | Response::Verbatim(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        other => Err(format!("unexpected reply to INFO: {other:?}")),
    }
}

/// A call whose error reply is an error too.
async fn call(connection: &Connection, args: &[&str]) -> Result<Response, String> {
    match connection.call(args).await {
        Ok(Response::Error(text)) => Err(format!("{} refused: {text}", args.join(" "))),
        Ok(reply) => Ok(reply),
        Err(error) => Err(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_bound() {
        let second = Duration::from_secs(1);
        assert_eq!(backoff(second, 1), second);
        assert_eq!(backoff(second, 2), 2 * second);
        assert_eq!(backoff(second, 4), 8 * second);
        assert_eq!(backoff(second, 40), MAX_BACKOFF);
        let slow = Duration::from_secs(60);
        assert_eq!(backoff(slow, 3), slow, "never sooner than the interval");
    }
}
