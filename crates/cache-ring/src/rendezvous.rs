//! Rendezvous (highest random weight) hashing: every node scores the key and the best score
//! wins. Weighted with the logarithmic method, `-weight / ln(u)` for a uniform `u` in (0, 1),
//! which gives each node exactly its weighted share and moves only the keys that must move.

use crate::{Member, mix64};

#[derive(Debug, Clone)]
pub struct Rendezvous {
    /// Per-member seed (hash of the name) and weight.
    nodes: Vec<(u64, f64)>,
    equal_weights: bool,
}

impl Rendezvous {
    pub fn new(members: &[Member]) -> Rendezvous {
        let nodes: Vec<(u64, f64)> = members
            .iter()
            .map(|m| {
                (
                    xxhash_rust::xxh3::xxh3_64(m.name.as_bytes()),
                    f64::from(m.weight),
                )
            })
            .collect();
        let equal_weights = members.windows(2).all(|w| w[0].weight == w[1].weight);
        Rendezvous {
            nodes,
            equal_weights,
        }
    }

    pub fn node_for_hash(&self, hash: u64) -> usize {
        if self.equal_weights {
            // Ties between 64-bit scores need equal seeds, and names are unique.
            let mut best = (0u64, 0usize);
            for (i, &(seed, _)) in self.nodes.iter().enumerate() {
                let score = mix64(hash ^ seed);
                if score >= best.0 {
                    best = (score, i);
                }
            }
            return best.1;
        }
        let mut best = (f64::NEG_INFINITY, 0usize);
        for (i, &(seed, weight)) in self.nodes.iter().enumerate() {
            // A uniform value in (0, 1): 53 random bits, offset by half a step from 0.
            let unit = ((mix64(hash ^ seed) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            let score = -weight / unit.ln();
            if score > best.0 {
                best = (score, i);
            }
        }
        best.1
    }

    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * 16
    }
}
