//! Helpers for the end-to-end tests: build the real binaries once, start them on free loopback
//! ports, wait until they say they are ready, and always stop them (on drop, even when a test
//! panics).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The workspace's target directory for the profile the tests were built with.
fn target_dir() -> PathBuf {
    // The test executable lives in target/<profile>/deps/.
    let exe = std::env::current_exe().expect("the test executable has a path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps layout")
        .to_path_buf()
}

/// The path of a workspace binary, built (once per test process) if cargo is at hand.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let release = target_dir().ends_with("release");
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "cache-node",
            "--bin",
            "cache-node",
            "-p",
            "cache-proxy",
            "--bin",
            "cache-proxy",
            "-p",
            "cache-cli",
            "--bin",
            "cache-cli",
            "-p",
            "cache-bench",
            "--bin",
            "cache-bench",
            "-p",
            "cache-top",
            "--bin",
            "cache-top",
        ]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo runs");
        assert!(status.success(), "building the binaries failed");
    });
    target_dir().join(name)
}

/// A running `cache-node`.
pub type NodeProcess = ServerProcess;

/// A running `cache-node` or `cache-proxy`, killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// The endpoints it reported, e.g. `tcp://127.0.0.1:40123`.
    pub endpoints: Vec<String>,
    /// Its TCP address, `127.0.0.1:40123`.
    pub addr: String,
}

impl ServerProcess {
    /// Starts `cache-node` on a free loopback port with extra `args`.
    pub fn start(args: &[&str]) -> anyhow::Result<ServerProcess> {
        let mut all = vec!["--listen", "tcp://127.0.0.1:0"];
        all.extend_from_slice(args);
        ServerProcess::node_with(&all)
    }

    /// Starts `cache-node` with exactly `args` (give a `--listen`), e.g. to restart a node on
    /// the port it had.
    pub fn node_with(args: &[&str]) -> anyhow::Result<ServerProcess> {
        let mut all = vec!["--stats-log-interval", "0"];
        all.extend_from_slice(args);
        ServerProcess::spawn("cache-node", &all)
    }

    /// Starts `cache-proxy` on a free loopback port with extra `args` (its `--node`s).
    pub fn proxy(args: &[&str]) -> anyhow::Result<ServerProcess> {
        let mut all = vec!["--listen", "tcp://127.0.0.1:0"];
        all.extend_from_slice(args);
        ServerProcess::spawn("cache-proxy", &all)
    }

    fn spawn(name: &str, args: &[&str]) -> anyhow::Result<ServerProcess> {
        let mut child = Command::new(binary(name))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut node = ServerProcess {
            child,
            endpoints: Vec::new(),
            addr: String::new(),
        };
        loop {
            match rx.recv_timeout(READY_TIMEOUT) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("ready ") {
                        node.endpoints = rest.split_whitespace().map(str::to_owned).collect();
                        break;
                    }
                }
                Err(_) => bail!("{name} did not report ready within {READY_TIMEOUT:?}"),
            }
        }
        node.addr = node
            .endpoints
            .iter()
            .find_map(|e| e.strip_prefix("tcp://"))
            .unwrap_or_default()
            .to_owned();
        Ok(node)
    }

    /// A `redis://` URL for its TCP endpoint.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`"KILL"`, `"STOP"`, `"CONT"`, `"HUP"`, ...) without waiting.
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -{signal} failed");
        Ok(())
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The admin URL it reported (`http://...`), if started with `--admin`.
    pub fn admin_url(&self) -> Option<&str> {
        self.endpoints
            .iter()
            .find(|e| e.starts_with("http://"))
            .map(String::as_str)
    }

    /// Sends SIGTERM and waits for a clean exit; returns whether it exited successfully.
    pub fn terminate(mut self) -> anyhow::Result<bool> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.success());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        bail!("the process did not exit within 5 s of SIGTERM")
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
