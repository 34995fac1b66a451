//! The cache under test: cache-proxy in front of two cache-nodes on loopback, and filling it
//! through the proxy with pipelined SETs.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use cache_client::Client;
use cache_wire::Response;
use tokio::task::JoinSet;

use super::measure::options;
use crate::bench::Context;
use crate::util::{Process, free_port, start_node, wait_for_port};

/// Nodes behind the proxy.
pub const NODES: usize = 2;

/// A running cache; dropping it stops the proxy, then the nodes.
#[derive(Debug)]
pub struct Cluster {
    /// The proxy's port: every request of the suite goes through it.
    pub port: u16,
    _proxy: Process,
    _nodes: Vec<Process>,
}

/// A pipeline of SETs sent at once while filling: up to this many commands or bytes.
const BATCH_COMMANDS: usize = 256;
const BATCH_BYTES: usize = 4 << 20;
/// Pipelines in flight while filling.
const IN_FLIGHT: usize = 4;

impl Cluster {
    /// Starts the nodes with `node_flags` (an origin, say) and the proxy in front of them, and
    /// waits until the proxy answers.
    pub fn start(
        ctx: &Context,
        runtime: &tokio::runtime::Runtime,
        node_flags: &[String],
    ) -> anyhow::Result<Cluster> {
        let mut nodes = Vec::new();
        let mut ports = Vec::new();
        for _ in 0..NODES {
            let mut flags: Vec<&str> = vec!["--log", "warn"];
            flags.extend(node_flags.iter().map(String::as_str));
            let (port, node) = start_node(&flags)?;
            nodes.push(node);
            ports.push(port);
        }
        for port in &ports {
            wait_for_port(*port)?;
        }
        let port = free_port()?;
        let mut proxy = Command::new(ctx.binary("cache-proxy"));
        proxy.args(["--port", &port.to_string(), "--log", "warn"]);
        // Filling sends multi-megabyte pipelines; a debug build may need more than the default.
        proxy.args(["--timeout-ms", "10000"]);
        for node in &ports {
            proxy.args(["--node", &format!("127.0.0.1:{node}")]);
        }
        eprintln!(
            "  starting {NODES} cache-nodes (ports {ports:?}{}{}) behind cache-proxy (port {port})",
            if node_flags.is_empty() { "" } else { ", " },
            node_flags.join(" ")
        );
        let proxy = proxy
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", ctx.binary("cache-proxy").display()))?;
        let cluster = Cluster {
            port,
            _proxy: Process(proxy),
            _nodes: nodes,
        };
        wait_for_port(port)?;
        runtime.block_on(cluster.ready())?;
        Ok(cluster)
    }

    fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::new(
            &format!("tcp://127.0.0.1:{}", self.port),
            options(),
        )?)
    }

    /// Waits until the proxy answers PING (it may still be connecting to the nodes).
    async fn ready(&self) -> anyhow::Result<()> {
        let client = self.client()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match client.call(&["PING"]).await {
                Ok(answer) if !matches!(answer, Response::Error(_)) => return Ok(()),
                answer if Instant::now() > deadline => {
                    bail!(
                        "cache-proxy on port {} is not answering: {answer:?}",
                        self.port
                    )
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// SETs `item(index)` (key, value) for every index in `0..count` through the proxy, in
    /// pipelines, with a progress bar.
    pub fn fill(
        &self,
        ctx: &Context,
        runtime: &tokio::runtime::Runtime,
        label: &str,
        count: u64,
        mut item: impl FnMut(u64) -> anyhow::Result<(String, Bytes)>,
    ) -> anyhow::Result<()> {
        let client = std::sync::Arc::new(self.client()?);
        let mut progress = ctx.progress(label, count);
        runtime.block_on(async {
            let mut in_flight = JoinSet::new();
            let mut index = 0;
            while index < count {
                let mut batch = Vec::new();
                let mut bytes = 0;
                while index < count && batch.len() < BATCH_COMMANDS && bytes < BATCH_BYTES {
                    let (key, value) = item(index)?;
                    bytes += value.len();
                    batch.push(vec![Bytes::from_static(b"SET"), Bytes::from(key), value]);
                    index += 1;
                }
                if in_flight.len() >= IN_FLIGHT {
                    progress.inc(finished(in_flight.join_next().await)?);
                }
                let client = client.clone();
                in_flight.spawn(async move {
                    let replies = client.pipeline(&batch).await?;
                    if let Some(bad) = replies.iter().find(|r| !matches!(r, Response::Ok)) {
                        bail!("SET through the proxy answered {bad:?}");
                    }
                    Ok(batch.len() as u64)
                });
            }
            while let Some(done) = in_flight.join_next().await {
                progress.inc(finished(Some(done))?);
            }
            anyhow::Ok(())
        })?;
        progress.finish();
        Ok(())
    }
}

/// How many SETs a finished pipeline stored, or why it failed.
fn finished(
    joined: Option<Result<anyhow::Result<u64>, tokio::task::JoinError>>,
) -> anyhow::Result<u64> {
    match joined {
        Some(Ok(result)) => result,
        Some(Err(e)) => bail!("a filling task failed: {e}"),
        None => Ok(0),
    }
}
