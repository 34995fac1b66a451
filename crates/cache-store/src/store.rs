//! The sharded store: the public operations, the byte budget and the policy switch.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use foldhash::fast::FixedState;
use parking_lot::{Mutex, MutexGuard};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::journal::{Change, EvictionSink, Journal};
use crate::number::{format_f64, parse_f64, parse_i64};
use crate::options::{
    ExpireCondition, ExpiryChange, KeyTtl, SetCondition, SetOptions, SetOutcome, StoreStats,
};
use crate::policy::PolicyKind;
use crate::record::{Record, entry_charge};
use crate::shard::Shard;

/// How a store is built.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Number of shards, rounded up to a power of two. More shards, less lock contention.
    pub shards: usize,
    /// The byte budget; 0 means unbounded.
    pub max_memory: usize,
    /// The eviction policy.
    pub policy: PolicyKind,
    /// Seed of the key hasher and of the policies' random choices. `None` draws a random seed
    /// per process, which is what a server wants (keys cannot be crafted to collide); a fixed
    /// seed makes the store deterministic, which is what a simulator wants.
    pub hash_seed: Option<u64>,
    /// The largest value `APPEND` or `INCRBYFLOAT` may build, in bytes.
    pub max_value_len: usize,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            shards: 16,
            max_memory: 0,
            policy: PolicyKind::default(),
            hash_seed: None,
            max_value_len: 64 << 20,
        }
    }
}

/// The in-memory key-value engine. Every method takes `&self`; the store is shared by threads.
#[derive(Debug)]
pub struct Store {
    shards: Box<[Mutex<Shard>]>,
    shard_mask: usize,
    hasher: FixedState,
    used: Arc<AtomicUsize>,
    max_memory: AtomicUsize,
    policy: AtomicU8,
    /// Serializes policy and budget changes against each other.
    admin: Mutex<()>,
    clock: Arc<dyn Clock>,
    max_value_len: usize,
    expire_cursor: AtomicUsize,
    evict_cursor: AtomicUsize,
    /// Told of every change once attached (after recovery has loaded the store).
    journal: OnceLock<Arc<dyn Journal>>,
    eviction_sink: OnceLock<Arc<dyn EvictionSink>>,
}

const POLICY_BY_CODE: [PolicyKind; 4] = PolicyKind::ALL;

fn policy_code(kind: PolicyKind) -> u8 {
    POLICY_BY_CODE.iter().position(|&k| k == kind).unwrap_or(0) as u8
}

impl Store {
    /// A store on the system clock.
    pub fn new(config: StoreConfig) -> Store {
        Store::with_clock(config, Arc::new(SystemClock))
    }

    /// A store that reads time from `clock`.
    pub fn with_clock(config: StoreConfig, clock: Arc<dyn Clock>) -> Store {
        let seed = config.hash_seed.unwrap_or_else(|| {
            // A per-process random seed: foldhash's RandomState is seeded from the OS.
            foldhash::fast::RandomState::default().hash_one(0x5eed_u64)
        });
        let hasher = FixedState::with_seed(seed);
        let count = config.shards.clamp(1, 1 << 12).next_power_of_two();
        let used = Arc::new(AtomicUsize::new(0));
        let capacity = config.max_memory / count;
        let shards = (0..count)
            .map(|i| {
                let shard_seed = seed
                    .wrapping_add(i as u64)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15);
                Mutex::new(Shard::new(
                    hasher.clone(),
                    config.policy,
                    capacity,
                    shard_seed,
                    used.clone(),
                ))
            })
            .collect();
        Store {
            shards,
            shard_mask: count - 1,
            hasher,
            used,
            max_memory: AtomicUsize::new(config.max_memory),
            policy: AtomicU8::new(policy_code(config.policy)),
            admin: Mutex::new(()),
            clock,
            max_value_len: config.max_value_len,
            expire_cursor: AtomicUsize::new(0),
            evict_cursor: AtomicUsize::new(0),
            journal: OnceLock::new(),
            eviction_sink: OnceLock::new(),
        }
    }

    /// From now on, tells `journal` of every change (see [`Journal`]). A store has at most one
    /// journal; a second is refused and handed back.
    pub fn attach_journal(
        &self,
        journal: Arc<dyn Journal>,
    ) -> std::result::Result<(), Arc<dyn Journal>> {
        self.journal.set(journal)
    }

    fn journal(&self, change: Change<'_>) {
        if let Some(journal) = self.journal.get() {
            journal.record(change);
        }
    }

    /// From now on, hands every evicted entry to `sink` (a disk tier keeps them). A store has
    /// at most one sink; a second is refused and handed back.
    pub fn attach_eviction_sink(
        &self,
        sink: Arc<dyn EvictionSink>,
    ) -> std::result::Result<(), Arc<dyn EvictionSink>> {
        self.eviction_sink.set(sink)
    }

    /// Evicts from the locked `shard` while the store is over budget. An eviction is a change
    /// (a delete) for the journal: a key evicted and then deleted must not come back on replay.
    fn evict_while_over(&self, shard: &mut Shard) {
        let sink = self.eviction_sink.get();
        while self.over_budget() {
            let Some(record) = shard.evict_one(|key| sink.is_none_or(|s| s.may_evict(key))) else {
                return;
            };
            let key = record.key();
            if let Some(sink) = sink {
                sink.evicted(key, record.value(), record.expiry());
            }
            self.journal(Change::Delete { key });
        }
    }

    /// The current time of the store's clock, in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn shard_of(&self, hash: u64) -> usize {
        (hash >> 48) as usize & self.shard_mask
    }

    fn lock(&self, hash: u64) -> MutexGuard<'_, Shard> {
        self.shards[self.shard_of(hash)].lock()
    }

    /// The eviction policy.
    pub fn policy(&self) -> PolicyKind {
        POLICY_BY_CODE[self.policy.load(Ordering::Relaxed) as usize]
    }

    /// The byte budget (0 = unbounded).
    pub fn max_memory(&self) -> usize {
        self.max_memory.load(Ordering::Relaxed)
    }

    /// Bytes charged to entries.
    pub fn used_memory(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn over_budget(&self) -> bool {
        let max = self.max_memory();
        max != 0 && self.used_memory() > max
    }

    /// Refuses a write that would grow memory by `grow` bytes past the budget under
    /// `noeviction`.
    fn admit(&self, grow: isize) -> Result<()> {
        let max = self.max_memory();
        if grow > 0
            && max != 0
            && self.policy() == PolicyKind::NoEviction
            && self.used_memory() + grow as usize > max
        {
            return Err(Error::OutOfMemory);
        }
        Ok(())
    }

    /// Evicts from the locked shard while over budget, then from the others if it ran dry.
    fn enforce_budget(&self, mut shard: MutexGuard<'_, Shard>) {
        self.evict_while_over(&mut shard);
        drop(shard);
        if self.over_budget() {
            self.evict_elsewhere();
        }
    }

    fn evict_elsewhere(&self) {
        let start = self.evict_cursor.fetch_add(1, Ordering::Relaxed);
        for i in 0..self.shards.len() {
            if !self.over_budget() {
                return;
            }
            let mut shard = self.shards[(start + i) & self.shard_mask].lock();
            self.evict_while_over(&mut shard);
        }
    }

    /// Runs a read of `key`: `f` gets the shard and the live slot, if any. Counts a hit or miss.
    fn read<R>(&self, key: &[u8], f: impl FnOnce(&mut Shard, u64, u32) -> R) -> Option<R> {
        let hash = self.hash(key);
        let now = self.now_ms();
        let mut shard = self.lock(hash);
        match shard.live(hash, key, now) {
            Some(slot) => {
                shard.stats.hits += 1;
                Some(f(&mut shard, hash, slot))
            }
            None => {
                shard.stats.misses += 1;
                None
            }
        }
    }

    /// Runs a write of `key`: `f` gets the shard, the hash, the live slot if any and the time;
    /// the budget is enforced after it.
    fn write<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(&mut Shard, u64, Option<u32>, i64) -> Result<R>,
    ) -> Result<R> {
        let hash = self.hash(key);
        let now = self.now_ms();
        let mut shard = self.lock(hash);
        let slot = shard.live(hash, key, now);
        let result = f(&mut shard, hash, slot, now);
        if result.is_ok() {
            self.enforce_budget(shard);
        }
        result
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.read(key, |shard, hash, slot| {
            shard.touch(slot, hash);
            Bytes::copy_from_slice(shard.record(slot).value())
        })
    }

    /// The value of `key`, neither counted as a hit or miss nor made recent: a second look by
    /// a read that was counted already.
    pub fn peek(&self, key: &[u8]) -> Option<Bytes> {
        let hash = self.hash(key);
        let now = self.now_ms();
        let mut shard = self.lock(hash);
        let slot = shard.live(hash, key, now)?;
        Some(Bytes::copy_from_slice(shard.record(slot).value()))
    }

    /// Calls `f` with the value of `key` while the shard is locked, without copying it out.
    pub fn get_with<R>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        self.read(key, |shard, hash, slot| {
            shard.touch(slot, hash);
            f(shard.record(slot).value())
        })
    }

    /// Removes `key` and returns its value.
    pub fn get_del(&self, key: &[u8]) -> Option<Bytes> {
        self.read(key, |shard, hash, slot| {
            let record = shard.remove(slot, hash);
            self.journal(Change::Delete { key });
            Bytes::copy_from_slice(record.value())
        })
    }

    /// Returns the value of `key` and changes its expiry ([`ExpiryChange::Keep`] changes nothing).
    pub fn get_ex(&self, key: &[u8], expiry: ExpiryChange) -> Option<Bytes> {
        let now = self.now_ms();
        self.read(key, |shard, hash, slot| {
            let value = Bytes::copy_from_slice(shard.record(slot).value());
            match expiry {
                ExpiryChange::Keep => shard.touch(slot, hash),
                ExpiryChange::Clear => {
                    shard.set_expiry(slot, hash, None);
                    shard.touch(slot, hash);
                    self.journal(Change::Expire { key, at: None });
                }
                ExpiryChange::At(at) if at <= now => {
                    shard.remove(slot, hash);
                    self.journal(Change::Delete { key });
                }
                ExpiryChange::At(at) => {
                    shard.set_expiry(slot, hash, Some(at));
                    shard.touch(slot, hash);
                    self.journal(Change::Expire { key, at: Some(at) });
                }
            }
            value
        })
    }

    /// Writes `value` under `key`.
    pub fn set(&self, key: &[u8], value: &[u8], options: SetOptions) -> Result<SetOutcome> {
        if value.len() > self.max_value_len {
            return Err(Error::ValueTooLarge);
        }
        self.write(key, |shard, hash, slot, now| {
            let skip = match options.condition {
                Some(SetCondition::IfAbsent) => slot.is_some(),
                Some(SetCondition::IfPresent) => slot.is_none(),
                None => false,
            };
            let old = match (options.return_old, slot) {
                (true, Some(s)) => Some(Bytes::copy_from_slice(shard.record(s).value())),
                _ => None,
            };
            if skip {
                return Ok(SetOutcome {
                    written: false,
                    old,
                });
            }
            let expiry = match options.expiry {
                ExpiryChange::Keep => slot.and_then(|s| shard.record(s).expiry()),
                ExpiryChange::Clear => None,
                ExpiryChange::At(at) => Some(at),
            };
            if expiry.is_some_and(|at| at <= now) {
                // Written and expired at once: what remains is no key.
                if let Some(s) = slot {
                    shard.remove(s, hash);
                    self.journal(Change::Delete { key });
                }
                return Ok(SetOutcome { written: true, old });
            }
            let old_charge = slot.map_or(0, |s| shard.record(s).charge());
            let new_charge = entry_charge(key.len(), value.len(), expiry.is_some());
            self.admit(new_charge as isize - old_charge as isize)?;
            let record = Record::new(key, value, expiry);
            match slot {
                Some(s) => shard.replace(s, hash, record),
                None => {
                    shard.insert(hash, record);
                }
            }
            self.journal(Change::Set {
                key,
                value,
                expires_at: expiry,
            });
            Ok(SetOutcome { written: true, old })
        })
    }

    /// Writes every pair at once, all under their shards' locks, so no reader sees half of
    /// them. With `only_if_none_exist`, writes nothing and returns false if any key is present.
    /// A key given twice takes its last value.
    pub fn set_many(&self, pairs: &[(&[u8], &[u8])], only_if_none_exist: bool) -> Result<bool> {
        if pairs.iter().any(|(_, v)| v.len() > self.max_value_len) {
            return Err(Error::ValueTooLarge);
        }
        let now = self.now_ms();
        let hashes: Vec<u64> = pairs.iter().map(|(k, _)| self.hash(k)).collect();
        let mut shard_ids: Vec<usize> = hashes.iter().map(|&h| self.shard_of(h)).collect();
        shard_ids.sort_unstable();
        shard_ids.dedup();
        // Locks are taken in ascending shard order, the one order every multi-shard operation
        // uses, so two of them cannot deadlock.
        let mut guards: Vec<(usize, MutexGuard<'_, Shard>)> = shard_ids
            .iter()
            .map(|&i| (i, self.shards[i].lock()))
            .collect();
        let guard_of = |hash: u64| {
            shard_ids
                .binary_search(&self.shard_of(hash))
                .unwrap_or_default()
        };
        if only_if_none_exist {
            for (i, (key, _)) in pairs.iter().enumerate() {
                let g = guard_of(hashes[i]);
                if guards[g].1.live(hashes[i], key, now).is_some() {
                    return Ok(false);
                }
            }
        }
        let mut grow = 0isize;
        for (i, (key, value)) in pairs.iter().enumerate() {
            let g = guard_of(hashes[i]);
            let old = guards[g]
                .1
                .find(hashes[i], key)
                .map_or(0, |s| guards[g].1.record(s).charge());
            grow += entry_charge(key.len(), value.len(), false) as isize - old as isize;
        }
        self.admit(grow)?;
        for (i, (key, value)) in pairs.iter().enumerate() {
            let g = guard_of(hashes[i]);
            let shard = &mut guards[g].1;
            let record = Record::new(key, value, None);
            match shard.live(hashes[i], key, now) {
                Some(s) => shard.replace(s, hashes[i], record),
                None => {
                    shard.insert(hashes[i], record);
                }
            }
            self.journal(Change::Set {
                key,
                value,
                expires_at: None,
            });
        }
        for (_, shard) in &mut guards {
            self.evict_while_over(shard);
        }
        drop(guards);
        if self.over_budget() {
            self.evict_elsewhere();
        }
        Ok(true)
    }

    /// Appends `suffix` to the value of `key` (an absent key counts as empty) and returns the new
    /// length. The expiry is kept.
    pub fn append(&self, key: &[u8], suffix: &[u8]) -> Result<usize> {
        self.write(key, |shard, hash, slot, _now| {
            let (old_len, expiry, old_charge) = match slot {
                Some(s) => {
                    let r = shard.record(s);
                    (r.value().len(), r.expiry(), r.charge())
                }
                None => (0, None, 0),
            };
            let new_len = old_len + suffix.len();
            if new_len > self.max_value_len {
                return Err(Error::ValueTooLarge);
            }
            self.admit(
                entry_charge(key.len(), new_len, expiry.is_some()) as isize - old_charge as isize,
            )?;
            let record = match slot {
                Some(s) => Record::from_parts(key, &[shard.record(s).value(), suffix], expiry),
                None => Record::new(key, suffix, None),
            };
            // Logged as the value it produced: replaying an append twice would double it.
            self.journal(Change::Set {
                key,
                value: record.value(),
                expires_at: expiry,
            });
            match slot {
                Some(s) => shard.replace(s, hash, record),
                None => {
                    shard.insert(hash, record);
                }
            }
            Ok(new_len)
        })
    }

    /// The length of the value of `key` (0 when absent).
    pub fn strlen(&self, key: &[u8]) -> usize {
        self.read(key, |shard, _, slot| shard.record(slot).value().len())
            .unwrap_or(0)
    }

    /// Replaces the value of `key` with `update(old)`, keeping its expiry.
    fn rewrite<T>(
        &self,
        key: &[u8],
        update: impl FnOnce(Option<&[u8]>) -> Result<(T, Vec<u8>)>,
    ) -> Result<T> {
        self.write(key, |shard, hash, slot, _now| {
            let (result, value) = update(slot.map(|s| shard.record(s).value()))?;
            let (expiry, old_charge) = slot.map_or((None, 0), |s| {
                (shard.record(s).expiry(), shard.record(s).charge())
            });
            self.admit(
                entry_charge(key.len(), value.len(), expiry.is_some()) as isize
                    - old_charge as isize,
            )?;
            let record = Record::new(key, &value, expiry);
            match slot {
                Some(s) => shard.replace(s, hash, record),
                None => {
                    shard.insert(hash, record);
                }
            }
            self.journal(Change::Set {
                key,
                value: &value,
                expires_at: expiry,
            });
            Ok(result)
        })
    }

    /// Adds `delta` to the integer stored at `key` (absent = 0) and returns the result.
    pub fn incr_by(&self, key: &[u8], delta: i64) -> Result<i64> {
        self.rewrite(key, |old| {
            let current = match old {
                Some(v) => parse_i64(v).ok_or(Error::NotAnInteger)?,
                None => 0,
            };
            let next = current.checked_add(delta).ok_or(Error::Overflow)?;
            Ok((next, itoa::Buffer::new().format(next).as_bytes().to_vec()))
        })
    }

    /// Adds `delta` to the number stored at `key` (absent = 0) and returns the new value as it
    /// is stored: shortest decimal form, never an exponent.
    pub fn incr_by_float(&self, key: &[u8], delta: f64) -> Result<Bytes> {
        self.rewrite(key, |old| {
            let current = match old {
                Some(v) => parse_f64(v).ok_or(Error::NotAFloat)?,
                None => 0.0,
            };
            let next = current + delta;
            if !next.is_finite() {
                return Err(Error::NanOrInfinity);
            }
            let text = format_f64(next);
            Ok((Bytes::from(text.clone().into_bytes()), text.into_bytes()))
        })
    }

    /// Deletes `key`; true if it existed.
    pub fn delete(&self, key: &[u8]) -> bool {
        let hash = self.hash(key);
        let now = self.now_ms();
        let mut shard = self.lock(hash);
        match shard.live(hash, key, now) {
            Some(slot) => {
                shard.remove(slot, hash);
                self.journal(Change::Delete { key });
                true
            }
            None => false,
        }
    }

    /// Whether `key` exists. Counts as a read.
    pub fn exists(&self, key: &[u8]) -> bool {
        self.read(key, |_, _, _| ()).is_some()
    }

    /// Marks `key` as used without reading it; true if it exists.
    pub fn touch(&self, key: &[u8]) -> bool {
        let hash = self.hash(key);
        let now = self.now_ms();
        let mut shard = self.lock(hash);
        match shard.live(hash, key, now) {
            Some(slot) => {
                shard.touch(slot, hash);
                true
            }
            None => false,
        }
    }

    /// Sets the expiry of `key` to `at` (Unix ms) if `condition` allows. A time not after now
    /// deletes the key. True if the key exists and the condition held.
    pub fn expire(&self, key: &[u8], at: i64, condition: Option<ExpireCondition>) -> bool {
        let hash = self.hash(key);
        let now = self.now_ms();
        let mut shard = self.lock(hash);
        let Some(slot) = shard.live(hash, key, now) else {
            return false;
        };
        let current = shard.record(slot).expiry();
        let allowed = match condition {
            None => true,
            Some(ExpireCondition::IfNone) => current.is_none(),
            Some(ExpireCondition::IfSome) => current.is_some(),
            Some(ExpireCondition::IfGreater) => current.is_some_and(|c| at > c),
            Some(ExpireCondition::IfLess) => current.is_none_or(|c| at < c),
            Some(ExpireCondition::IfSomeAndLess) => current.is_some_and(|c| at < c),
        };
        if !allowed {
            return false;
        }
        if at <= now {
            shard.remove(slot, hash);
            self.journal(Change::Delete { key });
        } else {
            shard.set_expiry(slot, hash, Some(at));
            self.journal(Change::Expire { key, at: Some(at) });
        }
        true
    }

    /// The expiry state of `key`.
    pub fn ttl(&self, key: &[u8]) -> KeyTtl {
        let hash = self.hash(key);
        let now = self.now_ms();
        let mut shard = self.lock(hash);
        match shard.live(hash, key, now) {
            None => KeyTtl::Missing,
            Some(slot) => match shard.record(slot).expiry() {
                None => KeyTtl::Persistent,
                Some(at) => KeyTtl::ExpiresAt(at),
            },
        }
    }

    /// Removes the expiry of `key`; true if it had one.
    pub fn persist(&self, key: &[u8]) -> bool {
        let hash = self.hash(key);
        let now = self.now_ms();
        let mut shard = self.lock(hash);
        let Some(slot) = shard.live(hash, key, now) else {
            return false;
        };
        if shard.record(slot).expiry().is_none() {
            return false;
        }
        shard.set_expiry(slot, hash, None);
        self.journal(Change::Expire { key, at: None });
        true
    }

    /// Number of entries (expired ones not yet removed included, as Redis counts them).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// True when the store holds no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry. Every shard is locked at once (in ascending order), so no write
    /// lands between the flush of one shard and the next.
    pub fn flush(&self) {
        let capacity = self.max_memory() / self.shards.len();
        let mut guards: Vec<MutexGuard<'_, Shard>> = self.shards.iter().map(|s| s.lock()).collect();
        for shard in &mut guards {
            shard.clear(capacity);
        }
        self.journal(Change::Flush);
    }

    /// Swaps the eviction policy of every shard; every entry stays, ordered as the old policy
    /// had it (coldest first).
    pub fn set_policy(&self, kind: PolicyKind) {
        let _admin = self.admin.lock();
        let capacity = self.max_memory() / self.shards.len();
        self.policy.store(policy_code(kind), Ordering::Relaxed);
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            if shard.policy_kind() != kind {
                shard.set_policy(kind, capacity);
            }
        }
        if self.over_budget() {
            self.evict_elsewhere();
        }
    }

    /// Changes the byte budget (0 = unbounded), evicting at once if the store is over it.
    pub fn set_max_memory(&self, bytes: usize) {
        let _admin = self.admin.lock();
        self.max_memory.store(bytes, Ordering::Relaxed);
        let capacity = bytes / self.shards.len();
        for shard in self.shards.iter() {
            shard.lock().set_capacity(capacity);
        }
        while self.over_budget() {
            let before = self.used_memory();
            self.evict_elsewhere();
            if self.used_memory() >= before {
                break;
            }
        }
    }

    /// The store's counters.
    pub fn stats(&self) -> StoreStats {
        let mut stats = StoreStats {
            max_memory: self.max_memory(),
            ..StoreStats::default()
        };
        for shard in self.shards.iter() {
            let shard = shard.lock();
            stats.items += shard.len();
            stats.expiring_items += shard.expiring_len();
            stats.hits += shard.stats.hits;
            stats.misses += shard.stats.misses;
            stats.evictions += shard.stats.evictions;
            stats.expired += shard.stats.expired;
        }
        stats.used_memory = self.used_memory();
        stats
    }

    /// Zeroes hits, misses, evictions and expirations (`CONFIG RESETSTAT`).
    pub fn reset_stats(&self) {
        for shard in self.shards.iter() {
            shard.lock().stats = Default::default();
        }
    }
}

mod walk;

#[cfg(test)]
mod tests;
