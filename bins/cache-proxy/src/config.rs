//! The proxy's configuration: one struct per concern, read from TOML, every field defaulted.
//! Flags override the file; `SIGHUP` re-reads the file's `nodes` and swaps the ring.

use std::path::Path;
use std::time::Duration;

use cache_ring::{Algorithm, DownMode};
use cache_wire::endpoint::Endpoint;
use cache_wire::limits::ClientLimits;
use cache_wire::transport::{ClientTlsSettings, ServerTlsSettings};
use serde::Deserialize;

/// Everything a proxy needs to start.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyConfig {
    /// Where clients connect: `tcp://host:port`, `tls://host:port` or `unix:///path`. Several
    /// are allowed.
    pub listen: Vec<Endpoint>,
    /// Certificate and key for `tls://` listeners.
    pub tls: ServerTlsSettings,
    /// Worker threads, each serving its share of the clients with its own node connections;
    /// 0 = one per CPU.
    pub threads: usize,
    /// The cache nodes behind the proxy.
    pub nodes: Vec<NodeEntry>,
    /// How keys are placed on nodes.
    pub cluster: ClusterConfig,
    /// Who may connect.
    pub clients: ClientsConfig,
    /// Bounds on one client's requests and buffers.
    pub limits: ClientLimits,
    /// How the proxy talks to nodes and watches them.
    pub backend: BackendConfig,
}

impl Default for ProxyConfig {
    fn default() -> ProxyConfig {
        ProxyConfig {
            listen: vec![Endpoint::Tcp("127.0.0.1:7000".to_owned())],
            tls: ServerTlsSettings::default(),
            threads: 0,
            nodes: Vec::new(),
            cluster: ClusterConfig::default(),
            clients: ClientsConfig::default(),
            limits: ClientLimits::default(),
            backend: BackendConfig::default(),
        }
    }
}

/// One node. In TOML either a string (`"tcp://127.0.0.1:7001"`) or a table with a name and a
/// weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEntry {
    pub endpoint: Endpoint,
    /// The name that places the node on the ring; default `host:port` (or the socket path).
    /// Keep it when a node moves to a new address, and its keys stay put.
    pub name: String,
    /// Relative share of keys, at least 1.
    pub weight: u32,
}

impl NodeEntry {
    /// An entry with the default name and weight 1.
    pub fn new(endpoint: Endpoint) -> NodeEntry {
        NodeEntry {
            name: cache_client::member_name(&endpoint),
            endpoint,
            weight: 1,
        }
    }
}

impl<'de> Deserialize<'de> for NodeEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<NodeEntry, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Plain(Endpoint),
            Full {
                endpoint: Endpoint,
                name: Option<String>,
                weight: Option<u32>,
            },
        }
        Ok(match Raw::deserialize(d)? {
            Raw::Plain(endpoint) => NodeEntry::new(endpoint),
            Raw::Full {
                endpoint,
                name,
                weight,
            } => {
                let mut entry = NodeEntry::new(endpoint);
                if let Some(name) = name {
                    entry.name = name;
                }
                entry.weight = weight.unwrap_or(1);
                entry
            }
        })
    }
}

/// Placement and failover.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// `maglev` (default), `ketama`, `rendezvous`, `multiprobe`, or `twemproxy` to keep keys
    /// where twemproxy (`distribution: ketama`, `hash: fnv1a_64`) put them.
    #[serde(deserialize_with = "from_str")]
    pub distribution: Algorithm,
    /// What a down node's keys do: `remap` to other nodes, or `miss` (answered as misses).
    #[serde(deserialize_with = "from_str")]
    pub down_mode: DownMode,
}

/// Client access.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientsConfig {
    /// Password clients must give with `AUTH`; empty = none.
    pub requirepass: String,
    /// The most client connections at once.
    pub maxclients: usize,
    /// Close a client connection idle (nothing sent, no reply taken) this many seconds; 0 = never.
    pub timeout: u64,
    /// With no password set, serve only clients on this machine (loopback or a Unix socket).
    pub protected_mode: bool,
}

impl Default for ClientsConfig {
    fn default() -> ClientsConfig {
        ClientsConfig {
            requirepass: String::new(),
            maxclients: 10_000,
            timeout: 0,
            protected_mode: true,
        }
    }
}

/// Node connections and health checks.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendConfig {
    /// Password sent with `AUTH` to every node; empty = none.
    pub password: String,
    /// Connections per node from each worker thread; the worker's clients are spread over
    /// them and multiplexed.
    pub connections: usize,
    /// Per-request timeout in milliseconds: no client waits longer for a node.
    pub timeout_ms: u64,
    /// Milliseconds between health probes of an up node.
    pub probe_interval_ms: u64,
    /// Failed probes in a row that take a node down.
    pub fall: u32,
    /// Good probes in a row that bring it back.
    pub rise: u32,
    /// Trust (and identity) for nodes at `tls://` endpoints.
    pub tls: ClientTlsSettings,
}

impl Default for BackendConfig {
    fn default() -> BackendConfig {
        BackendConfig {
            password: String::new(),
            connections: 1,
            timeout_ms: 1000,
            probe_interval_ms: 1000,
            fall: 3,
            rise: 2,
            tls: ClientTlsSettings::default(),
        }
    }
}

impl ProxyConfig {
    /// The number of worker threads to run.
    pub fn workers(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

impl BackendConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.max(1))
    }
}

fn from_str<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text = String::deserialize(d)?;
    text.parse().map_err(serde::de::Error::custom)
}

impl ProxyConfig {
    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> anyhow::Result<ProxyConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("config file {} is not valid: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/cache-proxy.toml");
        let config = ProxyConfig::from_file(&path).unwrap();
        assert_eq!(config.nodes.len(), 3);
        assert_eq!(config.nodes[2].weight, 2);
        assert_eq!(config.nodes[2].name, "big");
        assert_eq!(config.nodes[0].name, "127.0.0.1:7001");
        assert_eq!(config.cluster.down_mode, DownMode::Remap);
    }

    #[test]
    fn bad_values_are_reported() {
        let error = toml::from_str::<ProxyConfig>("[cluster]\ndistribution = \"random\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown distribution"), "{error}");
        assert!(toml::from_str::<ProxyConfig>("nodes = [\"tcp://nohost\"]").is_err());
    }
}
