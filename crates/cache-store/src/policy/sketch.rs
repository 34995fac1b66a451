//! A count-min sketch of 4-bit counters: how often each key hash was seen lately.
//!
//! Four counters per key, in different 64-bit words of one cache-line block; the
//! estimate is their minimum, and an increment raises only the counters at that minimum
//! (conservative update), which keeps collisions from inflating estimates. After
//! [`SAMPLE_FACTOR`]` × width` increments every counter is halved, so the sketch follows a
//! changing popularity: the "reset" of TinyLFU. The table grows with the number of entries it has
//! to tell apart: one 64-bit word (16 counters) per entry, rounded up to a power of two.
//!
//! The period is 40 × width rather than TinyLFU's usual 10 × width. Under Zipf(1) a key ranked
//! at the cache's capacity is seen about `period / (capacity × H)` times per period (`H` ≈ 10
//! for 10,000 keys), so at 10 × width the keys at the admission boundary carry counts of 1 or 2
//! and admission there is a coin flip; at 40 × width they carry 4 to 8, well inside the 4-bit
//! range, while the hottest keys saturate at 15 (which costs nothing: they are never near the
//! boundary). The longer memory is slower to forget a popularity that changed; the policy's
//! adaptive window (see `tinylfu.rs`) covers the recency that the sketch now misses.

const SEEDS: [u64; 4] = [
    0x9E37_79B9_7F4A_7C15,
    0xC2B2_AE3D_27D4_EB4F,
    0x1656_67B1_9E37_79F9,
    0x85EB_CA77_C2B2_AE63,
];
const RESET_MASK: u64 = 0x7777_7777_7777_7777;
/// Words in a block: one 64-byte cache line.
const BLOCK_WORDS: usize = 8;
/// The counters are halved after this many increments per table word.
pub(crate) const SAMPLE_FACTOR: usize = 40;

#[derive(Debug)]
pub(crate) struct FrequencySketch {
    table: Vec<u64>,
    additions: usize,
}

impl FrequencySketch {
    pub(crate) fn new() -> FrequencySketch {
        FrequencySketch {
            table: vec![0; 64],
            additions: 0,
        }
    }

    /// Makes room to tell `entries` keys apart. Growing keeps every estimate: a key's word
    /// index gains one high bit, so copying the table into both halves leaves each counter
    /// where its keys will look for it.
    pub(crate) fn ensure_capacity(&mut self, entries: usize) {
        let want = entries.next_power_of_two();
        while want > self.table.len() {
            self.table.extend_from_within(..);
        }
    }

    /// The four counters of `hash`: all in one 64-byte block of eight words, so a lookup or
    /// an increment costs one cache miss instead of four. The block comes from the low bits of
    /// the hash (the bits that grow with the table), the word and nibble within it from four
    /// independent rehashes.
    fn positions(&self, hash: u64) -> [(usize, u32); 4] {
        let block_mask = self.table.len() / BLOCK_WORDS - 1;
        let block = ((hash ^ (hash >> 32)) as usize & block_mask) * BLOCK_WORDS;
        std::array::from_fn(|i| {
            let mut h = (hash ^ SEEDS[i]).wrapping_mul(SEEDS[(i + 1) % 4]);
            h ^= h >> 29;
            (
                block + (h >> 40) as usize % BLOCK_WORDS,
                ((h >> 58) as u32 & 15) * 4,
            )
        })
    }

    /// The estimated count of `hash`, 0 to 15.
    pub(crate) fn frequency(&self, hash: u64) -> u8 {
        self.positions(hash)
            .iter()
            .map(|&(word, shift)| ((self.table[word] >> shift) & 15) as u8)
            .min()
            .unwrap_or(0)
    }

    /// Counts one more sighting of `hash`.
    pub(crate) fn increment(&mut self, hash: u64) {
        let positions = self.positions(hash);
        let min = positions
            .iter()
            .map(|&(word, shift)| (self.table[word] >> shift) & 15)
            .min()
            .unwrap_or(0);
        if min == 15 {
            return;
        }
        for (word, shift) in positions {
            if (self.table[word] >> shift) & 15 == min {
                self.table[word] += 1 << shift;
            }
        }
        self.additions += 1;
        if self.additions >= SAMPLE_FACTOR * self.table.len() {
            for word in &mut self.table {
                *word = (*word >> 1) & RESET_MASK;
            }
            self.additions /= 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{FrequencySketch, SAMPLE_FACTOR};

    #[test]
    fn counts_and_saturates() {
        let mut s = FrequencySketch::new();
        s.ensure_capacity(1024);
        for _ in 0..5 {
            s.increment(42);
        }
        assert_eq!(s.frequency(42), 5);
        for _ in 0..50 {
            s.increment(42);
        }
        assert_eq!(s.frequency(42), 15);
        assert!(s.frequency(43) <= 1);
    }

    #[test]
    fn growing_keeps_counts() {
        let mut s = FrequencySketch::new();
        for _ in 0..6 {
            s.increment(99);
        }
        s.ensure_capacity(5000);
        assert_eq!(s.frequency(99), 6);
    }

    #[test]
    fn halves_after_the_sample_period() {
        let mut s = FrequencySketch::new();
        for _ in 0..8 {
            s.increment(7);
        }
        let hot = s.frequency(7);
        for i in 0..(SAMPLE_FACTOR * 64) as u64 {
            s.increment(1000 + i);
        }
        assert!(s.frequency(7) < hot);
    }
}
