//! `cargo xtask transports`: one cache-node listening on every transport, and `cache-bench`
//! measuring GET and SET over each (RESP and native where both apply), 32 B and 4 KiB values,
//! 1 and 16 requests in flight, in one run. Prints cache-bench's Markdown table.

use std::process::Command;

use anyhow::Context;

use crate::util::{build_release, free_port, project_root, run_logged, start_node, wait_for_port};

/// Options of `cargo xtask transports`.
#[derive(Debug, clap::Args)]
pub struct TransportsArgs {
    /// Seconds measured per case.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Runs per case; the median is reported.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Use the binaries already in target/release instead of building them.
    #[arg(long)]
    no_build: bool,
}

pub fn run(args: &TransportsArgs) -> anyhow::Result<()> {
    if !args.no_build {
        build_release(&["cache-node", "cache-bench"])?;
    }
    let dir = project_root().join("target/bench/transports");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let certs = dir.join("certs");
    let socket = dir.join("node.sock");
    // UDP and QUIC ports: a TCP port just free is, on loopback, almost always free for UDP too.
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
    flags.extend(["--tls-self-signed", &certs_arg]);
    let (port, _node) = start_node(&flags)?;
    wait_for_port(port)?;
    // The listeners are all bound before the node accepts on any of them.
    let tcp = format!("tcp://127.0.0.1:{port}");
    let [tls, quic, udp, unix] = &endpoints;
    let targets = [
        tcp.clone(),
        format!("{tcp}@native"),
        unix.clone(),
        format!("{unix}@native"),
        tls.clone(),
        format!("{tls}@native"),
        quic.clone(),
        format!("{quic}@native"),
        udp.clone(),
    ];
    let mut bench = Command::new(project_root().join("target/release/cache-bench"));
    for target in &targets {
        bench.args(["-e", target]);
    }
    bench
        .args(["--seconds", &args.seconds.to_string()])
        .args(["--rounds", &args.rounds.to_string()])
        .arg("--tls-ca")
        .arg(certs.join("cert.pem"));
    run_logged(&mut bench)
}
