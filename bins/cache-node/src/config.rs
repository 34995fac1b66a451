//! The node's configuration: one struct per concern, read from TOML, every field defaulted.
//!
//! Command-line flags override the file (see `main.rs`); `CONFIG SET` changes the runtime
//! parameters of a running node (see [`crate::params`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use cache_persist::{Batching, Fsync, OnCorruption, OriginSpec, PersistConfig, SqliteColumns};

use cache_store::PolicyKind;
use cache_wire::endpoint::Endpoint;
pub use cache_wire::limits::parse_size;
use cache_wire::limits::{ClientLimits, deserialize_size};
use cache_wire::transport::ServerTlsSettings;
use serde::Deserialize;

/// Everything a node needs to start.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Where to listen: `tcp://host:port`, `tls://host:port` or `unix:///path`. Several are
    /// allowed.
    pub listen: Vec<Endpoint>,
    /// Certificate and key for `tls://` and `quic://` endpoints.
    pub tls: ServerTlsSettings,
    /// Worker threads serving connections; 0 = one per CPU.
    pub threads: usize,
    /// Address (`host:port`) of the admin HTTP port serving `/health` and `/metrics`; unset =
    /// no admin port. Port 0 picks a free port.
    pub admin: Option<String>,
    /// Memory and eviction.
    pub memory: MemoryConfig,
    /// Who may connect, and for how long.
    pub clients: ClientsConfig,
    /// Bounds on one client's requests and buffers.
    pub limits: ClientLimits,
    /// Periodic background work and logging.
    pub background: BackgroundConfig,
    /// The operation log and its snapshots (off unless `dir` is set).
    pub persistence: PersistenceConfig,
    /// Where a miss is read from (off unless `source` is set).
    pub origin: OriginConfig,
    /// Large values (and optionally evicted entries) kept on disk (off unless `enabled`).
    pub tier: TierSettings,
}

impl Default for NodeConfig {
    fn default() -> NodeConfig {
        NodeConfig {
            listen: vec![Endpoint::Tcp("127.0.0.1:7001".to_owned())],
            tls: ServerTlsSettings::default(),
            threads: 0,
            admin: None,
            memory: MemoryConfig::default(),
            clients: ClientsConfig::default(),
            limits: ClientLimits::default(),
            background: BackgroundConfig::default(),
            persistence: PersistenceConfig::default(),
            origin: OriginConfig::default(),
            tier: TierSettings::default(),
        }
    }
}

/// Memory budget and eviction.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryConfig {
    /// The byte budget for entries, as a size (`"512mb"`, `"2gb"`, `"0"` = unbounded).
    #[serde(deserialize_with = "deserialize_size")]
    pub maxmemory: u64,
    /// The eviction policy: `w-tinylfu`, `allkeys-lru`, `allkeys-lfu` or `noeviction`.
    #[serde(deserialize_with = "deserialize_policy")]
    pub maxmemory_policy: PolicyKind,
    /// Number of store shards (a power of two; more means less lock contention).
    pub shards: usize,
    /// The longest key accepted, in bytes.
    pub max_key_len: usize,
    /// The longest value accepted, in bytes.
    pub max_value_len: usize,
}

impl Default for MemoryConfig {
    fn default() -> MemoryConfig {
        MemoryConfig {
            maxmemory: 0,
            maxmemory_policy: PolicyKind::default(),
            shards: 16,
            max_key_len: 64 << 10,
            max_value_len: 64 << 20,
        }
    }
}

/// Client access and limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientsConfig {
    /// A password every client must give with `AUTH` before anything else; empty = none.
    pub requirepass: String,
    /// Close a connection idle this many seconds (0 = never).
    pub timeout: u64,
    /// The most connections served at once; more are refused with an error.
    pub maxclients: usize,
    /// With no password set, serve only clients on this machine (loopback or a Unix socket).
    pub protected_mode: bool,
}

impl Default for ClientsConfig {
    fn default() -> ClientsConfig {
        ClientsConfig {
            requirepass: String::new(),
            timeout: 0,
            maxclients: 10_000,
            protected_mode: true,
        }
    }
}

/// Persistence: an operation log of every write, compacted into snapshots.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PersistenceConfig {
    /// Directory of the log and snapshots; unset = no persistence.
    pub dir: Option<PathBuf>,
    /// When the log is fsynced: `always` (before a write is answered), `everysec` or `no`.
    #[serde(deserialize_with = "deserialize_fsync")]
    pub appendfsync: Fsync,
    /// The writer writes as soon as this many bytes wait...
    #[serde(deserialize_with = "deserialize_size")]
    pub batch_bytes: u64,
    /// ...or after this many milliseconds.
    pub batch_interval_ms: u64,
    /// Rewrite the log automatically when it has grown this many percent since the last
    /// rewrite (0 = only on BGREWRITEAOF).
    pub auto_rewrite_percentage: u64,
    /// ...and is at least this big.
    #[serde(deserialize_with = "deserialize_size")]
    pub auto_rewrite_min_size: u64,
    /// Cut a log at a damaged record instead of refusing to start (set by --repair-log).
    pub repair_log: bool,
}

impl Default for PersistenceConfig {
    fn default() -> PersistenceConfig {
        PersistenceConfig {
            dir: None,
            appendfsync: Fsync::EverySec,
            batch_bytes: 64 << 10,
            batch_interval_ms: 2,
            auto_rewrite_percentage: 100,
            auto_rewrite_min_size: 64 << 20,
            repair_log: false,
        }
    }
}

impl PersistenceConfig {
    /// The persistence settings, if persistence is on.
    pub fn to_persist_config(&self) -> Option<PersistConfig> {
        let dir = self.dir.clone()?;
        Some(PersistConfig {
            dir,
            fsync: self.appendfsync,
            batching: Batching {
                bytes: usize::try_from(self.batch_bytes.max(1)).unwrap_or(usize::MAX),
                interval: Duration::from_millis(self.batch_interval_ms.max(1)),
            },
            rewrite_percentage: self.auto_rewrite_percentage,
            rewrite_min_size: self.auto_rewrite_min_size,
            on_corruption: if self.repair_log {
                OnCorruption::Repair
            } else {
                OnCorruption::Stop
            },
        })
    }
}

/// The disk tier: values of at least `threshold` bytes, and with `evict_to_disk` entries
/// evicted from memory, live in segment files on disk; a GET that misses memory looks there.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TierSettings {
    /// Turn the tier on.
    pub enabled: bool,
    /// Directory of the segment files; default `<persistence dir>/tier`. Required when
    /// persistence is off (the tier then starts empty on every start).
    pub dir: Option<PathBuf>,
    /// Bytes the segment files may take together; the oldest segment is dropped past it.
    #[serde(deserialize_with = "deserialize_size")]
    pub budget: u64,
    /// Values of at least this many bytes are kept on disk instead of memory.
    #[serde(deserialize_with = "deserialize_size")]
    pub threshold: u64,
    /// A segment file is sealed at this size.
    #[serde(deserialize_with = "deserialize_size")]
    pub segment_size: u64,
    /// Keep entries evicted from memory on disk (memory becomes a cache of the disk).
    pub evict_to_disk: bool,
}

impl Default for TierSettings {
    fn default() -> TierSettings {
        TierSettings {
            enabled: false,
            dir: None,
            budget: 1 << 30,
            threshold: 64 << 10,
            segment_size: 64 << 20,
            evict_to_disk: false,
        }
    }
}

impl NodeConfig {
    /// The disk tier's settings, if it is on; an error when it has nowhere to live.
    pub fn tier_config(&self) -> anyhow::Result<Option<cache_persist::TierConfig>> {
        let t = &self.tier;
        if !t.enabled {
            return Ok(None);
        }
        let persistence = self.persistence.dir.as_ref();
        let Some(dir) = t
            .dir
            .clone()
            .or_else(|| persistence.map(|d| d.join("tier")))
        else {
            anyhow::bail!(
                "the disk tier needs a directory: give --tier-dir DIR, or turn persistence on with --dir DIR"
            );
        };
        Ok(Some(cache_persist::TierConfig {
            dir,
            budget: t.budget,
            segment_size: t.segment_size.clamp(1 << 16, 1 << 32),
            fsync: if persistence.is_some() {
                self.persistence.appendfsync
            } else {
                Fsync::No
            },
            keep: persistence.is_some(),
        }))
    }
}

/// A read-through origin: a GET that misses memory reads the key from here, caches it and
/// answers it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OriginConfig {
    /// `dir:PATH` (the key is a file path relative to PATH) or `sqlite:PATH`; unset = none.
    #[serde(deserialize_with = "deserialize_origin")]
    pub source: Option<OriginSpec>,
    /// Seconds a loaded value stays cached (0 = until evicted or overwritten).
    pub ttl: u64,
    /// For `sqlite:`: the table...
    pub table: Option<String>,
    /// ...the column holding the key...
    pub key_column: Option<String>,
    /// ...and the column holding the value.
    pub value_column: Option<String>,
}

impl OriginConfig {
    /// The SQLite table and columns, defaults filled in (`cache`, `key`, `value`).
    pub fn columns(&self) -> SqliteColumns {
        let defaults = SqliteColumns::default();
        SqliteColumns {
            table: self.table.clone().unwrap_or(defaults.table),
            key_column: self.key_column.clone().unwrap_or(defaults.key_column),
            value_column: self.value_column.clone().unwrap_or(defaults.value_column),
        }
    }
}

/// Background work.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackgroundConfig {
    /// Active expiry runs this many times a second.
    pub hz: u32,
    /// Seconds between the one-line stats logs (0 = off).
    pub stats_log_interval: u64,
}

impl Default for BackgroundConfig {
    fn default() -> BackgroundConfig {
        BackgroundConfig {
            hz: 10,
            stats_log_interval: 10,
        }
    }
}

impl BackgroundConfig {
    /// Time between active-expiry runs.
    pub fn expire_period(&self) -> Duration {
        Duration::from_millis(1000 / u64::from(self.hz.clamp(1, 500)))
    }
}

impl NodeConfig {
    /// An error naming the first setting that contradicts another.
    pub fn check(&self) -> anyhow::Result<()> {
        self.limits.check().map_err(anyhow::Error::msg)?;
        let bulk = self.limits.max_bulk_len;
        for (name, len) in [
            ("memory.max_key_len", self.memory.max_key_len),
            ("memory.max_value_len", self.memory.max_value_len),
        ] {
            if len as u64 > bulk {
                anyhow::bail!(
                    "{name} ({len}) is above limits.max_bulk_len ({bulk}): raise \
                     limits.max_bulk_len so such a key or value can be sent"
                );
            }
        }
        Ok(())
    }

    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> anyhow::Result<NodeConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("config file {} is not valid: {e}", path.display()))
    }
}

fn deserialize_fsync<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Fsync, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(serde::de::Error::custom)
}

fn deserialize_origin<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<OriginSpec>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

fn deserialize_policy<'de, D: serde::Deserializer<'de>>(d: D) -> Result<PolicyKind, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/cache-node.toml");
        let config = NodeConfig::from_file(&path).expect("sample config parses");
        assert_eq!(config.memory.maxmemory, 256 << 20);
        assert_eq!(config.memory.maxmemory_policy, PolicyKind::WTinyLfu);
    }

    #[test]
    fn a_value_limit_above_the_bulk_limit_is_refused() {
        let mut config = NodeConfig::default();
        assert!(config.check().is_ok());
        config.memory.max_value_len = 128 << 20;
        let error = config.check().unwrap_err().to_string();
        assert!(error.contains("max_value_len"), "{error}");
        config.limits.max_bulk_len = 129 << 20;
        assert!(config.check().is_ok());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(toml::from_str::<NodeConfig>("[memory]\nmaxmemroy = 5\n").is_err());
    }
}
