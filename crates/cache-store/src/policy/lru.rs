//! Exact least-recently-used order; also the bookkeeping of `noeviction`, which keeps an order
//! (so a later swap to an evicting policy starts from recency) but names no victims.

use super::list::{Links, List};
use super::{Entries, Policy, PolicyKind};

#[derive(Debug)]
pub(crate) struct Lru {
    links: Links,
    queue: List,
    evicts: bool,
}

impl Lru {
    pub(crate) fn new(evicts: bool) -> Lru {
        Lru {
            links: Links::default(),
            queue: List::default(),
            evicts,
        }
    }
}

impl Policy for Lru {
    fn kind(&self) -> PolicyKind {
        if self.evicts {
            PolicyKind::Lru
        } else {
            PolicyKind::NoEviction
        }
    }

    fn insert(&mut self, slot: u32, _hash: u64, _entries: &dyn Entries) {
        self.queue.push_back(&mut self.links, slot);
    }

    fn access(&mut self, slot: u32, _hash: u64, _entries: &dyn Entries) {
        self.queue.move_to_back(&mut self.links, slot);
    }

    fn remove(&mut self, slot: u32, _charge: usize) {
        self.queue.remove(&mut self.links, slot);
    }

    fn victim(&mut self, _entries: &dyn Entries) -> Option<u32> {
        if self.evicts {
            self.queue.front()
        } else {
            None
        }
    }

    fn order(&self) -> Vec<u32> {
        self.queue.iter(&self.links).collect()
    }
}
