//! `cache-store/src/policy/lfu.rs`: Redis's logarithmic 8-bit counters, one LRU queue per
//! counter value, every counter halved after `AGING_FACTOR × len` hits.

use super::Model;
use super::list::{Links, List};

const INITIAL: u8 = 5;
const AGING_FACTOR: usize = 10;

/// What differs from the engine's LFU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LfuKnobs {
    /// Aging halves only a counter's excess over `INITIAL`, so a resident that was hit never
    /// ranks below a newcomer (the engine halves the whole counter: 9 becomes 4, under a new
    /// entry's 5).
    pub(crate) age_above_initial: bool,
    /// A counter at `c` grows with probability `1 / ((c - INITIAL) × log_factor + 1)` (engine:
    /// 10, Redis's default; 0 counts every hit up to 255).
    pub(crate) log_factor: f64,
}

impl LfuKnobs {
    /// The engine as it is.
    pub(crate) const ENGINE: LfuKnobs = LfuKnobs {
        age_above_initial: true,
        log_factor: 10.0,
    };
}

#[derive(Debug)]
pub(super) struct Lfu {
    knobs: LfuKnobs,
    links: Links,
    queues: Box<[List; 256]>,
    counters: Vec<u8>,
    len: usize,
    accesses_since_aging: usize,
    rng: u64,
}

impl Lfu {
    pub(super) fn new(knobs: LfuKnobs) -> Lfu {
        Lfu {
            knobs,
            links: Links::default(),
            queues: Box::new([List::EMPTY; 256]),
            counters: Vec::new(),
            len: 0,
            accesses_since_aging: 0,
            rng: 0x1f0 | 1,
        }
    }

    /// xorshift64*, as the engine's `Rng`.
    fn next_f64(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn place(&mut self, slot: u32, counter: u8) {
        if self.counters.len() <= slot as usize {
            self.counters.resize(slot as usize + 1, 0);
        }
        self.counters[slot as usize] = counter;
        self.queues[counter as usize].push_back(&mut self.links, slot);
    }

    fn age(&mut self) {
        let mut old = std::mem::replace(&mut self.queues, Box::new([List::EMPTY; 256]));
        for queue in old.iter_mut() {
            while let Some(slot) = queue.pop_front(&mut self.links) {
                let c = self.counters[slot as usize];
                let aged = if !self.knobs.age_above_initial {
                    c / 2
                } else if c > INITIAL {
                    INITIAL + (c - INITIAL) / 2
                } else {
                    c
                };
                self.place(slot, aged);
            }
        }
        self.accesses_since_aging = 0;
    }
}

impl Model for Lfu {
    fn insert(&mut self, slot: u32, _hash: u64) {
        self.place(slot, INITIAL);
        self.len += 1;
    }

    fn access(&mut self, slot: u32, _hash: u64) {
        let counter = self.counters[slot as usize];
        let base = f64::from(counter.saturating_sub(INITIAL));
        if counter < u8::MAX && self.next_f64() < 1.0 / (base * self.knobs.log_factor + 1.0) {
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

    fn remove(&mut self, slot: u32) {
        let counter = self.counters[slot as usize];
        self.queues[counter as usize].remove(&mut self.links, slot);
        self.len -= 1;
    }

    fn victim(&mut self, _hashes: &[u64]) -> Option<u32> {
        self.queues.iter().find_map(|q| q.front())
    }
}

/// Perfect LFU, the reference for frequency-based policies: exact counts over the whole history
/// (evicted keys included), never aged; the least counted resident goes, least recent among
/// equals. On an independent-reference workload such as Zipf it converges to keeping the most
/// probable keys, the best any online policy can do there.
#[derive(Debug, Default)]
pub(super) struct PerfectLfu {
    counts: std::collections::HashMap<u64, u64>,
    /// (count, last use, slot) of every resident.
    order: std::collections::BTreeSet<(u64, u64, u32)>,
    by_slot: Vec<(u64, u64)>,
    clock: u64,
}

impl PerfectLfu {
    fn touch(&mut self, slot: u32, hash: u64) {
        let count = self.counts.entry(hash).or_insert(0);
        *count += 1;
        self.clock += 1;
        if self.by_slot.len() <= slot as usize {
            self.by_slot.resize(slot as usize + 1, (0, 0));
        }
        self.by_slot[slot as usize] = (*count, self.clock);
        self.order.insert((*count, self.clock, slot));
    }
}

impl Model for PerfectLfu {
    fn insert(&mut self, slot: u32, hash: u64) {
        self.touch(slot, hash);
    }

    fn access(&mut self, slot: u32, hash: u64) {
        self.remove(slot);
        self.touch(slot, hash);
    }

    fn remove(&mut self, slot: u32) {
        let (count, used) = self.by_slot[slot as usize];
        self.order.remove(&(count, used, slot));
    }

    fn victim(&mut self, _hashes: &[u64]) -> Option<u32> {
        self.order.first().map(|&(_, _, slot)| slot)
    }
}
