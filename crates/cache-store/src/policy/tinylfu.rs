//! Window TinyLFU (Einziger, Friedman and Manes, "TinyLFU: A Highly Efficient Cache Admission
//! Policy", 2017), weighted by bytes.
//!
//! New entries enter a small LRU *window* (1% of the capacity). When the shard must evict and
//! the window is over its share, the window's oldest entry is a *candidate* for the main area,
//! a segmented LRU of *probation* and *protected* (80% of main) queues. The candidate is
//! admitted only if the frequency sketch has seen its key more often than the main area's
//! coldest entry; the loser is the victim. A hit in probation promotes an entry to protected;
//! protected overflow is demoted back to probation. One-hit wonders and scans therefore churn
//! through the window without displacing the popular entries of the main area.

use super::list::{Links, List};
use super::sketch::FrequencySketch;
use super::{Entries, Policy, PolicyKind};

const WINDOW_PERCENT: usize = 1;
const PROTECTED_PERCENT: usize = 80;

/// `percent`% of `bytes`, without overflow for huge budgets or zero for small ones.
fn percent(bytes: usize, percent: usize) -> usize {
    (bytes as u128 * percent as u128 / 100) as usize
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Region {
    Window,
    Probation,
    Protected,
}

#[derive(Debug)]
pub(crate) struct WTinyLfu {
    links: Links,
    queues: [List; 3],
    bytes: [usize; 3],
    regions: Vec<Region>,
    sketch: FrequencySketch,
    len: usize,
    capacity: usize,
    window_capacity: usize,
    protected_capacity: usize,
}

impl WTinyLfu {
    pub(crate) fn new(capacity: usize) -> WTinyLfu {
        let mut policy = WTinyLfu {
            links: Links::default(),
            queues: [List::default(); 3],
            bytes: [0; 3],
            regions: Vec::new(),
            sketch: FrequencySketch::new(),
            len: 0,
            capacity: 0,
            window_capacity: 0,
            protected_capacity: 0,
        };
        policy.set_capacity(capacity);
        policy
    }

    fn push(&mut self, region: Region, slot: u32, charge: usize) {
        let i = slot as usize;
        if self.regions.len() <= i {
            self.regions.resize(i + 1, Region::Window);
        }
        self.regions[i] = region;
        self.queues[region as usize].push_back(&mut self.links, slot);
        self.bytes[region as usize] += charge;
    }

    fn unlink(&mut self, slot: u32, charge: usize) -> Region {
        let region = self.regions[slot as usize];
        self.queues[region as usize].remove(&mut self.links, slot);
        self.bytes[region as usize] -= charge;
        region
    }

    fn move_to(&mut self, region: Region, slot: u32, entries: &dyn Entries) {
        let charge = entries.charge(slot);
        self.unlink(slot, charge);
        self.push(region, slot, charge);
    }

    /// Demotes protected entries to probation until protected fits its share.
    fn rebalance_protected(&mut self, entries: &dyn Entries) {
        while self.bytes[Region::Protected as usize] > self.protected_capacity
            && self.queues[Region::Protected as usize].len() > 1
        {
            let Some(slot) = self.queues[Region::Protected as usize].front() else { break };
            self.move_to(Region::Probation, slot, entries);
        }
    }

    fn main_front(&self) -> Option<u32> {
        self.queues[Region::Probation as usize]
            .front()
            .or_else(|| self.queues[Region::Protected as usize].front())
    }
}

impl Policy for WTinyLfu {
    fn kind(&self) -> PolicyKind {
        PolicyKind::WTinyLfu
    }

    fn insert(&mut self, slot: u32, hash: u64, entries: &dyn Entries) {
        let charge = entries.charge(slot);
        self.len += 1;
        self.sketch.ensure_capacity(self.len);
        self.sketch.increment(hash);
        self.push(Region::Window, slot, charge);
        // While the shard is below its capacity, the window's overflow joins the main area
        // uncontested; once it is full, the overflow waits in the window for `victim` to
        // weigh it against the main area's coldest entry.
        while self.bytes[Region::Window as usize] > self.window_capacity
            && self.bytes.iter().sum::<usize>() <= self.capacity
        {
            let Some(oldest) = self.queues[Region::Window as usize].front() else { break };
            self.move_to(Region::Probation, oldest, entries);
        }
    }

    fn access(&mut self, slot: u32, hash: u64, entries: &dyn Entries) {
        self.sketch.increment(hash);
        match self.regions[slot as usize] {
            Region::Window => self.queues[Region::Window as usize].move_to_back(&mut self.links, slot),
            Region::Protected => {
                self.queues[Region::Protected as usize].move_to_back(&mut self.links, slot)
            }
            Region::Probation => {
                self.move_to(Region::Protected, slot, entries);
                self.rebalance_protected(entries);
            }
        }
    }

    fn recharge(&mut self, slot: u32, old: usize, new: usize) {
        let region = self.regions[slot as usize] as usize;
        self.bytes[region] = self.bytes[region] - old + new;
    }

    fn remove(&mut self, slot: u32, charge: usize) {
        self.unlink(slot, charge);
        self.len -= 1;
    }

    fn victim(&mut self, entries: &dyn Entries) -> Option<u32> {
        loop {
            let window = &self.queues[Region::Window as usize];
            let over = self.bytes[Region::Window as usize] > self.window_capacity;
            let Some(candidate) = window.front().filter(|_| over) else {
                return self.main_front().or_else(|| self.queues[Region::Window as usize].front());
            };
            let Some(victim) = self.main_front() else {
                // Nothing to compete with yet: the window's overflow simply moves to main.
                self.move_to(Region::Probation, candidate, entries);
                continue;
            };
            let admit = self.sketch.frequency(entries.hash(candidate))
                > self.sketch.frequency(entries.hash(victim));
            if admit {
                self.move_to(Region::Probation, candidate, entries);
                return Some(victim);
            }
            return Some(candidate);
        }
    }

    fn set_capacity(&mut self, bytes: usize) {
        let bytes = if bytes == 0 { usize::MAX / 2 } else { bytes };
        self.capacity = bytes;
        self.window_capacity = percent(bytes, WINDOW_PERCENT);
        self.protected_capacity = percent(bytes - self.window_capacity, PROTECTED_PERCENT);
    }

    fn order(&self) -> Vec<u32> {
        let [window, probation, protected] = &self.queues;
        probation
            .iter(&self.links)
            .chain(protected.iter(&self.links))
            .chain(window.iter(&self.links))
            .collect()
    }
}
