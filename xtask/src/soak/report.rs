//! The soak's output: a row per interval while it runs, and at the end a report (Markdown or
//! JSON) with the totals, the rows, the churn events, every process's memory and the verdict.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

use super::churn::Event;
use super::load::Shared;
use super::stats::{ErrorCount, Growth, Row};
use super::{Monitor, Preload};

/// What the run was asked to do.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub minutes: f64,
    pub nodes: usize,
    pub clients: usize,
    pub keys: u64,
    pub maxmemory: String,
    pub interval: f64,
    pub binaries: String,
    pub seed: u64,
    pub value_sizes: (usize, usize),
}

impl Settings {
    pub fn describe(&self) -> String {
        format!(
            "soak: {} min, {} nodes (maxmemory {}) behind a proxy, {} clients, {} keys, values {}..{} bytes, {} binaries, seed {}",
            self.minutes,
            self.nodes,
            self.maxmemory,
            self.clients,
            self.keys,
            self.value_sizes.0,
            self.value_sizes.1,
            self.binaries,
            self.seed
        )
    }
}

/// The whole run's counts.
#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    pub seconds: f64,
    pub ops: u64,
    pub ops_per_sec: f64,
    pub reads: u64,
    pub misses: u64,
    pub miss_percent: f64,
    pub errors: BTreeMap<String, ErrorCount>,
    pub stale_in_churn: u64,
    pub counter_resets: u64,
    pub counter_jumps_in_churn: u64,
    pub wrong: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// One process incarnation's memory.
#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    pub name: String,
    pub incarnation: u32,
    pub from: f64,
    pub to: f64,
    pub first_mib: f64,
    pub last_mib: f64,
    pub max_mib: f64,
    pub full_since: Option<f64>,
    pub growth: Growth,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub settings: Settings,
    pub preload: Preload,
    pub totals: Totals,
    pub rows: Vec<Row>,
    pub events: Vec<Event>,
    pub memory: Vec<Memory>,
    /// The first findings (unexpected errors, wrong values, ...), and how many there were.
    pub findings: Vec<String>,
    pub findings_total: u64,
    /// Why the run failed; empty if it passed.
    pub failures: Vec<String>,
}

const MIB: f64 = 1024.0 * 1024.0;

impl Report {
    pub fn new(
        settings: Settings,
        preload: Preload,
        monitor: &Monitor,
        events: Vec<Event>,
        shared: &Shared,
        run_seconds: f64,
    ) -> Report {
        let t = &monitor.total;
        let seconds = monitor.rows.last().map_or(0.0, |r| r.at);
        let totals = Totals {
            seconds,
            ops: t.ops,
            ops_per_sec: t.ops as f64 / seconds.max(1e-9),
            reads: t.reads,
            misses: t.misses,
            miss_percent: t.miss_percent(),
            errors: t.errors.clone(),
            stale_in_churn: t.stale_in_churn,
            counter_resets: t.counter_resets,
            counter_jumps_in_churn: t.counter_jumps_in_churn,
            wrong: t.wrong,
            p50_ms: t.quantile_ms(0.5),
            p99_ms: t.quantile_ms(0.99),
            p999_ms: t.quantile_ms(0.999),
            max_ms: t.max_ms(),
        };
        let memory: Vec<Memory> = monitor
            .series
            .values()
            .map(|s| Memory {
                name: s.name.clone(),
                incarnation: s.incarnation,
                from: s.first_seen,
                to: s.last_seen,
                first_mib: s.samples.first().map_or(0.0, |x| x.1 as f64 / MIB),
                last_mib: s.samples.last().map_or(0.0, |x| x.1 as f64 / MIB),
                max_mib: s.samples.iter().map(|x| x.1).max().unwrap_or(0) as f64 / MIB,
                full_since: s.full_since,
                growth: s.growth(run_seconds),
            })
            .collect();
        let (findings, findings_total) = shared.findings();
        let mut failures = Vec::new();
        if findings_total > 0 {
            failures.push(format!(
                "{findings_total} finding(s) (unexpected errors, wrong or stale values, churn that did not settle, deaths); the first: {}",
                findings.first().map_or("", String::as_str)
            ));
        }
        for m in &memory {
            if let Growth::Judged {
                early_mib,
                late_mib,
                rate_mib_per_min,
                limit_mib,
                grew: true,
                ..
            } = &m.growth
            {
                failures.push(format!(
                    "{} (incarnation {}) kept growing: median RSS {early_mib:.1} -> {late_mib:.1} MiB ({rate_mib_per_min:.2} MiB/min), limit {limit_mib:.1} MiB",
                    m.name, m.incarnation
                ));
            }
        }
        Report {
            settings,
            preload,
            totals,
            rows: monitor.rows.clone(),
            events,
            memory,
            findings,
            findings_total,
            failures,
        }
    }

    /// Writes JSON if `path` ends in `.json`, Markdown otherwise.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let text = if path.extension().is_some_and(|e| e == "json") {
            serde_json::to_string_pretty(self)?
        } else {
            self.markdown()
        };
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    }

    fn markdown(&self) -> String {
        let mut md = String::from("# Soak report\n\n");
        let _ = writeln!(md, "{}\n", self.settings.describe());
        let _ = writeln!(md, "{}\n", self.preload.describe());
        md.push_str(&self.totals_section());
        md.push_str("\n## Over time\n\n");
        let _ = writeln!(
            md,
            "| t (s) | ops/s | miss % | errors expected | errors unexpected | wrong | stale in churn | p50 ms | p99 ms | p99.9 ms | max ms | RSS MiB |"
        );
        md.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for r in &self.rows {
            let _ = writeln!(
                md,
                "| {:.0} | {:.0} | {:.1} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {} |",
                r.at,
                r.ops_per_sec,
                r.miss_percent,
                r.errors_expected,
                r.errors_unexpected,
                r.wrong,
                r.stale_in_churn,
                r.p50_ms,
                r.p99_ms,
                r.p999_ms,
                r.max_ms,
                rss_list(&r.rss_mib)
            );
        }
        md.push_str("\n## Churn\n\n");
        for e in &self.events {
            let _ = writeln!(md, "- {:.1} s: {}", e.at, e.text);
        }
        md.push_str(&self.memory_section());
        md.push_str(&self.verdict_section());
        md
    }

    /// What is printed at the end of a run (the rows and events were printed as they came).
    pub fn summary(&self) -> String {
        let mut text = String::from("\n");
        text.push_str(&self.totals_section());
        text.push_str(&self.memory_section());
        text.push_str(&self.verdict_section());
        text
    }

    fn totals_section(&self) -> String {
        let t = &self.totals;
        let mut md = String::from("## Totals\n\n");
        let _ = writeln!(
            md,
            "- {} requests in {:.0} s: {:.0} ops/s",
            t.ops, t.seconds, t.ops_per_sec
        );
        let _ = writeln!(
            md,
            "- keys read {}, misses {} ({:.1}%)",
            t.reads, t.misses, t.miss_percent
        );
        let _ = writeln!(
            md,
            "- latency: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.1} ms",
            t.p50_ms, t.p99_ms, t.p999_ms, t.max_ms
        );
        let _ = writeln!(
            md,
            "- stale copies read in churn windows {}, counters restarted at 1 {}, counter jumps in churn windows {}, wrong values {}",
            t.stale_in_churn, t.counter_resets, t.counter_jumps_in_churn, t.wrong
        );
        if t.errors.is_empty() {
            md.push_str("- errors: none\n");
        } else {
            md.push_str("\n| error | expected (churn) | unexpected |\n|---|---:|---:|\n");
            for (kind, count) in &t.errors {
                let _ = writeln!(md, "| {kind} | {} | {} |", count.expected, count.unexpected);
            }
        }
        md
    }

    fn memory_section(&self) -> String {
        let mut md = String::from(
            "\n## Memory (RSS)\n\n| process | seen (s) | first MiB | last MiB | max MiB | full at (s) | growth rule |\n|---|---|---:|---:|---:|---:|---|\n",
        );
        for m in &self.memory {
            let verdict = match &m.growth {
                Growth::NotJudged(why) => format!("not judged: {why}"),
                Growth::Judged {
                    early_mib,
                    late_mib,
                    rate_mib_per_min,
                    limit_mib,
                    grew,
                    ..
                } => format!(
                    "{} {early_mib:.1} -> {late_mib:.1} MiB ({rate_mib_per_min:+.2} MiB/min, limit {limit_mib:.1} MiB)",
                    if *grew { "GREW" } else { "flat" }
                ),
            };
            let name = if m.incarnation > 1 {
                format!("{} (restart {})", m.name, m.incarnation - 1)
            } else {
                m.name.clone()
            };
            let _ = writeln!(
                md,
                "| {name} | {:.0}–{:.0} | {:.1} | {:.1} | {:.1} | {} | {verdict} |",
                m.from,
                m.to,
                m.first_mib,
                m.last_mib,
                m.max_mib,
                m.full_since.map_or("-".to_owned(), |f| format!("{f:.0}"))
            );
        }
        md
    }

    fn verdict_section(&self) -> String {
        let mut md = String::from("\n## Verdict\n\n");
        if self.failures.is_empty() {
            md.push_str("Passed: no unexpected error, no wrong value, every churn step settled, no process died on its own, no RSS growth.\n");
        } else {
            for failure in &self.failures {
                let _ = writeln!(md, "- FAILED: {failure}");
            }
        }
        if !self.findings.is_empty() {
            let _ = writeln!(
                md,
                "\nFindings ({} of {}):\n",
                self.findings.len(),
                self.findings_total
            );
            for finding in &self.findings {
                let _ = writeln!(md, "- {finding}");
            }
        }
        md
    }
}

fn rss_list(rss: &BTreeMap<String, f64>) -> String {
    rss.iter()
        .map(|(name, mib)| format!("{name} {mib:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The column titles of [`row_line`].
pub fn header() -> String {
    format!(
        "{:>7} {:>8} {:>6} {:>11} {:>5} {:>6} {:>8} {:>8} {:>8} {:>8}  RSS MiB",
        "t s",
        "ops/s",
        "miss%",
        "err exp/un",
        "wrong",
        "stale",
        "p50 ms",
        "p99 ms",
        "p999 ms",
        "max ms"
    )
}

/// One interval as a line of the live table, with its errors by kind below it.
pub fn row_line(r: &Row) -> String {
    let mut line = format!(
        "{:>7.1} {:>8.0} {:>6.1} {:>11} {:>5} {:>6} {:>8.2} {:>8.2} {:>8.2} {:>8.1}  {}",
        r.at,
        r.ops_per_sec,
        r.miss_percent,
        format!("{}/{}", r.errors_expected, r.errors_unexpected),
        r.wrong,
        r.stale_in_churn,
        r.p50_ms,
        r.p99_ms,
        r.p999_ms,
        r.max_ms,
        rss_list(&r.rss_mib)
    );
    for (kind, count) in &r.errors {
        let _ = write!(
            line,
            "\n{:>17} {kind}: {} expected, {} unexpected",
            "", count.expected, count.unexpected
        );
    }
    line
}
