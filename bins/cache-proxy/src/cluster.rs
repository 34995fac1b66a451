//! The proxy's view of the cluster: the backends, the routing table, and the changes to both.
//!
//! The routing table ([`Topology`]) is immutable and swapped whole under a lock that is held
//! only to clone an `Arc`; a client batch routes every key with the one topology it took at the
//! start. Membership changes (`PROXY NODE ADD/REMOVE`, `SIGHUP`) and health changes both build a
//! new topology; a backend that stays keeps its connections and its detector.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cache_client::{ConnectOptions, InfoProber};
use cache_health::probe::{Monitor, probe_loop};
use cache_health::{DetectorConfig, Event};
use cache_ring::{Member, Router};
use cache_wire::transport::Connector;
use parking_lot::{Mutex, RwLock};

use crate::backend::Backend;
use crate::config::{NodeEntry, ProxyConfig};

/// One routing table over one set of backends.
#[derive(Debug)]
pub struct Topology {
    pub backends: Vec<Arc<Backend>>,
    pub router: Router,
}

/// A change of membership that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    #[error("node {0} is already a member")]
    Exists(String),
    #[error("node {0} is not a member")]
    Unknown(String),
    #[error(transparent)]
    Ring(#[from] cache_ring::Error),
}

/// The cluster as the proxy sees it.
#[derive(Debug)]
pub struct Cluster {
    topology: RwLock<Arc<Topology>>,
    /// Serializes membership changes so two never interleave.
    membership: Mutex<()>,
    config: ProxyConfig,
    /// Opens node connections (with the TLS settings for `tls://` nodes).
    connector: Connector,
    /// Events worth showing to an operator (node down/up, flushes, reloads), newest last.
    pub events: Mutex<std::collections::VecDeque<String>>,
    /// Events noted since start, including those no longer kept: a monitor that remembers the
    /// last total knows how many of the kept events are new (`INFO` `events_total`).
    pub events_noted: std::sync::atomic::AtomicU64,
}

const EVENTS_KEPT: usize = 64;

impl Cluster {
    /// A cluster over `config.nodes`, with no node routable until its first probe answers.
    pub fn new(config: ProxyConfig, connector: Connector) -> Result<Arc<Cluster>, MembershipError> {
        let router = Router::new(
            config.cluster.distribution,
            Vec::new(),
            Vec::new(),
            config.cluster.down_mode,
        )?;
        let cluster = Arc::new(Cluster {
            topology: RwLock::new(Arc::new(Topology {
                backends: Vec::new(),
                router,
            })),
            membership: Mutex::new(()),
            config: config.clone(),
            connector,
            events: Mutex::new(Default::default()),
            events_noted: Default::default(),
        });
        {
            let serial = cluster.membership.lock();
            cluster.replace_nodes(&serial, config.nodes, false)?;
        }
        Ok(cluster)
    }

    /// The current routing table.
    pub fn topology(&self) -> Arc<Topology> {
        self.topology.read().clone()
    }

    pub fn note(&self, text: String) {
        tracing::info!("{text}");
        let mut events = self.events.lock();
        if events.len() == EVENTS_KEPT {
            events.pop_front();
        }
        events.push_back(text);
        // Counted under the lock, so a reader that takes the lock sees the list and the total
        // agree.
        self.events_noted.fetch_add(1, Ordering::Relaxed);
    }

    fn connect_options(&self) -> ConnectOptions {
        let backend = &self.config.backend;
        ConnectOptions {
            password: (!backend.password.is_empty()).then(|| backend.password.clone()),
            connect_timeout: backend.timeout(),
            timeout: backend.timeout(),
            connector: self.connector.clone(),
        }
    }

    fn detector_config(&self) -> DetectorConfig {
        let backend = &self.config.backend;
        DetectorConfig {
            interval: Duration::from_millis(backend.probe_interval_ms.max(10)),
            fall: backend.fall.max(1),
            rise: backend.rise.max(1),
            ..DetectorConfig::default()
        }
    }

    /// Replaces the member list with `nodes`: backends already present are kept as they are,
    /// new ones start probing, missing ones stop. One atomic swap of the routing table.
    pub fn set_nodes(self: &Arc<Self>, nodes: Vec<NodeEntry>) -> Result<(), MembershipError> {
        let serial = self.membership.lock();
        self.replace_nodes(&serial, nodes, true)
    }

    /// [`Cluster::set_nodes`] with the membership lock held. New nodes are flushed before
    /// their first use if `flush_new` (any time after start-up).
    fn replace_nodes(
        self: &Arc<Self>,
        _serial: &parking_lot::MutexGuard<'_, ()>,
        nodes: Vec<NodeEntry>,
        flush_new: bool,
    ) -> Result<(), MembershipError> {
        let current = self.topology();
        let mut backends = Vec::with_capacity(nodes.len());
        let mut started = Vec::new();
        for entry in nodes {
            match current.backends.iter().find(|b| b.entry == entry) {
                Some(existing) => backends.push(existing.clone()),
                None => {
                    let backend = Arc::new(Backend::new(
                        flush_new,
                        entry,
                        Arc::new(Monitor::new(self.detector_config())),
                        self.config.backend.connections,
                        self.config.workers(),
                        self.connect_options(),
                    ));
                    started.push(backend.clone());
                    backends.push(backend);
                }
            }
        }
        let members = backends
            .iter()
            .map(|b| Member::weighted(b.entry.name.clone(), b.entry.weight))
            .collect();
        let routable = backends.iter().map(|b| b.is_routable()).collect();
        let router = Router::new(
            self.config.cluster.distribution,
            members,
            routable,
            self.config.cluster.down_mode,
        )?;
        for gone in current
            .backends
            .iter()
            .filter(|b| !backends.iter().any(|k| Arc::ptr_eq(k, b)))
        {
            let _ = gone.stop.send(true);
            self.note(format!("node {} removed", gone.name()));
        }
        *self.topology.write() = Arc::new(Topology { backends, router });
        // A health change between reading the flags above and the swap would be lost.
        self.refresh_routes();
        for backend in started {
            self.note(format!(
                "node {} added ({})",
                backend.name(),
                backend.entry.endpoint
            ));
            self.spawn_probe(backend);
        }
        Ok(())
    }

    /// Adds one node.
    pub fn add_node(self: &Arc<Self>, entry: NodeEntry) -> Result<(), MembershipError> {
        let serial = self.membership.lock();
        let mut nodes: Vec<NodeEntry> = self
            .topology()
            .backends
            .iter()
            .map(|b| b.entry.clone())
            .collect();
        if nodes
            .iter()
            .any(|n| n.endpoint == entry.endpoint || n.name == entry.name)
        {
            return Err(MembershipError::Exists(entry.endpoint.to_string()));
        }
        nodes.push(entry);
        self.replace_nodes(&serial, nodes, true)
    }

    /// Removes the node with this endpoint or name.
    pub fn remove_node(self: &Arc<Self>, which: &str) -> Result<(), MembershipError> {
        let serial = self.membership.lock();
        let mut nodes: Vec<NodeEntry> = self
            .topology()
            .backends
            .iter()
            .map(|b| b.entry.clone())
            .collect();
        let before = nodes.len();
        nodes.retain(|n| {
            n.name != which && n.endpoint.to_string() != which && !endpoint_matches(n, which)
        });
        if nodes.len() == before {
            return Err(MembershipError::Unknown(which.to_owned()));
        }
        self.replace_nodes(&serial, nodes, true)
    }

    /// Rebuilds the routing table from every backend's routable flag.
    fn refresh_routes(&self) {
        let mut topology = self.topology.write();
        let routable: Vec<bool> = topology.backends.iter().map(|b| b.is_routable()).collect();
        if routable == topology.router.routable() {
            return;
        }
        match topology.router.with_routable(routable) {
            Ok(router) => {
                *topology = Arc::new(Topology {
                    backends: topology.backends.clone(),
                    router,
                })
            }
            Err(error) => tracing::error!(%error, "cannot rebuild the routing table"),
        }
    }

    fn set_routable(&self, backend: &Backend, routable: bool) {
        backend.routable.store(routable, Ordering::Release);
        self.refresh_routes();
    }

    fn spawn_probe(self: &Arc<Self>, backend: Arc<Backend>) {
        let prober = InfoProber::new(backend.entry.endpoint.clone(), self.connect_options());
        let weak = Arc::downgrade(self);
        let target = backend.clone();
        let on_event = move |event: Event| {
            let weak = weak.clone();
            let backend = target.clone();
            async move {
                if let Some(cluster) = weak.upgrade() {
                    cluster.handle(&backend, event).await;
                }
            }
        };
        tokio::spawn(probe_loop(
            backend.monitor.clone(),
            prober,
            self.config.backend.timeout(),
            on_event,
            backend.stop.subscribe(),
        ));
    }

    async fn handle(&self, backend: &Backend, event: Event) {
        let name = backend.name();
        match event {
            Event::Joined { generation } if backend.flush_on_join => {
                self.flush_then_route(backend, &format!("up (generation {generation})"))
                    .await;
            }
            Event::Joined { generation } => {
                self.note(format!("node {name} up (generation {generation})"));
                self.set_routable(backend, true);
            }
            Event::Recovered => {
                self.note(format!("node {name} answering again"));
                self.set_routable(backend, true);
            }
            Event::Suspect => tracing::info!(node = %name, "node suspect"),
            Event::Down => {
                self.note(format!("node {name} down"));
                self.set_routable(backend, false);
            }
            Event::Rejoined {
                generation,
                restarted,
            } => {
                self.set_routable(backend, false);
                let why = if restarted { "restarted" } else { "back" };
                self.flush_then_route(backend, &format!("{why} (generation {generation})"))
                    .await;
            }
        }
    }

    /// Flushes a node that may hold stale copies and routes to it only once that worked; on
    /// failure it goes Down, to come back (and be flushed) through the probes again. The flush
    /// goes out on every pooled connection, so it lands after anything queued on them.
    async fn flush_then_route(&self, backend: &Backend, what: &str) {
        let name = backend.name();
        if backend.flush_everywhere().await {
            self.note(format!("node {name} {what}: flushed, rejoined"));
            self.set_routable(backend, true);
        } else {
            self.note(format!("node {name} {what} but the flush failed"));
            backend.monitor.force_down();
        }
    }
}

fn endpoint_matches(entry: &NodeEntry, which: &str) -> bool {
    which
        .parse::<cache_wire::endpoint::Endpoint>()
        .is_ok_and(|e| e == entry.endpoint)
}
