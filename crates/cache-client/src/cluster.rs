//! The cluster client: routes each key with the same ring as the proxy and watches node health
//! itself, so an application can skip the proxy hop.
//!
//! Every node gets a [`Client`] and a probe loop. The routing table is an immutable
//! [`Router`] behind a lock, replaced whole when a node goes down or comes back; a node that
//! rejoins is flushed before the new table routes to it, as the proxy does.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache_health::probe::{Monitor, probe_loop};
use cache_health::{DetectorConfig, Event};
use cache_ring::{Algorithm, DownMode, Member, Route, Router};
use cache_wire::Response;
use cache_wire::endpoint::Endpoint;
use cache_wire::parse::CommandId;
use parking_lot::RwLock;
use tokio::sync::watch;

use crate::commands::Commands;
use crate::connection::ConnectOptions;
use crate::error::{Error, Result};
use crate::node::Client;
use crate::probe::InfoProber;

/// How a cluster client connects, routes and watches.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    pub connect: ConnectOptions,
    pub algorithm: Algorithm,
    pub down_mode: DownMode,
    pub detector: DetectorConfig,
}

#[derive(Debug)]
struct NodeHandle {
    client: Client,
    monitor: Arc<Monitor>,
}

#[derive(Debug)]
struct Shared {
    nodes: Vec<NodeHandle>,
    router: RwLock<Arc<Router>>,
}

/// A client of a whole cluster. Dropping it stops its probe loops.
#[derive(Debug)]
pub struct ClusterClient {
    shared: Arc<Shared>,
    _stop: watch::Sender<bool>,
}

/// The ring name of an endpoint: `host:port` for TCP and TLS (as twemproxy names servers, so
/// a node keeps its keys when it moves to TLS), the path for a Unix socket.
pub fn member_name(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Unix(path) => path.display().to_string(),
        other => other.host_port().unwrap_or_default().to_owned(),
    }
}

impl ClusterClient {
    /// Starts watching `endpoints` and returns once every node was probed once (or the probe
    /// timed out), so the first calls already route around nodes that are down.
    pub async fn connect(endpoints: &[&str], options: ClusterOptions) -> Result<ClusterClient> {
        let endpoints: Vec<Endpoint> = endpoints
            .iter()
            .map(|e| e.parse())
            .collect::<std::result::Result<_, _>>()?;
        let members = endpoints
            .iter()
            .map(|e| Member::new(member_name(e)))
            .collect();
        let router = Router::new(
            options.algorithm,
            members,
            vec![false; endpoints.len()],
            options.down_mode,
        )?;
        let nodes = endpoints
            .iter()
            .map(|e| NodeHandle {
                client: Client::with_endpoint(e.clone(), options.connect.clone()),
                monitor: Arc::new(Monitor::new(options.detector.clone())),
            })
            .collect();
        let shared = Arc::new(Shared {
            nodes,
            router: RwLock::new(Arc::new(router)),
        });
        let (stop, stopped) = watch::channel(false);
        let (first_tx, mut first_rx) = tokio::sync::mpsc::channel(endpoints.len().max(1));
        for (index, endpoint) in endpoints.into_iter().enumerate() {
            let prober = InfoProber::new(endpoint, options.connect.clone());
            let monitor = shared.nodes[index].monitor.clone();
            let weak = Arc::downgrade(&shared);
            let first = first_tx.clone();
            let on_event = move |event: Event| {
                let weak = weak.clone();
                let first = first.clone();
                async move {
                    if let Some(shared) = weak.upgrade() {
                        shared.handle(index, event).await;
                    }
                    let _ = first.try_send(index);
                }
            };
            tokio::spawn(probe_loop(
                monitor,
                prober,
                options.connect.timeout,
                on_event,
                stopped.clone(),
            ));
        }
        drop(first_tx);
        // Wait for the first verdict on every node, bounded by one probe timeout plus slack.
        let deadline =
            tokio::time::Instant::now() + options.connect.timeout + Duration::from_millis(200);
        let mut seen = std::collections::HashSet::new();
        while seen.len() < shared.nodes.len() {
            match tokio::time::timeout_at(deadline, first_rx.recv()).await {
                Ok(Some(index)) => {
                    seen.insert(index);
                }
                _ => break,
            }
        }
        Ok(ClusterClient {
            shared,
            _stop: stop,
        })
    }

    /// The state of every node: endpoint name and whether keys are routed to it.
    pub fn nodes(&self) -> Vec<(String, bool)> {
        let router = self.shared.router.read().clone();
        router
            .members()
            .iter()
            .zip(router.routable())
            .map(|(m, &r)| (m.name.clone(), r))
            .collect()
    }
}

impl Shared {
    fn set_routable(&self, index: usize, routable: bool) {
        let mut router = self.router.write();
        let mut flags = router.routable().to_vec();
        if flags[index] == routable {
            return;
        }
        flags[index] = routable;
        match router.with_routable(flags) {
            Ok(next) => *router = Arc::new(next),
            Err(error) => tracing::error!(%error, "cannot rebuild the routing table"),
        }
    }

    async fn handle(&self, index: usize, event: Event) {
        let node = &self.nodes[index];
        match event {
            Event::Joined { .. } | Event::Recovered => self.set_routable(index, true),
            Event::Rejoined { .. } => {
                self.set_routable(index, false);
                match node.client.call(&["FLUSHALL"]).await {
                    Ok(Response::Ok) => self.set_routable(index, true),
                    outcome => {
                        tracing::warn!(node = %node.client.endpoint(), ?outcome, "flush on rejoin failed");
                        node.monitor.force_down();
                    }
                }
            }
            Event::Down => self.set_routable(index, false),
            Event::Suspect => {}
        }
    }
}

/// The reply a read gets when its node cannot answer: the shape of a miss. `None` for commands
/// that have no miss (writes), which get an error instead.
pub fn miss_reply(args: &[Bytes]) -> Option<Response> {
    let id = CommandId::lookup(args.first()?)?;
    Some(match id {
        CommandId::GET | CommandId::GETDEL | CommandId::GETEX => Response::Nil,
        CommandId::MGET => Response::Array(vec![Response::Nil; args.len().saturating_sub(1)]),
        CommandId::EXISTS | CommandId::TOUCH | CommandId::STRLEN => Response::Integer(0),
        CommandId::TTL | CommandId::PTTL | CommandId::EXPIRETIME | CommandId::PEXPIRETIME => {
            Response::Integer(-2)
        }
        CommandId::TYPE => Response::Status("none".into()),
        _ => return None,
    })
}

/// The error a write gets when its node cannot answer.
pub fn unavailable_reply(node: &str) -> Response {
    Response::Error(format!("ERR cache node {node} is unavailable, try again").into())
}

impl Commands for ClusterClient {
    async fn call_for_key(&self, key: &[u8], args: Vec<Bytes>) -> Result<Response> {
        let router = self.shared.router.read().clone();
        let node = match router.route(key) {
            Route::Owner(i) | Route::Fallback(i) => i,
            Route::Unavailable => {
                return miss_reply(&args).ok_or(Error::NoNode);
            }
        };
        let handle = &self.shared.nodes[node];
        match handle.client.call(&args).await {
            Err(error) if error.is_unavailable() => {
                handle.monitor.request_failed();
                match miss_reply(&args) {
                    Some(miss) => Ok(miss),
                    None => Err(error),
                }
            }
            other => other,
        }
    }
}
