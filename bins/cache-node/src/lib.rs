//! The cache node: one process holding part of the keyspace in memory, spoken to in RESP.
//!
//! [`Server::bind`] binds the configured endpoints (TCP and Unix sockets), [`Server::run`]
//! serves until a shutdown future completes. Connections decode requests with cache-wire,
//! [`execute`](crate::execute) joins the command model to the cache-store engine, and replies are
//! encoded back in the client's protocol. Everything testable lives here; `main.rs` only reads
//! flags, installs logging and waits for a signal.

mod admin;
pub mod config;
mod connection;
mod execute;
pub mod info;
pub mod node;
mod params;
mod server;
pub mod stats;
mod tiered;

pub use config::NodeConfig;
pub use server::{Server, run};
