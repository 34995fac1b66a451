//! Maglev hashing (Eisenbud et al., NSDI 2016): a lookup table filled by letting each node
//! claim slots in the order of its own permutation, round-robin, until the table is full.
//!
//! Every node ends up with its weighted share of the slots to within one, so balance is
//! limited only by how keys fall on slots; lookup is one modulo and one read. The price is a
//! little extra movement: when a node joins, a few slots change hands between nodes that stay.

use crate::Member;

/// Table size: a prime, so every `skip` in `1..SIZE` visits every slot; large against the node
/// count (Maglev wants `SIZE >> nodes`) so shares stay within `nodes / SIZE` of fair.
pub const SIZE: usize = 65_537;

const EMPTY: u16 = u16::MAX;

#[derive(Debug, Clone)]
pub struct Maglev {
    slots: Vec<u16>,
}

impl Maglev {
    pub fn new(members: &[Member]) -> Maglev {
        let mut slots = vec![EMPTY; SIZE];
        if members.is_empty() {
            return Maglev { slots };
        }
        // Fill in name order so that the order members were listed in does not matter.
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.sort_by(|&a, &b| members[a].name.cmp(&members[b].name));
        let size = SIZE as u64;
        let permutation: Vec<(u64, u64)> = members
            .iter()
            .map(|m| {
                let name = m.name.as_bytes();
                let offset = xxhash_rust::xxh3::xxh3_64_with_seed(name, 0x6d61_676c) % size;
                let skip = xxhash_rust::xxh3::xxh3_64_with_seed(name, 0x736b_6970) % (size - 1) + 1;
                (offset, skip)
            })
            .collect();
        let max_weight = members
            .iter()
            .map(|m| u64::from(m.weight))
            .max()
            .unwrap_or(1);
        let mut next = vec![0u64; members.len()];
        let mut credit = vec![0u64; members.len()];
        let mut filled = 0usize;
        'fill: loop {
            for &node in &order {
                // Weighted Maglev: a node of weight w takes w / max_weight turns per round.
                credit[node] += u64::from(members[node].weight);
                while credit[node] >= max_weight {
                    credit[node] -= max_weight;
                    let (offset, skip) = permutation[node];
                    loop {
                        let slot = ((offset + next[node] * skip) % size) as usize;
                        next[node] += 1;
                        if slots[slot] == EMPTY {
                            // Ring::new caps members below u16::MAX, so no index equals EMPTY.
                            slots[slot] = node as u16;
                            break;
                        }
                    }
                    filled += 1;
                    if filled == SIZE {
                        break 'fill;
                    }
                }
            }
        }
        Maglev { slots }
    }

    pub fn node_for_hash(&self, hash: u64) -> usize {
        usize::from(self.slots[(hash % SIZE as u64) as usize])
    }

    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * 2
    }
}
