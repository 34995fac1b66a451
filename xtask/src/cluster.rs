//! `cargo xtask cluster`: a local cluster to try the cache with, on loopback.
//!
//! Builds the release binaries, starts `--nodes` cache-nodes (ports base+1, base+2, ..., each
//! with an admin port at 9100+i) and a cache-proxy on the base port in front of them, and
//! prints the endpoints. When stdout is a terminal (and neither `--no-top` nor `--seconds` is
//! given) it then opens `cache-top` on the proxy, and quitting cache-top stops the cluster: the
//! monitor is the session. Otherwise it waits for Ctrl-C (or `--seconds`). Every process's log
//! goes to `target/cluster/<name>.log`.

use std::io::IsTerminal;
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
    /// Do not open cache-top on the proxy; wait for Ctrl-C instead. (cache-top opens only
    /// when stdout is a terminal and --seconds is not given.)
    #[arg(long)]
    no_top: bool,
}

fn ensure_free(port: u16) -> anyhow::Result<()> {
    std::net::TcpListener::bind(("127.0.0.1", port))
        .map(drop)
        .with_context(|| format!("port {port} is in use; stop what holds it or pass --base-port"))
}

pub fn run(args: &ClusterArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.nodes >= 1, "--nodes must be at least 1");
    let top = !args.no_top && args.seconds.is_none() && std::io::stdout().is_terminal();
    if !args.no_build {
        if top {
            build_release(&["cache-node", "cache-proxy", "cache-top"])?;
        } else {
            build_release(&["cache-node", "cache-proxy"])?;
        }
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

    let outcome = if top {
        monitor(&bin, args.base_port)
    } else {
        println!("Ctrl-C stops everything.");
        wait(args, &stop, &mut children, &logs)
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

/// Runs cache-top on the proxy in this terminal until the user quits it.
fn monitor(bin: &std::path::Path, port: u16) -> anyhow::Result<()> {
    println!("opening cache-top on the proxy: q quits it and stops the cluster");
    let mut cmd = Command::new(bin.join("cache-top"));
    cmd.arg(format!("tcp://127.0.0.1:{port}"));
    eprintln!("$ {cmd:?}");
    let status = cmd
        .status()
        .context("cannot start cache-top (build it with cargo build --release -p cache-top)")?;
    anyhow::ensure!(status.success(), "cache-top failed with {status}");
    Ok(())
}

/// Waits for Ctrl-C, `--seconds`, or a process that exits.
fn wait(
    args: &ClusterArgs,
    stop: &AtomicBool,
    children: &mut [(String, Process)],
    logs: &std::path::Path,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        if args
            .seconds
            .is_some_and(|s| started.elapsed() >= Duration::from_secs(s))
        {
            return Ok(());
        }
        let exited = children
            .iter_mut()
            .find_map(|(name, p)| matches!(p.0.try_wait(), Ok(Some(_))).then(|| name.clone()));
        if let Some(name) = exited {
            return Err(anyhow::anyhow!(
                "{name} exited; see {}",
                logs.join(format!("{name}.log")).display()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
