//! Small helpers shared by the subcommands.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, bail};

/// The workspace root.
pub fn project_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// Runs a command after printing it; fails if it fails.
pub fn run_logged(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("$ {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Builds the named binaries in release mode.
pub fn build_release(bins: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(project_root()).args(["build", "--release"]);
    for bin in bins {
        cmd.args(["--bin", bin]);
    }
    run_logged(&mut cmd)
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("no free port")?;
    Ok(listener.local_addr()?.port())
}

/// Whether `program` is on the PATH.
pub fn installed(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// A child process that is killed when dropped, so a failing run leaves no server behind.
#[derive(Debug)]
pub struct Process(pub std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Connects to `127.0.0.1:port`, retrying for up to ten seconds while a server starts.
pub fn wait_for_port(port: u16) -> anyhow::Result<std::net::TcpStream> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => return Ok(stream),
            Err(e) if std::time::Instant::now() > deadline => {
                return Err(e).with_context(|| format!("no server came up on port {port}"));
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
}

static BIN_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Measures the binaries in `dir` instead of target/release (`cargo xtask bench --debug`).
pub fn set_bin_dir(dir: &Path) {
    let _ = BIN_DIR.set(dir.to_owned());
}

/// A project binary under measurement: in target/release unless [`set_bin_dir`] said otherwise.
pub fn bin(name: &str) -> PathBuf {
    BIN_DIR
        .get()
        .cloned()
        .unwrap_or_else(|| project_root().join("target/release"))
        .join(name)
}

/// Starts the release `cache-node` on a free loopback port with `extra` flags.
pub fn start_node(extra: &[&str]) -> anyhow::Result<(u16, Process)> {
    let port = free_port()?;
    let child = Command::new(bin("cache-node"))
        .args(["--port", &port.to_string(), "--stats-log-interval", "0"])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .spawn()
        .with_context(|| {
            format!(
                "cannot start {} (build it first)",
                bin("cache-node").display()
            )
        })?;
    Ok((port, Process(child)))
}

/// Starts redis-server on a free loopback port, without persistence.
pub fn start_redis() -> anyhow::Result<(u16, Process)> {
    let port = free_port()?;
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("cannot start redis-server")?;
    Ok((port, Process(child)))
}

/// Starts memcached on a free loopback port with `megabytes` of memory and no UDP.
pub fn start_memcached(megabytes: u32) -> anyhow::Result<(u16, Process)> {
    use std::os::unix::fs::MetadataExt;
    let port = free_port()?;
    let mut memcached = Command::new("memcached");
    memcached.args(["-p", &port.to_string(), "-l", "127.0.0.1", "-U", "0"]);
    memcached.args(["-m", &megabytes.to_string()]);
    if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        // memcached refuses to run as root unless told which user to be.
        memcached.args(["-u", "root"]);
    }
    let child = memcached
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("cannot start memcached")?;
    Ok((port, Process(child)))
}

/// Starts twemproxy (nutcracker) on a free loopback port in front of `nodes` (port, weight),
/// with its defaults `distribution: ketama` and `hash: fnv1a_64`. Its config and log go to
/// `target/bench/<name>.yml` and `.log`.
pub fn start_twemproxy(name: &str, nodes: &[(u16, u32)]) -> anyhow::Result<(u16, Process)> {
    let dir = project_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let port = free_port()?;
    let stats = free_port()?;
    let servers: String = nodes
        .iter()
        .map(|(p, w)| format!("   - 127.0.0.1:{p}:{w}\n"))
        .collect();
    let conf = dir.join(format!("{name}.yml"));
    std::fs::write(
        &conf,
        format!(
            "{name}:\n  listen: 127.0.0.1:{port}\n  hash: fnv1a_64\n  distribution: ketama\n  redis: true\n  auto_eject_hosts: false\n  servers:\n{servers}"
        ),
    )?;
    let child = Command::new("nutcracker")
        .args(["-c", &conf.display().to_string(), "-s", &stats.to_string()])
        .args(["-o", &dir.join(format!("{name}.log")).display().to_string()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("cannot start nutcracker")?;
    Ok((port, Process(child)))
}
