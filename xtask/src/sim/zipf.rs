//! A seeded Zipf sampler: no `rand` crate, the same sequence for the same seed on every machine.

/// SplitMix64 (Steele, Lea and Flood, 2014): tiny, fast and well mixed; enough for workloads.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float uniformly in [0, 1), from the top 53 bits.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Ranks `0..keys` drawn with probability proportional to `1 / (rank + 1)^exponent`, by
/// inverse CDF: a binary search of a uniform draw in the precomputed cumulative weights.
#[derive(Debug, Clone)]
pub(crate) struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    /// A sampler over `keys` ranks (at least one).
    pub(crate) fn new(keys: usize, exponent: f64) -> Zipf {
        let mut total = 0.0;
        let cumulative = (1..=keys.max(1))
            .map(|rank| {
                total += (rank as f64).powf(-exponent);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    /// The next rank, 0 being the most popular.
    pub(crate) fn sample(&self, rng: &mut SplitMix64) -> u64 {
        // Invariant: `new` makes at least one weight, so `last` exists.
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let u = rng.next_f64() * total;
        let rank = self.cumulative.partition_point(|&c| c <= u);
        // Rounding could put `u` at the very top; it belongs to the last rank.
        rank.min(self.cumulative.len() - 1) as u64
    }
}

/// `requests` ranks of a Zipf(`exponent`) over `keys` keys, from `seed`.
pub(crate) fn requests(keys: usize, exponent: f64, requests: usize, seed: u64) -> Vec<u64> {
    let zipf = Zipf::new(keys, exponent);
    let mut rng = SplitMix64::new(seed);
    (0..requests).map(|_| zipf.sample(&mut rng)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference() {
        // First outputs of the reference splitmix64 seeded with 0.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn frequencies_follow_the_power_law() {
        let (keys, n) = (1000, 400_000);
        let seq = requests(keys, 1.0, n, 7);
        let mut counts = vec![0u32; keys];
        for &r in &seq {
            counts[r as usize] += 1;
        }
        let harmonic: f64 = (1..=keys).map(|k| 1.0 / k as f64).sum();
        for rank in [0usize, 1, 9, 99] {
            let expected = n as f64 / (rank as f64 + 1.0) / harmonic;
            let got = f64::from(counts[rank]);
            assert!(
                (got - expected).abs() < 0.05 * expected,
                "rank {rank}: {got} vs {expected}"
            );
        }
        // The share of the top 10% is H(100) / H(1000).
        let top: u32 = counts[..100].iter().sum();
        let want = (1..=100).map(|k| 1.0 / k as f64).sum::<f64>() / harmonic;
        assert!((f64::from(top) / n as f64 - want).abs() < 0.005);
    }

    #[test]
    fn seeded_and_in_range() {
        assert_eq!(requests(50, 0.8, 1000, 3), requests(50, 0.8, 1000, 3));
        assert_ne!(requests(50, 0.8, 1000, 3), requests(50, 0.8, 1000, 4));
        assert!(requests(50, 0.8, 10_000, 3).iter().all(|&r| r < 50));
        assert!(requests(1, 1.0, 10, 3).iter().all(|&r| r == 0));
    }
}
