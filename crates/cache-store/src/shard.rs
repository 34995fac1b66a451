//! One shard: a hash index over the records, the records by stable slot, the expiry index and
//! the policy.
//!
//! The index is a SwissTable (hashbrown's `HashTable`) of record pointers: the key lives once,
//! in its record, and a probe reads it straight from there after the table's 7-bit tag
//! matched. Each record also carries its slot number; slots are reused through a free list, so
//! a slot is stable for the life of an entry, and policies and the expiry index refer to entries
//! by it (4 bytes where a pointer takes 8).

use std::collections::BTreeSet;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use foldhash::fast::FixedState;
use hashbrown::HashTable;

use crate::policy::{Entries, Policy, PolicyKind, Rng, new_policy};
use crate::record::{Record, RecordRef};

/// How many victims a shard may have refused (see [`crate::EvictionSink::may_evict`]) in one
/// eviction before it gives up and leaves the budget to the other shards.
const EVICTION_REFUSALS: usize = 8;

/// The records of a shard, by slot, with the hasher that placed them.
#[derive(Debug)]
pub(crate) struct Slots {
    records: Vec<Option<Record>>,
    hasher: FixedState,
}

impl Slots {
    pub(crate) fn get(&self, slot: u32) -> &Record {
        match &self.records[slot as usize] {
            Some(record) => record,
            // Invariant: the table, the policy and the expiry index only hold occupied slots.
            None => unreachable!("slot {slot} is referenced but empty"),
        }
    }
}

impl Entries for Slots {
    fn hash(&self, slot: u32) -> u64 {
        self.hasher.hash_one(self.get(slot).key())
    }

    fn charge(&self, slot: u32) -> usize {
        self.get(slot).charge()
    }
}

/// Counters kept per shard, under its lock.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ShardStats {
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) evictions: u64,
    pub(crate) expired: u64,
}

#[derive(Debug)]
pub(crate) struct Shard {
    table: HashTable<RecordRef>,
    pub(crate) slots: Slots,
    free: Vec<u32>,
    policy: Box<dyn Policy>,
    expires: BTreeSet<(i64, u32)>,
    used: usize,
    /// The store's total of charged bytes, kept in step with `used`.
    total: Arc<AtomicUsize>,
    pub(crate) stats: ShardStats,
    rng: Rng,
    seed: u64,
}

impl Shard {
    pub(crate) fn new(
        hasher: FixedState,
        policy: PolicyKind,
        capacity: usize,
        seed: u64,
        total: Arc<AtomicUsize>,
    ) -> Shard {
        Shard {
            table: HashTable::new(),
            slots: Slots {
                records: Vec::new(),
                hasher,
            },
            free: Vec::new(),
            policy: new_policy(policy, capacity, seed),
            expires: BTreeSet::new(),
            used: 0,
            total,
            stats: ShardStats::default(),
            rng: Rng::new(seed ^ 0xa11ce),
            seed,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn expiring_len(&self) -> usize {
        self.expires.len()
    }

    pub(crate) fn record(&self, slot: u32) -> &Record {
        self.slots.get(slot)
    }

    /// The slot of `key`, expired or not.
    pub(crate) fn find(&self, hash: u64, key: &[u8]) -> Option<u32> {
        // The table holds record pointers, so a probe reads the key straight from the record:
        // two cache misses fewer than going through the slot array first.
        self.table.find(hash, |r| r.key() == key).map(|r| r.slot())
    }

    /// Points the table's entry for the record `old` at `new` (after a reallocation).
    fn repoint(&mut self, hash: u64, old: RecordRef, new: RecordRef) {
        // Compares pointers only: `old` may already be freed and must not be read.
        if let Some(entry) = self.table.find_mut(hash, |r| *r == old) {
            *entry = new;
        }
    }

    /// The slot of `key` if it is live at `now`; an expired entry is removed on the way.
    pub(crate) fn live(&mut self, hash: u64, key: &[u8], now: i64) -> Option<u32> {
        let slot = self.find(hash, key)?;
        if self.record(slot).is_expired(now) {
            self.remove(slot, hash);
            self.stats.expired += 1;
            return None;
        }
        Some(slot)
    }

    /// Tells the policy the entry was used.
    pub(crate) fn touch(&mut self, slot: u32, hash: u64) {
        self.policy.access(slot, hash, &self.slots);
    }

    fn charge(&mut self, delta: isize) {
        self.used = self.used.wrapping_add_signed(delta);
        if delta >= 0 {
            self.total.fetch_add(delta as usize, Ordering::Relaxed);
        } else {
            self.total
                .fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
        }
    }

    /// Adds a new entry; its key must not be present.
    pub(crate) fn insert(&mut self, hash: u64, mut record: Record) -> u32 {
        let charge = record.charge();
        let expiry = record.expiry();
        let view = record.view();
        let slot = match self.free.pop() {
            Some(slot) => {
                record.set_slot(slot);
                self.slots.records[slot as usize] = Some(record);
                slot
            }
            None => {
                let slot = u32::try_from(self.slots.records.len())
                    .ok()
                    .filter(|&s| s != u32::MAX)
                    .expect("a shard holds fewer than 2^32 - 1 entries");
                record.set_slot(slot);
                self.slots.records.push(Some(record));
                slot
            }
        };
        let hasher = &self.slots.hasher;
        self.table
            .insert_unique(hash, view, |r| hasher.hash_one(r.key()));
        if let Some(at) = expiry {
            self.expires.insert((at, slot));
        }
        self.charge(charge as isize);
        self.policy.insert(slot, hash, &self.slots);
        slot
    }

    /// Replaces the record at `slot` (same key) and counts it as a use.
    pub(crate) fn replace(&mut self, slot: u32, hash: u64, mut record: Record) {
        let (old_charge, old_expiry, old_view) = {
            let old = self.record(slot);
            (old.charge(), old.expiry(), old.view())
        };
        record.set_slot(slot);
        let (new_charge, new_expiry) = (record.charge(), record.expiry());
        self.repoint(hash, old_view, record.view());
        self.slots.records[slot as usize] = Some(record);
        self.reindex_expiry(slot, old_expiry, new_expiry);
        if new_charge != old_charge {
            self.charge(new_charge as isize - old_charge as isize);
            self.policy.recharge(slot, old_charge, new_charge);
        }
        self.policy.access(slot, hash, &self.slots);
    }

    /// Changes the expiry of the entry at `slot`.
    pub(crate) fn set_expiry(&mut self, slot: u32, hash: u64, expiry: Option<i64>) {
        let Some(record) = self.slots.records[slot as usize].as_mut() else {
            return;
        };
        let (old_charge, old_expiry, old_view) = (record.charge(), record.expiry(), record.view());
        record.set_expiry(expiry);
        let (new_charge, new_view) = (record.charge(), record.view());
        self.repoint(hash, old_view, new_view);
        self.reindex_expiry(slot, old_expiry, expiry);
        self.charge(new_charge as isize - old_charge as isize);
        self.policy.recharge(slot, old_charge, new_charge);
    }

    fn reindex_expiry(&mut self, slot: u32, old: Option<i64>, new: Option<i64>) {
        if old == new {
            return;
        }
        if let Some(at) = old {
            self.expires.remove(&(at, slot));
        }
        if let Some(at) = new {
            self.expires.insert((at, slot));
        }
    }

    /// Removes the entry at `slot` and returns its record.
    pub(crate) fn remove(&mut self, slot: u32, hash: u64) -> Record {
        let view = self.record(slot).view();
        if let Ok(entry) = self.table.find_entry(hash, |r| *r == view) {
            entry.remove();
        }
        let record = self.slots.records[slot as usize].take();
        let Some(record) = record else {
            unreachable!("removing empty slot {slot}")
        };
        let charge = record.charge();
        if let Some(at) = record.expiry() {
            self.expires.remove(&(at, slot));
        }
        self.policy.remove(slot, charge);
        self.charge(-(charge as isize));
        self.free.push(slot);
        record
    }

    /// Evicts the policy's victim and returns it; `None` when the policy names none, or named
    /// only entries `may_evict` refused [`EVICTION_REFUSALS`] times.
    pub(crate) fn evict_one(&mut self, may_evict: impl Fn(&[u8]) -> bool) -> Option<Record> {
        for _ in 0..EVICTION_REFUSALS {
            let slot = self.policy.victim(&self.slots)?;
            let hash = self.slots.hash(slot);
            if !may_evict(self.record(slot).key()) {
                // Made recent, the policy offers another entry next.
                self.touch(slot, hash);
                continue;
            }
            let record = self.remove(slot, hash);
            self.stats.evictions += 1;
            return Some(record);
        }
        None
    }

    /// Removes up to `budget` entries whose expiry is at or before `now`.
    pub(crate) fn expire_due(&mut self, now: i64, budget: usize) -> usize {
        let mut removed = 0;
        while removed < budget {
            let Some(&(at, slot)) = self.expires.first() else {
                break;
            };
            if at > now {
                break;
            }
            let hash = self.slots.hash(slot);
            self.remove(slot, hash);
            self.stats.expired += 1;
            removed += 1;
        }
        removed
    }

    /// Drops every entry.
    pub(crate) fn clear(&mut self, capacity: usize) {
        let kind = self.policy.kind();
        self.table = HashTable::new();
        self.slots.records = Vec::new();
        self.free = Vec::new();
        self.expires = BTreeSet::new();
        self.policy = new_policy(kind, capacity, self.seed);
        let used = self.used;
        self.charge(-(used as isize));
    }

    /// Replaces the policy, handing it every entry from coldest to hottest.
    pub(crate) fn set_policy(&mut self, kind: PolicyKind, capacity: usize) {
        let mut policy = new_policy(kind, capacity, self.seed);
        for slot in self.policy.order() {
            policy.insert(slot, self.slots.hash(slot), &self.slots);
        }
        self.policy = policy;
    }

    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.policy.set_capacity(capacity);
    }

    pub(crate) fn policy_kind(&self) -> PolicyKind {
        self.policy.kind()
    }

    /// Number of slots, occupied or not: the range of [`Shard::key_at`].
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.records.len()
    }

    /// The key at `slot` if the slot holds an entry live at `now`.
    pub(crate) fn key_at(&self, slot: usize, now: i64) -> Option<&[u8]> {
        self.slots
            .records
            .get(slot)?
            .as_ref()
            .filter(|r| !r.is_expired(now))
            .map(|r| r.key())
    }

    /// The key, value and expiry at `slot` if the slot holds an entry live at `now`.
    pub(crate) fn entry_at(&self, slot: usize, now: i64) -> Option<(&[u8], &[u8], Option<i64>)> {
        self.slots
            .records
            .get(slot)?
            .as_ref()
            .filter(|r| !r.is_expired(now))
            .map(|r| (r.key(), r.value(), r.expiry()))
    }

    /// A key chosen at random among live entries, if there is any.
    pub(crate) fn random_key(&mut self, now: i64) -> Option<&[u8]> {
        let n = self.slot_count();
        if self.len() == 0 || n == 0 {
            return None;
        }
        let start = (self.rng.next_u64() % n as u64) as usize;
        let found = (0..n)
            .map(|i| (start + i) % n)
            .find(|&s| self.key_at(s, now).is_some())?;
        self.key_at(found, now)
    }
}
