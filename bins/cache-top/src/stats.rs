//! What an `INFO` reply says, typed; rates from two replies; a bounded history.
//!
//! Pure functions over text and numbers: no I/O and no clock (the time between two replies is
//! an argument), so rate and counter-reset handling are unit-tested here.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// The counters cache-top turns into rates: they only grow, until a restart or
/// `CONFIG RESETSTAT` sets them back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    /// `total_commands_processed`.
    pub commands: u64,
    /// `keyspace_hits`.
    pub hits: u64,
    /// `keyspace_misses`.
    pub misses: u64,
    /// `evicted_keys`.
    pub evicted: u64,
    /// `expired_keys`.
    pub expired: u64,
    /// `total_net_input_bytes`.
    pub net_input: u64,
    /// `total_net_output_bytes`.
    pub net_output: u64,
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
}

/// One command's line of `commandstats`, with its `latencystats` percentiles when reported.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CommandInfo {
    pub name: String,
    pub calls: u64,
    /// Total time spent, microseconds.
    pub usec: u64,
    pub failed: u64,
    pub latency: Option<Percentiles>,
}

/// Everything cache-top shows about one server, from its `INFO all`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct NodeInfo {
    /// Random per process start; a new one means the server restarted.
    pub run_id: Option<String>,
    /// `cache_node_version`, or `redis_version` for another server.
    pub version: Option<String>,
    pub uptime_seconds: Option<u64>,
    pub counters: Counters,
    pub used_memory: u64,
    /// 0 = no budget.
    pub maxmemory: u64,
    pub rss: Option<u64>,
    pub fragmentation: Option<f64>,
    pub items: u64,
    pub expiring_items: Option<u64>,
    pub policy: Option<String>,
    pub clients: u64,
    /// The latency of the commands that read or write keys, all merged; for a server that does
    /// not report that, the worst of its per-command percentiles (an upper bound).
    pub latency: Option<Percentiles>,
    pub commands: Vec<CommandInfo>,
    /// `aof` or `disabled`; `None` when the server does not say.
    pub persistence: Option<String>,
    pub aof_size: Option<u64>,
    /// `aof_last_write_status` (`ok` / `err`).
    pub aof_status: Option<String>,
}

/// One node as the proxy reports it: its state in the proxy's failure detector, and its own
/// fields when the proxy could reach it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyNode {
    pub name: String,
    pub endpoint: String,
    /// `up`, `suspect`, `down`, `rejoining` or `unknown`.
    pub state: String,
    pub info: Option<NodeInfo>,
}

/// A proxy's `INFO`: its own counters and its view of every node.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyInfo {
    pub run_id: Option<String>,
    pub version: Option<String>,
    /// Commands the proxy answered (what its clients sent).
    pub commands: u64,
    pub clients: u64,
    /// Events the proxy noted since it started (`PROXY EVENTS` keeps the last 64).
    pub events_total: Option<u64>,
    pub nodes: Vec<ProxyNode>,
}

/// What an `INFO` reply came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Node(Box<NodeInfo>),
    Proxy(ProxyInfo),
}

/// `INFO` text as `(section, field, value)` in order; the section is the last `# Name` line.
fn fields(text: &str) -> Vec<(&str, &str, &str)> {
    let mut section = "";
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(name) = line.strip_prefix('#') {
            section = name.trim();
        } else if let Some((key, value)) = line.split_once(':') {
            out.push((section, key, value));
        }
    }
    out
}

/// Reads an `INFO` reply: a proxy's (it has a `# Proxy` section) or a single server's.
pub fn parse(text: &str) -> Parsed {
    let all = fields(text);
    if !all.iter().any(|(section, _, _)| *section == "Proxy") {
        let map = all.iter().map(|(_, k, v)| (*k, *v)).collect();
        return Parsed::Node(Box::new(node_info(&map)));
    }
    let own: BTreeMap<&str, &str> = all
        .iter()
        .filter(|(s, _, _)| *s == "Proxy")
        .map(|(_, k, v)| (*k, *v))
        .collect();
    let mut nodes: Vec<(String, BTreeMap<&str, &str>)> = Vec::new();
    for (section, key, value) in &all {
        let Some(name) = section.strip_prefix("Node ") else {
            continue;
        };
        if nodes.last().is_none_or(|(n, _)| n != name) {
            nodes.push((name.to_owned(), BTreeMap::new()));
        }
        if let Some((_, map)) = nodes.last_mut() {
            map.insert(key, value);
        }
    }
    Parsed::Proxy(ProxyInfo {
        run_id: own.get("run_id").map(|s| (*s).to_owned()),
        version: own.get("proxy_version").map(|s| (*s).to_owned()),
        commands: number(&own, "total_commands_processed").unwrap_or(0),
        clients: number(&own, "connected_clients").unwrap_or(0),
        events_total: number(&own, "events_total"),
        nodes: nodes
            .into_iter()
            .map(|(name, map)| ProxyNode {
                endpoint: map.get("endpoint").copied().unwrap_or(&name).to_owned(),
                state: map.get("state").copied().unwrap_or("unknown").to_owned(),
                // A node the proxy could not ask has only the proxy's own lines about it.
                info: map.contains_key("run_id").then(|| node_info(&map)),
                name,
            })
            .collect(),
    })
}

fn number<T: std::str::FromStr>(map: &BTreeMap<&str, &str>, key: &str) -> Option<T> {
    map.get(key).and_then(|v| v.trim().parse().ok())
}

/// `k=v,k=v` into pairs.
fn pairs(value: &str) -> impl Iterator<Item = (&str, &str)> {
    value.split(',').filter_map(|kv| kv.split_once('='))
}

/// `p50=..,p99=..,p99.9=..`.
fn percentiles(value: &str) -> Option<Percentiles> {
    let mut out = Percentiles::default();
    let mut seen = false;
    for (k, v) in pairs(value) {
        let Ok(v) = v.parse::<f64>() else { continue };
        match k {
            "p50" => out.p50 = v,
            "p99" => {
                out.p99 = v;
                seen = true;
            }
            "p99.9" => out.p999 = v,
            _ => {}
        }
    }
    seen.then_some(out)
}

/// Commands that do not touch keys: left out of the upper-bound latency of a server that does
/// not report `data_latency_percentiles_usec`, since monitors and probes call them.
const ADMIN_COMMANDS: [&str; 12] = [
    "info",
    "config",
    "client",
    "command",
    "ping",
    "hello",
    "auth",
    "select",
    "echo",
    "quit",
    "save",
    "bgrewriteaof",
];

fn node_info(map: &BTreeMap<&str, &str>) -> NodeInfo {
    let mut commands: Vec<CommandInfo> = map
        .iter()
        .filter_map(|(key, value)| {
            let name = key.strip_prefix("cmdstat_")?;
            let mut command = CommandInfo {
                name: name.to_owned(),
                calls: 0,
                usec: 0,
                failed: 0,
                latency: map
                    .get(format!("latency_percentiles_usec_{name}").as_str())
                    .and_then(|v| percentiles(v)),
            };
            for (k, v) in pairs(value) {
                let v = v.parse().unwrap_or(0);
                match k {
                    "calls" => command.calls = v,
                    "usec" => command.usec = v,
                    "failed_calls" => command.failed = v,
                    _ => {}
                }
            }
            Some(command)
        })
        .collect();
    commands.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.name.cmp(&b.name)));
    let keyspace = |key: &str| {
        map.get("db0")
            .and_then(|v| pairs(v).find(|(k, _)| *k == key))
            .and_then(|(_, v)| v.parse::<u64>().ok())
    };
    let latency = map
        .get("data_latency_percentiles_usec")
        .and_then(|v| percentiles(v))
        .or_else(|| {
            commands
                .iter()
                .filter(|c| !ADMIN_COMMANDS.contains(&c.name.as_str()))
                .filter_map(|c| c.latency)
                .reduce(|a, b| Percentiles {
                    p50: a.p50.max(b.p50),
                    p99: a.p99.max(b.p99),
                    p999: a.p999.max(b.p999),
                })
        });
    NodeInfo {
        run_id: map.get("run_id").map(|s| (*s).to_owned()),
        version: map
            .get("cache_node_version")
            .or_else(|| map.get("redis_version"))
            .map(|s| (*s).to_owned()),
        uptime_seconds: number(map, "uptime_in_seconds"),
        counters: Counters {
            commands: number(map, "total_commands_processed").unwrap_or(0),
            hits: number(map, "keyspace_hits").unwrap_or(0),
            misses: number(map, "keyspace_misses").unwrap_or(0),
            evicted: number(map, "evicted_keys").unwrap_or(0),
            expired: number(map, "expired_keys").unwrap_or(0),
            net_input: number(map, "total_net_input_bytes").unwrap_or(0),
            net_output: number(map, "total_net_output_bytes").unwrap_or(0),
        },
        used_memory: number(map, "used_memory").unwrap_or(0),
        maxmemory: number(map, "maxmemory").unwrap_or(0),
        rss: number(map, "used_memory_rss"),
        fragmentation: number(map, "mem_fragmentation_ratio"),
        // Redis has no `items`; its keyspace line counts the same thing.
        items: number(map, "items")
            .or_else(|| keyspace("keys"))
            .unwrap_or(0),
        expiring_items: keyspace("expires"),
        policy: map.get("maxmemory_policy").map(|s| (*s).to_owned()),
        clients: number(map, "connected_clients").unwrap_or(0),
        latency,
        commands,
        persistence: map.get("persistence").map(|s| (*s).to_owned()).or_else(|| {
            match number::<u8>(map, "aof_enabled") {
                Some(1) => Some("aof".to_owned()),
                Some(_) => Some("disabled".to_owned()),
                None => None,
            }
        }),
        aof_size: number(map, "aof_current_size"),
        aof_status: map.get("aof_last_write_status").map(|s| (*s).to_owned()),
    }
}

/// How much a counter grew. A counter that went down was reset (a restart or
/// `CONFIG RESETSTAT`) in between, and everything it holds now happened since; so does
/// everything it holds when the caller knows of a reset (a new `run_id`) even if the
/// counter happens to be higher than before.
pub fn counter_delta(previous: u64, current: u64, reset: bool) -> u64 {
    if reset || current < previous {
        current
    } else {
        current - previous
    }
}

/// Per-second rates over one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Rates {
    pub ops: f64,
    pub hits: f64,
    pub misses: f64,
    pub evicted: f64,
    pub expired: f64,
    pub net_input: f64,
    pub net_output: f64,
}

impl Rates {
    /// Counter growth between two samples `elapsed` apart; `None` if no time passed.
    pub fn between(
        previous: &Counters,
        current: &Counters,
        elapsed: Duration,
        reset: bool,
    ) -> Option<Rates> {
        let seconds = elapsed.as_secs_f64();
        if seconds <= 0.0 {
            return None;
        }
        let rate = |p: u64, c: u64| counter_delta(p, c, reset) as f64 / seconds;
        Some(Rates {
            ops: rate(previous.commands, current.commands),
            hits: rate(previous.hits, current.hits),
            misses: rate(previous.misses, current.misses),
            evicted: rate(previous.evicted, current.evicted),
            expired: rate(previous.expired, current.expired),
            net_input: rate(previous.net_input, current.net_input),
            net_output: rate(previous.net_output, current.net_output),
        })
    }

    /// Hits over lookups in the interval; `None` if there were no lookups.
    pub fn hit_ratio(&self) -> Option<f64> {
        ratio(self.hits, self.misses)
    }

    /// The sum of two nodes' rates.
    pub fn add(&self, other: &Rates) -> Rates {
        Rates {
            ops: self.ops + other.ops,
            hits: self.hits + other.hits,
            misses: self.misses + other.misses,
            evicted: self.evicted + other.evicted,
            expired: self.expired + other.expired,
            net_input: self.net_input + other.net_input,
            net_output: self.net_output + other.net_output,
        }
    }
}

/// `hits / (hits + misses)`, `None` when both are zero.
pub fn ratio(hits: f64, misses: f64) -> Option<f64> {
    let lookups = hits + misses;
    (lookups > 0.0).then(|| hits / lookups)
}

/// One command over one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct CommandRate {
    pub calls_per_sec: f64,
    /// Mean time per call in the interval, microseconds; `None` without calls.
    pub usec_per_call: Option<f64>,
}

/// Per-command rates between two samples, by command name.
pub fn command_rates(
    previous: &[CommandInfo],
    current: &[CommandInfo],
    elapsed: Duration,
    reset: bool,
) -> BTreeMap<String, CommandRate> {
    let seconds = elapsed.as_secs_f64();
    if seconds <= 0.0 {
        return BTreeMap::new();
    }
    current
        .iter()
        .map(|now| {
            let before = previous.iter().find(|p| p.name == now.name);
            // A command absent before had zero calls then.
            let (calls, usec) = match before {
                Some(b) => (
                    counter_delta(b.calls, now.calls, reset),
                    counter_delta(b.usec, now.usec, reset || now.calls < b.calls),
                ),
                None => (now.calls, now.usec),
            };
            let rate = CommandRate {
                calls_per_sec: calls as f64 / seconds,
                usec_per_call: (calls > 0).then(|| usec as f64 / calls as f64),
            };
            (now.name.clone(), rate)
        })
        .collect()
}

/// The last `capacity` values, oldest first.
#[derive(Debug, Clone)]
pub struct History<T> {
    capacity: usize,
    values: VecDeque<T>,
}

impl<T: Clone> History<T> {
    /// An empty history of at most `capacity` values (at least one).
    pub fn new(capacity: usize) -> History<T> {
        History {
            capacity: capacity.max(1),
            values: VecDeque::new(),
        }
    }

    /// Appends a value, dropping the oldest when full.
    pub fn push(&mut self, value: T) {
        if self.values.len() == self.capacity {
            self.values.pop_front();
        }
        self.values.push_back(value);
    }

    /// Newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &T> {
        self.values.iter().rev()
    }

    pub fn latest(&self) -> Option<&T> {
        self.values.back()
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests;
