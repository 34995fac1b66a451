//! `INFO` and `CLIENT LIST` text, with Redis's section and field names where Redis has them.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::node::{ClientView, Node};

/// The Redis version whose commands and replies this node follows; reported where clients look
/// for a Redis version (`redis_version`, `HELLO`).
pub use cache_wire::session::REDIS_COMPAT_VERSION;

const DEFAULT_SECTIONS: [&str; 9] = [
    "server",
    "clients",
    "memory",
    "persistence",
    "tier",
    "origin",
    "stats",
    "replication",
    "keyspace",
];
const ALL_SECTIONS: [&str; 12] = [
    "server",
    "clients",
    "memory",
    "persistence",
    "tier",
    "origin",
    "stats",
    "replication",
    "cpu",
    "commandstats",
    "latencystats",
    "keyspace",
];

/// The `INFO` text for the requested sections (`all`, `everything`, `default` or names).
pub fn render(node: &Node, requested: &[Bytes]) -> String {
    let wanted: Vec<&str> = if requested.is_empty() {
        DEFAULT_SECTIONS.to_vec()
    } else {
        let mut wanted = Vec::new();
        for r in requested {
            match &r[..] {
                b"all" | b"everything" => wanted.extend(ALL_SECTIONS),
                b"default" => wanted.extend(DEFAULT_SECTIONS),
                other => {
                    if let Some(s) = ALL_SECTIONS.iter().find(|s| s.as_bytes() == other) {
                        wanted.push(s);
                    }
                }
            }
        }
        wanted
    };
    let mut out = String::new();
    for section in ALL_SECTIONS.iter().filter(|s| wanted.contains(s)) {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let _ = writeln!(out, "# {}\r", capitalize(section));
        let fields = match *section {
            "server" => server(node),
            "clients" => clients(node),
            "memory" => memory(node),
            "persistence" => persistence(node),
            "tier" => tier(node),
            "origin" => origin(node),
            "stats" => stats(node),
            "replication" => vec![
                ("role".into(), "master".into()),
                ("connected_slaves".into(), "0".into()),
            ],
            "cpu" => cpu(),
            "commandstats" => commandstats(node),
            "latencystats" => latencystats(node),
            "keyspace" => keyspace(node),
            _ => Vec::new(),
        };
        for (k, v) in fields {
            let _ = write!(out, "{k}:{v}\r\n");
        }
    }
    out
}

type Fields = Vec<(String, String)>;

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

fn f(k: &str, v: impl ToString) -> (String, String) {
    (k.to_owned(), v.to_string())
}

fn server(node: &Node) -> Fields {
    let listening = node.listening.read().clone();
    let tcp_port = listening
        .iter()
        .find_map(|e| {
            e.strip_prefix("tcp://")
                .and_then(|a| a.rsplit_once(':'))
                .map(|(_, p)| p.to_owned())
        })
        .unwrap_or_else(|| "0".to_owned());
    let uptime = node.uptime_ms() / 1000;
    vec![
        f("redis_version", REDIS_COMPAT_VERSION),
        f("cache_node_version", env!("CARGO_PKG_VERSION")),
        f("redis_mode", "standalone"),
        f("os", std::env::consts::OS),
        f("arch_bits", usize::BITS),
        f("process_id", std::process::id()),
        f("run_id", &node.run_id),
        f("tcp_port", tcp_port),
        f("listening", listening.join(",")),
        f("uptime_in_seconds", uptime),
        f("uptime_in_days", uptime / 86_400),
        f("hz", node.hz),
        f(
            "executable",
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
    ]
}

fn clients(node: &Node) -> Fields {
    vec![
        f(
            "connected_clients",
            node.stats.connected_clients.load(Ordering::Relaxed),
        ),
        f("maxclients", node.params.read().maxclients),
        f("blocked_clients", 0),
    ]
}

/// Resident set size of this process in bytes, from `/proc/self/statm` (0 where unavailable).
pub fn rss_bytes() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// `1.50M`-style sizes as Redis prints them.
pub fn human(bytes: u64) -> String {
    const UNITS: [(&str, f64); 4] = [
        ("G", 1073741824.0),
        ("M", 1048576.0),
        ("K", 1024.0),
        ("B", 1.0),
    ];
    for (unit, size) in UNITS {
        if bytes as f64 >= size || unit == "B" {
            return if unit == "B" {
                format!("{bytes}B")
            } else {
                format!("{:.2}{unit}", bytes as f64 / size)
            };
        }
    }
    format!("{bytes}B")
}

fn memory(node: &Node) -> Fields {
    let stats = node.store.stats();
    let used = stats.used_memory as u64;
    let rss = rss_bytes();
    let max = node.store.max_memory() as u64;
    vec![
        f("used_memory", used),
        f("used_memory_human", human(used)),
        f("used_memory_rss", rss),
        f("used_memory_rss_human", human(rss)),
        f("maxmemory", max),
        f("maxmemory_human", human(max)),
        f("maxmemory_policy", node.store.policy()),
        f(
            "mem_fragmentation_ratio",
            format!(
                "{:.2}",
                if used > 0 {
                    rss as f64 / used as f64
                } else {
                    0.0
                }
            ),
        ),
        f("items", stats.items),
        f(
            "bytes_per_item",
            if stats.items > 0 {
                used / stats.items as u64
            } else {
                0
            },
        ),
    ]
}

fn persistence(node: &Node) -> Fields {
    let Some(persistence) = node.persistence.get() else {
        return vec![
            f("loading", 0),
            f("persistence", "disabled"),
            f("aof_enabled", 0),
            f("rdb_changes_since_last_save", 0),
        ];
    };
    let status = persistence.status();
    let progress = persistence.log().progress();
    let ok = |good: bool| if good { "ok" } else { "err" };
    let mut fields = vec![
        f("loading", 0),
        f("persistence", "aof"),
        f("aof_enabled", 1),
        f("aof_dir", persistence.dir().display()),
        f("aof_fsync", status.fsync),
        f(
            "aof_rewrite_in_progress",
            u8::from(status.rewrite_in_progress),
        ),
        f("aof_rewrite_scheduled", u8::from(status.rewrite_scheduled)),
        f("aof_rewrites", status.rewrites),
        f(
            "aof_last_rewrite_time_ms",
            status.last_rewrite.map_or(-1, |d| d.as_millis() as i64),
        ),
        f("aof_last_bgrewrite_status", ok(status.last_rewrite_ok)),
        f("aof_last_write_status", ok(status.failure.is_none())),
        f(
            "aof_last_write_error",
            status.failure.as_deref().unwrap_or(""),
        ),
        f("aof_current_size", status.snapshot_size + status.log_size),
        f("aof_base_size", status.base_size),
        f("aof_snapshot_size", status.snapshot_size),
        f("aof_log_size", status.log_size),
        f("aof_generation", status.generation),
        f("aof_buffer_length", status.pending),
        f("aof_written_offset", progress.written),
        f("aof_durable_offset", progress.durable),
    ];
    if let Some(recovery) = node.recovery.get() {
        fields.extend([
            f("loading_loaded_keys", recovery.keys),
            f(
                "loading_records",
                recovery.snapshot_records + recovery.log_records,
            ),
            f("loading_loaded_bytes", recovery.bytes),
            f("loading_duration_ms", recovery.elapsed.as_millis()),
            f("loading_records_per_sec", format!("{:.0}", recovery.rate())),
            f(
                "loading_truncated_bytes",
                recovery.cut.as_ref().map_or(0, |(_, _, dropped)| *dropped),
            ),
        ]);
    }
    fields
}

fn tier(node: &Node) -> Fields {
    let Some(tier) = node.tier.get() else {
        return vec![f("tier_enabled", 0)];
    };
    let status = tier.status();
    let s = tier.stats();
    let n = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    vec![
        f("tier_enabled", 1),
        f("tier_dir", tier.config().dir.display()),
        f("tier_threshold", node.tier_threshold),
        f("tier_evict_to_disk", u8::from(node.tier_evict)),
        f("tier_keys", status.keys),
        f("tier_bytes", status.bytes),
        f("tier_live_bytes", status.live_bytes),
        f("tier_budget", status.budget),
        f("tier_segments", status.segments),
        f("tier_hits", n(&s.hits)),
        f("tier_misses", n(&s.misses)),
        f("tier_puts", n(&s.puts)),
        f("tier_evictions_in", n(&s.evictions_in)),
        f("tier_dropped_keys", n(&s.dropped)),
        f("tier_compactions", n(&s.compactions)),
        f("tier_compacted_bytes", n(&s.compacted_bytes)),
        f("tier_read_errors", n(&s.read_errors)),
        f("tier_write_errors", n(&s.write_errors)),
        f("tier_last_error", status.failure.as_deref().unwrap_or("")),
    ]
}

fn origin(node: &Node) -> Fields {
    let Some(reader) = node.origin.get() else {
        return vec![f("origin", "none")];
    };
    let s = reader.stats();
    let n = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    vec![
        f("origin", reader.origin().describe()),
        f("origin_ttl", reader.ttl_ms() / 1000),
        f("origin_loads", n(&s.loads)),
        f("origin_found", n(&s.found)),
        f("origin_missing", n(&s.missing)),
        f("origin_errors", n(&s.errors)),
        f("origin_coalesced", n(&s.coalesced)),
        f("origin_load_time_us", n(&s.load_micros)),
    ]
}

fn stats(node: &Node) -> Fields {
    let s = node.store.stats();
    let n = &node.stats;
    let errors: u64 = n.commands().iter().map(|(_, c)| c.failed).sum();
    vec![
        f(
            "total_connections_received",
            n.connections_received.load(Ordering::Relaxed),
        ),
        f("total_commands_processed", n.total_commands()),
        f(
            "instantaneous_ops_per_sec",
            n.ops_per_sec.load(Ordering::Relaxed),
        ),
        f(
            "total_net_input_bytes",
            n.net_input_bytes.load(Ordering::Relaxed),
        ),
        f(
            "total_net_output_bytes",
            n.net_output_bytes.load(Ordering::Relaxed),
        ),
        f(
            "rejected_connections",
            n.rejected_connections.load(Ordering::Relaxed),
        ),
        f(
            "denied_connections",
            n.denied_connections.load(Ordering::Relaxed),
        ),
        f(
            "client_query_buffer_limit_disconnections",
            n.query_limit_disconnections.load(Ordering::Relaxed),
        ),
        f(
            "client_output_buffer_limit_disconnections",
            n.output_limit_disconnections.load(Ordering::Relaxed),
        ),
        f("expired_keys", s.expired),
        f("evicted_keys", s.evictions),
        f("keyspace_hits", s.hits),
        f("keyspace_misses", s.misses),
        f("total_error_replies", errors),
    ]
}

fn cpu() -> Fields {
    // /proc/self/stat fields 14 and 15 are user and system time in clock ticks (100 per second).
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    vec![
        f("used_cpu_sys", format!("{:.6}", ticks(12))),
        f("used_cpu_user", format!("{:.6}", ticks(11))),
    ]
}

fn commandstats(node: &Node) -> Fields {
    node.stats
        .commands()
        .into_iter()
        .map(|(id, c)| {
            let usec = c.nanos / 1000;
            let per_call = if c.calls > 0 { c.nanos as f64 / 1000.0 / c.calls as f64 } else { 0.0 };
            (
                format!("cmdstat_{}", id.name()),
                format!("calls={},usec={usec},usec_per_call={per_call:.2},rejected_calls=0,failed_calls={}", c.calls, c.failed),
            )
        })
        .collect()
}

fn latencystats(node: &Node) -> Fields {
    let commands = node.stats.commands();
    let mut fields: Fields = commands
        .iter()
        .map(|(id, c)| {
            (
                format!("latency_percentiles_usec_{}", id.name()),
                percentiles(&c.latency),
            )
        })
        .collect();
    // Every command that reads or writes keys, merged into one histogram: the latency clients
    // of the cache see, without INFO, CONFIG and the other admin and connection commands that
    // monitors and health probes send. Its own name, so tools that read the per-command
    // `latency_percentiles_usec_<command>` lines do not take it for a command.
    let mut data: Option<hdrhistogram::Histogram<u64>> = None;
    for (id, c) in &commands {
        let categories = id.spec().categories;
        if categories.contains(&"@read") || categories.contains(&"@write") {
            match &mut data {
                // Every command's histogram has the same bounds, so adding cannot fail.
                Some(merged) => {
                    let _ = merged.add(&c.latency);
                }
                None => data = Some(c.latency.clone()),
            }
        }
    }
    if let Some(merged) = data {
        fields.push(f("data_latency_percentiles_usec", percentiles(&merged)));
    }
    fields
}

/// `p50=..,p99=..,p99.9=..` in microseconds, from a histogram of nanoseconds.
fn percentiles(latency: &hdrhistogram::Histogram<u64>) -> String {
    let p = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    format!(
        "p50={:.3},p99={:.3},p99.9={:.3}",
        p(0.50),
        p(0.99),
        p(0.999)
    )
}

fn keyspace(node: &Node) -> Fields {
    let s = node.store.stats();
    if s.items == 0 {
        return Vec::new();
    }
    vec![f(
        "db0",
        format!("keys={},expires={},avg_ttl=0", s.items, s.expiring_items),
    )]
}

/// One `CLIENT LIST` line.
pub fn client_line(node: &Node, c: &ClientView) -> String {
    let name = c
        .name
        .lock()
        .clone()
        .map(|n| String::from_utf8_lossy(&n).into_owned())
        .unwrap_or_default();
    let idle = node
        .uptime_ms()
        .saturating_sub(c.last_active_ms.load(Ordering::Relaxed))
        / 1000;
    let cmd = cache_wire::parse::CommandId::try_from_index(c.last_command.load(Ordering::Relaxed))
        .map_or("NULL", |id| id.name());
    format!(
        "id={} addr={} laddr={} name={name} age={} idle={idle} flags=N db=0 qbuf={} omem={} \
         resp={} cmd={cmd}",
        c.id,
        c.addr,
        c.local_addr,
        c.created.elapsed().as_secs(),
        c.query_buffer.load(Ordering::Relaxed),
        c.output_buffer.load(Ordering::Relaxed),
        c.protocol.load(Ordering::Relaxed),
    )
}
