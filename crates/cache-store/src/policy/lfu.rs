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
                let halved = self.counters[slot as usize] / 2;
                self.place(slot, halved);
            }
        }
        self.accesses_since_aging = 0;
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
        self.queues.iter().flat_map(|q| q.iter(&self.links)).collect()
    }
}
