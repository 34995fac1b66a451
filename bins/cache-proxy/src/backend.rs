//! One node behind the proxy: its pool of multiplexed connections and its health.
//!
//! Each client connection is pinned to one pooled connection per node (by client id), so the
//! commands of one client reach a node in the order the client sent them, while many clients
//! share a few node connections and their requests leave in shared writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cache_client::{ConnectOptions, Connection};
use cache_health::probe::Monitor;
use parking_lot::Mutex as SyncMutex;
use tokio::sync::{Mutex, watch};

use crate::config::NodeEntry;

/// A node and everything the proxy keeps for it.
#[derive(Debug)]
pub struct Backend {
    pub entry: NodeEntry,
    pub monitor: Arc<Monitor>,
    /// True while keys may be routed here: Up or Suspect in the detector, and flushed after
    /// any rejoin.
    pub routable: AtomicBool,
    /// Flush before the first use: set for nodes added while the proxy runs, which may hold
    /// copies from an earlier time in the cluster.
    pub flush_on_join: bool,
    /// Pooled connections; the fast path clones a live one under a short sync lock, and
    /// only (re)connecting takes the async lock of its slot.
    pool: Vec<(SyncMutex<Option<Connection>>, Mutex<()>)>,
    options: ConnectOptions,
    /// Requests sent, and requests that failed (connection errors or timeouts).
    pub requests: AtomicU64,
    pub failures: AtomicU64,
    /// Dropping this stops the node's probe loop.
    pub stop: watch::Sender<bool>,
}

impl Backend {
    pub fn new(
        flush_on_join: bool,
        entry: NodeEntry,
        monitor: Arc<Monitor>,
        connections: usize,
        options: ConnectOptions,
    ) -> Backend {
        Backend {
            entry,
            monitor,
            routable: AtomicBool::new(false),
            flush_on_join,
            pool: (0..connections.max(1))
                .map(|_| (SyncMutex::new(None), Mutex::new(())))
                .collect(),
            options,
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            stop: watch::channel(false).0,
        }
    }

    pub fn name(&self) -> &str {
        &self.entry.name
    }

    pub fn is_routable(&self) -> bool {
        self.routable.load(Ordering::Acquire)
    }

    /// The pooled connection for client `client` if it is open, without waiting.
    pub fn live_connection(&self, client: u64) -> Option<Connection> {
        let (live, _) = &self.pool[(client % self.pool.len() as u64) as usize];
        live.lock().as_ref().filter(|c| !c.is_closed()).cloned()
    }

    /// Sends `FLUSHALL` on every pooled connection (opening the missing ones), so it lands
    /// after anything still queued on any of them. True if every one answered `OK`.
    pub async fn flush_everywhere(&self) -> bool {
        for slot in 0..self.pool.len() as u64 {
            let flushed = match self.connection(slot).await {
                Ok(connection) => connection.call(&["FLUSHALL"]).await,
                Err(error) => Err(error),
            };
            if !matches!(flushed, Ok(cache_wire::Response::Ok)) {
                tracing::warn!(node = %self.name(), ?flushed, "flush failed");
                return false;
            }
        }
        true
    }

    /// The pooled connection for client `client`, connecting if it is missing or broken.
    pub async fn connection(&self, client: u64) -> cache_client::Result<Connection> {
        let (live, connecting) = &self.pool[(client % self.pool.len() as u64) as usize];
        if let Some(connection) = live.lock().as_ref().filter(|c| !c.is_closed()) {
            return Ok(connection.clone());
        }
        let _one_at_a_time = connecting.lock().await;
        if let Some(connection) = live.lock().as_ref().filter(|c| !c.is_closed()) {
            return Ok(connection.clone());
        }
        let connection = Connection::connect(&self.entry.endpoint, &self.options).await?;
        *live.lock() = Some(connection.clone());
        Ok(connection)
    }

    /// Counts a failed request and tells the detector.
    pub fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if let Some(event) = self.monitor.request_failed() {
            tracing::info!(node = %self.name(), ?event, "request failed; probing the node");
        }
    }
}
