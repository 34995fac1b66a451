//! The proxy process: listeners, the cluster, reloads and graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::{Duration, Instant};

use anyhow::Context;
use cache_wire::transport::{Bound, Connector, Incoming};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::cluster::Cluster;
use crate::config::ProxyConfig;
use crate::worker::{Job, Workers};

/// State shared by every client connection.
#[derive(Debug)]
pub struct Proxy {
    pub config: ProxyConfig,
    pub cluster: Arc<Cluster>,
    pub started: Instant,
    pub run_id: String,
    pub next_client_id: AtomicU64,
    pub connected_clients: AtomicUsize,
    pub commands: AtomicU64,
    /// Connections refused by protected mode.
    pub denied_connections: AtomicU64,
    /// Connections closed for a request over `limits.query_buffer_limit`.
    pub query_limit_disconnections: AtomicU64,
    /// Connections closed for replies over `limits.output_buffer_limit`.
    pub output_limit_disconnections: AtomicU64,
}

/// A proxy bound to its endpoints, with its node probes running.
pub struct Server {
    proxy: Arc<Proxy>,
    bound: Bound,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listening", &self.endpoints())
            .finish()
    }
}

impl Server {
    /// Binds every endpoint and starts probing the nodes. Waits up to one timeout for the
    /// first probe of each node, so the first clients already find the nodes that are up.
    pub async fn bind(config: ProxyConfig) -> anyhow::Result<Server> {
        anyhow::ensure!(
            !config.listen.is_empty(),
            "no endpoint to listen on: give at least one --listen"
        );
        config.limits.check().map_err(anyhow::Error::msg)?;
        let c = &config.clients;
        if let Some(warning) =
            cache_wire::session::exposure_warning(&config.listen, &c.requirepass, c.protected_mode)
        {
            tracing::warn!("{warning}");
        }
        let tls = config.tls.load().context("TLS settings")?;
        let bound = Bound::bind(&config.listen, tls.as_ref()).await?;
        let connector =
            Connector::from_settings(&config.backend.tls).context("TLS settings for the nodes")?;
        let cluster = Cluster::new(config.clone(), connector)?;
        let deadline = Instant::now() + config.backend.timeout() + Duration::from_millis(100);
        while Instant::now() < deadline
            && cluster
                .topology()
                .backends
                .iter()
                .any(|b| b.monitor.state() == cache_health::State::Unknown)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let proxy = Arc::new(Proxy {
            config,
            cluster,
            started: Instant::now(),
            run_id: cache_wire::session::run_id(),
            next_client_id: AtomicU64::new(1),
            connected_clients: AtomicUsize::new(0),
            commands: AtomicU64::new(0),
            denied_connections: AtomicU64::new(0),
            query_limit_disconnections: AtomicU64::new(0),
            output_limit_disconnections: AtomicU64::new(0),
        });
        Ok(Server { proxy, bound })
    }

    /// The endpoints actually bound.
    pub fn endpoints(&self) -> Vec<String> {
        self.bound.endpoints()
    }

    pub fn proxy(&self) -> Arc<Proxy> {
        self.proxy.clone()
    }

    /// Serves until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let workers = Arc::new(parking_lot::Mutex::new(Workers::start(
            self.proxy.config.workers(),
            &self.proxy,
            &stopped,
        )?));
        for socket in self.bound.datagrams {
            workers.lock().dispatch(Job::Datagrams(socket.into_std()?));
        }
        let mut tasks = JoinSet::new();
        for listener in self.bound.listeners {
            let stopped = stopped.clone();
            let workers = workers.clone();
            // The listener (and a Unix socket's file) goes away when its loop ends.
            tasks.spawn(async move {
                loop {
                    let accepted = tokio::select! {
                        a = listener.accept() => a,
                        _ = wait(&stopped) => break,
                    };
                    match accepted {
                        Ok((incoming, _)) => dispatch(incoming, &workers),
                        Err(error) => {
                            // Out of file descriptors and the like: back off, do not spin.
                            tracing::warn!(%error, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            });
        }
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
        for backend in &self.proxy.cluster.topology().backends {
            let _ = backend.stop.send(true);
        }
        while tasks.join_next().await.is_some() {}
        // The accept loops are gone, so this is the last handle: the workers finish their
        // clients (bounded) and their threads end.
        if let Some(workers) = Arc::into_inner(workers) {
            tokio::task::spawn_blocking(move || workers.into_inner().join()).await?;
        }
        Ok(())
    }
}

async fn wait(stopped: &watch::Receiver<bool>) {
    let mut stopped = stopped.clone();
    let _ = stopped.wait_for(|s| *s).await;
}

/// Hands an accepted client to a worker, which completes its handshake and admits it.
fn dispatch(incoming: Incoming, workers: &parking_lot::Mutex<Workers>) {
    match incoming.detach() {
        Ok(client) => workers.lock().dispatch(Job::Client(client)),
        Err(error) => tracing::warn!(%error, "could not hand a client to a worker"),
    }
}

impl Proxy {
    /// Re-reads the node list from `path` and swaps the ring (for `SIGHUP`). Other settings
    /// need a restart; a file that does not parse changes nothing.
    pub fn reload(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let config = ProxyConfig::from_file(path)?;
        self.cluster.set_nodes(config.nodes)?;
        self.cluster
            .note(format!("config reloaded from {}", path.display()));
        Ok(())
    }
}
