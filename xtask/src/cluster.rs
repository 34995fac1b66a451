//! `cargo xtask cluster`: a local cluster to try the cache with, on loopback.
//!
//! Builds the release binaries, starts `--nodes` cache-nodes (ports base+1, base+2, ..., each
//! with an admin port at 9100+i) and a cache-proxy on the base port in front of them, prints
//! the endpoints, and stops everything on Ctrl-C (or after `--seconds`). Every process's log
//! goes to `target/cluster/<name>.log`.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::util::{Process, build_release, project_root, wait_for_port};

#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// How many cache-nodes.
    #[arg(long, default_value_t = 3)]
    nodes: u16,
    /// The proxy's port; nodes take the ports after it.
    #[arg(long, default_value_t = 7000)]
    base_port: u16,
    /// Byte budget of each node.
    #[arg(long, default_value = "256mb")]
    maxmemory: String,
    /// Stop after this many seconds instead of waiting for Ctrl-C.
    #[arg(long)]
    seconds: Option<u64>,
    /// Do not build; use the release binaries already in target/.
    #[arg(long)]
    no_build: bool,
}

fn ensure_free(port: u16) -> anyhow::Result<()> {
    std::net::TcpListener::bind(("127.0.0.1", port))
        .map(drop)
        .with_context(|| format!("port {port} is in use; stop what holds it or pass --base-port"))
}

pub fn run(args: &ClusterArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.nodes >= 1, "--nodes must be at least 1");
    if !args.no_build {
        build_release(&["cache-node", "cache-proxy"])?;
    }
    let root = project_root();
    let bin = root.join("target/release");
    let logs = root.join("target/cluster");
    std::fs::create_dir_all(&logs)?;
    let ports: Vec<u16> = (1..=args.nodes).map(|i| args.base_port + i).collect();
    for port in std::iter::once(args.base_port).chain(ports.iter().copied()) {
        ensure_free(port)?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("cannot install the Ctrl-C handler")?;
    }
    let mut children: Vec<(String, Process)> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let name = format!("node{}", i + 1);
        let log = std::fs::File::create(logs.join(format!("{name}.log")))?;
        let child = Command::new(bin.join("cache-node"))
            .args(["--port", &port.to_string(), "--maxmemory", &args.maxmemory])
            .args(["--admin", &format!("127.0.0.1:{}", 9101 + i)])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start cache-node (build it with cargo build --release)")?;
        children.push((name, Process(child)));
    }
    for port in &ports {
        wait_for_port(*port)?;
    }
    let log = std::fs::File::create(logs.join("proxy.log"))?;
    let mut proxy = Command::new(bin.join("cache-proxy"));
    proxy.args(["--port", &args.base_port.to_string()]);
    for port in &ports {
        proxy.args(["--node", &format!("tcp://127.0.0.1:{port}")]);
    }
    let child = proxy
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("cannot start cache-proxy")?;
    children.push(("proxy".to_owned(), Process(child)));
    wait_for_port(args.base_port)?;

    println!();
    println!("cluster up: proxy and {} nodes on 127.0.0.1", args.nodes);
    println!(
        "  proxy    tcp://127.0.0.1:{}   <- point Redis clients here",
        args.base_port
    );
    for (i, port) in ports.iter().enumerate() {
        println!(
            "  node{}    tcp://127.0.0.1:{port}   admin http://127.0.0.1:{}/metrics",
            i + 1,
            9101 + i
        );
    }
    println!("  logs     {}", logs.display());
    println!();
    println!("try:  redis-cli -p {} set greeting hello", args.base_port);
    println!("      redis-cli -p {} proxy nodes", args.base_port);
    println!("Ctrl-C stops everything.");

    let started = Instant::now();
    let outcome = loop {
        if stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        if args
            .seconds
            .is_some_and(|s| started.elapsed() >= Duration::from_secs(s))
        {
            break Ok(());
        }
        let exited = children
            .iter_mut()
            .find_map(|(name, p)| matches!(p.0.try_wait(), Ok(Some(_))).then(|| name.clone()));
        if let Some(name) = exited {
            break Err(anyhow::anyhow!(
                "{name} exited; see {}",
                logs.join(format!("{name}.log")).display()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    println!("stopping");
    // SIGTERM first so every process shuts down cleanly; the guards kill what lingers.
    for (_, process) in children.iter().rev() {
        let _ = Command::new("kill")
            .args(["-TERM", &process.0.id().to_string()])
            .status();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for (_, process) in children.iter_mut() {
        while Instant::now() < deadline && matches!(process.0.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    outcome
}
