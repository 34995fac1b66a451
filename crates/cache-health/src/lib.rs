//! Node health: how a proxy or a cluster client knows which nodes to route to, and how a node
//! tells the world about itself.
//!
//! - [`detector`]: the failure detector, a pure state machine (Unknown, Up, Suspect, Down, with
//!   backoff and flap damping) driven by probe results and time passed in. Tested with virtual
//!   time; no I/O.
//! - [`probe`] (feature `runtime`): the loop that probes one node on the detector's schedule
//!   through any [`probe::Prober`] and reports [`Event`]s.
//! - [`admin`] (feature `runtime`): the admin HTTP port a node serves, `/health` (JSON) and
//!   `/metrics` (Prometheus text).
//!
//! **Architecture Invariant:** the detector never sleeps, reads a clock or touches a socket;
//! everything with I/O is behind the `runtime` feature.

#[cfg(feature = "runtime")]
pub mod admin;
pub mod detector;
#[cfg(feature = "runtime")]
pub mod probe;

pub use detector::{DetectorConfig, Event, FailureDetector, State};

/// What a node reports about itself: on `/health`, and to probes (from `INFO`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeHealth {
    /// Random per process start; a new value means the node restarted and lost (or reloaded)
    /// its data.
    pub generation: String,
    pub uptime_seconds: u64,
    /// Bytes charged to stored entries.
    pub used_memory: u64,
    /// The byte budget, 0 = unlimited.
    pub maxmemory: u64,
}
