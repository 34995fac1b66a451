//! Per-key locks for moves between memory and the disk tier.
//!
//! A key kept in two places can only be moved safely if nothing else moves it at the same
//! time. Every command that changes a key on a node with a disk tier holds the key's lock
//! for its whole run, and the store does not evict a locked key (see
//! [`cache_store::EvictionSink::may_evict`]), so a command sees the key where it left it.
//!
//! Keys share a fixed set of stripes: two keys in one stripe wait for each other, which
//! costs a little concurrency and no memory per key. Several keys are locked in stripe
//! order, so two commands locking overlapping sets cannot deadlock.

use parking_lot::{Mutex, MutexGuard};

const STRIPES: usize = 1024;

/// A fixed set of key locks.
#[derive(Debug)]
pub struct KeyLocks {
    stripes: Box<[Mutex<()>]>,
}

/// Held locks; dropping it releases them.
#[must_use = "the keys are unlocked when this is dropped"]
#[derive(Debug)]
pub struct KeyGuard<'a> {
    _guards: Vec<MutexGuard<'a, ()>>,
}

impl Default for KeyLocks {
    fn default() -> KeyLocks {
        KeyLocks {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

fn stripe(key: &[u8]) -> usize {
    crc32c::crc32c(key) as usize & (STRIPES - 1)
}

impl KeyLocks {
    /// Locks every key of `keys` (a key given twice is locked once), waiting for holders.
    pub fn lock<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> KeyGuard<'_> {
        let mut stripes: Vec<usize> = keys.into_iter().map(stripe).collect();
        stripes.sort_unstable();
        stripes.dedup();
        KeyGuard {
            _guards: stripes.iter().map(|&i| self.stripes[i].lock()).collect(),
        }
    }

    /// Whether `key` is locked now (or shares its stripe with a locked key).
    pub fn is_locked(&self, key: &[u8]) -> bool {
        self.stripes[stripe(key)].is_locked()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn locked_keys_are_seen_locked_until_the_guard_drops() {
        let locks = KeyLocks::default();
        let guard = locks.lock([&b"a"[..], b"b", b"a"]);
        assert!(locks.is_locked(b"a"));
        assert!(locks.is_locked(b"b"));
        drop(guard);
        assert!(!locks.is_locked(b"a"));
        assert!(!locks.is_locked(b"b"));
    }

    #[test]
    fn overlapping_sets_locked_in_any_order_exclude_each_other_without_deadlock() {
        let locks = Arc::new(KeyLocks::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (locks, inside) = (locks.clone(), inside.clone());
                std::thread::spawn(move || {
                    for i in 0..2000 {
                        let keys: [&[u8]; 3] = if (t + i) % 2 == 0 {
                            [b"x", b"y", b"z"]
                        } else {
                            [b"z", b"x", b"w"]
                        };
                        let _guard = locks.lock(keys);
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    }
}
