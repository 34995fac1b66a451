//! End-to-end tests: each starts its own `cache-node` on a free port and drives it over the
//! wire, with the `redis` crate or raw bytes.

mod auth;
mod cache_top;
mod client;
mod config;
mod counters;
mod disk_faults;
mod eviction;
mod expiry;
mod keys;
mod lifecycle;
mod limits;
mod malformed;
mod origin;
mod persist;
mod pipeline;
mod policy_swap;
mod proxy;
mod quic_udp;
mod server;
mod strings;
mod support;
mod tidy;
mod tier;
mod transports;
