//! `cache-bench`: load cache nodes, the proxy, redis-server or memcached over any endpoint and
//! protocol, and print ops/s and latency percentiles as a Markdown table (and, with `--json`, a
//! file of the same figures).
//!
//! Each case opens a number of connections, each keeping a number of requests in flight (sent
//! together, like `redis-benchmark -P`), all measured over one time window after a short
//! warm-up. Latency is the time from sending a round to its last reply, counted for every
//! request of the round. `GET`s read keys written beforehand, so every one is a hit.

mod client;
mod measure;
mod memcache;
mod report;
mod target;
mod workload;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use cache_wire::datagram;
use cache_wire::transport::{ClientTlsSettings, Connector};
use clap::Parser;

use client::Op;
use measure::{Case, Data};
use report::Record;
use target::Target;
use workload::Keyspace;

/// Load generator for cache-node, cache-proxy, redis-server and memcached over every transport.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None, after_help = "Examples:\n  cache-bench \
    -e tcp://127.0.0.1:7001 -e tcp://127.0.0.1:7001@native -e udp://127.0.0.1:7002 --seconds 2\n  \
    cache-bench -e cache-node=tcp://127.0.0.1:7001 -e redis-server=tcp://127.0.0.1:6379 \
    -e memcached=tcp://127.0.0.1:11211@memcache --connections 1,50 --json out.json")]
struct Args {
    /// A target: [NAME=]ENDPOINT[@PROTOCOL]. NAME labels its rows (default: the transport,
    /// e.g. TCP). PROTOCOL is resp (the default), native (the project's own; udp:// carries
    /// only this one) or memcache (memcached's text protocol, tcp:// and unix:// only).
    /// Repeatable; the cases run in the order given.
    #[arg(
        short = 'e',
        long = "endpoint",
        value_name = "[NAME=]ENDPOINT[@PROTOCOL]",
        required = true
    )]
    targets: Vec<String>,
    /// Commands to run.
    #[arg(long, value_delimiter = ',', default_value = "get,set")]
    ops: Vec<Op>,
    /// Value sizes in bytes.
    #[arg(long, value_delimiter = ',', default_value = "32,4096")]
    sizes: Vec<usize>,
    /// Requests in flight per round, on each connection.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    depths: Vec<usize>,
    /// Concurrent connections per case, each keeping its requests in flight; their ops are
    /// summed and their latencies merged over one shared time window.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    connections: Vec<usize>,
    /// Worker threads driving a case with several connections (a case with one connection
    /// always runs on a single thread).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Seconds measured per case (after a warm-up of a tenth of that).
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Runs every case this many times; the table shows the median run.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Distinct keys; every stream target is preloaded with all of them before each value size.
    #[arg(long, default_value_t = 10_000)]
    keys: usize,
    /// CA (PEM) to trust for tls:// and quic:// endpoints.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// Also write every case (the median run) to FILE as a JSON array of objects with name,
    /// endpoint, transport, protocol, op, size, depth, connections, ops_per_sec, p50_us,
    /// p99_us, p999_us, errors, misses and skipped (why a case could not run, else null).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.seconds.is_finite() && args.seconds > 0.0,
        "--seconds must be a positive number"
    );
    anyhow::ensure!(
        args.connections.iter().all(|&n| n > 0),
        "--connections must be at least 1"
    );
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
    let records = run(&args, &targets, &connector)?;
    if let Some(path) = &args.json {
        report::write_json(path, &records)?;
    }
    Ok(())
}

/// Runs every case, printing each row as it is measured; returns them all.
fn run(args: &Args, targets: &[Target], connector: &Connector) -> anyhow::Result<Vec<Record>> {
    let keys = Arc::new(Keyspace::new(args.keys));
    let mut records = Vec::new();
    println!("{}", Record::table_header());
    for &size in &args.sizes {
        let data = Data {
            keys: keys.clone(),
            value: vec![b'v'; size].into(),
        };
        for target in preloaded(targets, size) {
            measure::preload(target, connector, &data)?;
        }
        for case in cases(args, targets) {
            let record = match impossible(&case.target, case.op, size) {
                Some(reason) => Record::skipped(&case, size, reason),
                None => {
                    let mut runs = (0..args.rounds.max(1))
                        .map(|_| measure::measure(&case, connector, &data, args.threads))
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    runs.sort_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec));
                    Record::measured(&case, size, &runs[runs.len() / 2])
                }
            };
            println!("{}", record.table_row());
            records.push(record);
        }
    }
    Ok(records)
}

/// The cases of one value size, targets innermost so that rows to compare sit together.
fn cases<'a>(args: &'a Args, targets: &'a [Target]) -> impl Iterator<Item = Case> + 'a {
    args.ops.iter().flat_map(move |&op| {
        args.depths.iter().flat_map(move |&depth| {
            args.connections.iter().flat_map(move |&connections| {
                targets.iter().map(move |target| Case {
                    target: target.clone(),
                    op,
                    depth,
                    connections,
                    seconds: args.seconds,
                })
            })
        })
    })
}

/// The targets to write every key to before `GET`s read them: every stream target, since they
/// may be different servers. Datagram targets usually share a server with a stream target, and
/// are preloaded only when there is none (and the value fits in a datagram).
fn preloaded(targets: &[Target], size: usize) -> Vec<&Target> {
    let streams: Vec<&Target> = targets
        .iter()
        .filter(|t| !t.endpoint.is_datagram())
        .collect();
    if !streams.is_empty() {
        return streams;
    }
    targets
        .iter()
        .filter(|t| impossible(t, Op::Set, size).is_none())
        .collect()
}

/// Why a case cannot run, if it cannot.
fn impossible(target: &Target, op: Op, size: usize) -> Option<&'static str> {
    let request = size + 64;
    (target.endpoint.is_datagram() && op == Op::Set && request > datagram::MAX_PAYLOAD)
        .then_some("request larger than one datagram")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_cargo_xtask_transports_passes_keep_their_defaults() {
        let args = Args::try_parse_from([
            "cache-bench",
            "-e",
            "tcp://127.0.0.1:1",
            "-e",
            "udp://127.0.0.1:2",
            "--seconds",
            "0.5",
            "--rounds",
            "3",
            "--tls-ca",
            "ca.pem",
        ])
        .unwrap();
        assert_eq!(args.ops, [Op::Get, Op::Set]);
        assert_eq!(args.sizes, [32, 4096]);
        assert_eq!(args.depths, [1, 16]);
        assert_eq!(args.connections, [1]);
        assert_eq!(args.json, None);
    }

    #[test]
    fn cases_put_targets_innermost() {
        let args = Args::try_parse_from([
            "cache-bench",
            "-e",
            "a=tcp://127.0.0.1:1",
            "-e",
            "b=tcp://127.0.0.1:2@memcache",
            "--ops",
            "set",
            "--depths",
            "1,16",
            "--connections",
            "1,50",
        ])
        .unwrap();
        let targets: Vec<Target> = args
            .targets
            .iter()
            .map(|t| Target::parse(t).unwrap())
            .collect();
        let order: Vec<(usize, usize, String)> = cases(&args, &targets)
            .map(|c| (c.depth, c.connections, c.target.name))
            .collect();
        let expected = [
            (1, 1, "a"),
            (1, 1, "b"),
            (1, 50, "a"),
            (1, 50, "b"),
            (16, 1, "a"),
            (16, 1, "b"),
            (16, 50, "a"),
            (16, 50, "b"),
        ]
        .map(|(d, c, n)| (d, c, n.to_owned()));
        assert_eq!(order, expected);
    }

    #[test]
    fn streams_are_preloaded_and_datagrams_only_alone() {
        let parse = |t: &str| Target::parse(t).unwrap();
        let mixed = [
            parse("udp://127.0.0.1:2"),
            parse("a=tcp://127.0.0.1:1"),
            parse("b=unix:///s"),
        ];
        let names: Vec<&str> = preloaded(&mixed, 32)
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names, ["a", "b"]);
        let udp = [parse("udp://127.0.0.1:2")];
        assert_eq!(preloaded(&udp, 32).len(), 1);
        assert!(preloaded(&udp, 4096).is_empty());
    }

    #[test]
    fn big_sets_do_not_fit_a_datagram() {
        let udp = Target::parse("udp://127.0.0.1:2").unwrap();
        let tcp = Target::parse("tcp://127.0.0.1:2").unwrap();
        assert!(impossible(&udp, Op::Set, 4096).is_some());
        assert!(impossible(&udp, Op::Get, 4096).is_none());
        assert!(impossible(&udp, Op::Set, 32).is_none());
        assert!(impossible(&tcp, Op::Set, 1 << 20).is_none());
    }
}
