//! Consistent hashing: which node of a cluster holds a key.
//!
//! Every proxy and every cluster client must place a key on the same node, so placement depends
//! only on the key's bytes and the member list: the key hash is [`key_hash`] (XXH3-64, seed 0,
//! fixed forever), never the store's per-process randomized hasher. A [`Ring`] is built once from
//! named, weighted [`Member`]s and then answers [`Ring::node_for`] without allocating; a change of
//! membership builds a new ring, which callers swap in atomically.
//!
//! Several [`Algorithm`]s are offered. The default was chosen by measurement (`cargo xtask ring`,
//! figures in `docs/benchmarks.md`); [`Algorithm::Twemproxy`] places keys exactly as twemproxy's
//! `distribution: ketama` with `hash: fnv1a_64` does, for users migrating a warm cluster.
//!
//! **Architecture Invariant:** no I/O, no clock, no threads, no randomness: a ring is a pure
//! function of its members.

mod error;
mod maglev;
mod multiprobe;
mod points;
mod rendezvous;
mod router;
mod twemproxy;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

pub use error::{Error, Result};
pub use router::{DownMode, Route, Router};

/// The stable hash of a key: XXH3-64 with seed 0 over the key's bytes.
///
/// This is part of the cluster's contract: a client written in another language places keys
/// like the proxy by computing the same function.
pub fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// A node as the ring sees it: a name that identifies it across restarts and a relative weight.
///
/// The name, not the position in a list, decides where the node's share of the keyspace lies,
/// so two proxies given the same members in a different order agree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Member {
    pub name: String,
    /// Relative share of keys, at least 1. A node of weight 2 gets twice the keys of weight 1.
    pub weight: u32,
}

impl Member {
    /// A member of weight 1.
    pub fn new(name: impl Into<String>) -> Member {
        Member {
            name: name.into(),
            weight: 1,
        }
    }

    /// A member of the given weight.
    pub fn weighted(name: impl Into<String>, weight: u32) -> Member {
        Member {
            name: name.into(),
            weight,
        }
    }
}

/// How keys are spread over members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// A hash ring with [`points::POINTS_PER_WEIGHT`] points per unit of weight (XXH3 of
    /// `name-i`), looked up through a 2^16-bucket index. Adding or removing a node moves only
    /// the keys of the arcs it gains or loses.
    Ketama,
    /// Google's Maglev lookup table (65,537 slots): near-perfect balance, one memory read per
    /// lookup, slightly more movement than ideal.
    #[default]
    Maglev,
    /// Highest random weight: every node scores every key; ideal movement and balance, but a
    /// lookup costs one hash per node.
    Rendezvous,
    /// Multi-probe consistent hashing: one point per node, 21 probes per key.
    MultiProbe,
    /// twemproxy's ketama (MD5 points, 160 per server scaled by weight, `fnv1a_64` key hash
    /// truncated to 32 bits, as twemproxy computes it).
    Twemproxy,
}

impl Algorithm {
    /// Every algorithm, for reports.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Ketama,
        Algorithm::Maglev,
        Algorithm::Rendezvous,
        Algorithm::MultiProbe,
        Algorithm::Twemproxy,
    ];

    /// The name used in flags and config files.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Ketama => "ketama",
            Algorithm::Maglev => "maglev",
            Algorithm::Rendezvous => "rendezvous",
            Algorithm::MultiProbe => "multiprobe",
            Algorithm::Twemproxy => "twemproxy",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownAlgorithm(s.to_owned()))
    }
}

/// The placement structure of one algorithm.
#[derive(Debug, Clone)]
enum Table {
    Points(points::Points),
    Maglev(maglev::Maglev),
    Rendezvous(rendezvous::Rendezvous),
    MultiProbe(multiprobe::MultiProbe),
    Twemproxy(twemproxy::Continuum),
}

/// An immutable placement of keys on members.
#[derive(Debug, Clone)]
pub struct Ring {
    algorithm: Algorithm,
    members: Vec<Member>,
    table: Table,
}

impl Ring {
    /// Builds a ring. Member names must be unique and non-empty and weights at least 1; an
    /// empty member list is allowed and places no key.
    pub fn new(algorithm: Algorithm, members: Vec<Member>) -> Result<Ring> {
        let mut seen = std::collections::HashSet::new();
        for member in &members {
            if member.name.is_empty() {
                return Err(Error::EmptyName);
            }
            if member.weight == 0 {
                return Err(Error::ZeroWeight(member.name.clone()));
            }
            if !seen.insert(member.name.as_str()) {
                return Err(Error::DuplicateName(member.name.clone()));
            }
        }
        if members.len() > usize::from(u16::MAX) {
            return Err(Error::TooManyMembers(members.len()));
        }
        let table = match algorithm {
            Algorithm::Ketama => Table::Points(points::Points::new(&members)),
            Algorithm::Maglev => Table::Maglev(maglev::Maglev::new(&members)),
            Algorithm::Rendezvous => Table::Rendezvous(rendezvous::Rendezvous::new(&members)),
            Algorithm::MultiProbe => Table::MultiProbe(multiprobe::MultiProbe::new(&members)),
            Algorithm::Twemproxy => Table::Twemproxy(twemproxy::Continuum::new(&members)),
        };
        Ok(Ring {
            algorithm,
            members,
            table,
        })
    }

    /// The algorithm this ring uses.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The members, in the order given to [`Ring::new`].
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// True if the ring has no member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The index (into [`Ring::members`]) of the member that holds `key`, or `None` for an
    /// empty ring.
    pub fn node_for(&self, key: &[u8]) -> Option<usize> {
        if self.members.is_empty() {
            return None;
        }
        Some(match &self.table {
            Table::Twemproxy(t) => t.node_for_hash(twemproxy::fnv1a_64(key)),
            _ => return self.node_for_hash(key_hash(key)),
        })
    }

    /// The member for a precomputed [`key_hash`]. For [`Algorithm::Twemproxy`], which hashes
    /// keys its own way, the hash must come from that algorithm's hash instead; prefer
    /// [`Ring::node_for`].
    pub fn node_for_hash(&self, hash: u64) -> Option<usize> {
        if self.members.is_empty() {
            return None;
        }
        Some(match &self.table {
            Table::Points(t) => t.node_for_hash(hash),
            Table::Maglev(t) => t.node_for_hash(hash),
            Table::Rendezvous(t) => t.node_for_hash(hash),
            Table::MultiProbe(t) => t.node_for_hash(hash),
            Table::Twemproxy(t) => t.node_for_hash(hash as u32),
        })
    }

    /// Bytes the placement structure occupies on the heap (member names excluded).
    pub fn table_bytes(&self) -> usize {
        match &self.table {
            Table::Points(t) => t.heap_bytes(),
            Table::Maglev(t) => t.heap_bytes(),
            Table::Rendezvous(t) => t.heap_bytes(),
            Table::MultiProbe(t) => t.heap_bytes(),
            Table::Twemproxy(t) => t.heap_bytes(),
        }
    }
}

/// A 64-bit finalizer (the one from SplitMix64): spreads the bits of `x` over the whole word.
/// Used to derive per-node and per-probe values from one hash without hashing bytes again.
fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
