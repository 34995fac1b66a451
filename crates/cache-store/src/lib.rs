//! The in-memory engine of the cache.
//!
//! A [`Store`] maps binary keys to binary values under a byte budget. It is split into shards,
//! each behind its own lock and addressed by a keyed, per-process hash of the key (so crafted keys
//! cannot pile into one shard or one probe chain). Every entry is charged its key, its value and
//! the real bytes the engine spends to hold it ([`entry_charge`]); when the charge of all entries
//! passes `max_memory`, the shard's eviction [`Policy`] names victims until it fits again.
//!
//! **Architecture invariants.** This crate does no I/O, starts no threads and reads no clock of
//! its own: time comes from the [`Clock`] it is given, active expiry runs when the caller asks
//! ([`Store::expire_cycle`]), and with a fixed `hash_seed` and one shard every decision is
//! deterministic, so a trace simulator drives the real engine. It never imports tokio.

mod clock;
mod error;
mod glob;
mod journal;
mod number;
mod options;
mod policy;
mod record;
mod shard;
mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use glob::glob_match;
pub use journal::{Change, EvictionSink, Journal};
pub use options::{
    ExpireCondition, ExpiryChange, KeyTtl, SetCondition, SetOptions, SetOutcome, StoreStats,
};
pub use policy::{Entries, Policy, PolicyKind, UnknownPolicy, new_policy};
pub use record::entry_charge;
pub use store::{Store, StoreConfig};
