//! Belady's MIN: the hit count of an offline-optimal cache, the ceiling every policy is measured
//! against.
//!
//! On a miss the cache keeps the new key and, when over capacity, drops the resident key whose
//! next use is farthest away (possibly the new key itself: "do not cache"). A backward pass gives
//! every request the index of its key's next request. Those indices are unique, so the resident
//! set is a `BTreeSet` of next-use indices: request `i` hits exactly when `i` is in the set, and
//! the victim is its largest element. A key never used again gets `n + i`, past every real use.

use std::collections::{BTreeSet, HashMap};

/// For each request, the index of the next request of the same key, or `n + i` if none.
fn next_uses(keys: &[u64]) -> Vec<u64> {
    let n = keys.len();
    let mut next = vec![0u64; n];
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for (i, &key) in keys.iter().enumerate().rev() {
        next[i] = match seen.insert(key, i) {
            Some(j) => j as u64,
            None => (n + i) as u64,
        };
    }
    next
}

/// Hits of an optimal cache of `capacity` entries over `keys`, from cold.
pub(crate) fn hits(keys: &[u64], capacity: usize) -> u64 {
    let next = next_uses(keys);
    let mut resident: BTreeSet<u64> = BTreeSet::new();
    let mut hits = 0;
    for (i, &next_use) in next.iter().enumerate() {
        if resident.remove(&(i as u64)) {
            hits += 1;
        }
        resident.insert(next_use);
        if resident.len() > capacity {
            resident.pop_last();
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_checked_sequence() {
        // Capacity 2 over a b c a b c: at the first c, a (next at 3) and b (at 4) are resident
        // and c's next use (5) is farthest, so c is not kept; a and b then hit, c misses.
        assert_eq!(hits(&[1, 2, 3, 1, 2, 3], 2), 2);
        // Capacity 2 over a b c a c b: at c, b's next use (5) is farther than a's (3) and c's
        // (4), so b goes; a and c hit, b misses. (LRU would drop a at c and hit only c.)
        assert_eq!(hits(&[1, 2, 3, 1, 3, 2], 2), 2);
        // Capacity 2 over a b a c b a: c is never used again, so MIN drops c itself and both
        // b and the last a hit, with the a at index 2: 3 hits.
        assert_eq!(hits(&[1, 2, 1, 3, 2, 1], 2), 3);
    }

    #[test]
    fn edge_capacities() {
        let keys = [5, 6, 5, 7, 6, 5, 8, 5];
        assert_eq!(hits(&keys, 0), 0);
        // Room for every key: only first requests miss.
        assert_eq!(hits(&keys, 4), (keys.len() - 4) as u64);
        assert_eq!(hits(&[], 3), 0);
    }

    #[test]
    fn never_worse_than_lru() {
        let keys = super::super::zipf::requests(500, 0.9, 20_000, 11);
        for capacity in [1, 10, 50, 200] {
            let mut lru: Vec<u64> = Vec::new();
            let mut lru_hits = 0;
            for &k in &keys {
                if let Some(p) = lru.iter().position(|&r| r == k) {
                    lru.remove(p);
                    lru_hits += 1;
                } else if lru.len() == capacity {
                    lru.remove(0);
                }
                lru.push(k);
            }
            let min = hits(&keys, capacity);
            assert!(
                min >= lru_hits,
                "capacity {capacity}: min {min} < lru {lru_hits}"
            );
        }
    }
}
