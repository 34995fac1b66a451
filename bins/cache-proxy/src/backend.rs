//! One node behind the proxy: its pool of multiplexed connections and its health.
//!
//! Each worker thread has its own connections to every node (driven on that thread), and each
//! client connection is pinned to one of its worker's (by client id), so the commands of one
//! client reach a node in the order the client sent them, while many clients share a few node
//! connections and their requests leave in shared writes.

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
    /// Pooled connections of each worker.
    per_worker: usize,
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
        workers: usize,
        options: ConnectOptions,
    ) -> Backend {
        let per_worker = connections.max(1);
        Backend {
            entry,
            monitor,
            routable: AtomicBool::new(false),
            flush_on_join,
            pool: (0..per_worker * workers.max(1))
                .map(|_| (SyncMutex::new(None), Mutex::new(())))
                .collect(),
            per_worker,
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

    /// The pool slot of client `client` on the calling thread's worker.
    fn slot(&self, client: u64) -> &(SyncMutex<Option<Connection>>, Mutex<()>) {
        let worker = crate::worker::current() % (self.pool.len() / self.per_worker);
        &self.pool[worker * self.per_worker + (client % self.per_worker as u64) as usize]
    }

    /// The pooled connection for client `client` if it is open, without waiting.
    pub fn live_connection(&self, client: u64) -> Option<Connection> {
        let (live, _) = self.slot(client);
        live.lock().as_ref().filter(|c| !c.is_closed()).cloned()
    }

    /// Sends `FLUSHALL` on every open pooled connection, so it lands after anything still
    /// queued on any of them (a slot without a connection has nothing queued), or on a fresh
    /// connection if none is open. True if every one answered `OK`.
    pub async fn flush_everywhere(&self) -> bool {
        let open: Vec<Connection> = self
            .pool
            .iter()
            .filter_map(|(live, _)| live.lock().as_ref().filter(|c| !c.is_closed()).cloned())
            .collect();
        let connections = if open.is_empty() {
            match Connection::connect(&self.entry.endpoint, &self.options).await {
                Ok(fresh) => vec![fresh],
                Err(error) => {
                    tracing::warn!(node = %self.name(), %error, "flush failed");
                    return false;
                }
            }
        } else {
            open
        };
        for connection in connections {
            let flushed = connection.call(&["FLUSHALL"]).await;
            if !matches!(flushed, Ok(cache_wire::Response::Ok)) {
                tracing::warn!(node = %self.name(), ?flushed, "flush failed");
                return false;
            }
        }
        true
    }

    /// The pooled connection for client `client`, connecting if it is missing or broken. The
    /// connection is driven on the calling thread, so call it from the client's worker.
    pub async fn connection(&self, client: u64) -> cache_client::Result<Connection> {
        let (live, connecting) = self.slot(client);
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
