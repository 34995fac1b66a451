//! Intrusive queues over slot indices, as `cache-store/src/policy/list.rs`.

const NIL: u32 = u32::MAX;

/// `prev` and `next` for every slot, shared by all the queues of a model.
#[derive(Debug, Default)]
pub(super) struct Links(Vec<[u32; 2]>);

/// One queue: `front` is the coldest end.
#[derive(Debug, Clone, Copy)]
pub(super) struct List {
    front: u32,
    back: u32,
}

impl List {
    pub(super) const EMPTY: List = List {
        front: NIL,
        back: NIL,
    };

    pub(super) fn front(&self) -> Option<u32> {
        (self.front != NIL).then_some(self.front)
    }

    pub(super) fn is_back(&self, slot: u32) -> bool {
        self.back == slot
    }

    pub(super) fn push_back(&mut self, links: &mut Links, slot: u32) {
        if links.0.len() <= slot as usize {
            links.0.resize(slot as usize + 1, [NIL, NIL]);
        }
        links.0[slot as usize] = [self.back, NIL];
        if self.back == NIL {
            self.front = slot;
        } else {
            links.0[self.back as usize][1] = slot;
        }
        self.back = slot;
    }

    pub(super) fn remove(&mut self, links: &mut Links, slot: u32) {
        let [prev, next] = links.0[slot as usize];
        if prev == NIL {
            self.front = next;
        } else {
            links.0[prev as usize][1] = next;
        }
        if next == NIL {
            self.back = prev;
        } else {
            links.0[next as usize][0] = prev;
        }
        links.0[slot as usize] = [NIL, NIL];
    }

    pub(super) fn move_to_back(&mut self, links: &mut Links, slot: u32) {
        self.remove(links, slot);
        self.push_back(links, slot);
    }

    pub(super) fn pop_front(&mut self, links: &mut Links) -> Option<u32> {
        let slot = self.front()?;
        self.remove(links, slot);
        Some(slot)
    }
}
