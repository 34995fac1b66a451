//! `cargo xtask persist`: what persistence costs and how fast it recovers, against
//! redis-server with the same settings in the same run.
//!
//! 1. SET throughput (redis-benchmark, 50 clients, 32 B) with no persistence and with
//!    `appendfsync no`, `everysec` and `always`, for cache-node and redis-server, rounds
//!    alternating between them; the median round is reported.
//! 2. Recovery of 1,000,000 keys: loaded with `redis-cli --pipe`, the server stopped cleanly,
//!    started again; cache-node's time comes from `INFO persistence` (`loading_duration_ms`),
//!    redis-server's from its log ("DB loaded from ..."). Once from the log alone, once after
//!    a rewrite (snapshot; Redis's base file is an RDB preamble).
//! 3. Compaction's effect: everysec SET throughput over the 1,000,000 keys while rewrites run
//!    back to back, against the same with none running.
//!
//! redis-server and redis-benchmark are optional: without them the suite says so and skips.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::bench::{Metric, Plot, SuiteReport, Table, grouped, missing};
use crate::throughput::redis_benchmark;
use crate::util::{
    Process, build_release, free_port, installed, project_root, start_node, wait_for_port,
};

#[derive(Debug, clap::Args)]
pub struct PersistArgs {
    /// SET requests per throughput round.
    #[arg(long, default_value_t = 200_000)]
    pub requests: u64,
    /// Throughput rounds per mode (median reported).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Keys for the recovery measurement.
    #[arg(long, default_value_t = 1_000_000)]
    pub keys: u64,
    /// Use the binaries already in target/release instead of building them.
    #[arg(long)]
    pub no_build: bool,
    /// Only the recovery and compaction measurements.
    #[arg(long)]
    pub skip_throughput: bool,
}

const MODES: [&str; 4] = ["none", "no", "everysec", "always"];

pub fn run(args: &PersistArgs) -> anyhow::Result<()> {
    if !args.no_build {
        build_release(&["cache-node"])?;
    }
    let mut report = SuiteReport::default();
    measure(args, &mut report)?;
    for skipped in &report.skipped {
        eprintln!("{skipped}");
    }
    for table in &report.tables {
        println!("{}", table.markdown());
    }
    Ok(())
}

/// What `cargo xtask bench persist` measures: the flags' defaults, smaller with `quick`.
pub fn bench_args(quick: bool) -> PersistArgs {
    PersistArgs {
        requests: if quick { 20_000 } else { 200_000 },
        rounds: if quick { 1 } else { 3 },
        keys: if quick { 50_000 } else { 1_000_000 },
        no_build: true,
        skip_throughput: false,
    }
}

/// Runs the measurements into `report` (tables, figures, skipped peers).
pub fn measure(args: &PersistArgs, report: &mut SuiteReport) -> anyhow::Result<()> {
    if let Some(missing) = missing("redis-benchmark", "redis-tools") {
        report.skipped.push(format!("the whole suite: {missing}"));
        return Ok(());
    }
    if let Some(missing) = missing("redis-cli", "redis-tools") {
        report.skipped.push(format!("the whole suite: {missing}"));
        return Ok(());
    }
    let redis = installed("redis-server");
    if let Some(missing) = missing("redis-server", "redis-server") {
        report.skipped.push(format!("the Redis side: {missing}"));
    }
    let root = project_root().join("target/bench/persist");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    if !args.skip_throughput {
        throughput(args, &root, redis, report)?;
    }
    recovery(args, &root, redis, report)?;
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

enum Server {
    Node,
    Redis,
}

/// Starts a server persisting to `dir` with `mode` ("none" = no persistence).
fn start(server: &Server, dir: &Path, mode: &str) -> anyhow::Result<(u16, Process)> {
    std::fs::create_dir_all(dir)?;
    let dir_arg = dir.display().to_string();
    match server {
        Server::Node => {
            let mut flags = vec!["--log", "warn"];
            if mode != "none" {
                flags.extend(["--dir", &dir_arg, "--appendfsync", mode]);
            }
            let (port, process) = start_node(&flags)?;
            wait_for_port(port)?;
            Ok((port, process))
        }
        Server::Redis => {
            let port = free_port()?;
            let appendonly = if mode == "none" { "no" } else { "yes" };
            let fsync = if mode == "none" { "everysec" } else { mode };
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                ])
                .args(["--appendonly", appendonly, "--appendfsync", fsync])
                .args([
                    "--dir",
                    &dir_arg,
                    "--logfile",
                    &dir.join("redis.log").display().to_string(),
                ])
                .stdout(Stdio::null())
                .spawn()
                .context("cannot start redis-server")?;
            let process = Process(child);
            wait_for_port(port)?;
            // Redis accepts connections while it loads and answers -LOADING meanwhile.
            let deadline = Instant::now() + Duration::from_secs(300);
            while info_field(&cli(port, &["info", "persistence"])?, "loading").as_deref()
                != Some("0")
            {
                if Instant::now() > deadline {
                    bail!("redis-server did not finish loading");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok((port, process))
        }
    }
}

fn throughput(
    args: &PersistArgs,
    root: &Path,
    redis: bool,
    report: &mut SuiteReport,
) -> anyhow::Result<()> {
    let servers: Vec<(&str, Server)> = if redis {
        vec![
            ("cache-node", Server::Node),
            ("redis-server", Server::Redis),
        ]
    } else {
        vec![("cache-node", Server::Node)]
    };
    // rps[server][mode] over rounds
    let mut rps = vec![vec![Vec::new(); MODES.len()]; servers.len()];
    for round in 0..args.rounds {
        for (m, mode) in MODES.iter().enumerate() {
            for (s, (name, server)) in servers.iter().enumerate() {
                let dir = root.join(format!("tp-{name}-{mode}-{round}"));
                let (port, process) = start(server, &dir, mode)?;
                let samples = redis_benchmark(port, "set", 1, args.requests)?;
                rps[s][m].push(samples[0].rps);
                drop(process);
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
    let median = |v: &Vec<f64>| {
        let mut v = v.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut columns = vec!["appendfsync".to_owned()];
    for (name, _) in &servers {
        columns.push(format!("{name} SET/s"));
        columns.push("vs none".to_owned());
    }
    if redis {
        columns.push("cache-node / redis".to_owned());
    }
    let mut table = Table {
        title: format!(
            "SET throughput by appendfsync mode (redis-benchmark -t set -c 50 -r 100000 -d 32 -n {}; median of {} rounds, modes and servers interleaved)",
            args.requests, args.rounds
        ),
        columns,
        rows: Vec::new(),
    };
    for (m, mode) in MODES.iter().enumerate() {
        let mut row = vec![(*mode).to_owned()];
        for (s, of_server) in rps.iter().enumerate() {
            let value = median(&of_server[m]);
            let base = median(&of_server[0]);
            row.push(grouped(value));
            row.push(format!("{:.0}%", value / base * 100.0));
            report.metrics.push(Metric::higher(
                format!("set/{}/{mode}/ops_per_sec", servers[s].0),
                value,
                "ops/s",
            ));
        }
        if redis {
            row.push(format!("{:.2}x", median(&rps[0][m]) / median(&rps[1][m])));
        }
        table.row(row);
    }
    report.tables.push(table);
    report.plots.push(Plot::Bars {
        name: "fsync".to_owned(),
        title: "SET/s by appendfsync mode".to_owned(),
        unit: "SET/s".to_owned(),
        series: servers.iter().map(|(n, _)| (*n).to_owned()).collect(),
        groups: MODES
            .iter()
            .enumerate()
            .map(|(m, mode)| {
                (
                    (*mode).to_owned(),
                    rps.iter().map(|r| Some(median(&r[m]))).collect(),
                )
            })
            .collect(),
        log: false,
    });
    Ok(())
}

/// Writes `keys` SET commands in RESP to a file for `redis-cli --pipe`.
fn load_file(root: &Path, keys: u64) -> anyhow::Result<PathBuf> {
    let path = root.join(format!("load-{keys}.resp"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let value = "v".repeat(32);
    for i in 0..keys {
        let key = format!("key:{i:010}");
        write!(
            out,
            "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
            key.len(),
            value.len()
        )?;
    }
    out.flush()?;
    Ok(path)
}

fn pipe(port: u16, file: &Path) -> anyhow::Result<()> {
    let status = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--pipe"])
        .stdin(std::fs::File::open(file)?)
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("redis-cli --pipe failed");
    }
    Ok(())
}

fn cli(port: u16, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn info_field(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
}

/// Waits until no rewrite runs.
fn wait_rewrite(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = cli(port, &["info", "persistence"])?;
        let running = info_field(&text, "aof_rewrite_in_progress").as_deref() == Some("1")
            || info_field(&text, "aof_rewrite_scheduled").as_deref() == Some("1");
        if !running {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("rewrite did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops `process` with SIGTERM (a clean shutdown) and waits for it.
fn stop(mut process: Process) -> anyhow::Result<()> {
    Command::new("kill")
        .args(["-TERM", &process.0.id().to_string()])
        .status()?;
    process.0.wait()?;
    Ok(())
}

/// Seconds a restart spent loading, read from the server itself.
fn load_seconds(server: &Server, port: u16, dir: &Path) -> anyhow::Result<f64> {
    match server {
        Server::Node => {
            let text = cli(port, &["info", "persistence"])?;
            let ms: f64 = info_field(&text, "loading_duration_ms")
                .context("no loading_duration_ms")?
                .parse()?;
            Ok(ms / 1000.0)
        }
        Server::Redis => {
            let log = std::fs::read_to_string(dir.join("redis.log"))?;
            // The log of the last start: "DB loaded from <kind> file <name>: 0.123 seconds".
            let last_start = log.rfind("Server initialized").unwrap_or(0);
            let total: f64 = log[last_start..]
                .lines()
                .filter(|l| l.contains("DB loaded from"))
                .filter_map(|l| {
                    l.rsplit(": ")
                        .next()?
                        .strip_suffix(" seconds")?
                        .parse::<f64>()
                        .ok()
                })
                .sum();
            Ok(total)
        }
    }
}

fn recovery(
    args: &PersistArgs,
    root: &Path,
    redis: bool,
    report: &mut SuiteReport,
) -> anyhow::Result<()> {
    let file = load_file(root, args.keys)?;
    let mut servers = vec![("cache-node", Server::Node)];
    if redis {
        servers.push(("redis-server", Server::Redis));
    }
    let mut rows = Vec::new();
    let mut compaction = Vec::new();
    for (name, server) in &servers {
        let dir = root.join(format!("recovery-{name}"));
        let (port, process) = start(server, &dir, "everysec")?;
        pipe(port, &file)?;
        let keys = cli(port, &["dbsize"])?;
        stop(process)?;
        let (port, process) = start(server, &dir, "everysec")?;
        let from_log = load_seconds(server, port, &dir)?;
        let loaded = cli(port, &["dbsize"])?;
        if loaded.trim() != keys.trim() {
            bail!("{name} recovered {} keys of {}", loaded.trim(), keys.trim());
        }
        // Compaction's effect on throughput, over this data.
        let quiet = redis_benchmark(port, "set", 1, args.requests)?[0].rps;
        let busy = Arc::new(AtomicBool::new(true));
        let rewrites = {
            let busy = busy.clone();
            std::thread::spawn(move || {
                let mut count = 0u32;
                while busy.load(Ordering::Relaxed) {
                    if cli(port, &["bgrewriteaof"]).is_ok() && wait_rewrite(port).is_ok() {
                        count += 1;
                    }
                }
                count
            })
        };
        let during = redis_benchmark(port, "set", 1, args.requests)?[0].rps;
        busy.store(false, Ordering::Relaxed);
        let count = rewrites.join().unwrap_or(0);
        compaction.push((name, quiet, during, count));
        wait_rewrite(port)?;
        stop(process)?;
        let (port, process) = start(server, &dir, "everysec")?;
        let from_snapshot = load_seconds(server, port, &dir)?;
        stop(process)?;
        let size: u64 = std::fs::read_dir(&dir)?
            .chain(
                std::fs::read_dir(dir.join("appendonlydir"))
                    .into_iter()
                    .flatten(),
            )
            .filter_map(|e| e.ok()?.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum();
        rows.push((name, keys.trim().to_owned(), from_log, from_snapshot, size));
    }
    let mut table = Table::new(
        format!(
            "Recovery of {} keys (32 B values), appendfsync everysec",
            args.keys
        ),
        &[
            "server",
            "keys",
            "load from log",
            "keys/s",
            "load after rewrite",
            "keys/s",
            "files",
        ],
    );
    for (name, keys, log, snapshot, size) in &rows {
        let n: f64 = keys.parse().unwrap_or(0.0);
        table.row(vec![
            (**name).to_owned(),
            keys.clone(),
            format!("{log:.3} s"),
            grouped(n / log.max(1e-9)),
            format!("{snapshot:.3} s"),
            grouped(n / snapshot.max(1e-9)),
            format!("{:.1} MB", *size as f64 / 1e6),
        ]);
        report.metrics.push(Metric::lower(
            format!("recovery/{name}/from_log_s"),
            *log,
            "s",
        ));
        report.metrics.push(Metric::lower(
            format!("recovery/{name}/after_rewrite_s"),
            *snapshot,
            "s",
        ));
    }
    report.tables.push(table);
    let mut table = Table::new(
        format!(
            "SET throughput while the log is rewritten back to back (everysec, {} keys held)",
            args.keys
        ),
        &[
            "server",
            "no rewrite SET/s",
            "rewriting SET/s",
            "ratio",
            "rewrites during the run",
        ],
    );
    for (name, quiet, during, count) in &compaction {
        table.row(vec![
            (**name).to_owned(),
            grouped(*quiet),
            grouped(*during),
            format!("{:.0}%", during / quiet * 100.0),
            count.to_string(),
        ]);
        report.metrics.push(Metric::higher(
            format!("compaction/{name}/share_of_quiet"),
            during / quiet,
            "x",
        ));
    }
    report.tables.push(table);
    Ok(())
}
