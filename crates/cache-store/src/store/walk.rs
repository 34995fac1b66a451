//! Walks over the keyspace: `SCAN` cursors, `KEYS`, `RANDOMKEY` and active expiry.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::Store;

impl Store {
    /// One step of a cursor walk over the keys: calls `visit` with each live key in up to
    /// `count` slots from `cursor` and returns the next cursor (0 when the walk is over). Keys
    /// present for the whole walk are visited at least once; keys added or removed during it may
    /// or may not be.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8])) -> u64 {
        let mut shard_id = (cursor & 0xffff) as usize;
        let mut slot = (cursor >> 16) as usize;
        let now = self.now_ms();
        let mut budget = count.max(1);
        while shard_id < self.shards.len() {
            let shard = self.shards[shard_id].lock();
            let end = shard.slot_count();
            while slot < end && budget > 0 {
                if let Some(key) = shard.key_at(slot, now) {
                    visit(key);
                }
                slot += 1;
                budget -= 1;
            }
            if slot < end {
                return ((slot as u64) << 16) | shard_id as u64;
            }
            shard_id += 1;
            slot = 0;
            if budget == 0 {
                break;
            }
        }
        if shard_id >= self.shards.len() {
            0
        } else {
            shard_id as u64
        }
    }

    /// Calls `visit` with every live key.
    pub fn for_each_key(&self, mut visit: impl FnMut(&[u8])) {
        let now = self.now_ms();
        for shard in self.shards.iter() {
            let shard = shard.lock();
            for slot in 0..shard.slot_count() {
                if let Some(key) = shard.key_at(slot, now) {
                    visit(key);
                }
            }
        }
    }

    /// Number of shards: the range of [`Store::for_each_entry_in_shard`].
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Calls `visit` with the key, value and expiry of every live entry of shard `index`, under
    /// that shard's lock (writes to it wait meanwhile; the other shards carry on). A snapshot
    /// walks the shards one by one with this.
    pub fn for_each_entry_in_shard(
        &self,
        index: usize,
        mut visit: impl FnMut(&[u8], &[u8], Option<i64>),
    ) {
        let Some(shard) = self.shards.get(index) else {
            return;
        };
        let now = self.now_ms();
        let shard = shard.lock();
        for slot in 0..shard.slot_count() {
            if let Some((key, value, expiry)) = shard.entry_at(slot, now) {
                visit(key, value, expiry);
            }
        }
    }

    /// A random live key.
    pub fn random_key(&self) -> Option<Bytes> {
        let now = self.now_ms();
        let start = (self.hash(&now.to_le_bytes()) as usize) & self.shard_mask;
        (0..self.shards.len()).find_map(|i| {
            let mut shard = self.shards[(start + i) & self.shard_mask].lock();
            shard.random_key(now).map(Bytes::copy_from_slice)
        })
    }

    /// Active expiry: removes up to `budget` entries whose time is up, visiting shards in turn.
    /// Returns how many were removed.
    pub fn expire_cycle(&self, budget: usize) -> usize {
        let now = self.now_ms();
        let start = self.expire_cursor.fetch_add(1, Ordering::Relaxed);
        let mut removed = 0;
        for i in 0..self.shards.len() {
            if removed >= budget {
                break;
            }
            let mut shard = self.shards[(start + i) & self.shard_mask].lock();
            removed += shard.expire_due(now, budget - removed);
        }
        removed
    }
}
