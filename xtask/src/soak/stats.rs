//! Accounting, free of I/O: what one interval counted (ops, misses, errors by kind, latency),
//! and the rule that decides whether a process's resident memory kept growing.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies are recorded in microseconds, up to a minute.
const MAX_MICROS: u64 = 60_000_000;

/// Error counts of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ErrorCount {
    /// Explained by churn (see [`super::checks::ErrorKind::expected`]).
    pub expected: u64,
    pub unexpected: u64,
}

/// What the clients counted over one interval (or, merged, the whole run).
#[derive(Debug, Clone)]
pub struct Tally {
    pub ops: u64,
    /// Keys read (`GET` counts one, `MGET` one per key), and those that missed.
    pub reads: u64,
    pub misses: u64,
    /// By [`super::checks::ErrorKind::label`].
    pub errors: BTreeMap<String, ErrorCount>,
    /// Reads of a stale copy that churn explains.
    pub stale_in_churn: u64,
    /// `INCR` replies of 1 for a counter that had counted further.
    pub counter_resets: u64,
    /// `INCR` replies that skipped, with churn to explain them.
    pub counter_jumps_in_churn: u64,
    /// Wrong values, stale reads and counter jumps nothing explains.
    pub wrong: u64,
    /// Per-request latency in microseconds.
    pub latency: Histogram<u64>,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            ops: 0,
            reads: 0,
            misses: 0,
            errors: BTreeMap::new(),
            stale_in_churn: 0,
            counter_resets: 0,
            counter_jumps_in_churn: 0,
            wrong: 0,
            // Invariant: the bounds are constants that hdrhistogram accepts (low >= 1,
            // high >= 2 * low, 3 significant figures).
            latency: Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds"),
        }
    }
}

impl Tally {
    pub fn record_latency(&mut self, micros: u64) {
        self.latency.saturating_record(micros.clamp(1, MAX_MICROS));
    }

    pub fn record_error(&mut self, label: String, expected: bool) {
        let count = self.errors.entry(label).or_default();
        if expected {
            count.expected += 1;
        } else {
            count.unexpected += 1;
        }
    }

    /// Back to zero, keeping the histogram's allocation.
    pub fn clear(&mut self) {
        self.ops = 0;
        self.reads = 0;
        self.misses = 0;
        self.errors.clear();
        self.stale_in_churn = 0;
        self.counter_resets = 0;
        self.counter_jumps_in_churn = 0;
        self.wrong = 0;
        self.latency.reset();
    }

    /// Adds `other` into this tally.
    pub fn merge(&mut self, other: &Tally) {
        self.ops += other.ops;
        self.reads += other.reads;
        self.misses += other.misses;
        for (label, count) in &other.errors {
            let mine = self.errors.entry(label.clone()).or_default();
            mine.expected += count.expected;
            mine.unexpected += count.unexpected;
        }
        self.stale_in_churn += other.stale_in_churn;
        self.counter_resets += other.counter_resets;
        self.counter_jumps_in_churn += other.counter_jumps_in_churn;
        self.wrong += other.wrong;
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
    }

    pub fn expected_errors(&self) -> u64 {
        self.errors.values().map(|c| c.expected).sum()
    }

    pub fn unexpected_errors(&self) -> u64 {
        self.errors.values().map(|c| c.unexpected).sum()
    }

    /// Misses as a share of keys read, in percent.
    pub fn miss_percent(&self) -> f64 {
        if self.reads == 0 {
            0.0
        } else {
            100.0 * self.misses as f64 / self.reads as f64
        }
    }

    /// A latency quantile in milliseconds (0 if nothing was recorded).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latency.is_empty() {
            0.0
        } else {
            self.latency.value_at_quantile(q) as f64 / 1000.0
        }
    }

    pub fn max_ms(&self) -> f64 {
        self.latency.max() as f64 / 1000.0
    }
}

/// The figures of one report row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Seconds since the load began, at the end of the interval.
    pub at: f64,
    pub ops_per_sec: f64,
    pub miss_percent: f64,
    pub errors_expected: u64,
    pub errors_unexpected: u64,
    pub errors: BTreeMap<String, ErrorCount>,
    pub wrong: u64,
    /// Stale copies read that churn explains.
    pub stale_in_churn: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// Resident MiB of every running process, by name, at the end of the interval.
    pub rss_mib: BTreeMap<String, f64>,
}

impl Row {
    pub fn new(at: f64, seconds: f64, tally: &Tally, rss_mib: BTreeMap<String, f64>) -> Row {
        Row {
            at,
            ops_per_sec: tally.ops as f64 / seconds.max(1e-9),
            miss_percent: tally.miss_percent(),
            errors_expected: tally.expected_errors(),
            errors_unexpected: tally.unexpected_errors(),
            errors: tally.errors.clone(),
            wrong: tally.wrong,
            stale_in_churn: tally.stale_in_churn,
            p50_ms: tally.quantile_ms(0.5),
            p99_ms: tally.quantile_ms(0.99),
            p999_ms: tally.quantile_ms(0.999),
            max_ms: tally.max_ms(),
            rss_mib,
        }
    }
}

/// RSS growth above which a process fails: the larger of these.
pub const GROWTH_LIMIT_BYTES: u64 = 4 << 20;
pub const GROWTH_LIMIT_SHARE: f64 = 0.05;
/// A steady window shorter than this, or with fewer samples, is not judged.
pub const MIN_STEADY_SECONDS: f64 = 20.0;
pub const MIN_STEADY_SAMPLES: usize = 10;

/// An RSS sample: seconds, bytes.
type Sample = (f64, u64);

/// The growth rule's finding for one process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Growth {
    /// Too little steady time to tell.
    NotJudged(String),
    /// Median RSS of the later half of the steady window against the earlier half.
    Judged {
        early_mib: f64,
        late_mib: f64,
        growth_mib: f64,
        /// MiB per minute between the halves' midpoints.
        rate_mib_per_min: f64,
        limit_mib: f64,
        grew: bool,
    },
}

/// Applies the growth rule to `samples` (seconds, RSS bytes) from `from` on: split the steady
/// window in two halves by time and compare their median RSS; the process grew if the later
/// median exceeds the earlier by more than [`GROWTH_LIMIT_BYTES`] or [`GROWTH_LIMIT_SHARE`] of
/// the earlier, whichever is larger. Medians ignore short spikes (a burst of large values); a
/// leak moves the whole later half.
pub fn growth(samples: &[(f64, u64)], from: f64) -> Growth {
    let steady: Vec<(f64, u64)> = samples
        .iter()
        .copied()
        .filter(|(t, _)| *t >= from)
        .collect();
    let (Some(first), Some(last)) = (steady.first(), steady.last()) else {
        return Growth::NotJudged("no samples in the steady window".to_owned());
    };
    let span = last.0 - first.0;
    if span < MIN_STEADY_SECONDS || steady.len() < MIN_STEADY_SAMPLES {
        return Growth::NotJudged(format!(
            "{span:.0} s and {} samples of steady state (need {MIN_STEADY_SECONDS:.0} s, {MIN_STEADY_SAMPLES})",
            steady.len()
        ));
    }
    let middle = first.0 + span / 2.0;
    let (early, late): (Vec<Sample>, Vec<Sample>) = steady.iter().partition(|(t, _)| *t < middle);
    let median = |half: &[(f64, u64)]| {
        let mut values: Vec<u64> = half.iter().map(|(_, v)| *v).collect();
        values.sort_unstable();
        values[values.len() / 2] as f64
    };
    let centre = |half: &[(f64, u64)]| half.iter().map(|(t, _)| t).sum::<f64>() / half.len() as f64;
    let (early_bytes, late_bytes) = (median(&early), median(&late));
    let limit = (GROWTH_LIMIT_BYTES as f64).max(GROWTH_LIMIT_SHARE * early_bytes);
    let growth = late_bytes - early_bytes;
    let minutes = (centre(&late) - centre(&early)) / 60.0;
    const MIB: f64 = 1024.0 * 1024.0;
    Growth::Judged {
        early_mib: early_bytes / MIB,
        late_mib: late_bytes / MIB,
        growth_mib: growth / MIB,
        rate_mib_per_min: growth / MIB / minutes.max(1e-9),
        limit_mib: limit / MIB,
        grew: growth > limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn tallies_merge_and_give_percentiles() {
        let mut a = Tally::default();
        for micros in 1..=1000 {
            a.record_latency(micros);
        }
        a.ops = 1000;
        a.reads = 800;
        a.misses = 200;
        a.record_error("unavailable".into(), true);
        let mut b = Tally::default();
        b.record_latency(90_000_000);
        b.ops = 1;
        b.record_error("unavailable".into(), false);
        b.record_error("client timeout".into(), false);
        a.merge(&b);
        assert_eq!(a.ops, 1001);
        assert_eq!(a.miss_percent(), 25.0);
        assert_eq!(a.expected_errors(), 1);
        assert_eq!(a.unexpected_errors(), 2);
        assert_eq!(
            a.errors["unavailable"],
            ErrorCount {
                expected: 1,
                unexpected: 1
            }
        );
        assert!(
            (a.quantile_ms(0.5) - 0.5).abs() < 0.01,
            "{}",
            a.quantile_ms(0.5)
        );
        assert!((a.quantile_ms(0.99) - 0.99).abs() < 0.01);
        // A latency over the histogram's range is kept at its top, not dropped.
        assert!(a.max_ms() >= 59_900.0, "{}", a.max_ms());
        let row = Row::new(10.0, 2.0, &a, BTreeMap::new());
        assert_eq!(row.ops_per_sec, 500.5);
        assert_eq!(row.errors_unexpected, 2);
    }

    #[test]
    fn an_empty_interval_reports_zeros() {
        let tally = Tally::default();
        assert_eq!(tally.miss_percent(), 0.0);
        assert_eq!(tally.quantile_ms(0.99), 0.0);
    }

    fn series(seconds: u32, rss: impl Fn(f64) -> f64) -> Vec<(f64, u64)> {
        (0..=seconds)
            .map(|t| (f64::from(t), rss(f64::from(t)) as u64))
            .collect()
    }

    #[test]
    fn a_plateau_passes_and_a_leak_of_a_few_mib_per_minute_fails() {
        // A node that filled up and stays full, with some noise.
        let plateau = series(600, |t| (90.0 + (t * 0.7).sin() * 1.5) * MIB as f64);
        match growth(&plateau, 200.0) {
            Growth::Judged { grew, .. } => assert!(!grew),
            other => panic!("{other:?}"),
        }
        // 2 MiB a minute over the last two thirds of ten minutes.
        let leak = series(600, |t| (90.0 + 2.0 * t / 60.0) * MIB as f64);
        match growth(&leak, 200.0) {
            Growth::Judged {
                grew,
                rate_mib_per_min,
                ..
            } => {
                assert!(grew);
                assert!((rate_mib_per_min - 2.0).abs() < 0.1, "{rate_mib_per_min}");
            }
            other => panic!("{other:?}"),
        }
        // A single spike late in the run moves no median.
        let spike = series(600, |t| {
            (if (500.0..505.0).contains(&t) {
                200.0
            } else {
                90.0
            }) * MIB as f64
        });
        assert!(matches!(
            growth(&spike, 200.0),
            Growth::Judged { grew: false, .. }
        ));
    }

    #[test]
    fn the_limit_is_a_share_of_large_processes() {
        // 6 MiB on 400 MiB is under 5% (20 MiB): not growth.
        let big = series(300, |t| {
            (400.0 + if t > 200.0 { 6.0 } else { 0.0 }) * MIB as f64
        });
        match growth(&big, 100.0) {
            Growth::Judged {
                grew, limit_mib, ..
            } => {
                assert!(!grew);
                assert!((limit_mib - 20.0).abs() < 0.01);
            }
            other => panic!("{other:?}"),
        }
        // The same 6 MiB on 20 MiB is over the 4 MiB floor.
        let small = series(300, |t| {
            (20.0 + if t > 200.0 { 6.0 } else { 0.0 }) * MIB as f64
        });
        assert!(matches!(
            growth(&small, 100.0),
            Growth::Judged { grew: true, .. }
        ));
    }

    #[test]
    fn short_windows_are_not_judged() {
        let short = series(100, |_| 50.0 * MIB as f64);
        assert!(matches!(growth(&short, 90.0), Growth::NotJudged(_)));
        assert!(matches!(growth(&short, 200.0), Growth::NotJudged(_)));
        assert!(matches!(growth(&[], 0.0), Growth::NotJudged(_)));
    }
}
