//! twemproxy's `distribution: ketama` with its default `hash: fnv1a_64`, reproduced exactly so
//! a cluster moved from twemproxy keeps every key on the node that already holds it.
//!
//! As twemproxy computes it: each server gets `floor(weight / total * 160 / 4 * servers) * 4`
//! points, four per MD5 digest of `"<name>-<i>"`, where the name is the server's configured
//! name or `host:port`. The key hash is FNV-1a with the 64-bit constants truncated to 32 bits
//! and each byte sign-extended (C `char`), and a key goes to the first point at or after it.

use md5::{Digest, Md5};

use crate::Member;

const POINTS_PER_SERVER: f32 = 160.0;
const POINTS_PER_HASH: u32 = 4;

/// twemproxy's `hash_fnv1a_64`, bit for bit.
pub fn fnv1a_64(key: &[u8]) -> u32 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64 as u32;
    for &byte in key {
        hash ^= byte as i8 as i32 as u32;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3u64 as u32);
    }
    hash
}

#[derive(Debug, Clone)]
pub struct Continuum {
    points: Vec<(u32, u16)>,
}

impl Continuum {
    pub fn new(members: &[Member]) -> Continuum {
        let total: u64 = members.iter().map(|m| u64::from(m.weight)).sum();
        let live = members.len() as f32;
        let mut points = Vec::new();
        for (owner, member) in members.iter().enumerate() {
            // The same float steps as twemproxy's C, so the point count matches to the unit.
            let share = member.weight as f32 / total as f32;
            let scaled = share * POINTS_PER_SERVER / 4.0 * live;
            let count = ((f64::from(scaled) + 0.000_000_000_1) as f32).floor() as u32 * 4;
            for i in 0..count / POINTS_PER_HASH {
                let digest = Md5::digest(format!("{}-{i}", member.name).as_bytes());
                for chunk in digest.chunks_exact(4) {
                    let value = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                    points.push((value, owner as u16));
                }
            }
        }
        points.sort_by_key(|p| p.0);
        Continuum { points }
    }

    pub fn node_for_hash(&self, hash: u32) -> usize {
        if self.points.is_empty() {
            return 0;
        }
        let mut position = self.points.partition_point(|p| p.0 < hash);
        if position == self.points.len() {
            position = 0;
        }
        usize::from(self.points[position].1)
    }

    pub fn heap_bytes(&self) -> usize {
        self.points.capacity() * 8
    }
}
