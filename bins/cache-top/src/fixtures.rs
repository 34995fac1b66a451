//! Fixed `INFO` texts and reports for the unit and rendering tests, shaped like what
//! cache-node and cache-proxy send.

use std::time::{Duration, Instant};

use crate::poll::{Outcome, ProxyEvents, Report};
use crate::stats;

/// A node's figures, for [`node_info`].
#[derive(Debug, Clone)]
pub struct Node {
    pub run_id: &'static str,
    pub commands: u64,
    pub hits: u64,
    pub misses: u64,
    pub evicted: u64,
    pub expired: u64,
    pub used: u64,
    pub max: u64,
    pub items: u64,
    pub clients: u64,
    pub policy: &'static str,
    pub get_calls: u64,
    pub get_usec: u64,
}

impl Default for Node {
    fn default() -> Node {
        Node {
            run_id: "1111111111111111111111111111111111111111",
            commands: 1000,
            hits: 300,
            misses: 100,
            evicted: 0,
            expired: 0,
            used: 16 * 1024 * 1024,
            max: 64 * 1024 * 1024,
            items: 5000,
            clients: 3,
            policy: "w-tinylfu",
            get_calls: 400,
            get_usec: 800,
        }
    }
}

/// The fields of `INFO all` from a cache-node, without section headers (as the proxy relays
/// them) when `headers` is false.
pub fn node_lines(n: &Node, headers: bool) -> String {
    let mut out = String::new();
    let mut section = |name: &str, lines: &[String]| {
        if headers {
            out.push_str(&format!("# {name}\r\n"));
        }
        for line in lines {
            out.push_str(line);
            out.push_str("\r\n");
        }
        if headers {
            out.push_str("\r\n");
        }
    };
    section(
        "Server",
        &[
            "redis_version:7.2.0".into(),
            "cache_node_version:0.1.0".into(),
            format!("run_id:{}", n.run_id),
            "uptime_in_seconds:3700".into(),
        ],
    );
    section(
        "Clients",
        &[
            format!("connected_clients:{}", n.clients),
            "maxclients:10000".into(),
        ],
    );
    section(
        "Memory",
        &[
            format!("used_memory:{}", n.used),
            "used_memory_rss:41943040".into(),
            format!("maxmemory:{}", n.max),
            format!("maxmemory_policy:{}", n.policy),
            "mem_fragmentation_ratio:2.50".into(),
            format!("items:{}", n.items),
        ],
    );
    section(
        "Persistence",
        &["persistence:disabled".into(), "aof_enabled:0".into()],
    );
    section(
        "Stats",
        &[
            format!("total_commands_processed:{}", n.commands),
            "total_net_input_bytes:10000".into(),
            "total_net_output_bytes:20000".into(),
            format!("expired_keys:{}", n.expired),
            format!("evicted_keys:{}", n.evicted),
            format!("keyspace_hits:{}", n.hits),
            format!("keyspace_misses:{}", n.misses),
        ],
    );
    section(
        "Commandstats",
        &[
            format!(
                "cmdstat_get:calls={},usec={},usec_per_call=2.00,rejected_calls=0,failed_calls=0",
                n.get_calls, n.get_usec
            ),
            "cmdstat_set:calls=200,usec=600,usec_per_call=3.00,rejected_calls=0,failed_calls=0"
                .into(),
            "cmdstat_info:calls=10,usec=2000,usec_per_call=200.00,rejected_calls=0,failed_calls=0"
                .into(),
        ],
    );
    section(
        "Latencystats",
        &[
            "latency_percentiles_usec_get:p50=1.500,p99=12.000,p99.9=40.000".into(),
            "latency_percentiles_usec_set:p50=2.500,p99=20.000,p99.9=60.000".into(),
            "latency_percentiles_usec_info:p50=150.000,p99=900.000,p99.9=950.000".into(),
            "data_latency_percentiles_usec:p50=2.000,p99=15.000,p99.9=50.000".into(),
        ],
    );
    section(
        "Keyspace",
        &[format!("db0:keys={},expires=0,avg_ttl=0", n.items)],
    );
    out
}

/// A node's own `INFO all`.
pub fn node_info(n: &Node) -> String {
    node_lines(n, true)
}

/// A proxy's `INFO all` over `nodes`: `(name, state, figures if the proxy reached it)`.
pub fn proxy_info(
    commands: u64,
    events_total: u64,
    nodes: &[(&str, &str, Option<&Node>)],
) -> String {
    let up = nodes.iter().filter(|(_, s, _)| *s == "up").count();
    let mut out = format!(
        "# Proxy\r\nproxy_version:0.1.0\r\nredis_version:7.2.0\r\nrun_id:proxy1\r\nuptime_in_seconds:60\r\n\
         connected_clients:7\r\ntotal_commands_processed:{commands}\r\ndistribution:maglev\r\n\
         down_mode:remap\r\nnodes:{}\r\nnodes_up:{up}\r\nevents_total:{events_total}\r\n\r\n\
         # Cluster\r\nkeys:0\r\n\r\n",
        nodes.len()
    );
    for (name, state, figures) in nodes {
        out.push_str(&format!(
            "# Node {name}\r\nendpoint:tcp://{name}\r\nstate:{state}\r\nweight:1\r\nrequests:5\r\nfailures:0\r\n"
        ));
        if let Some(figures) = figures {
            out.push_str(&node_lines(figures, false));
        }
        out.push_str("\r\n");
    }
    out
}

/// A report that target `target` answered with `text` at `base + seconds`.
pub fn answered(target: usize, base: Instant, seconds: f64, text: &str) -> Report {
    Report {
        target,
        at: base + Duration::from_secs_f64(seconds),
        outcome: Outcome::Answered {
            info: stats::parse(text),
            events: None,
        },
    }
}

/// As [`answered`], with the proxy's event list.
pub fn answered_with_events(
    target: usize,
    base: Instant,
    seconds: f64,
    text: &str,
    total: u64,
    list: &[&str],
) -> Report {
    let mut report = answered(target, base, seconds, text);
    if let Outcome::Answered { events, .. } = &mut report.outcome {
        *events = Some(ProxyEvents {
            total,
            list: list.iter().map(|s| (*s).to_owned()).collect(),
        });
    }
    report
}

/// A failed poll of `target` at `base + seconds`.
pub fn failed(target: usize, base: Instant, seconds: f64, error: &str) -> Report {
    Report {
        target,
        at: base + Duration::from_secs_f64(seconds),
        outcome: Outcome::Failed {
            error: error.to_owned(),
            retry_in: Duration::from_secs(2),
        },
    }
}
