//! A classic hash ring with many points per node, and an index that makes lookup O(1).
//!
//! Each unit of weight puts [`POINTS_PER_WEIGHT`] points on a 64-bit circle at
//! `xxh3(name, seed = i)`; a key belongs to the first point at or after its hash. With `V`
//! points a node's share deviates from its fair share by about `1/sqrt(V)`, so many points buy
//! balance; the index keeps lookup from paying for them: the top 16 bits of the hash select a
//! bucket that records where its points start, leaving a scan of about `points / 65536` entries.

use crate::Member;

/// Points per unit of weight; chosen by `cargo xtask ring` as the knee between balance and
/// memory.
pub const POINTS_PER_WEIGHT: u32 = 1024;

const INDEX_BITS: u32 = 16;

#[derive(Debug, Clone)]
pub struct Points {
    /// Sorted point positions.
    points: Vec<u64>,
    /// `owners[i]` is the member index owning `points[i]`.
    owners: Vec<u16>,
    /// `index[b]` is the first position whose point has top bits `>= b`; one extra entry at the
    /// end holds `points.len()`.
    index: Vec<u32>,
}

impl Points {
    pub fn new(members: &[Member]) -> Points {
        let mut placed: Vec<(u64, u16)> = Vec::new();
        for (owner, member) in members.iter().enumerate() {
            let count = u64::from(member.weight) * u64::from(POINTS_PER_WEIGHT);
            for i in 0..count {
                let point = xxhash_rust::xxh3::xxh3_64_with_seed(member.name.as_bytes(), i);
                // Ring::new caps members at u16::MAX.
                placed.push((point, owner as u16));
            }
        }
        // Ties (vanishingly rare in 64 bits) are broken by name so the member order given does
        // not matter.
        placed.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| {
                members[usize::from(a.1)]
                    .name
                    .cmp(&members[usize::from(b.1)].name)
            })
        });
        let points: Vec<u64> = placed.iter().map(|p| p.0).collect();
        let owners = placed.iter().map(|p| p.1).collect();
        let buckets = 1usize << INDEX_BITS;
        let mut index = Vec::with_capacity(buckets + 1);
        let mut position = 0usize;
        for bucket in 0..buckets as u64 {
            let start = bucket << (64 - INDEX_BITS);
            while position < points.len() && points[position] < start {
                position += 1;
            }
            index.push(position as u32);
        }
        index.push(points.len() as u32);
        Points {
            points,
            owners,
            index,
        }
    }

    pub fn node_for_hash(&self, hash: u64) -> usize {
        let bucket = (hash >> (64 - INDEX_BITS)) as usize;
        let start = self.index[bucket] as usize;
        let end = self.index[bucket + 1] as usize;
        let mut position = start + self.points[start..end].partition_point(|&p| p < hash);
        if position == self.points.len() {
            position = 0;
        }
        usize::from(self.owners[position])
    }

    pub fn heap_bytes(&self) -> usize {
        self.points.capacity() * 8 + self.owners.capacity() * 2 + self.index.capacity() * 4
    }
}
