//! Least-frequently-used order with Redis's logarithmic 8-bit counters.
//!
//! Each entry has a counter that starts at [`INITIAL`] and grows with probability
//! `1 / ((counter - INITIAL) * LOG_FACTOR + 1)` per access, so 255 stands for about a million
//! hits. Entries sit in one LRU queue per counter value; the victim is the least recently used
//! entry of the lowest non-empty queue. Where Redis decays counters by idle minutes, this halves
//! every counter after each `AGING_FACTOR * len` accesses: the same fading of old popularity,
//! driven by the request stream instead of a clock, so a trace replays identically.

use super::list::{Links, List};
use super::{Entries, Policy, PolicyKind, Rng};

const INITIAL: u8 = 5;
const LOG_FACTOR: f64 = 10.0;
const AGING_FACTOR: usize = 10;

#[derive(Debug)]
pub(crate) struct Lfu {
    links: Links,
    queues: Box<[List; 256]>,
    counters: Vec<u8>,
    len: usize,
    accesses_since_aging: usize,
    rng: Rng,
}

impl Lfu {
    pub(crate) fn new(seed: u64) -> Lfu {
        Lfu {
            links: Links::default(),
            queues: Box::new([List::default(); 256]),
            counters: Vec::new(),
            len: 0,
            accesses_since_aging: 0,
            rng: Rng::new(seed ^ 0x1f0),
        }
    }

    fn place(&mut self, slot: u32, counter: u8) {
        let i = slot as usize;
        if self.counters.len() <= i {
            self.counters.resize(i + 1, 0);
        }
        self.counters[i] = counter;
        self.queues[counter as usize].push_back(&mut self.links, slot);
    }

    fn age(&mut self) {
        let mut old = std::mem::replace(&mut self.queues, Box::new([List::default(); 256]));
        for queue in old.iter_mut() {
            while let Some(slot) = queue.pop_front(&mut self.links) {
                let aged = aged(self.counters[slot as usize]);
                self.place(slot, aged);
            }
        }
        self.accesses_since_aging = 0;
    }
}

/// A counter after one aging: its excess over [`INITIAL`] halved (rounding down), so hot
/// entries fade toward a newcomer's rank but never below it. Counters at or under [`INITIAL`]
/// (none are, as every entry starts there) are left alone.
fn aged(counter: u8) -> u8 {
    if counter > INITIAL {
        INITIAL + (counter - INITIAL) / 2
    } else {
        counter
    }
}

impl Policy for Lfu {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Lfu
    }

    fn insert(&mut self, slot: u32, _hash: u64, _entries: &dyn Entries) {
        self.place(slot, INITIAL);
        self.len += 1;
    }

    fn access(&mut self, slot: u32, _hash: u64, _entries: &dyn Entries) {
        let counter = self.counters[slot as usize];
        let base = f64::from(counter.saturating_sub(INITIAL));
        if counter < u8::MAX && self.rng.next_f64() < 1.0 / (base * LOG_FACTOR + 1.0) {
            self.queues[counter as usize].remove(&mut self.links, slot);
            self.place(slot, counter + 1);
        } else {
            self.queues[counter as usize].move_to_back(&mut self.links, slot);
        }
        self.accesses_since_aging += 1;
        if self.accesses_since_aging >= AGING_FACTOR * self.len.max(16) {
            self.age();
        }
    }

    fn remove(&mut self, slot: u32, _charge: usize) {
        let counter = self.counters[slot as usize];
        self.queues[counter as usize].remove(&mut self.links, slot);
        self.len -= 1;
    }

    fn victim(&mut self, _entries: &dyn Entries) -> Option<u32> {
        self.queues.iter().find_map(|q| q.front())
    }

    fn order(&self) -> Vec<u32> {
        self.queues
            .iter()
            .flat_map(|q| q.iter(&self.links))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aging_halves_only_the_excess_over_initial() {
        assert_eq!(aged(INITIAL), INITIAL);
        assert_eq!(aged(INITIAL + 1), INITIAL);
        assert_eq!(aged(9), 7);
        assert_eq!(aged(u8::MAX), INITIAL + (u8::MAX - INITIAL) / 2);
        assert_eq!(aged(0), 0);
        // Monotone, so aging keeps the order of counters.
        for c in 0..u8::MAX {
            assert!(aged(c) <= aged(c + 1));
        }
    }

    /// Slots are their own hashes; every entry weighs 1.
    struct Unit;

    impl Entries for Unit {
        fn hash(&self, slot: u32) -> u64 {
            u64::from(slot)
        }

        fn charge(&self, _slot: u32) -> usize {
            1
        }
    }

    #[test]
    fn an_aged_hot_entry_still_outranks_a_newcomer() {
        let mut lfu = Lfu::new(1);
        lfu.insert(0, 0, &Unit);
        // Enough hits to raise slot 0 above INITIAL and to trigger aging (at 10 × 16 accesses).
        for _ in 0..AGING_FACTOR * 16 {
            lfu.access(0, 0, &Unit);
        }
        assert!(lfu.counters[0] > INITIAL, "aged to {}", lfu.counters[0]);
        lfu.insert(1, 1, &Unit);
        assert_eq!(lfu.victim(&Unit), Some(1), "the newcomer goes first");
    }
}
