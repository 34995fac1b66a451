//! `cache-bench`: load a cache node or the proxy over any endpoint and protocol, and print
//! ops/s and latency percentiles as a Markdown table.
//!
//! Each case is one connection keeping a number of requests in flight (sent together, like
//! `redis-benchmark -P`), for a fixed time, after a short warm-up. Latency is the time from
//! sending a round to its last reply, counted for every request of the round. `GET`s read keys
//! written beforehand, so every one is a hit.

mod client;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use cache_wire::datagram;
use cache_wire::endpoint::Endpoint;
use cache_wire::transport::{ClientTlsSettings, Connector};
use clap::Parser;
use hdrhistogram::Histogram;

use client::{Client, Protocol};

/// Load generator for cache-node and cache-proxy over every transport.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None, after_help = "Example:\n  cache-bench \
    -e tcp://127.0.0.1:7001 -e tcp://127.0.0.1:7001@native -e udp://127.0.0.1:7002 --seconds 2")]
struct Args {
    /// A target: ENDPOINT, or ENDPOINT@native / ENDPOINT@resp to choose the protocol (RESP by
    /// default; udp:// is always native). Repeatable; the cases run in the order given.
    #[arg(
        short = 'e',
        long = "endpoint",
        value_name = "ENDPOINT[@PROTOCOL]",
        required = true
    )]
    targets: Vec<String>,
    /// Commands to run.
    #[arg(long, value_delimiter = ',', default_value = "get,set")]
    ops: Vec<Op>,
    /// Value sizes in bytes.
    #[arg(long, value_delimiter = ',', default_value = "32,4096")]
    sizes: Vec<usize>,
    /// Requests in flight per round.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    depths: Vec<usize>,
    /// Seconds measured per case (after a warm-up of a tenth of that).
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Runs every case this many times; the table shows the median run.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Distinct keys.
    #[arg(long, default_value_t = 10_000)]
    keys: usize,
    /// CA (PEM) to trust for tls:// and quic:// endpoints.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Op {
    Get,
    Set,
}

#[derive(Debug, Clone)]
struct Target {
    endpoint: Endpoint,
    protocol: Protocol,
}

impl Target {
    fn parse(text: &str) -> anyhow::Result<Target> {
        let (endpoint, protocol) = match text.rsplit_once('@') {
            Some((endpoint, "native")) => (endpoint, Protocol::Native),
            Some((endpoint, "resp")) => (endpoint, Protocol::Resp),
            Some((_, other)) => anyhow::bail!("unknown protocol '{other}': use @resp or @native"),
            None => (text, Protocol::Resp),
        };
        let endpoint: Endpoint = endpoint.parse()?;
        let protocol = if endpoint.is_datagram() {
            Protocol::Native
        } else {
            protocol
        };
        Ok(Target { endpoint, protocol })
    }

    fn transport(&self) -> String {
        let text = self.endpoint.to_string();
        text.split_once("://")
            .map_or(text.clone(), |(s, _)| s.to_uppercase())
    }
}

/// One measured case.
#[derive(Debug, Clone)]
struct Measured {
    ops_per_sec: f64,
    p50_us: u64,
    p99_us: u64,
    errors: usize,
    misses: usize,
}

struct Workload {
    keys: Vec<Bytes>,
    value: Bytes,
    state: u64,
}

impl Workload {
    fn new(keys: usize, size: usize) -> Workload {
        Workload {
            keys: (0..keys.max(1))
                .map(|i| Bytes::from(format!("bench:{i:08}")))
                .collect(),
            value: Bytes::from(vec![b'v'; size]),
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }

    fn key(&mut self) -> Bytes {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.keys[(self.state % self.keys.len() as u64) as usize].clone()
    }

    fn round(&mut self, op: Op, depth: usize) -> Vec<Vec<Bytes>> {
        (0..depth)
            .map(|_| match op {
                Op::Get => vec![Bytes::from_static(b"GET"), self.key()],
                Op::Set => vec![Bytes::from_static(b"SET"), self.key(), self.value.clone()],
            })
            .collect()
    }
}

/// Why a case cannot run, if it cannot.
fn impossible(target: &Target, op: Op, size: usize) -> Option<&'static str> {
    let request = size + 64;
    (target.endpoint.is_datagram() && op == Op::Set && request > datagram::MAX_PAYLOAD)
        .then_some("request larger than one datagram")
}

async fn measure(
    target: &Target,
    connector: &Connector,
    workload: &mut Workload,
    op: Op,
    depth: usize,
    seconds: f64,
) -> anyhow::Result<Measured> {
    let mut client = Client::connect(&target.endpoint, connector, target.protocol)
        .await
        .with_context(|| format!("connecting to {}", target.endpoint))?;
    let warm_up = Instant::now() + Duration::from_secs_f64(seconds / 10.0);
    while Instant::now() < warm_up {
        client.round(&workload.round(op, depth)).await?;
    }
    let mut latency = Histogram::<u64>::new(3)?;
    let (mut ops, mut errors, mut misses) = (0u64, 0, 0);
    let started = Instant::now();
    let length = Duration::from_secs_f64(seconds);
    while started.elapsed() < length {
        let requests = workload.round(op, depth);
        let sent = Instant::now();
        let outcome = client.round(&requests).await?;
        let micros = sent.elapsed().as_micros() as u64;
        latency.saturating_record_n(micros.max(1), depth as u64);
        ops += depth as u64;
        errors += outcome.errors;
        misses += outcome.misses;
    }
    let elapsed = started.elapsed().as_secs_f64();
    client.close().await;
    Ok(Measured {
        ops_per_sec: ops as f64 / elapsed,
        p50_us: latency.value_at_quantile(0.50),
        p99_us: latency.value_at_quantile(0.99),
        errors,
        misses,
    })
}

/// Writes every key with a value of `size` bytes over the first stream target.
async fn preload(
    targets: &[Target],
    connector: &Connector,
    workload: &mut Workload,
) -> anyhow::Result<()> {
    let target = targets
        .iter()
        .find(|t| !t.endpoint.is_datagram())
        .or(targets.first())
        .context("no target")?;
    let mut client = Client::connect(&target.endpoint, connector, target.protocol).await?;
    let keys = workload.keys.clone();
    for chunk in keys.chunks(16) {
        let requests: Vec<Vec<Bytes>> = chunk
            .iter()
            .map(|k| {
                vec![
                    Bytes::from_static(b"SET"),
                    k.clone(),
                    workload.value.clone(),
                ]
            })
            .collect();
        let outcome = client.round(&requests).await?;
        anyhow::ensure!(
            outcome.errors == 0,
            "preloading failed on {}",
            target.endpoint
        );
    }
    client.close().await;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let targets = args
        .targets
        .iter()
        .map(|t| Target::parse(t))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let connector = Connector::from_settings(&ClientTlsSettings {
        ca: args.tls_ca.clone(),
        ..ClientTlsSettings::default()
    })
    .context("TLS settings")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(&args, &targets, &connector))
}

async fn run(args: &Args, targets: &[Target], connector: &Connector) -> anyhow::Result<()> {
    println!(
        "| transport | protocol | op | value | in flight | ops/s | p50 µs | p99 µs | errors |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|");
    for &size in &args.sizes {
        let mut workload = Workload::new(args.keys, size);
        preload(targets, connector, &mut workload).await?;
        for &op in &args.ops {
            for &depth in &args.depths {
                for target in targets {
                    let label = format!(
                        "| {} | {} | {} | {} B | {depth} |",
                        target.transport(),
                        target.protocol.name(),
                        match op {
                            Op::Get => "GET",
                            Op::Set => "SET",
                        },
                        size
                    );
                    if let Some(reason) = impossible(target, op, size) {
                        println!("{label} n/a | | | {reason} |");
                        continue;
                    }
                    let mut runs = Vec::new();
                    for _ in 0..args.rounds.max(1) {
                        runs.push(
                            measure(target, connector, &mut workload, op, depth, args.seconds)
                                .await?,
                        );
                    }
                    runs.sort_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec));
                    let median = &runs[runs.len() / 2];
                    let missed = if op == Op::Get && median.misses > 0 {
                        format!(" ({} misses)", median.misses)
                    } else {
                        String::new()
                    };
                    println!(
                        "{label} {:.0} | {} | {} | {}{missed} |",
                        median.ops_per_sec, median.p50_us, median.p99_us, median.errors
                    );
                }
            }
        }
    }
    Ok(())
}
