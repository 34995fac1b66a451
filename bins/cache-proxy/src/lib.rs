//! `cache-proxy`: one RESP endpoint in front of many cache nodes.
//!
//! Clients speak RESP to the proxy as to a single node. Each key is routed with `cache-ring`
//! (the same placement the cluster client computes); requests of many clients are multiplexed
//! onto a few pipelined connections per node; multi-key commands are split per node and merged;
//! `INFO`, `DBSIZE` and `FLUSHALL` ask every node. Node health comes from `cache-health`: a node
//! that fails costs misses (its keys remapped or answered as misses), never errors for reads or
//! waits past the timeout, and a node that comes back is flushed before it is used again.
//!
//! Modules: [`config`] (TOML and defaults), [`proxy`] (listeners, reload, shutdown),
//! `cluster` (membership, routing table, health events), `connection` (one client), `plan`
//! (routing a batch), `admin` (what the proxy answers itself), `backend` (one node's pool), `worker` (the
//! serving threads).
//!
//! **Architecture Invariant:** the proxy holds no data; anything it answers without a node is
//! either about the connection or an aggregate of what the nodes said.

mod admin;
mod backend;
mod cluster;
pub mod config;
mod connection;
mod plan;
pub mod proxy;
mod worker;

pub use config::ProxyConfig;
pub use proxy::{Proxy, Server};

/// Binds and serves `config` until `shutdown` completes.
pub async fn run(
    config: ProxyConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    Server::bind(config).await?.run(shutdown).await
}
