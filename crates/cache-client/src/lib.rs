//! The async Rust client of the cache.
//!
//! - [`Client`]: one node, over any endpoint (TCP, TLS, Unix, QUIC, UDP); calls from many tasks are pipelined on
//!   one connection, which reconnects after it breaks.
//! - [`ClusterClient`]: many nodes, each key routed with `cache-ring` (the proxy's ring, so
//!   both agree), node health watched with `cache-health`; a node that is down costs misses,
//!   not errors, as through the proxy.
//! - [`Commands`]: the typed commands both offer. A miss is `Ok(None)`, never an error, and
//!   [`Commands::get_as`] / [`Commands::set_as`] store any serde type as CBOR.
//! - [`Connection`]: the multiplexed connection underneath, also used by `cache-proxy` for its
//!   pooled node connections.
//!
//! ```no_run
//! use cache_client::{Client, Commands, ConnectOptions};
//!
//! # async fn demo() -> cache_client::Result<()> {
//! let cache = Client::new("tcp://127.0.0.1:6379", ConnectOptions::default())?;
//! cache.set("greeting", "hello", None).await?;
//! assert_eq!(cache.get("greeting").await?.as_deref(), Some(&b"hello"[..]));
//! # Ok(()) }
//! ```

mod cluster;
mod commands;
mod connection;
mod error;
mod node;
mod probe;
mod transport;

pub use cache_health::DetectorConfig;
pub use cache_ring::{Algorithm, DownMode};
pub use cluster::{ClusterClient, ClusterOptions, member_name, miss_reply, unavailable_reply};
pub use commands::Commands;
pub use connection::{ConnectOptions, Connection, Replies};
pub use error::{Error, Result};
pub use node::Client;
pub use probe::{InfoProber, parse_info};
