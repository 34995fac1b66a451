//! A small seeded generator (SplitMix64). The db suite's data must come out the same for a
//! seed in every run, and any one item must be reproducible on its own, so a value read back
//! during a measurement can be checked against what was generated without keeping it.

/// SplitMix64: one `u64` of state, good enough statistics for test data, and cheap.
#[derive(Debug, Clone)]
pub struct Rng(u64);

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The generator of item `item` of stream `stream`: items regenerate alone, in any order,
    /// and streams (products, blob sizes, ...) do not share numbers.
    pub fn for_item(seed: u64, stream: u64, item: u64) -> Rng {
        Rng(mix(mix(seed ^ mix(stream)) ^ item))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GAMMA);
        finalize(self.0)
    }

    /// Uniform in `0..n`; `n` must not be 0. Multiply-shift: the bias is below 2^-40 for the
    /// small ranges used here.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    /// One of `items`, which must not be empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        // 1 - unit() is in (0, 1]: the logarithm stays finite.
        let radius = (-2.0 * (1.0 - self.unit()).ln()).sqrt();
        radius * (std::f64::consts::TAU * self.unit()).cos()
    }

    /// Log-normal with the given median and sigma, rounded and clamped to `min..=max`.
    pub fn log_normal(&mut self, median: f64, sigma: f64, min: u64, max: u64) -> u64 {
        let value = (median.ln() + sigma * self.normal()).exp().round();
        (value as u64).clamp(min, max)
    }

    /// `items` in a random order (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn mix(x: u64) -> u64 {
    finalize(x.wrapping_add(GAMMA))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_numbers_every_time() {
        let first: Vec<u64> = (0..8).map(|_| Rng::new(7).next_u64()).collect();
        assert!(first.iter().all(|n| *n == first[0]));
        let mut a = Rng::for_item(42, 1, 99);
        let mut b = Rng::for_item(42, 1, 99);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut other_seed = Rng::for_item(43, 1, 99);
        let mut other_stream = Rng::for_item(42, 2, 99);
        let mut other_item = Rng::for_item(42, 1, 100);
        let x = Rng::for_item(42, 1, 99).next_u64();
        assert_ne!(x, other_seed.next_u64());
        assert_ne!(x, other_stream.next_u64());
        assert_ne!(x, other_item.next_u64());
    }

    #[test]
    fn ranges_hold() {
        let mut rng = Rng::new(1);
        let mut seen = [false; 6];
        for _ in 0..10_000 {
            let n = rng.between(3, 8);
            assert!((3..=8).contains(&n));
            seen[(n - 3) as usize] = true;
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u));
        }
        assert!(seen.iter().all(|s| *s), "every value comes up");
    }

    #[test]
    fn log_normal_sizes_stay_in_bounds_around_the_median() {
        let mut rng = Rng::new(42);
        let mut sizes: Vec<u64> = (0..20_001)
            .map(|_| rng.log_normal(24_576.0, 1.0, 1024, 4 << 20))
            .collect();
        assert!(sizes.iter().all(|s| (1024..=4 << 20).contains(s)));
        sizes.sort_unstable();
        let median = sizes[sizes.len() / 2] as f64;
        assert!((median / 24_576.0 - 1.0).abs() < 0.05, "median {median}");
        // sigma 1: about 16% of the sizes lie above median * e.
        let above = sizes.iter().filter(|s| **s as f64 > 24_576.0 * 1f64.exp());
        let share = above.count() as f64 / sizes.len() as f64;
        assert!(
            (0.14..0.18).contains(&share),
            "share above median*e {share}"
        );
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut items: Vec<u32> = (0..1000).collect();
        Rng::new(3).shuffle(&mut items);
        assert_ne!(items, (0..1000).collect::<Vec<_>>());
        items.sort_unstable();
        assert_eq!(items, (0..1000).collect::<Vec<_>>());
    }
}
