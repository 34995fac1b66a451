//! Replays a request sequence through the real engine: one shard, a fixed hash seed and a
//! manual clock, so a run is deterministic and measures exactly the code the server runs.

use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use cache_store::{ManualClock, PolicyKind, SetOptions, Store, StoreConfig, entry_charge};

/// Every value is this long, so every entry has the same charge and a byte budget of
/// `capacity * charge()` holds exactly `capacity` entries.
const VALUE_LEN: usize = 16;
/// Keys are u64s, little-endian.
const KEY_LEN: usize = 8;
const HASH_SEED: u64 = 0x5EED_CAC4_E5EE_D000;
const START_MS: i64 = 1_700_000_000_000;

/// The bytes the engine charges one simulated entry.
pub(crate) fn charge() -> usize {
    entry_charge(KEY_LEN, VALUE_LEN, false)
}

/// Hits of a cold store under `policy` holding `capacity` entries: each request reads its key
/// and, on a miss, writes it.
pub(crate) fn hits(keys: &[u64], policy: PolicyKind, capacity: usize) -> Result<u64> {
    // A budget of 0 would mean "unbounded".
    ensure!(capacity > 0, "a simulated cache holds at least one entry");
    let clock = Arc::new(ManualClock::new(START_MS));
    let config = StoreConfig {
        shards: 1,
        max_memory: capacity * charge(),
        policy,
        hash_seed: Some(HASH_SEED),
        ..StoreConfig::default()
    };
    let store = Store::with_clock(config, clock.clone());
    let value = [b'v'; VALUE_LEN];
    let mut hits = 0u64;
    for (i, &key) in keys.iter().enumerate() {
        let key = key.to_le_bytes();
        if store.get(&key).is_some() {
            hits += 1;
        } else {
            store
                .set(&key, &value, SetOptions::default())
                .with_context(|| format!("{policy}: set of request {i} failed"))?;
        }
        clock.advance(1);
    }
    let stats = store.stats();
    ensure!(
        stats.hits == hits,
        "{policy}: store counted {} hits, the simulator {hits}",
        stats.hits
    );
    ensure!(
        stats.items <= capacity && stats.used_memory <= stats.max_memory,
        "{policy}: {} entries and {} bytes in a cache of {capacity} entries ({} bytes)",
        stats.items,
        stats.used_memory,
        stats.max_memory
    );
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_holds_exactly_capacity_entries() {
        // 0..5 cycled through a 4-entry LRU: every request misses; through a 5-entry one, only
        // the first five do.
        let keys: Vec<u64> = (0..50).map(|i| i % 5).collect();
        assert_eq!(hits(&keys, PolicyKind::Lru, 4).ok(), Some(0));
        assert_eq!(hits(&keys, PolicyKind::Lru, 5).ok(), Some(45));
    }
}
