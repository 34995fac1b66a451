//! The options and results of store operations.

use bytes::Bytes;

/// The `NX`/`XX` condition of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetCondition {
    /// Only if the key is absent.
    IfAbsent,
    /// Only if the key is present.
    IfPresent,
}

/// What a write does to the key's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryChange {
    /// Keep whatever expiry the key had (none for a new key).
    Keep,
    /// Remove any expiry.
    Clear,
    /// Expire at this Unix time in milliseconds; a time not after now deletes the key.
    At(i64),
}

/// Options of [`Store::set`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetOptions {
    /// Write only if the key is absent or present.
    pub condition: Option<SetCondition>,
    /// The expiry to give the key.
    pub expiry: ExpiryChange,
    /// Return the previous value.
    pub return_old: bool,
}

impl Default for SetOptions {
    fn default() -> SetOptions {
        SetOptions {
            condition: None,
            expiry: ExpiryChange::Clear,
            return_old: false,
        }
    }
}

/// What [`Store::set`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetOutcome {
    /// Whether the value was written (false when the condition failed).
    pub written: bool,
    /// The previous value, when asked for and present.
    pub old: Option<Bytes>,
}

/// The `NX`/`XX`/`GT`/`LT` condition of [`Store::expire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpireCondition {
    /// Only when the key has no expiry.
    IfNone,
    /// Only when the key has an expiry.
    IfSome,
    /// Only when the new time is later (no expiry counts as never).
    IfGreater,
    /// Only when the new time is earlier (no expiry counts as never).
    IfLess,
    /// Only when the key has an expiry and the new time is earlier (`XX LT`).
    IfSomeAndLess,
}

/// The expiry state of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTtl {
    /// No such key.
    Missing,
    /// The key never expires.
    Persistent,
    /// The key expires at this Unix time in milliseconds.
    ExpiresAt(i64),
}

/// A snapshot of the store's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Entries, including expired ones not yet removed.
    pub items: usize,
    /// Entries with an expiry.
    pub expiring_items: usize,
    /// Bytes charged to entries.
    pub used_memory: usize,
    /// The byte budget (0 = unbounded).
    pub max_memory: usize,
    /// Reads that found their key.
    pub hits: u64,
    /// Reads that did not.
    pub misses: u64,
    /// Entries evicted for memory.
    pub evictions: u64,
    /// Entries removed because their time was up.
    pub expired: u64,
}
