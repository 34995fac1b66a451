//! Eviction policies.
//!
//! A [`Policy`] orders the entries of one shard by slot index and names the next victim when the
//! shard must free memory. It never frees anything itself: the shard removes the victim and
//! tells the policy. Policies own all their bookkeeping, so swapping one for another
//! ([`crate::Store::set_policy`]) is "build the new one from the old one's order", and no entry is
//! touched. Randomized choices use a seeded generator, so a policy is deterministic for a given
//! seed and request sequence.

mod lfu;
mod list;
mod lru;
mod sketch;
mod tinylfu;

use std::fmt;
use std::str::FromStr;

pub(crate) use lfu::Lfu;
pub(crate) use lru::Lru;
pub(crate) use tinylfu::WTinyLfu;

/// Which eviction policy a store uses. Parses and prints the `maxmemory-policy` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PolicyKind {
    /// Refuse writes past `max_memory` with an out-of-memory error instead of evicting.
    NoEviction,
    /// Evict the least recently used entry (exact, not sampled).
    Lru,
    /// Evict the least frequently used entry: a logarithmic 8-bit counter per entry, as Redis
    /// keeps, whose excess over a new entry's starting value is halved periodically so old
    /// popularity fades; least recently used among equals.
    Lfu,
    /// Window TinyLFU: an LRU window admits new entries, and a frequency sketch decides
    /// whether a window entry may displace the coldest entry of the segmented-LRU main area.
    /// The window's share adapts (0.2% to 90% of the memory) to how often recently evicted keys
    /// come back. Scan-resistant, the best of these on skewed workloads, and within a point of
    /// LRU on recency-heavy ones.
    #[default]
    WTinyLfu,
}

impl PolicyKind {
    /// Every policy, in the order they are listed to users.
    pub const ALL: [PolicyKind; 4] = [
        PolicyKind::WTinyLfu,
        PolicyKind::Lru,
        PolicyKind::Lfu,
        PolicyKind::NoEviction,
    ];

    /// The `maxmemory-policy` name.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::NoEviction => "noeviction",
            PolicyKind::Lru => "allkeys-lru",
            PolicyKind::Lfu => "allkeys-lfu",
            PolicyKind::WTinyLfu => "w-tinylfu",
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for a policy name no policy has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown eviction policy '{0}': expected one of noeviction, allkeys-lru, allkeys-lfu, w-tinylfu"
)]
pub struct UnknownPolicy(pub String);

impl FromStr for PolicyKind {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<PolicyKind, UnknownPolicy> {
        match s.to_ascii_lowercase().as_str() {
            "noeviction" => Ok(PolicyKind::NoEviction),
            "allkeys-lru" | "lru" => Ok(PolicyKind::Lru),
            "allkeys-lfu" | "lfu" => Ok(PolicyKind::Lfu),
            "w-tinylfu" | "wtinylfu" | "tinylfu" | "allkeys-w-tinylfu" => Ok(PolicyKind::WTinyLfu),
            _ => Err(UnknownPolicy(s.to_owned())),
        }
    }
}

/// What a policy may ask the shard about its entries, by slot.
pub trait Entries {
    /// The key hash of the entry at `slot`.
    fn hash(&self, slot: u32) -> u64;
    /// The bytes the entry at `slot` is charged.
    fn charge(&self, slot: u32) -> usize;
}

/// The order and victim choice of one shard's entries.
///
/// Slots are the shard's stable entry indices. Every method is called with the shard locked.
/// Policies keep no copy of hashes or charges: they ask [`Entries`] when they need one, which
/// keeps their bookkeeping to a few bytes per entry.
pub trait Policy: Send + fmt::Debug {
    /// Which policy this is.
    fn kind(&self) -> PolicyKind;
    /// A new entry at `slot` with key hash `hash`.
    fn insert(&mut self, slot: u32, hash: u64, entries: &dyn Entries);
    /// The entry at `slot` was read or overwritten.
    fn access(&mut self, slot: u32, hash: u64, entries: &dyn Entries);
    /// The entry at `slot` is now charged `new` bytes instead of `old`.
    fn recharge(&mut self, slot: u32, old: usize, new: usize) {
        let _ = (slot, old, new);
    }
    /// The entry at `slot`, charged `charge`, left the shard (deleted, expired or evicted).
    fn remove(&mut self, slot: u32, charge: usize);
    /// The entry to evict next, if the policy evicts and has any. The shard then removes it and
    /// calls [`Policy::remove`].
    fn victim(&mut self, entries: &dyn Entries) -> Option<u32>;
    /// The shard's share of `max_memory` changed (0 = unbounded).
    fn set_capacity(&mut self, bytes: usize) {
        let _ = bytes;
    }
    /// Every slot, coldest first: the order a replacement policy is seeded with.
    fn order(&self) -> Vec<u32>;
}

/// A new, empty policy of `kind` for a shard with `capacity` bytes (0 = unbounded); `seed`
/// fixes its random choices.
pub fn new_policy(kind: PolicyKind, capacity: usize, seed: u64) -> Box<dyn Policy> {
    match kind {
        PolicyKind::NoEviction => Box::new(Lru::new(false)),
        PolicyKind::Lru => Box::new(Lru::new(true)),
        PolicyKind::Lfu => Box::new(Lfu::new(seed)),
        PolicyKind::WTinyLfu => Box::new(WTinyLfu::new(capacity, seed)),
    }
}

/// A small deterministic generator (xorshift64*) for policies' random choices.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A float uniformly in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests;
