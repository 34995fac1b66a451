//! Scratch models of the engine's eviction policies, to try changes before proposing them to
//! `cache-store` (whose code this tool does not change).
//!
//! Each model mirrors its `cache-store/src/policy/` counterpart when its knobs are at their
//! `ENGINE` values, and its hit ratios track the engine's (the table shows both); each knob
//! changes one thing. The driver mirrors the shard: a read that finds its key is a hit, a miss
//! inserts, then victims are evicted while over capacity. Key hashes come from a seeded mixer
//! instead of the store's foldhash, so the numbers match the engine's statistically, not bit for
//! bit.

mod lfu;
mod list;
mod tinylfu;

use std::collections::HashMap;

pub(crate) use lfu::LfuKnobs;
pub(crate) use tinylfu::TinyLfuKnobs;

/// A scratch policy over slots, as `cache_store::Policy` but with unit charges.
trait Model {
    fn insert(&mut self, slot: u32, hash: u64);
    fn access(&mut self, slot: u32, hash: u64);
    fn remove(&mut self, slot: u32);
    /// The next victim; `hashes` maps slots to key hashes.
    fn victim(&mut self, hashes: &[u64]) -> Option<u32>;
}

/// A model and its settings.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Variant {
    TinyLfu(TinyLfuKnobs),
    Lfu(LfuKnobs),
    PerfectLfu,
}

const TINYLFU: TinyLfuKnobs = TinyLfuKnobs::ENGINE;

/// The variants `sim --models` runs, by column name: each engine policy as it is, the changes
/// the simulator's findings rest on, and perfect LFU as the frequency ceiling.
pub(crate) const VARIANTS: &[(&str, Variant)] = &[
    ("model:w-tinylfu", Variant::TinyLfu(TINYLFU)),
    (
        "w-tinylfu+exact",
        Variant::TinyLfu(TinyLfuKnobs {
            exact: true,
            ..TINYLFU
        }),
    ),
    (
        "w-tinylfu+sample40",
        Variant::TinyLfu(TinyLfuKnobs {
            sample_factor: 40,
            ..TINYLFU
        }),
    ),
    (
        "w-tinylfu+climber",
        Variant::TinyLfu(TinyLfuKnobs {
            adaptive: true,
            climb_sample: 2,
            climb_min: 5000,
            ..TINYLFU
        }),
    ),
    (
        "w-tinylfu+ghosts",
        Variant::TinyLfu(TinyLfuKnobs {
            ghosts: true,
            ghosts_scaled: true,
            ..TINYLFU
        }),
    ),
    (
        "w-tinylfu+ghosts-f1",
        Variant::TinyLfu(TinyLfuKnobs {
            ghosts: true,
            ghost_max_frequency: 1,
            ..TINYLFU
        }),
    ),
    ("model:lfu", Variant::Lfu(LfuKnobs::ENGINE)),
    (
        "lfu+aged-linear",
        Variant::Lfu(LfuKnobs {
            age_above_initial: true,
            log_factor: 0.0,
        }),
    ),
    ("perfect-lfu", Variant::PerfectLfu),
];

/// Hits of `variant` over `keys` with room for `capacity` entries.
pub(crate) fn hits(keys: &[u64], capacity: usize, variant: Variant) -> u64 {
    match variant {
        Variant::TinyLfu(knobs) => {
            replay(keys, capacity, &mut tinylfu::TinyLfu::new(capacity, knobs))
        }
        Variant::Lfu(knobs) => replay(keys, capacity, &mut lfu::Lfu::new(knobs)),
        Variant::PerfectLfu => replay(keys, capacity, &mut lfu::PerfectLfu::default()),
    }
}

fn replay(keys: &[u64], capacity: usize, policy: &mut dyn Model) -> u64 {
    let mut slots: HashMap<u64, u32> = HashMap::new();
    let mut hashes: Vec<u64> = Vec::new();
    let mut keys_by_slot: Vec<u64> = Vec::new();
    let mut free: Vec<u32> = Vec::new();
    let mut hits = 0u64;
    for &key in keys {
        let hash = mix(key);
        if let Some(&slot) = slots.get(&key) {
            hits += 1;
            policy.access(slot, hash);
            continue;
        }
        let slot = free.pop().unwrap_or_else(|| {
            keys_by_slot.push(0);
            hashes.push(0);
            (keys_by_slot.len() - 1) as u32
        });
        keys_by_slot[slot as usize] = key;
        hashes[slot as usize] = hash;
        slots.insert(key, slot);
        policy.insert(slot, hash);
        while slots.len() > capacity {
            let Some(victim) = policy.victim(&hashes) else {
                break;
            };
            policy.remove(victim);
            slots.remove(&keys_by_slot[victim as usize]);
            free.push(victim);
        }
    }
    hits
}

/// A stand-in for the store's keyed hash.
fn mix(key: u64) -> u64 {
    let mut z = key
        .wrapping_add(0x5EED_CAC4_E5EE_D000)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use cache_store::PolicyKind;

    use super::*;

    /// The models at their engine settings stay within half a point of the engine. (Only LFU:
    /// the W-TinyLFU model's `ENGINE` knobs are the engine before its adaptive window and 40×
    /// sketch period, kept as the baseline the variants are measured against.)
    #[test]
    fn models_track_the_engine() {
        let keys = super::super::zipf::requests(2000, 1.0, 100_000, 5);
        let model = hits(&keys, 100, Variant::Lfu(LfuKnobs::ENGINE));
        let engine = super::super::engine::hits(&keys, PolicyKind::Lfu, 100).unwrap_or_default();
        let diff = model.abs_diff(engine) as f64 / keys.len() as f64;
        assert!(diff < 0.005, "lfu: model {model} vs engine {engine}");
    }
}
