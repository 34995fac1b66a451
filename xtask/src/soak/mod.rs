//! `cargo xtask soak`: mixed load through the proxy for minutes while nodes are killed and
//! restarted, stopped and continued, added and removed.
//!
//! The run starts `--nodes` cache-nodes (each with a `--maxmemory`, so they evict) and a
//! cache-proxy on free loopback ports, fills the key space once (the preload, which brings
//! every node to its memory limit), then drives `--clients` connections of mixed commands
//! through the proxy while the churn thread disturbs the nodes on a schedule (see [`churn`]).
//! Every reply is checked (see [`load`] and [`checks`]); every second the RSS of every process
//! is sampled; every `--interval` a row of ops/s, misses, errors by kind, latency percentiles
//! and RSS is printed. At the end a report goes to `--out`, and the run fails on any finding
//! (an error churn does not explain, a wrong or stale value, a churn step that did not settle,
//! a process that died on its own) or on RSS growth (see [`stats::growth`]).
//! docs/soak.md explains the rules and holds the figures of a real run.

mod checks;
mod churn;
mod cluster;
mod load;
mod monitor;
mod report;
mod resp;
mod stats;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context as _, bail};

use crate::util::{self, project_root};
use cluster::Cluster;
use load::{Client, Shared};
pub use monitor::Monitor;
use stats::Tally;

/// Options of `cargo xtask soak`.
#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// Minutes of load after the preload (fractions allowed: 1.5 is 90 s).
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// cache-nodes at the start (the churn adds and removes one more).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Client connections, one thread each.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Keys in the key space [default: enough values for 1.5 times the nodes' total maxmemory]
    #[arg(long)]
    keys: Option<u64>,
    /// Memory limit of each node (it evicts beyond it).
    #[arg(long, default_value = "64mb")]
    maxmemory: String,
    /// Seconds per report row [default: 10, or a tenth of runs under 100 s]
    #[arg(long)]
    interval: Option<f64>,
    /// Soak the target/debug binaries instead of release ones (for CI).
    #[arg(long)]
    debug: bool,
    /// Use the binaries already built.
    #[arg(long)]
    no_build: bool,
    /// Seed of the clients' choices.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Report file: .json for JSON, anything else Markdown [default: target/soak/report.md]
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Smallest and largest value written (log-uniform in between).
const VALUE_SIZES: (usize, usize) = (checks::MIN_VALUE, 16 * 1024);
/// A node whose `used_memory` reaches this share of its `maxmemory` is full: it evicts to stay
/// there. (At 85% a refilling node still had 10 MiB of values to take, and its RSS rose with
/// them for another minute: filling up, not a leak.)
const FULL_SHARE: f64 = 0.98;
/// After a node fills up its RSS is left this long to settle before it is judged.
const SETTLE_AFTER_FULL: f64 = 10.0;

pub fn run(args: &SoakArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.minutes > 0.0, "--minutes must be positive");
    anyhow::ensure!(
        args.nodes >= 2,
        "--nodes must be at least 2 (one is always disturbed)"
    );
    anyhow::ensure!(args.clients >= 1, "--clients must be at least 1");
    let maxmemory = parse_size(&args.maxmemory)?;
    let seconds = args.minutes * 60.0;
    let interval = args.interval.unwrap_or(if seconds >= 100.0 {
        10.0
    } else {
        (seconds / 10.0).max(1.0)
    });
    anyhow::ensure!(interval > 0.0, "--interval must be positive");
    let keys = args.keys.unwrap_or_else(|| {
        let mean = mean_value_size(VALUE_SIZES.0, VALUE_SIZES.1);
        (1.5 * args.nodes as f64 * maxmemory as f64 / mean) as u64
    });
    anyhow::ensure!(
        keys >= 2 * args.clients as u64,
        "--keys must be at least twice --clients"
    );

    let root = project_root();
    let bin_dir = root.join(if args.debug {
        "target/debug"
    } else {
        "target/release"
    });
    if !args.no_build {
        if args.debug {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let mut cmd = std::process::Command::new(cargo);
            cmd.current_dir(&root)
                .args(["build", "--bin", "cache-node", "--bin", "cache-proxy"]);
            util::run_logged(&mut cmd)?;
        } else {
            util::build_release(&["cache-node", "cache-proxy"])?;
        }
    }
    let out_dir = root.join("target/soak");
    let logs = out_dir.join("logs");
    if logs.exists() {
        std::fs::remove_dir_all(&logs)
            .with_context(|| format!("cannot clear {}", logs.display()))?;
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| out_dir.join("report.md"));

    let settings = report::Settings {
        minutes: args.minutes,
        nodes: args.nodes,
        clients: args.clients,
        keys,
        maxmemory: args.maxmemory.clone(),
        interval,
        binaries: if args.debug { "debug" } else { "release" }.to_owned(),
        seed: args.seed,
        value_sizes: VALUE_SIZES,
    };
    println!("{}", settings.describe());
    let cluster = Cluster::start(&bin_dir, args.nodes, &args.maxmemory, &logs)?;
    let shared = Arc::new(Shared::new(
        keys,
        args.clients as u64,
        VALUE_SIZES,
        cluster.proxy_port,
    ));
    let cluster = Arc::new(Mutex::new(cluster));

    let preload = preload(&shared, args.seed, &cluster)?;
    println!("{}", preload.describe());
    shared.load_start.store(shared.now_ms(), Ordering::SeqCst);

    let mut tallies = Vec::new();
    let mut clients = Vec::new();
    for id in 0..args.clients as u64 {
        let tally = Arc::new(Mutex::new(Tally::default()));
        let client = Client::new(id, args.seed, shared.clone(), tally.clone());
        tallies.push(tally);
        clients.push(
            std::thread::Builder::new()
                .name(format!("soak-client-{id}"))
                .spawn(move || client.run())?,
        );
    }
    let plan = churn::schedule(seconds, args.nodes);
    let events = Arc::new(Mutex::new(Vec::new()));
    let churner = {
        let (cluster, shared, events) = (cluster.clone(), shared.clone(), events.clone());
        std::thread::Builder::new()
            .name("soak-churn".to_owned())
            .spawn(move || churn::run(&cluster, &shared, &plan, &events))?
    };

    let mut monitor = Monitor::new(maxmemory);
    monitor.watch(&cluster, &shared, &tallies, seconds, interval);
    shared.stop.store(true, Ordering::SeqCst);
    for client in clients {
        if client.join().is_err() {
            shared.finding("a client thread panicked".to_owned());
        }
    }
    if churner.join().is_err() {
        shared.finding("the churn thread panicked".to_owned());
    }
    monitor.sample(&cluster, &shared);

    let events = events.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let report = report::Report::new(settings, preload, &monitor, events, &shared, seconds);
    report.write(&out)?;
    print!("{}", report.summary());
    println!("report: {}", out.display());
    // Dropping the cluster kills every process and removes the proxy's config.
    drop(cluster);
    if !report.failures.is_empty() {
        bail!(
            "soak failed:\n  {}\n(process logs in {})",
            report.failures.join("\n  "),
            logs.display()
        );
    }
    Ok(())
}

/// What the preload wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Preload {
    pub keys: u64,
    pub seconds: f64,
    /// Each node's `used_memory` in MiB after it.
    pub used_mib: BTreeMap<String, f64>,
}

impl Preload {
    fn describe(&self) -> String {
        let used: Vec<String> = self
            .used_mib
            .iter()
            .map(|(n, m)| format!("{n} {m:.1}"))
            .collect();
        format!(
            "preloaded {} keys in {:.1} s; used_memory MiB: {}",
            self.keys,
            self.seconds,
            used.join(", ")
        )
    }
}

/// Writes every key once, each client its own keys.
fn preload(shared: &Arc<Shared>, seed: u64, cluster: &Mutex<Cluster>) -> anyhow::Result<Preload> {
    let started = Instant::now();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let threads: Vec<_> = (0..shared.clients)
        .map(|id| {
            let mut client = Client::new(id, seed, shared.clone(), tally.clone());
            std::thread::spawn(move || client.preload())
        })
        .collect();
    for thread in threads {
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("a preload thread panicked"))?;
    }
    let nodes: Vec<(String, u16)> = {
        let cluster = cluster.lock().unwrap_or_else(|e| e.into_inner());
        cluster
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.port))
            .collect()
    };
    let mut used_mib = BTreeMap::new();
    for (name, port) in nodes {
        if let Some((used, _)) = cluster::node_memory(port) {
            used_mib.insert(name, mib(used));
        }
    }
    Ok(Preload {
        keys: shared.keys,
        seconds: started.elapsed().as_secs_f64(),
        used_mib,
    })
}

pub(crate) fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The mean of a log-uniform size in `min..=max`.
fn mean_value_size(min: usize, max: usize) -> f64 {
    let (min, max) = (min as f64, max as f64);
    (max - min) / (max / min).ln()
}

/// `64mb`, `1gb`, `512kb` or a plain byte count.
fn parse_size(text: &str) -> anyhow::Result<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let (digits, unit) = match lower.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => lower.split_at(at),
        None => (lower.as_str(), ""),
    };
    let unit = match unit {
        "" | "b" => 1,
        "kb" | "k" => 1 << 10,
        "mb" | "m" => 1 << 20,
        "gb" | "g" => 1 << 30,
        _ => bail!("size {text:?} has an unknown unit; use kb, mb or gb"),
    };
    let number: u64 = digits
        .parse()
        .with_context(|| format!("size {text:?} is not a number with a unit, e.g. 64mb"))?;
    anyhow::ensure!(number > 0, "--maxmemory must be above 0");
    Ok(number * unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor::Series;
    use stats::Growth;

    #[test]
    fn sizes_parse_like_the_nodes_flag() {
        assert_eq!(parse_size("64mb").unwrap(), 64 << 20);
        assert_eq!(parse_size("1GB").unwrap(), 1 << 30);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("0mb").is_err());
        assert!(parse_size("mb").is_err());
    }

    #[test]
    fn the_mean_value_size_matches_the_sizes_drawn() {
        let (min, max) = VALUE_SIZES;
        let drawn: f64 = (0..20_000u64)
            .map(|k| checks::value_size(k, 3, min, max) as f64)
            .sum::<f64>()
            / 20_000.0;
        let mean = mean_value_size(min, max);
        assert!((drawn - mean).abs() < 0.05 * mean, "{drawn} vs {mean}");
    }

    #[test]
    fn a_node_that_never_filled_is_not_judged() {
        let series = Series {
            name: "node4".into(),
            incarnation: 1,
            node: true,
            first_seen: 0.0,
            last_seen: 100.0,
            full_since: None,
            samples: (0..100).map(|t| (f64::from(t), 1 << 20)).collect(),
        };
        assert!(matches!(series.growth(90.0), Growth::NotJudged(_)));
        let full = Series {
            full_since: Some(10.0),
            ..series
        };
        assert!(matches!(
            full.growth(90.0),
            Growth::Judged { grew: false, .. }
        ));
    }
}
