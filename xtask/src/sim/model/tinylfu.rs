//! `cache-store/src/policy/tinylfu.rs` and `sketch.rs` with unit charges: a 1% LRU window, a
//! segmented-LRU main area (80% protected) and a count-min sketch of 4-bit counters halved every
//! `10 × width` increments. Knobs change the sketch (sample period, exact counts) or make the
//! window adaptive: by hill climbing on the hit ratio (as Caffeine does), or from ghost hits (as
//! ARC sizes its lists).

use std::collections::{HashMap, VecDeque};

use super::Model;
use super::list::{Links, List};

/// What differs from the engine's W-TinyLFU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TinyLfuKnobs {
    /// The sketch halves its counters after `sample_factor × width` increments (engine: 10).
    pub(crate) sample_factor: usize,
    /// Exact per-key counts (4-bit, halved on the same schedule) instead of the sketch: shows
    /// what sketch collisions cost.
    pub(crate) exact: bool,
    /// Resize the window by hill climbing on the hit ratio (Caffeine's climber), every
    /// `max(climb_sample × capacity, climb_min)` requests, between one entry and all but one.
    pub(crate) adaptive: bool,
    pub(crate) climb_sample: usize,
    pub(crate) climb_min: usize,
    /// Resize the window as ARC sizes its lists: a miss on a key the window recently rejected
    /// grows it, a miss on a key main recently evicted shrinks it. The ghosts are key hashes,
    /// `capacity` of each.
    pub(crate) ghosts: bool,
    /// Each ghost list holds as many hashes as its area holds entries (not `capacity`), so a
    /// ghost hit means "twice this area would have hit", alike for both areas.
    pub(crate) ghosts_scaled: bool,
    /// A window-ghost hit grows the window only if the sketch counts the key at most this
    /// often: a frequent key the window rejected lost a tie, which a bigger window does not fix.
    pub(crate) ghost_max_frequency: u8,
}

impl TinyLfuKnobs {
    /// The engine before its adaptive window (fixed 1% window, 10 × width sample period).
    pub(crate) const ENGINE: TinyLfuKnobs = TinyLfuKnobs {
        sample_factor: 10,
        exact: false,
        adaptive: false,
        climb_sample: 10,
        climb_min: 0,
        ghosts: false,
        ghosts_scaled: false,
        ghost_max_frequency: 15,
    };
}

const SEEDS: [u64; 4] = [
    0x9E37_79B9_7F4A_7C15,
    0xC2B2_AE3D_27D4_EB4F,
    0x1656_67B1_9E37_79F9,
    0x85EB_CA77_C2B2_AE63,
];
const RESET_MASK: u64 = 0x7777_7777_7777_7777;

/// The engine's count-min sketch (conservative update, grows by doubling, halves periodically).
#[derive(Debug)]
struct Sketch {
    table: Vec<u64>,
    additions: usize,
    sample_factor: usize,
    exact: Option<HashMap<u64, u8>>,
}

impl Sketch {
    fn ensure_capacity(&mut self, entries: usize) {
        let want = entries.next_power_of_two();
        while want > self.table.len() {
            self.table.extend_from_within(..);
        }
    }

    fn positions(&self, hash: u64) -> [(usize, u32); 4] {
        let mask = self.table.len() - 1;
        std::array::from_fn(|i| {
            let mut h = (hash ^ SEEDS[i]).wrapping_mul(SEEDS[(i + 1) % 4]);
            h ^= h >> 29;
            ((h as usize) & mask, ((h >> 58) as u32 & 15) * 4)
        })
    }

    fn frequency(&self, hash: u64) -> u8 {
        if let Some(exact) = &self.exact {
            return exact.get(&hash).copied().unwrap_or(0);
        }
        self.positions(hash)
            .iter()
            .map(|&(word, shift)| ((self.table[word] >> shift) & 15) as u8)
            .min()
            .unwrap_or(0)
    }

    fn increment(&mut self, hash: u64) {
        if let Some(exact) = &mut self.exact {
            let count = exact.entry(hash).or_insert(0);
            if *count < 15 {
                *count += 1;
                self.added();
            }
            return;
        }
        let positions = self.positions(hash);
        let min = positions
            .iter()
            .map(|&(w, s)| (self.table[w] >> s) & 15)
            .min()
            .unwrap_or(0);
        if min == 15 {
            return;
        }
        for (word, shift) in positions {
            if (self.table[word] >> shift) & 15 == min {
                self.table[word] += 1 << shift;
            }
        }
        self.added();
    }

    fn added(&mut self) {
        self.additions += 1;
        if self.additions >= self.sample_factor * self.table.len() {
            for word in &mut self.table {
                *word = (*word >> 1) & RESET_MASK;
            }
            if let Some(exact) = &mut self.exact {
                exact.retain(|_, c| {
                    *c /= 2;
                    *c > 0
                });
            }
            self.additions /= 2;
        }
    }
}

/// Recently evicted key hashes, oldest first, at most `capacity` live ones.
#[derive(Debug, Default)]
struct Ghosts {
    /// Hashes with the sequence number they were added at; an entry whose hash was taken or
    /// added again since is stale and skipped.
    order: VecDeque<(u64, u64)>,
    live: HashMap<u64, u64>,
    seq: u64,
}

impl Ghosts {
    fn len(&self) -> usize {
        self.live.len()
    }

    fn add(&mut self, hash: u64, capacity: usize) {
        self.seq += 1;
        self.order.push_back((hash, self.seq));
        self.live.insert(hash, self.seq);
        while self.live.len() > capacity {
            let Some((old, seq)) = self.order.pop_front() else {
                break;
            };
            if self.live.get(&old) == Some(&seq) {
                self.live.remove(&old);
            }
        }
        if self.order.len() > 2 * self.live.len() + 64 {
            let live = &self.live;
            self.order.retain(|(h, seq)| live.get(h) == Some(seq));
        }
    }

    /// Takes `hash` out if present.
    fn take(&mut self, hash: u64) -> bool {
        self.live.remove(&hash).is_some()
    }
}

const WINDOW: usize = 0;
const PROBATION: usize = 1;
const PROTECTED: usize = 2;

/// Caffeine's hill climber constants (`BoundedLocalCache`).
const CLIMBER_RESTART_THRESHOLD: f64 = 0.05;
const CLIMBER_STEP_PERCENT: f64 = 0.0625;
const CLIMBER_STEP_DECAY: f64 = 0.98;

/// W-TinyLFU in entries (every charge is 1).
#[derive(Debug)]
pub(super) struct TinyLfu {
    knobs: TinyLfuKnobs,
    links: Links,
    queues: [List; 3],
    sizes: [usize; 3],
    regions: Vec<usize>,
    sketch: Sketch,
    capacity: usize,
    window_capacity: usize,
    protected_capacity: usize,
    sample_hits: usize,
    sample_misses: usize,
    previous_hit_ratio: f64,
    /// The next window change in entries (negative shrinks).
    step: f64,
    window_ghosts: Ghosts,
    main_ghosts: Ghosts,
}

impl TinyLfu {
    pub(super) fn new(capacity: usize, knobs: TinyLfuKnobs) -> TinyLfu {
        // The engine takes 1% of the byte budget; whole entries here.
        let window_capacity = capacity / 100;
        TinyLfu {
            knobs,
            links: Links::default(),
            queues: [List::EMPTY; 3],
            sizes: [0; 3],
            regions: Vec::new(),
            sketch: Sketch {
                table: vec![0; 64],
                additions: 0,
                sample_factor: knobs.sample_factor,
                exact: knobs.exact.then(HashMap::new),
            },
            capacity,
            window_capacity,
            protected_capacity: (capacity - window_capacity) * 80 / 100,
            sample_hits: 0,
            sample_misses: 0,
            previous_hit_ratio: 0.0,
            step: -CLIMBER_STEP_PERCENT * capacity as f64,
            window_ghosts: Ghosts::default(),
            main_ghosts: Ghosts::default(),
        }
    }

    fn push(&mut self, region: usize, slot: u32) {
        if self.regions.len() <= slot as usize {
            self.regions.resize(slot as usize + 1, WINDOW);
        }
        self.regions[slot as usize] = region;
        self.queues[region].push_back(&mut self.links, slot);
        self.sizes[region] += 1;
    }

    fn unlink(&mut self, slot: u32) {
        let region = self.regions[slot as usize];
        self.queues[region].remove(&mut self.links, slot);
        self.sizes[region] -= 1;
    }

    fn move_to(&mut self, region: usize, slot: u32) {
        self.unlink(slot);
        self.push(region, slot);
    }

    fn len(&self) -> usize {
        self.sizes.iter().sum()
    }

    fn rebalance_protected(&mut self) {
        while self.sizes[PROTECTED] > self.protected_capacity {
            let Some(slot) = self.queues[PROTECTED].front() else {
                break;
            };
            if self.queues[PROTECTED].is_back(slot) {
                break;
            }
            self.move_to(PROBATION, slot);
        }
    }

    fn main_front(&self) -> Option<u32> {
        self.queues[PROBATION]
            .front()
            .or_else(|| self.queues[PROTECTED].front())
    }

    /// Every sample, step the window's share in the direction that last raised the hit ratio;
    /// the step decays while the ratio is steady and restarts when it jumps.
    fn climb(&mut self) {
        let requests = self.sample_hits + self.sample_misses;
        let sample = (self.knobs.climb_sample * self.capacity).max(self.knobs.climb_min);
        if !self.knobs.adaptive || requests < sample {
            return;
        }
        let ratio = self.sample_hits as f64 / requests as f64;
        let change = ratio - self.previous_hit_ratio;
        let amount = if change >= 0.0 { self.step } else { -self.step };
        self.step = if change.abs() >= CLIMBER_RESTART_THRESHOLD {
            CLIMBER_STEP_PERCENT * self.capacity as f64 * amount.signum()
        } else {
            CLIMBER_STEP_DECAY * amount
        };
        self.previous_hit_ratio = ratio;
        self.sample_hits = 0;
        self.sample_misses = 0;
        let target = (self.window_capacity as f64 + amount).round().max(1.0) as usize;
        self.resize_window(target);
    }

    fn window_ghost_capacity(&self) -> usize {
        if self.knobs.ghosts_scaled {
            self.window_capacity
        } else {
            self.capacity
        }
    }

    fn main_ghost_capacity(&self) -> usize {
        if self.knobs.ghosts_scaled {
            self.capacity - self.window_capacity
        } else {
            self.capacity
        }
    }

    /// Sets the window's share (kept within one entry and all but one) and moves entries at
    /// once, as Caffeine does: the coldest of main into a grown window, the oldest of a shrunk
    /// window into probation.
    fn resize_window(&mut self, target: usize) {
        self.window_capacity = target.clamp(1, self.capacity.saturating_sub(1).max(1));
        self.protected_capacity = (self.capacity - self.window_capacity) * 80 / 100;
        while self.sizes[WINDOW] < self.window_capacity {
            let Some(slot) = self.main_front() else { break };
            self.move_to(WINDOW, slot);
        }
        while self.sizes[WINDOW] > self.window_capacity {
            let Some(slot) = self.queues[WINDOW].front() else {
                break;
            };
            self.move_to(PROBATION, slot);
        }
        self.rebalance_protected();
    }
}

impl Model for TinyLfu {
    fn insert(&mut self, slot: u32, hash: u64) {
        if self.knobs.ghosts {
            // ARC's step: one entry, or the ratio of the ghost lists when the other is larger.
            let (w, m) = (
                self.window_ghosts.len().max(1),
                self.main_ghosts.len().max(1),
            );
            if self.window_ghosts.take(hash) {
                if self.sketch.frequency(hash) <= self.knobs.ghost_max_frequency {
                    self.resize_window(self.window_capacity + (m / w).max(1));
                }
            } else if self.main_ghosts.take(hash) {
                self.resize_window(self.window_capacity.saturating_sub((w / m).max(1)));
            }
        }
        self.sketch.ensure_capacity(self.len() + 1);
        self.sketch.increment(hash);
        self.push(WINDOW, slot);
        // Below capacity, window overflow joins main uncontested (the engine's warm-up).
        while self.sizes[WINDOW] > self.window_capacity && self.len() <= self.capacity {
            let Some(oldest) = self.queues[WINDOW].front() else {
                break;
            };
            self.move_to(PROBATION, oldest);
        }
        self.sample_misses += 1;
        self.climb();
    }

    fn access(&mut self, slot: u32, hash: u64) {
        self.sketch.increment(hash);
        match self.regions[slot as usize] {
            PROBATION => {
                self.move_to(PROTECTED, slot);
                self.rebalance_protected();
            }
            region => self.queues[region].move_to_back(&mut self.links, slot),
        }
        self.sample_hits += 1;
        self.climb();
    }

    fn remove(&mut self, slot: u32) {
        self.unlink(slot);
    }

    fn victim(&mut self, hashes: &[u64]) -> Option<u32> {
        loop {
            let over = self.sizes[WINDOW] > self.window_capacity;
            let Some(candidate) = self.queues[WINDOW].front().filter(|_| over) else {
                let victim = self.main_front().or_else(|| self.queues[WINDOW].front());
                if let Some(v) = victim {
                    self.main_ghosts
                        .add(hashes[v as usize], self.main_ghost_capacity());
                }
                return victim;
            };
            let Some(victim) = self.main_front() else {
                self.move_to(PROBATION, candidate);
                continue;
            };
            let (c, v) = (hashes[candidate as usize], hashes[victim as usize]);
            if self.sketch.frequency(c) > self.sketch.frequency(v) {
                self.move_to(PROBATION, candidate);
                self.main_ghosts.add(v, self.main_ghost_capacity());
                return Some(victim);
            }
            self.window_ghosts.add(c, self.window_ghost_capacity());
            return Some(candidate);
        }
    }
}
