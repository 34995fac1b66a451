//! The suites built on the older single-purpose commands: ring, eviction, persist,
//! throughput and transports, each turned into a [`SuiteReport`].

use std::process::{Command, Stdio};

use anyhow::Context as _;
use cache_ring::Algorithm;
use serde::Deserialize;

use super::{Context, Metric, Plot, SuiteReport, Table, grouped, missing};
use crate::sim::{self, Plan};
use crate::throughput::redis_benchmark;
use crate::util::{self, Process, free_port, installed, start_node, wait_for_port};

/// Placement algorithms: balance, movement on a join and a leave, lookup time, memory.
pub fn ring(ctx: &Context) -> anyhow::Result<SuiteReport> {
    let nodes = 10;
    let count = if ctx.quick { 100_000 } else { 1_000_000 };
    let keys: Vec<Vec<u8>> = (0..count)
        .map(|i| format!("user:{i:08}:profile").into_bytes())
        .collect();
    let mut report = SuiteReport {
        about: format!(
            "How each placement algorithm spreads {count} keys over {nodes} nodes: peak-to-mean load, keys moved when a node joins or leaves (divided by the ideal share), one lookup's time and the table's memory."
        ),
        ..SuiteReport::default()
    };
    let mut table = Table::new(
        "",
        &[
            "algorithm",
            "peak/mean",
            "moved on add",
            "moved on remove",
            "lookup ns",
            "table KiB",
        ],
    );
    let mut progress = ctx.progress("placement algorithms", Algorithm::ALL.len() as u64);
    let mut lookups = Vec::new();
    for algorithm in Algorithm::ALL {
        let r = crate::ring::measure(algorithm, nodes, &keys)?;
        let name = algorithm.name();
        table.row(vec![
            name.to_owned(),
            format!("{:.4}", r.peak_to_mean),
            format!("{:.3}x", r.added_vs_ideal),
            format!("{:.3}x", r.removed_vs_ideal),
            format!("{:.1}", r.lookup_ns),
            format!("{:.1}", r.table_bytes as f64 / 1024.0),
        ]);
        report.metrics.extend([
            Metric::lower(format!("{name}/peak_to_mean"), r.peak_to_mean, "x"),
            Metric::lower(format!("{name}/moved_on_add"), r.added_vs_ideal, "x ideal"),
            Metric::lower(format!("{name}/lookup_ns"), r.lookup_ns, "ns"),
        ]);
        lookups.push((
            name.to_owned(),
            r.peak_to_mean,
            r.added_vs_ideal,
            r.lookup_ns,
        ));
        progress.inc(1);
    }
    progress.finish();
    report.tables.push(table);
    report.plots.push(Plot::Bars {
        name: "balance".to_owned(),
        title: format!("Balance and movement, {nodes} nodes (1.0 is ideal)"),
        unit: "x ideal".to_owned(),
        series: vec!["peak/mean load".to_owned(), "moved on add".to_owned()],
        groups: lookups
            .iter()
            .map(|(name, peak, moved, _)| (name.clone(), vec![Some(*peak), Some(*moved)]))
            .collect(),
        log: false,
    });
    report.plots.push(Plot::Bars {
        name: "lookup".to_owned(),
        title: "Time of one lookup".to_owned(),
        unit: "ns".to_owned(),
        series: vec!["lookup".to_owned()],
        groups: lookups
            .iter()
            .map(|(name, _, _, ns)| (name.clone(), vec![Some(*ns)]))
            .collect(),
        log: false,
    });
    Ok(report)
}

/// Hit ratios of the evicting policies on Zipf and the recorded traces, with Belady's optimum.
pub fn eviction(ctx: &Context) -> anyhow::Result<SuiteReport> {
    let plan = Plan::standard(ctx.quick, ctx.seed);
    let workloads = sim::sources(&plan)?.len() as u64;
    let mut progress = ctx.progress("workloads simulated", workloads);
    let (columns, rows) = sim::results(&plan, |_| progress.inc(1))?;
    progress.finish();
    let mut report = SuiteReport {
        about: format!(
            "Hit ratio of each eviction policy (the real engine, one shard, cold start, count-based) on a Zipf workload ({} requests over {} keys, exponent {}) and every trace in {}{}, at cache sizes of {} of each workload's distinct keys; Belady's offline optimum is the ceiling.",
            plan.zipf_requests,
            plan.keys,
            plan.exponent,
            plan.traces.display(),
            plan.trace_limit
                .map_or(String::new(), |n| format!(" (first {n} requests of each)")),
            plan.sizes
                .iter()
                .map(|s| format!("{s}%"))
                .collect::<Vec<_>>()
                .join(" and "),
        ),
        ..SuiteReport::default()
    };
    if !plan.traces.is_dir() {
        report
            .skipped
            .push(format!("traces: no directory at {}", plan.traces.display()));
    }
    let mut header = vec!["workload", "size"];
    header.extend(columns.iter().copied());
    let mut table = Table::new("Hit ratio, %", &header);
    let mut groups = Vec::new();
    for row in &rows {
        let workload = std::path::Path::new(&row.workload)
            .file_name()
            .map_or(row.workload.clone(), |n| n.to_string_lossy().into_owned());
        let workload = workload.trim_end_matches(".txt.gz").to_owned();
        let ratios: Vec<f64> = row
            .cells
            .iter()
            .map(|c| c.hits as f64 / row.requests.max(1) as f64)
            .collect();
        let mut cells = vec![workload.clone(), format!("{}%", row.size_percent)];
        cells.extend(ratios.iter().map(|r| format!("{:.2}", r * 100.0)));
        table.row(cells);
        for (column, ratio) in columns.iter().zip(&ratios) {
            report.metrics.push(Metric::higher(
                format!("{workload}@{}%/{column}", row.size_percent),
                *ratio,
                "hit ratio",
            ));
        }
        groups.push((
            format!("{workload} {}%", row.size_percent),
            ratios.iter().map(|r| Some(r * 100.0)).collect(),
        ));
    }
    report.tables.push(table);
    report.plots.push(Plot::Bars {
        name: "hit-ratio".to_owned(),
        title: "Hit ratio by policy".to_owned(),
        unit: "hit ratio %".to_owned(),
        series: columns.iter().map(|c| (*c).to_owned()).collect(),
        groups,
        log: false,
    });
    Ok(report)
}

/// What each fsync mode costs, and how fast a node recovers, against redis-server.
pub fn persist(ctx: &Context) -> anyhow::Result<SuiteReport> {
    let args = crate::persist::bench_args(ctx.quick);
    let mut report = SuiteReport {
        about: format!(
            "SET/s with no persistence and each appendfsync mode (redis-benchmark, 50 clients, 32 B values, {} requests, median of {} rounds, cache-node and redis-server interleaved), recovery time of {} keys from the log and after a rewrite, and throughput while rewrites run back to back.",
            args.requests, args.rounds, args.keys
        ),
        ..SuiteReport::default()
    };
    let mut progress = ctx.progress("fsync modes, recovery, compaction", 1);
    crate::persist::measure(&args, &mut report)?;
    progress.inc(1);
    progress.finish();
    Ok(report)
}

/// One case as `cache-bench --json` writes it.
#[derive(Debug, Clone, Deserialize)]
struct Case {
    name: String,
    transport: String,
    protocol: String,
    op: String,
    size: usize,
    depth: usize,
    ops_per_sec: Option<f64>,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    #[serde(default)]
    errors: Option<u64>,
    #[serde(default)]
    misses: Option<u64>,
    #[serde(default)]
    skipped: Option<String>,
}

/// Runs `cache-bench` with `args` and reads the cases it measured.
fn cache_bench(ctx: &Context, label: &str, args: &[String]) -> anyhow::Result<Vec<Case>> {
    let json = ctx.out_dir.join(format!("cache-bench-{label}.json"));
    let mut cmd = Command::new(ctx.binary("cache-bench"));
    cmd.args(args)
        .arg("--json")
        .arg(&json)
        .stdout(Stdio::null());
    util::run_logged(&mut cmd)?;
    let text = std::fs::read_to_string(&json)
        .with_context(|| format!("cannot read {}", json.display()))?;
    let cases: Vec<Case> = serde_json::from_str(&text).context("cache-bench's JSON")?;
    let _ = std::fs::remove_file(&json);
    Ok(cases)
}

fn measured(case: &Case) -> Option<(f64, f64, f64)> {
    Some((case.ops_per_sec?, case.p50_us?, case.p99_us?))
}

/// GET/SET over every transport and protocol of one cache-node.
pub fn transports(ctx: &Context) -> anyhow::Result<SuiteReport> {
    let dir = ctx.out_dir.join("transports");
    std::fs::create_dir_all(&dir)?;
    let certs = dir.join("certs");
    let socket = dir.join("node.sock");
    let (tls, quic, udp) = (free_port()?, free_port()?, free_port()?);
    let endpoints = [
        format!("tls://127.0.0.1:{tls}"),
        format!("quic://127.0.0.1:{quic}"),
        format!("udp://127.0.0.1:{udp}"),
        format!("unix://{}", socket.display()),
    ];
    let mut flags = Vec::new();
    for endpoint in &endpoints {
        flags.extend(["--listen", endpoint.as_str()]);
    }
    let certs_arg = certs.display().to_string();
    flags.extend(["--tls-self-signed", &certs_arg, "--log", "warn"]);
    let (port, _node) = start_node(&flags)?;
    wait_for_port(port)?;
    let tcp = format!("tcp://127.0.0.1:{port}");
    let [tls, quic, udp, unix] = &endpoints;
    let mut args = Vec::new();
    for target in [
        tcp.clone(),
        format!("{tcp}@native"),
        unix.clone(),
        format!("{unix}@native"),
        tls.clone(),
        format!("{tls}@native"),
        quic.clone(),
        format!("{quic}@native"),
        udp.clone(),
    ] {
        args.extend(["-e".to_owned(), target]);
    }
    let seconds = if ctx.quick { 0.2 } else { ctx.seconds.min(2.0) };
    args.extend([
        "--seconds".to_owned(),
        seconds.to_string(),
        "--tls-ca".to_owned(),
        certs.join("cert.pem").display().to_string(),
    ]);
    let cases = cache_bench(ctx, "transports", &args)?;
    let mut report = SuiteReport {
        about: format!(
            "GET and SET over each transport and protocol of one cache-node (cache-bench, one connection, 1 and 16 requests in flight, 32 B and 4 KiB values, {seconds} s per case)."
        ),
        ..SuiteReport::default()
    };
    let mut table = Table::new(
        "",
        &[
            "transport",
            "protocol",
            "op",
            "value",
            "in flight",
            "ops/s",
            "p50 µs",
            "p99 µs",
            "errors",
        ],
    );
    for case in &cases {
        let mut row = vec![
            case.transport.clone(),
            case.protocol.clone(),
            case.op.clone(),
            format!("{} B", case.size),
            case.depth.to_string(),
        ];
        match measured(case) {
            Some((ops, p50, p99)) => {
                row.extend([grouped(ops), format!("{p50:.0}"), format!("{p99:.0}")]);
                row.push(case.errors.unwrap_or(0).to_string());
                report.metrics.push(Metric::higher(
                    format!(
                        "{}/{}/{}/{}B/d{}/ops_per_sec",
                        case.transport, case.protocol, case.op, case.size, case.depth
                    ),
                    ops,
                    "ops/s",
                ));
            }
            None => row.extend([
                "n/a".to_owned(),
                String::new(),
                String::new(),
                case.skipped.clone().unwrap_or_default(),
            ]),
        }
        table.row(row);
    }
    report.tables.push(table);
    let mut groups = Vec::new();
    for case in cases
        .iter()
        .filter(|c| c.op.eq_ignore_ascii_case("get") && c.size == 32)
    {
        let label = format!("{} {}", case.transport, case.protocol);
        let value = case.ops_per_sec;
        match groups
            .iter_mut()
            .find(|(l, _): &&mut (String, Vec<Option<f64>>)| *l == label)
        {
            Some((_, values)) if case.depth == 16 => values[1] = value,
            Some((_, values)) => values[0] = value,
            None if case.depth == 16 => groups.push((label, vec![None, value])),
            None => groups.push((label, vec![value, None])),
        }
    }
    report.plots.push(Plot::Bars {
        name: "get".to_owned(),
        title: "GET 32 B by transport".to_owned(),
        unit: "ops/s".to_owned(),
        series: vec!["1 in flight".to_owned(), "16 in flight".to_owned()],
        groups,
        log: true,
    });
    Ok(report)
}

/// A server measured by the throughput suite.
struct Peer {
    name: &'static str,
    port: u16,
    /// Speaks RESP (redis-benchmark can load it).
    resp: bool,
}

/// The same load against cache-node, cache-proxy over two nodes, and the installed peers.
pub fn throughput(ctx: &Context) -> anyhow::Result<SuiteReport> {
    let mut report = SuiteReport::default();
    let mut processes: Vec<Process> = Vec::new();
    let mut peers = Vec::new();
    let (port, node) = start_node(&["--log", "warn"])?;
    processes.push(node);
    peers.push(Peer {
        name: "cache-node",
        port,
        resp: true,
    });
    let mut node_ports = Vec::new();
    for _ in 0..2 {
        let (port, node) = start_node(&["--log", "warn"])?;
        processes.push(node);
        node_ports.push(port);
    }
    for port in &node_ports {
        wait_for_port(*port)?;
    }
    let proxy_port = free_port()?;
    let mut proxy = Command::new(ctx.binary("cache-proxy"));
    proxy.args(["--port", &proxy_port.to_string(), "--log", "warn"]);
    for p in &node_ports {
        proxy.args(["--node", &format!("127.0.0.1:{p}")]);
    }
    processes.push(Process(
        proxy
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start cache-proxy")?,
    ));
    peers.push(Peer {
        name: "cache-proxy",
        port: proxy_port,
        resp: true,
    });
    if installed("redis-server") {
        let (port, redis) = util::start_redis()?;
        processes.push(redis);
        peers.push(Peer {
            name: "redis-server",
            port,
            resp: true,
        });
    } else if let Some(why) = missing("redis-server", "redis-server") {
        report.skipped.push(why);
    }
    if installed("memcached") {
        let (port, memcached) = util::start_memcached(1024)?;
        processes.push(memcached);
        peers.push(Peer {
            name: "memcached",
            port,
            resp: false,
        });
    } else if let Some(why) = missing("memcached", "memcached") {
        report.skipped.push(why);
    }
    if installed("nutcracker") {
        let weighted: Vec<(u16, u32)> = node_ports.iter().map(|p| (*p, 1)).collect();
        let (port, twemproxy) = util::start_twemproxy("bench-twemproxy", &weighted)?;
        processes.push(twemproxy);
        peers.push(Peer {
            name: "twemproxy",
            port,
            resp: true,
        });
    } else if let Some(why) = missing("nutcracker", "nutcracker") {
        report.skipped.push(format!("twemproxy: {why}"));
    }
    for peer in &peers {
        wait_for_port(peer.port)?;
    }
    let connections = 50;
    report.about = format!(
        "The same load against every server in one run: {} with 50 connections, 32 B values, 10,000 random keys (redis-benchmark: 100,000), 1 and 16 requests in flight per connection. cache-proxy and twemproxy stand in front of the same two cache-nodes; redis-server runs without persistence, memcached with -U 0.",
        peers.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
    );

    // The project's own generator, every server (memcached over its text protocol).
    let seconds = if ctx.quick { 0.3 } else { ctx.seconds.min(3.0) };
    let rounds = if ctx.quick { 1 } else { 3 };
    let mut args = Vec::new();
    for peer in &peers {
        let protocol = if peer.resp { "" } else { "@memcache" };
        args.extend([
            "-e".to_owned(),
            format!("{}=tcp://127.0.0.1:{}{protocol}", peer.name, peer.port),
        ]);
    }
    args.extend(
        [
            "--ops",
            "set,get",
            "--sizes",
            "32",
            "--depths",
            "1,16",
            "--connections",
            &connections.to_string(),
            "--seconds",
            &seconds.to_string(),
            "--rounds",
            &rounds.to_string(),
        ]
        .map(str::to_owned),
    );
    let cases = cache_bench(ctx, "throughput", &args)?;
    let names: Vec<&str> = peers.iter().map(|p| p.name).collect();
    let rows: Vec<Row> = cases
        .iter()
        .filter_map(|c| {
            let (ops, p50, p99) = measured(c)?;
            Some(Row {
                server: c.name.clone(),
                op: c.op.to_uppercase(),
                depth: c.depth,
                ops,
                p50_us: p50,
                p99_us: p99,
                errors: c.errors.unwrap_or(0)
                    + c.misses
                        .filter(|_| c.op.eq_ignore_ascii_case("get"))
                        .unwrap_or(0),
            })
        })
        .collect();
    add_comparison(
        &mut report,
        "cache-bench",
        &format!(
            "cache-bench, {connections} connections, median of {rounds} rounds of {seconds} s"
        ),
        &names,
        &rows,
    );

    // redis-benchmark, when present, on every RESP server.
    if installed("redis-benchmark") {
        let requests: u64 = if ctx.quick { 20_000 } else { 200_000 };
        let resp: Vec<&Peer> = peers.iter().filter(|p| p.resp).collect();
        let mut rows = Vec::new();
        let mut progress = ctx.progress("redis-benchmark", (resp.len() * 2) as u64);
        for depth in [1u64, 16] {
            for peer in &resp {
                let samples =
                    redis_benchmark(peer.port, "set,get", depth, requests * depth.min(10))?;
                for s in samples {
                    rows.push(Row {
                        server: peer.name.to_owned(),
                        op: s.test.clone(),
                        depth: depth as usize,
                        ops: s.rps,
                        p50_us: s.p50 * 1000.0,
                        p99_us: s.p99 * 1000.0,
                        errors: 0,
                    });
                }
                progress.inc(1);
            }
        }
        progress.finish();
        let names: Vec<&str> = resp.iter().map(|p| p.name).collect();
        add_comparison(
            &mut report,
            "redis-benchmark",
            &format!("redis-benchmark -c 50 -r 100000 -d 32 -n {requests} (x10 at depth 16)"),
            &names,
            &rows,
        );
    } else if let Some(why) = missing("redis-benchmark", "redis-tools") {
        report
            .skipped
            .push(format!("the redis-benchmark half: {why}"));
    }
    drop(processes);
    Ok(report)
}

/// One server's figure for one op and depth.
#[derive(Debug, Clone)]
struct Row {
    server: String,
    op: String,
    depth: usize,
    ops: f64,
    p50_us: f64,
    p99_us: f64,
    /// Errors, and for GETs misses (every key was written first).
    errors: u64,
}

/// The ratios the throughput suite reports: ours against each peer.
const RATIOS: [(&str, &str); 3] = [
    ("cache-node", "redis-server"),
    ("cache-node", "memcached"),
    ("cache-proxy", "twemproxy"),
];

fn add_comparison(
    report: &mut SuiteReport,
    tool: &str,
    title: &str,
    servers: &[&str],
    rows: &[Row],
) {
    let mut table = Table::new(
        title,
        &[
            "op",
            "in flight",
            "server",
            "ops/s",
            "p50 µs",
            "p99 µs",
            "errors",
        ],
    );
    let mut keys: Vec<(String, usize)> = rows.iter().map(|r| (r.op.clone(), r.depth)).collect();
    keys.dedup();
    keys.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    keys.dedup();
    let find = |op: &str, depth: usize, server: &str| {
        rows.iter()
            .find(|r| r.op == op && r.depth == depth && r.server == server)
    };
    let mut ratios = Table::new(
        format!("{tool}: ratios (ops/s of ours / ops/s of the peer)"),
        &["op", "in flight", "ours", "peer", "ratio"],
    );
    let mut groups = Vec::new();
    for (op, depth) in &keys {
        let mut values = Vec::new();
        for server in servers {
            let Some(row) = find(op, *depth, server) else {
                values.push(None);
                continue;
            };
            table.row(vec![
                op.clone(),
                depth.to_string(),
                (*server).to_owned(),
                grouped(row.ops),
                format!("{:.0}", row.p50_us),
                format!("{:.0}", row.p99_us),
                row.errors.to_string(),
            ]);
            report.metrics.push(Metric::higher(
                format!("{tool}/{server}/{op}/d{depth}/ops_per_sec"),
                row.ops,
                "ops/s",
            ));
            report.metrics.push(Metric::lower(
                format!("{tool}/{server}/{op}/d{depth}/p99_us"),
                row.p99_us,
                "µs",
            ));
            values.push(Some(row.ops));
        }
        groups.push((format!("{op} x{depth}"), values));
        for (ours, peer) in RATIOS {
            if let (Some(a), Some(b)) = (find(op, *depth, ours), find(op, *depth, peer)) {
                let ratio = a.ops / b.ops;
                ratios.row(vec![
                    op.clone(),
                    depth.to_string(),
                    ours.to_owned(),
                    peer.to_owned(),
                    format!("{ratio:.2}x"),
                ]);
                report.findings.push(format!(
                    "{tool}, {op} with {depth} in flight: {ours} {} ops/s, {peer} {} ops/s ({ratio:.2}x).",
                    grouped(a.ops),
                    grouped(b.ops)
                ));
            }
        }
    }
    report.tables.push(table);
    if !ratios.rows.is_empty() {
        report.tables.push(ratios);
    }
    report.plots.push(Plot::Bars {
        name: tool.to_owned(),
        title: format!("Throughput, {tool}"),
        unit: "ops/s".to_owned(),
        series: servers.iter().map(|s| (*s).to_owned()).collect(),
        groups,
        log: false,
    });
}
