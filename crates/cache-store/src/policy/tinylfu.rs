//! Window TinyLFU (Einziger, Friedman and Manes, "TinyLFU: A Highly Efficient Cache Admission
//! Policy", 2017), weighted by bytes, with a window sized by ghost hits.
//!
//! New entries enter an LRU *window*. When the shard must evict and the window is over its
//! share, the window's oldest entry is a *candidate* for the main area, a segmented LRU of
//! *probation* and *protected* (80% of main) queues. The candidate is admitted only if the
//! frequency sketch ([`FrequencySketch`], halved every 40 × width increments) has seen its key
//! more often than the main area's coldest entry; the loser is the victim. A hit in probation
//! promotes an entry to protected; protected overflow is demoted back to probation. One-hit
//! wonders and scans therefore churn through the window without displacing the popular entries of
//! the main area.
//!
//! # Ties
//!
//! A candidate that only ties the victim loses, except that one whose count is at least
//! [`JITTER_MIN_FREQUENCY`] is admitted with probability 1/128 (from the policy's seeded
//! generator, so runs are deterministic). Without that, an attacker who keeps a victim's count
//! high (hash flooding) could keep every new key out of the main area.
//!
//! # The adaptive window
//!
//! The window's share of the capacity moves between 0.2% and 90%. A small window suits
//! frequency-skewed workloads (the sketch picks what stays); a large one suits workloads whose
//! keys are reused in bursts shortly after they first appear, which the sketch cannot yet tell
//! from one-hit wonders (a database buffer pool, an application object cache). The share is
//! steered as ARC sizes its lists, from *ghosts*, hashes of keys the policy recently evicted,
//! each tagged with who evicted it:
//!
//! * a miss on a key the admission filter rejected as it left the window, and which the sketch
//!   counts at most once ([`RECENCY_MAX_FREQUENCY`]), votes to grow the window: a larger window
//!   would have held it until it came back, and its count says admission will not let it in;
//! * a miss on a key the main area evicted votes to shrink the window, in favour of main.
//!
//! A ghost of a key with a higher count does not vote: that key lost a near tie at the
//! admission boundary, which a larger window does not fix. Without this guard a stationary
//! Zipf workload feeds a loop (boundary keys come back, the window grows, main shrinks, more
//! boundary keys lose), which cost 10 points of hit ratio at 1% there.
//!
//! The votes are not applied one by one: with thousands of them a one-entry step is a random
//! walk whose spread is the size of a small cache. They feed an exponential average `t` in
//! [-1, 1] (weight 1/128 per vote), and each vote moves the window by `2 × t × |t|` times the
//! returning entry's charge. When the votes are balanced, as on Zipf, `t` stays near 0 and the
//! window barely moves; when they agree, as on the recency-heavy traces, it moves by up to two
//! entries per vote. Everything is driven by the request stream: no clocks and no threads.
//!
//! The votes only come from misses on ghosts, so the window moves only as fast as evicted keys
//! return: after a change from a recency-heavy to a frequency-heavy mix, the first sightings of
//! the new keys vote to grow, and the window comes back down over the following evictions of
//! main (in the tests, a million requests; a slow leak toward the minimum was tried and cost the
//! recency-heavy traces more than it saved).
//!
//! A grown window takes its room from main as main's entries are evicted (the victim is main's
//! coldest while the window is under its share); a shrunk one hands its oldest entries to the
//! admission filter one eviction at a time.
//!
//! # Memory
//!
//! Per entry: 8 bytes of queue links, 1 byte of region, the sketch's 8 to 16 bytes (one 64-bit
//! word per entry, rounded up to a power of two) and the ghost table's 1 to 2 bytes (16-bit tags,
//! one slot per two entries, rounded up to a power of two, at least 64 slots). The ghost table
//! is direct-mapped: a new ghost overwrites whatever shared its slot, so it holds about the last
//! `len / 2` evictions, and a lookup is one probe. A tag is 15 bits of fingerprint and one bit
//! of evictor, so a key that was never evicted matches a stale tag with probability 2^-15.

use super::list::{Links, List};
use super::sketch::FrequencySketch;
use super::{Entries, Policy, PolicyKind, Rng};

/// Bounds of the window's share, in thousandths of the capacity.
const MIN_WINDOW_PER_MILLE: usize = 2;
const MAX_WINDOW_PER_MILLE: usize = 900;
/// Protected's share of the main area, in thousandths.
const PROTECTED_PER_MILLE: usize = 800;
/// A rejected window entry that comes back counted at most this often votes to grow the window.
const RECENCY_MAX_FREQUENCY: u8 = 1;
/// The vote average gives each new vote a weight of `2^-TREND_SHIFT`.
const TREND_SHIFT: u32 = 7;
/// One in fixed point (Q16) for the vote average.
const ONE: i64 = 1 << 16;
/// A vote moves the window by up to this many charges of the returning entry.
const STEP_CHARGES: i64 = 2;
/// Candidates counted at least this often win a tie with probability 1/128.
const JITTER_MIN_FREQUENCY: u8 = 6;

/// `per_mille`‰ of `bytes`, without overflow for huge budgets.
fn per_mille(bytes: usize, per_mille: usize) -> usize {
    (bytes as u128 * per_mille as u128 / 1000) as usize
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Region {
    Window,
    Probation,
    Protected,
}

/// Who evicted a ghost's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Evictor {
    /// The admission filter rejected it as it left the window.
    Window = 0,
    /// It was the main area's victim.
    Main = 1,
}

/// Recently evicted keys: a direct-mapped table of 16-bit tags (15 bits of fingerprint, 1 bit
/// of evictor; 0 is an empty slot).
#[derive(Debug, Default)]
struct Ghosts {
    table: Vec<u16>,
}

impl Ghosts {
    /// Grows the table to `slots` (rounded up to a power of two, at least 64). Growing forgets
    /// the ghosts, which only happens while the shard fills up.
    fn ensure_capacity(&mut self, slots: usize) {
        let want = slots.next_power_of_two().max(64);
        if want > self.table.len() {
            self.table = vec![0; want];
        }
    }

    /// The slot and the evictor-less tag of `hash`.
    fn locate(&self, hash: u64) -> (usize, u16) {
        let h = hash.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        let slot = (h >> 32) as usize & (self.table.len() - 1);
        let fingerprint = (h & 0x7FFF) as u16 % 0x7FFF + 1;
        (slot, fingerprint << 1)
    }

    fn add(&mut self, hash: u64, by: Evictor) {
        let (slot, tag) = self.locate(hash);
        self.table[slot] = tag | by as u16;
    }

    /// Takes the ghost of `hash` out, if there is one: who evicted it.
    fn take(&mut self, hash: u64) -> Option<Evictor> {
        let (slot, tag) = self.locate(hash);
        let found = self.table[slot];
        if found & !1 != tag {
            return None;
        }
        self.table[slot] = 0;
        Some(if found & 1 == 0 {
            Evictor::Window
        } else {
            Evictor::Main
        })
    }
}

#[derive(Debug)]
pub(crate) struct WTinyLfu {
    links: Links,
    queues: [List; 3],
    bytes: [usize; 3],
    regions: Vec<Region>,
    pub(super) sketch: FrequencySketch,
    ghosts: Ghosts,
    rng: Rng,
    len: usize,
    capacity: usize,
    window_capacity: usize,
    protected_capacity: usize,
    /// Average of the window votes (+1 grow, -1 shrink), in Q16.
    trend: i64,
    /// The part of the window's last moves smaller than a byte, in Q16 bytes.
    step_fraction: i64,
}

impl WTinyLfu {
    pub(crate) fn new(capacity: usize, seed: u64) -> WTinyLfu {
        let mut policy = WTinyLfu {
            links: Links::default(),
            queues: [List::default(); 3],
            bytes: [0; 3],
            regions: Vec::new(),
            sketch: FrequencySketch::new(),
            ghosts: Ghosts::default(),
            rng: Rng::new(seed ^ 0x7f1),
            len: 0,
            capacity: 0,
            window_capacity: 0,
            protected_capacity: 0,
            trend: 0,
            step_fraction: 0,
        };
        policy.set_capacity(capacity);
        policy
    }

    /// The window's share in bytes.
    #[cfg(test)]
    pub(crate) fn window_capacity(&self) -> usize {
        self.window_capacity
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
            let Some(slot) = self.queues[Region::Protected as usize].front() else {
                break;
            };
            self.move_to(Region::Probation, slot, entries);
        }
    }

    fn main_front(&self) -> Option<u32> {
        self.queues[Region::Probation as usize]
            .front()
            .or_else(|| self.queues[Region::Protected as usize].front())
    }

    /// Sets the window's share (within its bounds) and main's split to match.
    fn set_window(&mut self, bytes: usize) {
        let min = per_mille(self.capacity, MIN_WINDOW_PER_MILLE);
        let max = per_mille(self.capacity, MAX_WINDOW_PER_MILLE);
        self.window_capacity = bytes.clamp(min, max);
        self.protected_capacity =
            per_mille(self.capacity - self.window_capacity, PROTECTED_PER_MILLE);
    }

    /// A key the shard did not have is being inserted: if it is a ghost, it votes on the
    /// window's size (see the module docs).
    fn vote(&mut self, hash: u64, charge: usize) {
        let vote = match self.ghosts.take(hash) {
            None => return,
            Some(Evictor::Window) if self.sketch.frequency(hash) <= RECENCY_MAX_FREQUENCY => ONE,
            Some(Evictor::Window) => return,
            Some(Evictor::Main) => -ONE,
        };
        self.trend += (vote - self.trend) >> TREND_SHIFT;
        let push = self.trend * self.trend.abs() / ONE;
        self.nudge(i128::from(STEP_CHARGES * push) * charge as i128);
    }

    /// Moves the window by `q16` bytes in Q16 (negative shrinks); the fraction of a byte
    /// carries over, so small charges move the window too.
    fn nudge(&mut self, q16: i128) {
        let step = q16 + i128::from(self.step_fraction);
        let whole = step / i128::from(ONE);
        self.step_fraction = (step - whole * i128::from(ONE)) as i64;
        let bytes = usize::try_from(whole.unsigned_abs()).unwrap_or(usize::MAX);
        if whole >= 0 {
            self.set_window(self.window_capacity.saturating_add(bytes));
        } else {
            self.set_window(self.window_capacity.saturating_sub(bytes));
        }
    }

    /// Whether the window's `candidate` should replace main's `victim`.
    pub(super) fn admit(&mut self, candidate: u64, victim: u64) -> bool {
        let c = self.sketch.frequency(candidate);
        let v = self.sketch.frequency(victim);
        c > v || (c == v && c >= JITTER_MIN_FREQUENCY && self.rng.next_u64() & 127 == 0)
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
        self.ghosts.ensure_capacity(self.len / 2);
        self.vote(hash, charge);
        self.sketch.increment(hash);
        self.push(Region::Window, slot, charge);
        // While the shard is below its capacity, the window's overflow joins the main area
        // uncontested; once it is full, the overflow waits in the window for `victim` to
        // weigh it against the main area's coldest entry.
        while self.bytes[Region::Window as usize] > self.window_capacity
            && self.bytes.iter().sum::<usize>() <= self.capacity
        {
            let Some(oldest) = self.queues[Region::Window as usize].front() else {
                break;
            };
            self.move_to(Region::Probation, oldest, entries);
        }
    }

    fn access(&mut self, slot: u32, hash: u64, entries: &dyn Entries) {
        self.sketch.increment(hash);
        match self.regions[slot as usize] {
            Region::Window => {
                self.queues[Region::Window as usize].move_to_back(&mut self.links, slot)
            }
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
                // The window is within its share: main gives up its coldest (or, with main
                // empty, the window its oldest).
                if let Some(victim) = self.main_front() {
                    self.ghosts.add(entries.hash(victim), Evictor::Main);
                    return Some(victim);
                }
                return self.queues[Region::Window as usize].front();
            };
            let Some(victim) = self.main_front() else {
                // Nothing to compete with yet: the window's overflow simply moves to main.
                self.move_to(Region::Probation, candidate, entries);
                continue;
            };
            let (c, v) = (entries.hash(candidate), entries.hash(victim));
            if self.admit(c, v) {
                self.move_to(Region::Probation, candidate, entries);
                self.ghosts.add(v, Evictor::Main);
                return Some(victim);
            }
            self.ghosts.add(c, Evictor::Window);
            return Some(candidate);
        }
    }

    fn set_capacity(&mut self, bytes: usize) {
        let bytes = if bytes == 0 { usize::MAX / 2 } else { bytes };
        // The window keeps its share of the capacity (the minimum for a new policy).
        let window = if self.capacity == 0 {
            0
        } else {
            (self.window_capacity as u128 * bytes as u128 / self.capacity as u128) as usize
        };
        self.capacity = bytes;
        self.set_window(window);
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
