//! The state a node shares between its connections, and each connection's own session.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use cache_persist::{DiskTier, Loaded, Persistence, ReadThrough};
use cache_store::{Store, StoreConfig};
use cache_wire::resp::Protocol;
use parking_lot::{Mutex, RwLock};

use crate::config::NodeConfig;
use crate::stats::Stats;

/// Parameters a running node lets `CONFIG SET` change (the store keeps its own two:
/// `maxmemory` and `maxmemory-policy`).
#[derive(Debug, Clone)]
pub struct Params {
    /// Empty = no password.
    pub requirepass: String,
    /// Idle timeout in seconds, 0 = none.
    pub timeout: u64,
    /// Most connections at once.
    pub maxclients: usize,
}

/// What other connections can see of a client (for `CLIENT LIST`).
#[derive(Debug)]
pub struct ClientView {
    pub id: u64,
    pub addr: String,
    pub local_addr: String,
    pub name: Mutex<Option<Bytes>>,
    pub created: Instant,
    /// Milliseconds since the node started, at the client's last command.
    pub last_active_ms: AtomicU64,
    /// The protocol version the client speaks (2 or 3).
    pub protocol: AtomicUsize,
    /// Index of the last command the client ran.
    pub last_command: AtomicUsize,
    /// Bytes read but not yet run (`qbuf` in `CLIENT LIST`).
    pub query_buffer: AtomicUsize,
    /// Reply bytes waiting to be written (`omem`).
    pub output_buffer: AtomicUsize,
}

/// The node: its store, parameters, statistics and clients.
#[derive(Debug)]
pub struct Node {
    pub store: Arc<Store>,
    /// Set once the operation log is open (after recovery), when persistence is on.
    pub persistence: OnceLock<Arc<Persistence>>,
    /// What recovery found at start, for `INFO persistence`.
    pub recovery: OnceLock<cache_persist::Recovery>,
    /// Where a GET that misses reads from, when the node has an origin.
    pub origin: OnceLock<Arc<ReadThrough>>,
    /// Values kept on disk, when the disk tier is on.
    pub tier: OnceLock<Arc<DiskTier>>,
    /// Values of at least this many bytes go to the disk tier.
    pub tier_threshold: usize,
    /// Entries evicted from memory go to the disk tier.
    pub tier_evict: bool,
    pub params: RwLock<Params>,
    pub stats: Stats,
    pub clients: Mutex<BTreeMap<u64, Arc<ClientView>>>,
    pub started: Instant,
    /// Random per process start, like Redis's `run_id`.
    pub run_id: String,
    /// Where the node actually listens, once bound (port 0 resolved).
    pub listening: RwLock<Vec<String>>,
    pub max_key_len: usize,
    pub max_value_len: usize,
    /// Bounds on each client's requests and buffers.
    pub limits: cache_wire::limits::ClientLimits,
    /// With no password, serve only clients on this machine.
    pub protected_mode: bool,
    pub hz: u32,
    next_client_id: AtomicU64,
}

impl Node {
    /// A node built from `config`.
    pub fn new(config: &NodeConfig) -> Node {
        let store = Arc::new(Store::new(StoreConfig {
            shards: config.memory.shards,
            max_memory: usize::try_from(config.memory.maxmemory).unwrap_or(usize::MAX),
            policy: config.memory.maxmemory_policy,
            hash_seed: None,
            max_value_len: config.memory.max_value_len,
        }));
        Node {
            store,
            persistence: OnceLock::new(),
            recovery: OnceLock::new(),
            origin: OnceLock::new(),
            tier: OnceLock::new(),
            tier_threshold: usize::try_from(config.tier.threshold.max(1)).unwrap_or(usize::MAX),
            tier_evict: config.tier.evict_to_disk,
            params: RwLock::new(Params {
                requirepass: config.clients.requirepass.clone(),
                timeout: config.clients.timeout,
                maxclients: config.clients.maxclients,
            }),
            stats: Stats::new(),
            clients: Mutex::new(BTreeMap::new()),
            started: Instant::now(),
            run_id: cache_wire::session::run_id(),
            listening: RwLock::new(Vec::new()),
            max_key_len: config.memory.max_key_len,
            max_value_len: config.memory.max_value_len,
            limits: config.limits,
            protected_mode: config.clients.protected_mode,
            hz: config.background.hz,
            next_client_id: AtomicU64::new(1),
        }
    }

    /// Whether a write's reply waits for its log record to be fsynced.
    pub fn fsync_always(&self) -> bool {
        self.persistence
            .get()
            .is_some_and(|p| p.log().fsync() == cache_persist::Fsync::Always)
    }

    /// Milliseconds since start.
    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Registers a new client.
    pub fn register(&self, addr: String, local_addr: String) -> Arc<ClientView> {
        let id = self.next_client_id.fetch_add(1, Ordering::Relaxed);
        let view = Arc::new(ClientView {
            id,
            addr,
            local_addr,
            name: Mutex::new(None),
            created: Instant::now(),
            last_active_ms: AtomicU64::new(self.uptime_ms()),
            protocol: AtomicUsize::new(2),
            last_command: AtomicUsize::new(usize::MAX),
            query_buffer: AtomicUsize::new(0),
            output_buffer: AtomicUsize::new(0),
        });
        self.clients.lock().insert(id, view.clone());
        view
    }

    /// Forgets a client that disconnected.
    pub fn unregister(&self, id: u64) {
        self.clients.lock().remove(&id);
    }
}

/// One connection's state.
#[derive(Debug)]
pub struct Session {
    pub client: Arc<ClientView>,
    pub protocol: Protocol,
    pub authenticated: bool,
    /// Set by `QUIT`: close after the reply is written.
    pub closing: bool,
    /// The log offset the replies of this batch must wait to see durable (`appendfsync
    /// always`, `SAVE`), and where the first such reply starts in the output, with its id.
    pub durable: Option<DurableWait>,
    /// Set by the request being run: the log offset its reply must wait for.
    pub must_persist: Option<u64>,
    /// Keys the request being run missed and the origin must be asked for; the request runs
    /// again once they are loaded.
    pub origin_wanted: Vec<Bytes>,
    /// What the origin answered for them, for that second run.
    pub origin_loaded: HashMap<Bytes, Loaded>,
}

/// Replies held back until the log is durable up to `offset`.
#[derive(Debug, Clone, Copy)]
pub struct DurableWait {
    pub offset: u64,
    /// Output position and native id of the first reply that must wait.
    pub first_reply_at: usize,
    pub first_id: Option<u64>,
}

impl Session {
    /// A session for `client`; authenticated at once when the node has no password.
    pub fn new(node: &Node, client: Arc<ClientView>) -> Session {
        let authenticated = node.params.read().requirepass.is_empty();
        Session {
            client,
            protocol: Protocol::Resp2,
            authenticated,
            closing: false,
            durable: None,
            must_persist: None,
            origin_wanted: Vec::new(),
            origin_loaded: HashMap::new(),
        }
    }
}
