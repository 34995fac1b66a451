//! The processes under test: cache-nodes and a cache-proxy on free loopback ports, the proxy
//! reading its node list from a config file in a temporary directory. Every process is a
//! [`Process`], killed when dropped, so a failed run leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::resp::{Connection, text};
use crate::util::{Process, free_port, wait_for_port};

/// The proxy's per-request timeout towards nodes, written to its config.
pub const PROXY_TIMEOUT_MS: u64 = 1000;

/// How the proxy learns of a membership change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Rewrite the config file's `nodes` and send `SIGHUP`.
    Reload,
    /// `PROXY NODE ADD` / `PROXY NODE REMOVE` (the file is rewritten too, so both agree).
    Admin,
}

#[derive(Debug)]
pub struct Node {
    pub name: String,
    pub port: u16,
    /// `None` while killed on purpose.
    process: Option<Process>,
    /// 1 for the first process on this port, +1 per restart.
    pub incarnation: u32,
    pub paused: bool,
    /// Listed in the proxy's node list.
    pub member: bool,
    /// Started by the churn, not at the start.
    pub added: bool,
}

/// A running process as the sampler sees it.
#[derive(Debug, Clone)]
pub struct Running {
    pub name: String,
    pub incarnation: u32,
    pub pid: u32,
    /// A node's port (`None` for the proxy).
    pub port: Option<u16>,
    pub paused: bool,
}

#[derive(Debug)]
pub struct Cluster {
    bin_dir: PathBuf,
    logs: PathBuf,
    config_dir: PathBuf,
    maxmemory: String,
    pub proxy_port: u16,
    proxy: Process,
    pub nodes: Vec<Node>,
    named: usize,
}

impl Cluster {
    /// Starts `count` nodes and a proxy in front of them; logs go to `logs/<name>.log`.
    pub fn start(
        bin_dir: &Path,
        count: usize,
        maxmemory: &str,
        logs: &Path,
    ) -> anyhow::Result<Cluster> {
        std::fs::create_dir_all(logs)?;
        let config_dir = std::env::temp_dir().join(format!("cache-soak-{}", std::process::id()));
        std::fs::create_dir_all(&config_dir)
            .with_context(|| format!("cannot create {}", config_dir.display()))?;
        let mut nodes = Vec::new();
        for i in 1..=count {
            let name = format!("node{i}");
            let port = free_port()?;
            let process = spawn_node(bin_dir, logs, &name, port, maxmemory)?;
            nodes.push(Node {
                name,
                port,
                process: Some(process),
                incarnation: 1,
                paused: false,
                member: true,
                added: false,
            });
        }
        for node in &nodes {
            wait_for_port(node.port)?;
        }
        let proxy_port = free_port()?;
        let config = config_dir.join("cache-proxy.toml");
        std::fs::write(&config, config_text(proxy_port, &nodes))?;
        let mut command = Command::new(bin_dir.join("cache-proxy"));
        command.arg("--config").arg(&config);
        let proxy = spawn(&mut command, &logs.join("proxy.log"))?;
        wait_for_port(proxy_port)?;
        Ok(Cluster {
            bin_dir: bin_dir.to_owned(),
            logs: logs.to_owned(),
            config_dir,
            maxmemory: maxmemory.to_owned(),
            proxy_port,
            proxy,
            nodes,
            named: count,
        })
    }

    fn config_path(&self) -> PathBuf {
        self.config_dir.join("cache-proxy.toml")
    }

    fn write_config(&self) -> anyhow::Result<()> {
        std::fs::write(
            self.config_path(),
            config_text(self.proxy_port, &self.nodes),
        )
        .context("cannot write the proxy's config")
    }

    /// Every process that is running (a paused one included).
    pub fn running(&self) -> Vec<Running> {
        let mut list = vec![Running {
            name: "proxy".to_owned(),
            incarnation: 1,
            pid: self.proxy.0.id(),
            port: None,
            paused: false,
        }];
        for node in &self.nodes {
            if let Some(process) = &node.process {
                list.push(Running {
                    name: node.name.clone(),
                    incarnation: node.incarnation,
                    pid: process.0.id(),
                    port: Some(node.port),
                    paused: node.paused,
                });
            }
        }
        list
    }

    /// The processes that exited although nobody stopped them, with how they ended.
    pub fn exited(&mut self) -> Vec<String> {
        let mut gone = Vec::new();
        if let Ok(Some(status)) = self.proxy.0.try_wait() {
            gone.push(format!("the proxy exited ({status})"));
        }
        for node in &mut self.nodes {
            let Some(process) = &mut node.process else {
                continue;
            };
            if let Ok(Some(status)) = process.0.try_wait() {
                gone.push(format!("{} exited ({status})", node.name));
                node.process = None;
            }
        }
        gone
    }

    /// `kill -9` of node `i`; its pid.
    pub fn kill(&mut self, i: usize) -> anyhow::Result<u32> {
        let node = &mut self.nodes[i];
        let Some(mut process) = node.process.take() else {
            bail!("{} is not running", node.name);
        };
        let pid = process.0.id();
        process.0.kill()?;
        process.0.wait()?;
        Ok(pid)
    }

    /// Starts node `i` again on its port; its new pid.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<u32> {
        let (name, port) = (self.nodes[i].name.clone(), self.nodes[i].port);
        let mut process = spawn_node(&self.bin_dir, &self.logs, &name, port, &self.maxmemory)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = process.0.try_wait() {
                bail!("{name} did not restart on port {port}: {status}");
            }
            if Instant::now() > deadline {
                bail!("{name} restarted but does not listen on port {port}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let pid = process.0.id();
        let node = &mut self.nodes[i];
        node.process = Some(process);
        node.incarnation += 1;
        Ok(pid)
    }

    /// Sends `SIGSTOP` (`pause`) or `SIGCONT` to node `i`.
    pub fn pause(&mut self, i: usize, pause: bool) -> anyhow::Result<u32> {
        let node = &mut self.nodes[i];
        let pid = node
            .process
            .as_ref()
            .map(|p| p.0.id())
            .with_context(|| format!("{} is not running", node.name))?;
        signal(pid, if pause { "STOP" } else { "CONT" })?;
        node.paused = pause;
        Ok(pid)
    }

    /// Starts a new node (not yet a member); its index.
    pub fn add(&mut self) -> anyhow::Result<usize> {
        self.named += 1;
        let name = format!("node{}", self.named);
        let port = free_port()?;
        let process = spawn_node(&self.bin_dir, &self.logs, &name, port, &self.maxmemory)?;
        wait_for_port(port)?;
        self.nodes.push(Node {
            name,
            port,
            process: Some(process),
            incarnation: 1,
            paused: false,
            member: false,
            added: true,
        });
        Ok(self.nodes.len() - 1)
    }

    /// Makes node `i` a member (`join`) or not, telling the proxy `via`.
    pub fn membership(&mut self, i: usize, join: bool, via: Via) -> anyhow::Result<()> {
        self.nodes[i].member = join;
        self.write_config()?;
        match via {
            Via::Reload => signal(self.proxy.0.id(), "HUP"),
            Via::Admin => {
                let endpoint = format!("tcp://127.0.0.1:{}", self.nodes[i].port);
                let verb = if join { "ADD" } else { "REMOVE" };
                let mut proxy = Connection::open(self.proxy_port, Duration::from_secs(5))
                    .map_err(|e| anyhow::anyhow!("cannot reach the proxy: {}", e.label()))?;
                let reply = proxy
                    .call(&["PROXY", "NODE", verb, &endpoint])
                    .map_err(|e| anyhow::anyhow!("PROXY NODE {verb}: {}", e.label()))?;
                match reply {
                    cache_wire::Response::Ok => Ok(()),
                    other => bail!("PROXY NODE {verb} {endpoint} answered {other:?}"),
                }
            }
        }
    }

    /// Stops node `i` for good (it left the ring) and forgets it.
    pub fn retire(&mut self, i: usize) {
        self.nodes.remove(i);
    }

    /// The members' ports, for [`routable`].
    pub fn member_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.member)
            .map(|n| n.port)
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.config_dir);
    }
}

fn config_text(proxy_port: u16, nodes: &[Node]) -> String {
    let list: Vec<String> = nodes
        .iter()
        .filter(|n| n.member)
        .map(|n| format!("\"tcp://127.0.0.1:{}\"", n.port))
        .collect();
    format!(
        "# Written by cargo xtask soak.\nlisten = [\"tcp://127.0.0.1:{proxy_port}\"]\nnodes = [{}]\n\n[backend]\ntimeout_ms = {PROXY_TIMEOUT_MS}\n",
        list.join(", ")
    )
}

fn spawn(command: &mut Command, log: &Path) -> anyhow::Result<Process> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    eprintln!("$ {command:?}");
    let child = command
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {command:?} (build it first)"))?;
    Ok(Process(child))
}

fn spawn_node(
    bin_dir: &Path,
    logs: &Path,
    name: &str,
    port: u16,
    maxmemory: &str,
) -> anyhow::Result<Process> {
    let mut command = Command::new(bin_dir.join("cache-node"));
    command
        .args(["--port", &port.to_string(), "--maxmemory", maxmemory])
        .args(["--stats-log-interval", "0"]);
    spawn(&mut command, &logs.join(format!("{name}.log")))
}

fn signal(pid: u32, name: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .context("cannot run kill")?;
    anyhow::ensure!(status.success(), "kill -{name} {pid} failed: {status}");
    Ok(())
}

/// Whether the proxy lists exactly the nodes at `ports`, every one routable, going by the
/// lines of `PROXY NODES`.
pub fn routable(lines: &[String], ports: &[u16]) -> bool {
    lines.len() == ports.len()
        && ports.iter().all(|port| {
            let endpoint = format!("endpoint=tcp://127.0.0.1:{port} ");
            lines
                .iter()
                .any(|l| l.contains(&endpoint) && l.contains(" routable=yes"))
        })
}

/// The lines of `PROXY NODES`.
pub fn proxy_nodes(proxy_port: u16) -> anyhow::Result<Vec<String>> {
    let mut proxy = Connection::open(proxy_port, Duration::from_secs(2))
        .map_err(|e| anyhow::anyhow!("cannot reach the proxy: {}", e.label()))?;
    match proxy.call(&["PROXY", "NODES"]) {
        Ok(cache_wire::Response::Array(lines)) => Ok(lines.iter().filter_map(text).collect()),
        Ok(other) => bail!("PROXY NODES answered {other:?}"),
        Err(e) => bail!("PROXY NODES: {}", e.label()),
    }
}

/// A process's resident set in bytes, from `/proc/<pid>/status`.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    parse_vm_rss(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A node's `used_memory` and `maxmemory`, asked directly (not through the proxy).
pub fn node_memory(port: u16) -> Option<(u64, u64)> {
    let mut node = Connection::open(port, Duration::from_millis(500)).ok()?;
    let info = text(&node.call(&["INFO", "memory"]).ok()?)?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some((field("used_memory")?, field("maxmemory")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tcache-node\nVmPeak:\t  99999 kB\nVmRSS:\t   81234 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), Some(81234 * 1024));
        assert_eq!(parse_vm_rss("Name:\tzombie\n"), None);
    }

    #[test]
    fn routable_needs_every_member_and_no_other() {
        let line = |port: u16, routable: &str| {
            format!(
                "name=127.0.0.1:{port} endpoint=tcp://127.0.0.1:{port} weight=1 state=up routable={routable} generation=x requests=1 failures=0"
            )
        };
        let lines = vec![line(7001, "yes"), line(7002, "yes")];
        assert!(routable(&lines, &[7001, 7002]));
        assert!(!routable(&lines, &[7001]), "an extra node is listed");
        assert!(!routable(&lines, &[7001, 7003]));
        assert!(!routable(
            &[line(7001, "yes"), line(7002, "no")],
            &[7001, 7002]
        ));
        // Port 700 is not port 7001.
        assert!(!routable(&[line(7001, "yes")], &[700]));
    }

    #[test]
    fn the_config_lists_members_only() {
        let node = |port, member| Node {
            name: format!("n{port}"),
            port,
            process: None,
            incarnation: 1,
            paused: false,
            member,
            added: false,
        };
        let text = config_text(7000, &[node(7001, true), node(7002, false)]);
        assert!(
            text.contains("nodes = [\"tcp://127.0.0.1:7001\"]"),
            "{text}"
        );
        assert!(text.contains("listen = [\"tcp://127.0.0.1:7000\"]"));
        assert!(text.contains(&format!("timeout_ms = {PROXY_TIMEOUT_MS}")));
    }
}
