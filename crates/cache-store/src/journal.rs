//! What the store tells an operation log: each change to its contents, as it happened.
//!
//! The store calls its [`Journal`] while it still holds the lock of the key's shard, so the
//! order in which one key's changes reach the journal is the order in which they were made.
//! A change is recorded as its effect, not as the command that caused it: `INCR` is the value it
//! produced, `EXPIRE k 10` is an absolute time. Replaying the changes of a key from any state the
//! key passed through after the first of them therefore ends in the same state, which is what
//! lets a snapshot be taken while writes go on.
//!
//! An eviction is a change (a [`Change::Delete`]): if it were not, a key evicted and then
//! deleted would come back with its old value on replay. An expiration is not: the expiry is an
//! absolute time that replay checks again.

/// One change to the store's contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// `key` now holds `value`, expiring at `expires_at` (Unix ms) if set.
    Set {
        key: &'a [u8],
        value: &'a [u8],
        expires_at: Option<i64>,
    },
    /// `key` was removed.
    Delete { key: &'a [u8] },
    /// The expiry of an existing `key` is now `at` (`None` = never).
    Expire { key: &'a [u8], at: Option<i64> },
    /// Every entry was removed.
    Flush,
}

/// Receives the store's changes. Called with a shard lock held: it must be quick and must not
/// call back into the store.
pub trait Journal: Send + Sync + std::fmt::Debug {
    fn record(&self, change: Change<'_>);
}

/// Receives entries the store evicts (a disk tier keeps them). Called with a shard lock held:
/// it must not call back into the store.
pub trait EvictionSink: Send + Sync + std::fmt::Debug {
    fn evicted(&self, key: &[u8], value: &[u8], expires_at: Option<i64>);
    /// Whether `key` may be evicted now; a key refused is kept and made recent, and the
    /// store looks for another victim. A disk tier refuses keys a command is moving.
    fn may_evict(&self, key: &[u8]) -> bool {
        let _ = key;
        true
    }
}
