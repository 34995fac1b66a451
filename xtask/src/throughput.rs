//! `cargo xtask throughput`: redis-benchmark against cache-node and redis-server in one run,
//! or (`--proxy`) against cache-proxy and twemproxy in front of the same two cache-nodes.
//!
//! All servers start on free loopback ports; each pipeline depth runs against them alternately
//! (node, redis, node, redis, ...) for `--rounds` rounds, so a burst of noise on this machine
//! hits both, and the table reports the median round of each. Skipped with a message when
//! redis-benchmark is not installed; the node is measured alone when redis-server is not.

use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::util::{
    Process, build_release, free_port, installed, start_node, start_redis, start_twemproxy,
    wait_for_port,
};

/// Options of `cargo xtask throughput`.
#[derive(Debug, clap::Args)]
pub struct ThroughputArgs {
    /// Requests per test at pipeline depth 1 (depth 16 runs ten times as many).
    #[arg(long, default_value_t = 200_000)]
    requests: u64,
    /// Rounds per server; the median is reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Worker threads of the node (0 = one per CPU).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Use the binaries already in target/release instead of building them.
    #[arg(long)]
    no_build: bool,
    /// Worker threads of cache-proxy with --proxy (0 = one per CPU).
    #[arg(long, default_value_t = 0)]
    proxy_threads: usize,
    /// Compare cache-proxy with twemproxy (nutcracker), both in front of two cache-nodes.
    #[arg(long)]
    proxy: bool,
}

/// One line of redis-benchmark's CSV output.
#[derive(Debug, Clone)]
pub struct Sample {
    pub test: String,
    pub rps: f64,
    pub p50: f64,
    pub p99: f64,
}

/// Runs the comparison and prints a Markdown table.
pub fn run(args: &ThroughputArgs) -> anyhow::Result<()> {
    if !installed("redis-benchmark") {
        eprintln!("redis-benchmark is not installed (Debian: redis-tools): skipped");
        return Ok(());
    }
    if !args.no_build {
        build_release(&["cache-node", "cache-proxy"])?;
    }
    if args.proxy {
        let (servers, _nodes) = proxies(args)?;
        return compare(args, &servers, "twemproxy");
    }
    let threads = args.threads.to_string();
    let (port, node) = start_node(&["--threads", &threads])?;
    let mut servers: Vec<Server> = vec![("cache-node", port, node)];
    if installed("redis-server") {
        let (port, redis) = start_redis()?;
        servers.push(("redis-server", port, redis));
    } else {
        eprintln!("redis-server is not installed: measuring cache-node alone");
    }
    compare(args, &servers, "redis-server")
}

/// A server under test: its name, port and process.
type Server = (&'static str, u16, Process);

/// Starts two cache-nodes, cache-proxy in front of them and, if installed, twemproxy in front
/// of the same two. Returns the proxies to measure and the node guards.
fn proxies(args: &ThroughputArgs) -> anyhow::Result<(Vec<Server>, Vec<Process>)> {
    let threads = args.threads.to_string();
    let mut nodes = Vec::new();
    let mut node_ports = Vec::new();
    for _ in 0..2 {
        let (port, node) = start_node(&["--threads", &threads])?;
        nodes.push(node);
        node_ports.push(port);
    }
    for port in &node_ports {
        wait_for_port(*port)?;
    }
    let mut servers = Vec::new();
    let port = free_port()?;
    let mut proxy = Command::new(crate::util::bin("cache-proxy"));
    proxy.args(["--port", &port.to_string(), "--log", "warn"]);
    proxy.args(["--threads", &args.proxy_threads.to_string()]);
    for p in &node_ports {
        proxy.args(["--node", &format!("127.0.0.1:{p}")]);
    }
    let proxy = proxy
        .stdout(Stdio::null())
        .spawn()
        .context("cannot start cache-proxy")?;
    servers.push(("cache-proxy", port, Process(proxy)));
    if installed("nutcracker") {
        let weighted: Vec<(u16, u32)> = node_ports.iter().map(|p| (*p, 1)).collect();
        let (port, twemproxy) = start_twemproxy("nutcracker", &weighted)?;
        servers.push(("twemproxy", port, twemproxy));
    } else {
        eprintln!("twemproxy (nutcracker) is not installed: measuring cache-proxy alone");
    }
    Ok((servers, nodes))
}

/// Runs every pipeline depth against `servers` in alternating rounds and prints the medians,
/// with ratios against the server named `reference`.
fn compare(
    args: &ThroughputArgs,
    servers: &[(&str, u16, Process)],
    reference: &str,
) -> anyhow::Result<()> {
    for (_, port, _) in servers {
        wait_for_port(*port)?;
    }
    let reference = servers.iter().position(|(name, _, _)| *name == reference);
    println!(
        "| pipeline | test | server | requests/s | p50 ms | p99 ms | vs {} |",
        reference.map_or("-", |r| servers[r].0)
    );
    println!("|---:|---|---|---:|---:|---:|---:|");
    for pipeline in [1u64, 16] {
        let requests = args.requests * if pipeline == 1 { 1 } else { 10 };
        let mut results: Vec<Vec<Vec<Sample>>> = vec![Vec::new(); servers.len()];
        for round in 0..args.rounds {
            for (i, (name, port, _)) in servers.iter().enumerate() {
                eprintln!("P{pipeline} round {}/{} {name}", round + 1, args.rounds);
                results[i].push(benchmark(*port, pipeline, requests)?);
            }
        }
        let medians: Vec<Vec<Sample>> = results
            .iter()
            .map(|rounds| median_per_test(rounds))
            .collect();
        for (test_index, _) in medians[0].iter().enumerate() {
            let redis = reference.map(|r| medians[r][test_index].rps);
            for ((name, _, _), of_server) in servers.iter().zip(&medians) {
                let s = &of_server[test_index];
                let ratio = redis.map_or("".to_owned(), |r| format!("{:.2}x", s.rps / r));
                println!(
                    "| {pipeline} | {} | {name} | {:.0} | {:.3} | {:.3} | {ratio} |",
                    s.test, s.rps, s.p50, s.p99
                );
            }
        }
    }
    println!(
        "\nredis-benchmark -t set,get -c 50 -r 100000 -d 32 -P <pipeline>; median of {} alternating rounds.",
        args.rounds
    );
    Ok(())
}

fn benchmark(port: u16, pipeline: u64, requests: u64) -> anyhow::Result<Vec<Sample>> {
    redis_benchmark(port, "set,get", pipeline, requests)
}

/// Runs redis-benchmark's `tests` (e.g. `set`) with 50 clients, 100,000 random keys and 32 B
/// values, and reads its CSV.
pub fn redis_benchmark(
    port: u16,
    tests: &str,
    pipeline: u64,
    requests: u64,
) -> anyhow::Result<Vec<Sample>> {
    let output = Command::new("redis-benchmark")
        .args([
            "-p",
            &port.to_string(),
            "-t",
            tests,
            "-c",
            "50",
            "-r",
            "100000",
            "-d",
            "32",
        ])
        .args([
            "-P",
            &pipeline.to_string(),
            "-n",
            &requests.to_string(),
            "--csv",
        ])
        .stderr(Stdio::null())
        .output()
        .context("cannot run redis-benchmark")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut samples = Vec::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').map(|f| f.trim_matches('"')).collect();
        // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
        if fields.len() < 8 {
            continue;
        }
        samples.push(Sample {
            test: fields[0].to_owned(),
            rps: fields[1].parse()?,
            p50: fields[4].parse()?,
            p99: fields[6].parse()?,
        });
    }
    if samples.is_empty() {
        bail!("redis-benchmark printed no results: {text}");
    }
    Ok(samples)
}

/// For each test, the round with the median throughput.
fn median_per_test(rounds: &[Vec<Sample>]) -> Vec<Sample> {
    (0..rounds[0].len())
        .map(|t| {
            let mut of_test: Vec<Sample> = rounds.iter().map(|r| r[t].clone()).collect();
            of_test.sort_by(|a, b| a.rps.total_cmp(&b.rps));
            of_test[of_test.len() / 2].clone()
        })
        .collect()
}
