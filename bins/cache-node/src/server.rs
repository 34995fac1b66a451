//! Listeners, accept loops, background work and graceful shutdown.
//!
//! Shutdown follows one pattern: a `watch` channel flips to `true`; accept loops stop, every
//! connection finishes the batch it is answering and closes, and `run` returns once the
//! connection tasks are gone (or after a grace period).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use cache_wire::transport::{Bound, Established, Listener};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::NodeConfig;
use crate::connection;
use crate::info;
use crate::node::Node;

const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A node bound to its endpoints, not yet serving.
pub struct Server {
    node: Arc<Node>,
    bound: Bound,
    admin: Option<TcpListener>,
    config: NodeConfig,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listening", &self.endpoints())
            .finish()
    }
}

impl Server {
    /// Binds every endpoint of `config`. Port 0 picks a free port; [`Server::endpoints`] tells
    /// which.
    pub async fn bind(config: NodeConfig) -> anyhow::Result<Server> {
        Server::bind_with_fs(config, Arc::new(cache_persist::RealFs)).await
    }

    /// As [`Server::bind`], with persistence doing its file I/O through `fs` (tests inject
    /// disk faults this way).
    pub async fn bind_with_fs(
        config: NodeConfig,
        fs: Arc<dyn cache_persist::Fs>,
    ) -> anyhow::Result<Server> {
        if config.listen.is_empty() {
            anyhow::bail!("no endpoint to listen on: give at least one --listen");
        }
        config.check()?;
        let c = &config.clients;
        if let Some(warning) =
            cache_wire::session::exposure_warning(&config.listen, &c.requirepass, c.protected_mode)
        {
            tracing::warn!("{warning}");
        }
        let tls = config.tls.load().context("TLS settings")?;
        let bound = Bound::bind(&config.listen, tls.as_ref()).await?;
        let admin = match &config.admin {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on admin address {addr}"))?,
            ),
            None => None,
        };
        let node = Arc::new(Node::new(&config));
        if let Some(persist) = config.persistence.to_persist_config() {
            open_persistence(&node, persist, fs.clone()).await?;
        }
        if let Some(tier) = config.tier_config()? {
            open_tier(&node, tier, fs.clone()).await?;
        }
        if let Some(spec) = &config.origin.source {
            let columns = config.origin.columns();
            let max_value_len = config.memory.max_value_len;
            let opened = {
                let spec = spec.clone();
                tokio::task::spawn_blocking(move || {
                    cache_persist::open_origin(&spec, &columns, max_value_len)
                })
                .await
                .context("opening the origin stopped")?
            };
            let origin = opened.with_context(|| format!("cannot open origin {spec}"))?;
            tracing::info!(origin = %origin.describe(), ttl = config.origin.ttl, "read-through origin");
            let reader = cache_persist::ReadThrough::new(
                origin,
                node.store.clone(),
                config.origin.ttl.saturating_mul(1000),
                node.tier
                    .get()
                    .map(|tier| (tier.clone(), node.tier_threshold)),
            );
            let _ = node.origin.set(reader);
        }
        let server = Server {
            node,
            bound,
            admin,
            config,
        };
        *server.node.listening.write() = server.endpoints();
        Ok(server)
    }

    /// The endpoints actually bound, e.g. `tcp://127.0.0.1:40123`.
    pub fn endpoints(&self) -> Vec<String> {
        self.bound.endpoints()
    }

    /// The admin port's URL, e.g. `http://127.0.0.1:9121`, if one is configured.
    pub fn admin_url(&self) -> Option<String> {
        let addr = self.admin.as_ref()?.local_addr().ok()?;
        Some(format!("http://{addr}"))
    }

    /// The node's shared state (for tests and embedding).
    pub fn node(&self) -> Arc<Node> {
        self.node.clone()
    }

    /// Serves until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        for listener in self.bound.listeners {
            tasks.spawn(accept_loop(self.node.clone(), listener, stopped.clone()));
        }
        for socket in self.bound.datagrams {
            let local = socket
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            let serve =
                connection::serve_datagrams(self.node.clone(), socket, local, stopped.clone());
            tasks.spawn(serve);
        }
        if let Some(admin) = self.admin {
            let source: Arc<dyn cache_health::admin::AdminSource> = self.node.clone();
            let stopped = stopped.clone();
            tasks.spawn(async move {
                if let Err(error) = cache_health::admin::serve(admin, source, stopped).await {
                    tracing::error!(%error, "admin port failed");
                }
            });
        }
        tasks.spawn(background(
            self.node.clone(),
            self.config.clone(),
            stopped.clone(),
        ));
        tracing::info!(endpoints = ?self.node.listening.read(), "cache-node ready");
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
        if tokio::time::timeout(SHUTDOWN_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tracing::warn!("connections still open after the grace period; closing them");
        }
        if let Some(tier) = self.node.tier.get().cloned() {
            let synced = tokio::task::spawn_blocking(move || tier.sync()).await;
            if let Ok(Err(error)) = synced {
                tracing::warn!(%error, "disk tier fsync at shutdown failed");
            }
        }
        if let Some(persistence) = self.node.persistence.get().cloned() {
            // Writes what is pending and fsyncs it; blocking, so off the runtime's workers.
            let _ = tokio::task::spawn_blocking(move || persistence.close()).await;
            tracing::info!("operation log flushed and closed");
        }
        Ok(())
    }
}

/// Recovers the persistence directory into the node's store and starts logging.
async fn open_persistence(
    node: &Arc<Node>,
    config: cache_persist::PersistConfig,
    fs: Arc<dyn cache_persist::Fs>,
) -> anyhow::Result<()> {
    let store = node.store.clone();
    let dir = config.dir.clone();
    let fsync = config.fsync;
    let (persistence, recovery) =
        tokio::task::spawn_blocking(move || cache_persist::Persistence::open(config, fs, store))
            .await
            .context("recovery stopped")?
            .with_context(|| format!("cannot recover persistence directory {}", dir.display()))?;
    tracing::info!(
        dir = %dir.display(),
        appendfsync = %fsync,
        keys = recovery.keys,
        snapshot_records = recovery.snapshot_records,
        log_records = recovery.log_records,
        megabytes = format!("{:.1}", recovery.bytes as f64 / 1e6),
        seconds = format!("{:.3}", recovery.elapsed.as_secs_f64()),
        records_per_sec = format!("{:.0}", recovery.rate()),
        "recovered"
    );
    let _ = node.persistence.set(persistence);
    let _ = node.recovery.set(recovery);
    Ok(())
}

/// Opens the disk tier (after recovery: memory wins over a disk copy left by a crash) and,
/// with `evict_to_disk`, hands it the store's evictions.
async fn open_tier(
    node: &Arc<Node>,
    config: cache_persist::TierConfig,
    fs: Arc<dyn cache_persist::Fs>,
) -> anyhow::Result<()> {
    let dir = config.dir.clone();
    let store = node.store.clone();
    let tier = tokio::task::spawn_blocking(move || -> anyhow::Result<cache_persist::DiskTier> {
        let tier = cache_persist::DiskTier::open(config, fs, store.now_ms())?;
        let mut shadowed = Vec::new();
        tier.for_each_key(i64::MIN, |key| {
            if store.exists(key) {
                shadowed.push(key.to_vec());
            }
        });
        for key in shadowed {
            tier.remove(&key);
        }
        Ok(tier)
    })
    .await
    .context("opening the disk tier stopped")?
    .with_context(|| format!("cannot open the disk tier in {}", dir.display()))?;
    let tier = Arc::new(tier);
    let status = tier.status();
    tracing::info!(
        dir = %dir.display(),
        keys = status.keys,
        megabytes = format!("{:.1}", status.bytes as f64 / 1e6),
        budget_megabytes = format!("{:.1}", status.budget as f64 / 1e6),
        threshold = node.tier_threshold,
        evict_to_disk = node.tier_evict,
        "disk tier"
    );
    if node.tier_evict {
        let sink: Arc<dyn cache_store::EvictionSink> = tier.clone();
        let _ = node.store.attach_eviction_sink(sink);
    }
    let _ = node.tier.set(tier);
    Ok(())
}

/// Binds and serves `config` until `shutdown` completes.
pub async fn run(config: NodeConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    Server::bind(config).await?.run(shutdown).await
}

/// Admits a connection unless `maxclients` are already connected.
fn admit(node: &Node) -> bool {
    let max = node.params.read().maxclients;
    let current = node.stats.connected_clients.fetch_add(1, Ordering::Relaxed);
    if current >= max {
        node.stats.connected_clients.fetch_sub(1, Ordering::Relaxed);
        node.stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        return false;
    }
    node.stats
        .connections_received
        .fetch_add(1, Ordering::Relaxed);
    true
}

const TOO_MANY: &[u8] = b"-ERR max number of clients reached\r\n";
const DENIED: &[u8] = cache_wire::session::DENIED.as_bytes();

/// Whether protected mode refuses a client (and counts it).
fn denied(node: &Node, local_peer: bool) -> bool {
    let refused = cache_wire::session::protected_refusal(
        node.protected_mode,
        &node.params.read().requirepass,
        local_peer,
    );
    if refused {
        node.stats
            .denied_connections
            .fetch_add(1, Ordering::Relaxed);
    }
    refused
}

/// Accepts connections until shutdown, then waits for the ones it started. The listener (and
/// a Unix socket's file) goes away when this returns.
async fn accept_loop(node: Arc<Node>, listener: Listener, mut stopped: watch::Receiver<bool>) {
    let local = listener.local();
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => break,
        };
        let (incoming, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let node = node.clone();
        let stopped = stopped.clone();
        let local = local.clone();
        connections.spawn(async move {
            let local_peer = incoming.is_local();
            // The TLS or QUIC handshake runs here, off the accept loop.
            let established = match incoming.establish().await {
                Ok(established) => established,
                Err(error) => {
                    tracing::debug!(%peer, %error, "connection not established");
                    return;
                }
            };
            let refusal = if denied(&node, local_peer) {
                tracing::debug!(%peer, "refused by protected mode");
                Some(DENIED)
            } else if !admit(&node) {
                Some(TOO_MANY)
            } else {
                None
            };
            match (established, refusal) {
                (Established::Stream(mut stream), Some(refusal)) => {
                    let _ = stream.write_all(refusal).await;
                    return;
                }
                // The refusal goes on the client's first stream.
                (Established::Quic(quic), Some(refusal)) => {
                    quic.refuse(refusal).await;
                    return;
                }
                (Established::Stream(stream), None) => {
                    connection::serve(node.clone(), stream, peer, local, stopped).await;
                }
                (Established::Quic(quic), None) => {
                    connection::serve_quic(node.clone(), quic, local, stopped).await;
                }
            }
            node.stats.connected_clients.fetch_sub(1, Ordering::Relaxed);
        });
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
}

/// Active expiry, the ops/s sample and the periodic stats line.
async fn background(node: Arc<Node>, config: NodeConfig, mut stopped: watch::Receiver<bool>) {
    let mut expire = tokio::time::interval(config.background.expire_period());
    let mut sample = tokio::time::interval(Duration::from_secs(1));
    let mut tier_work = tokio::time::interval(Duration::from_millis(100));
    let log_every = config.background.stats_log_interval;
    let mut last_total = 0u64;
    let mut seconds = 0u64;
    loop {
        tokio::select! {
            _ = expire.tick() => {
                // Bounded work per tick: keep going only while whole batches come back expired.
                for _ in 0..16 {
                    if node.store.expire_cycle(128) < 128 {
                        break;
                    }
                }
            }
            _ = sample.tick() => {
                let total = node.stats.total_commands();
                let ops = total.saturating_sub(last_total);
                last_total = total;
                node.stats.ops_per_sec.store(ops, Ordering::Relaxed);
                seconds += 1;
                if log_every > 0 && seconds.is_multiple_of(log_every) {
                    let s = node.store.stats();
                    tracing::info!(
                        ops_per_sec = ops,
                        hits = s.hits,
                        misses = s.misses,
                        items = s.items,
                        used_memory = %info::human(s.used_memory as u64),
                        rss = %info::human(info::rss_bytes()),
                        evictions = s.evictions,
                        clients = node.stats.connected_clients.load(Ordering::Relaxed),
                        "stats"
                    );
                }
            }
            _ = tier_work.tick(), if node.tier.get().is_some() => {
                // The everysec fsync and a step of compaction: blocking, off the workers.
                if let Some(tier) = node.tier.get().cloned() {
                    let _ = tokio::task::spawn_blocking(move || tier.maintain()).await;
                }
            }
            _ = stopped.changed() => return,
        }
    }
}
