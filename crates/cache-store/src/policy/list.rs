//! Intrusive doubly-linked lists over slot indices.
//!
//! Every policy keeps its entries in one or more queues. The links live in one array indexed by
//! slot ([`Links`]), shared by all the lists of a policy (an entry is in one list at a time), so a
//! queue costs 8 bytes per entry and no allocation per operation.

/// The "no slot" marker.
pub(crate) const NIL: u32 = u32::MAX;

/// `prev` and `next` for every slot.
#[derive(Debug, Default)]
pub(crate) struct Links {
    links: Vec<[u32; 2]>,
}

impl Links {
    fn ensure(&mut self, slot: u32) {
        let need = slot as usize + 1;
        if self.links.len() < need {
            self.links.resize(need, [NIL, NIL]);
        }
    }

    fn prev(&self, slot: u32) -> u32 {
        self.links[slot as usize][0]
    }

    fn next(&self, slot: u32) -> u32 {
        self.links[slot as usize][1]
    }
}

/// One queue: `front` is the coldest end (evicted first), `back` the hottest.
#[derive(Debug, Clone, Copy)]
pub(crate) struct List {
    front: u32,
    back: u32,
    len: usize,
}

impl Default for List {
    fn default() -> List {
        List {
            front: NIL,
            back: NIL,
            len: 0,
        }
    }
}

impl List {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn front(&self) -> Option<u32> {
        (self.front != NIL).then_some(self.front)
    }

    /// Appends `slot`, which must not be in any list.
    pub(crate) fn push_back(&mut self, links: &mut Links, slot: u32) {
        links.ensure(slot);
        links.links[slot as usize] = [self.back, NIL];
        if self.back == NIL {
            self.front = slot;
        } else {
            links.links[self.back as usize][1] = slot;
        }
        self.back = slot;
        self.len += 1;
    }

    /// Unlinks `slot`, which must be in this list.
    pub(crate) fn remove(&mut self, links: &mut Links, slot: u32) {
        let (prev, next) = (links.prev(slot), links.next(slot));
        if prev == NIL {
            self.front = next;
        } else {
            links.links[prev as usize][1] = next;
        }
        if next == NIL {
            self.back = prev;
        } else {
            links.links[next as usize][0] = prev;
        }
        links.links[slot as usize] = [NIL, NIL];
        self.len -= 1;
    }

    /// Moves `slot`, which must be in this list, to the back.
    pub(crate) fn move_to_back(&mut self, links: &mut Links, slot: u32) {
        if self.back != slot {
            self.remove(links, slot);
            self.push_back(links, slot);
        }
    }

    /// Removes and returns the front.
    pub(crate) fn pop_front(&mut self, links: &mut Links) -> Option<u32> {
        let slot = self.front()?;
        self.remove(links, slot);
        Some(slot)
    }

    /// The slots from front to back.
    pub(crate) fn iter<'a>(&self, links: &'a Links) -> impl Iterator<Item = u32> + 'a {
        let mut at = self.front;
        std::iter::from_fn(move || {
            (at != NIL).then(|| {
                let slot = at;
                at = links.next(slot);
                slot
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_operations() {
        let mut links = Links::default();
        let mut a = List::default();
        for s in [3, 1, 4, 5] {
            a.push_back(&mut links, s);
        }
        a.move_to_back(&mut links, 1);
        a.remove(&mut links, 4);
        assert_eq!(a.iter(&links).collect::<Vec<_>>(), vec![3, 5, 1]);
        assert_eq!(a.iter(&links).collect::<Vec<_>>(), vec![3, 5, 1]);
        assert_eq!(a.pop_front(&mut links), Some(3));
        assert_eq!(a.len(), 2);
        assert_eq!(a.front(), Some(5));
    }
}
