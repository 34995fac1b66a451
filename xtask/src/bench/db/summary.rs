//! Turns the measured cases into the suite's report: a table per query, the figures `--compare`
//! follows, one chart, and findings in words, every one computed from the figures.

use super::measure::Measured;
use crate::bench::{Metric, Plot, SuiteReport, Table, grouped};

/// What was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    ProductById,
    ProductsByCategory,
    BlobById,
}

/// How it was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    Files,
    Sqlite,
    CacheWarm,
    CacheCold,
}

const QUERIES: [Query; 3] = [
    Query::ProductById,
    Query::ProductsByCategory,
    Query::BlobById,
];
const WAYS: [Way; 4] = [Way::Files, Way::Sqlite, Way::CacheWarm, Way::CacheCold];

impl Query {
    fn slug(self) -> &'static str {
        match self {
            Query::ProductById => "product_by_id",
            Query::ProductsByCategory => "products_by_category",
            Query::BlobById => "blob_by_id",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Query::ProductById => "Product by id",
            Query::ProductsByCategory => "Products by category",
            Query::BlobById => "Blob by id",
        }
    }
}

impl Way {
    fn slug(self) -> &'static str {
        match self {
            Way::Files => "files",
            Way::Sqlite => "sqlite",
            Way::CacheWarm => "cache_warm",
            Way::CacheCold => "cache_cold",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Way::Files => "files",
            Way::Sqlite => "SQLite",
            Way::CacheWarm => "cache, warm",
            Way::CacheCold => "cache, cold",
        }
    }

    /// The direct way as an action, for sentences ("reading the files").
    fn action(self) -> &'static str {
        match self {
            Way::Files => "reading the files",
            Way::Sqlite => "querying SQLite",
            Way::CacheWarm => "reading the warm cache",
            Way::CacheCold => "reading the cold cache",
        }
    }

    fn is_direct(self) -> bool {
        matches!(self, Way::Files | Way::Sqlite)
    }
}

/// One measured case.
#[derive(Debug, Clone)]
pub struct Case {
    pub query: Query,
    pub way: Way,
    pub measured: Measured,
}

/// Under which conditions the cases ran, for the report's words.
#[derive(Debug, Clone)]
pub struct Conditions {
    pub records: usize,
    pub blob_median: usize,
    pub blob_bytes: u64,
    pub workers: usize,
    pub seconds: f64,
    pub nodes: usize,
    /// The data was written by this run (else reused from an earlier one).
    pub generated: bool,
    /// The servers are debug builds (`--debug`).
    pub debug_servers: bool,
}

pub fn report(cases: &[Case], conditions: &Conditions) -> SuiteReport {
    let mut report = SuiteReport {
        about: format!(
            "Reads of {} product records (by id, and a category page: the {} cheapest of a \
             category) and of {} blobs, from files, from SQLite and through cache-proxy over \
             {} cache-nodes, warm and read-through cold; {} concurrent workers, {} s per case.",
            grouped(conditions.records as f64),
            super::data::PAGE,
            grouped(conditions.records as f64),
            conditions.nodes,
            conditions.workers,
            conditions.seconds
        ),
        ..SuiteReport::default()
    };
    for query in QUERIES {
        let of_query: Vec<&Case> = cases.iter().filter(|c| c.query == query).collect();
        if of_query.is_empty() {
            continue;
        }
        report.tables.push(table(query, &of_query));
        for case in &of_query {
            let m = &case.measured;
            let name = format!("db/{}/{}", query.slug(), case.way.slug());
            report.metrics.push(Metric::higher(
                format!("{name}/ops_per_sec"),
                m.ops_per_sec(),
                "ops/s",
            ));
            report
                .metrics
                .push(Metric::lower(format!("{name}/p50_us"), m.micros(0.5), "µs"));
            report.metrics.push(Metric::lower(
                format!("{name}/p99_us"),
                m.micros(0.99),
                "µs",
            ));
        }
    }
    report.plots.push(chart(cases));
    report.findings = findings(cases, conditions);
    report
}

fn find(cases: &[&Case], way: Way) -> Option<Measured> {
    cases
        .iter()
        .find(|c| c.way == way)
        .map(|c| c.measured.clone())
}

fn table(query: Query, cases: &[&Case]) -> Table {
    let references: Vec<Way> = WAYS
        .into_iter()
        .filter(|w| w.is_direct() && cases.iter().any(|c| c.way == *w))
        .collect();
    let mut columns = vec!["way", "ops/s", "p50 µs", "p99 µs"];
    let headers: Vec<String> = references
        .iter()
        .map(|w| format!("vs {}", w.label()))
        .collect();
    columns.extend(headers.iter().map(String::as_str));
    columns.extend(["answers", "misses", "errors"]);
    let mut table = Table::new(query.title(), &columns);
    for case in cases {
        let m = &case.measured;
        let mut row = vec![
            case.way.label().to_owned(),
            rate(m.ops_per_sec()),
            micros(m.micros(0.5)),
            micros(m.micros(0.99)),
        ];
        for reference in &references {
            let base = find(cases, *reference).map_or(0.0, |r| r.ops_per_sec());
            row.push(ratio(m.ops_per_sec() / base));
        }
        row.push(grouped(m.ops as f64));
        row.push(grouped(m.misses as f64));
        row.push(grouped((m.errors + m.wrong) as f64));
        table.row(row);
    }
    table
}

fn chart(cases: &[Case]) -> Plot {
    let groups = QUERIES
        .into_iter()
        .map(|query| {
            let values = WAYS
                .into_iter()
                .map(|way| {
                    cases
                        .iter()
                        .find(|c| c.query == query && c.way == way)
                        .map(|c| c.measured.ops_per_sec())
                })
                .collect();
            (query.title().to_owned(), values)
        })
        .collect();
    Plot::Bars {
        name: "ops".to_owned(),
        title: "Reads per second by query and way".to_owned(),
        unit: "ops/s".to_owned(),
        series: WAYS.iter().map(|w| w.label().to_owned()).collect(),
        groups,
        log: true,
    }
}

/// Microseconds: a decimal below 100, grouped above.
fn micros(value: f64) -> String {
    if value < 100.0 {
        format!("{value:.1}")
    } else {
        grouped(value)
    }
}

fn ratio(value: f64) -> String {
    if !value.is_finite() {
        "-".to_owned()
    } else if value < 0.01 {
        format!("{value:.4}x")
    } else if value < 10.0 {
        format!("{value:.2}x")
    } else {
        format!("{}x", grouped(value))
    }
}

fn findings(cases: &[Case], conditions: &Conditions) -> Vec<String> {
    let mut out = Vec::new();
    let mean = conditions.blob_bytes as f64 / conditions.records.max(1) as f64;
    out.push(format!(
        "Measured with {} product records and {} blobs (log-normal sizes, median {} KiB, mean {} \
         KiB, {:.2} GB in all), {} concurrent workers (threads for files and SQLite, tasks with a \
         connection each for the cache), {} s per case, uniformly random ids; client, proxy and \
         {} nodes share this machine's {} cores over loopback.",
        grouped(conditions.records as f64),
        grouped(conditions.records as f64),
        grouped(conditions.blob_median as f64 / 1024.0),
        grouped(mean / 1024.0),
        conditions.blob_bytes as f64 / 1e9,
        conditions.workers,
        conditions.seconds,
        conditions.nodes,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    ));
    out.push(format!(
        "The files and the SQLite database were in the OS page cache throughout ({}, and read \
         in full while the cache was filled), and each SQLite connection maps the database in \
         memory: the direct ways never waited for a disk, so they are at their best here; on a \
         cold page cache, or with the database on another machine, each of their reads would \
         cost more.",
        if conditions.generated {
            "written by this run"
        } else {
            "reused from an earlier run"
        }
    ));
    for query in QUERIES {
        let of_query: Vec<&Case> = cases.iter().filter(|c| c.query == query).collect();
        let Some(warm) = find(&of_query, Way::CacheWarm) else {
            continue;
        };
        for direct in [Way::Files, Way::Sqlite] {
            if let Some(direct_measured) = find(&of_query, direct) {
                out.push(versus(query, &warm, direct, &direct_measured));
            }
        }
        if let (Some(files), Some(sqlite)) =
            (find(&of_query, Way::Files), find(&of_query, Way::Sqlite))
            && query == Query::ProductsByCategory
        {
            out.push(format!(
                "Without an index, the files answer a category page by reading and parsing all {} \
                 product files: {} pages/s, {} ms each at p50. SQLite's index on category finds \
                 the category's {} products or so, which it then reads and sorts by price for \
                 each page ({} ms at p50): {} faster than the files; the warm cache, which \
                 holds each page ready, is {} faster than the files.",
                grouped(conditions.records as f64),
                rate(files.ops_per_sec()),
                rate(files.micros(0.5) / 1000.0),
                grouped(conditions.records as f64 / super::data::CATEGORIES.len() as f64),
                rate(sqlite.micros(0.5) / 1000.0),
                ratio(sqlite.ops_per_sec() / files.ops_per_sec()),
                ratio(warm.ops_per_sec() / files.ops_per_sec())
            ));
        }
        if let Some(cold) = find(&of_query, Way::CacheCold) {
            out.push(cold_finding(query, &cold, &warm, &of_query));
        }
    }
    for case in cases {
        let m = &case.measured;
        if m.misses + m.errors + m.wrong > 0 {
            out.push(format!(
                "{}, {}: {} misses, {} errors and {} wrong values ({}).",
                case.query.title(),
                case.way.label(),
                m.misses,
                m.errors,
                m.wrong,
                m.problem.as_deref().unwrap_or("no details")
            ));
        }
    }
    if cfg!(debug_assertions) {
        out.push(
            "xtask was built with debug assertions (cargo's dev profile, where xtask itself is \
             unoptimized and its dependencies, SQLite included, are at opt-level 1 unless \
             overridden). Its code runs all the work of the direct ways (file reads, queries, \
             JSON parsing) but only the client side of the cache ways, so an optimized \
             application would see higher direct figures (and somewhat higher cache ones)."
                .to_owned(),
        );
    }
    if conditions.debug_servers {
        out.push("The cache servers are debug builds (--debug): their figures only show that the suite runs.".to_owned());
    }
    out
}

/// The warm cache against one direct way, saying which wins and by how much.
fn versus(query: Query, warm: &Measured, direct: Way, of_direct: &Measured) -> String {
    let r = warm.ops_per_sec() / of_direct.ops_per_sec();
    let (cache_rate, direct_rate) = (rate(warm.ops_per_sec()), rate(of_direct.ops_per_sec()));
    let latency = format!(
        "p99 {} µs through the cache, {} µs direct",
        micros(warm.micros(0.99)),
        micros(of_direct.micros(0.99))
    );
    if r >= 1.1 {
        format!(
            "{}: the warm cache wins over {}, {cache_rate} vs {direct_rate} ops/s ({} as many); {latency}.",
            query.title(),
            direct.action(),
            ratio(r)
        )
    } else if r <= 1.0 / 1.1 {
        format!(
            "{}: {} directly wins over the warm cache, {direct_rate} vs {cache_rate} ops/s ({} as many); {latency}.",
            query.title(),
            direct.action(),
            ratio(1.0 / r)
        )
    } else {
        format!(
            "{}: the warm cache and {} directly are even (within 10%), {cache_rate} vs {direct_rate} ops/s; {latency}.",
            query.title(),
            direct.action()
        )
    }
}

fn cold_finding(query: Query, cold: &Measured, warm: &Measured, cases: &[&Case]) -> String {
    let origin = match query {
        Query::BlobById => "the blob files",
        _ => "SQLite",
    };
    let mut text = format!(
        "{}, cold cache (the first read of {} distinct keys, each loaded by a node from {origin} \
         and cached): {} ops/s, p99 {} µs; {} the warm cache's rate",
        query.title(),
        grouped((cold.ops + cold.misses + cold.errors + cold.wrong) as f64),
        rate(cold.ops_per_sec()),
        micros(cold.micros(0.99)),
        ratio(cold.ops_per_sec() / warm.ops_per_sec())
    );
    for direct in [Way::Files, Way::Sqlite] {
        if let Some(of_direct) = find(cases, direct) {
            text.push_str(&format!(
                ", {} the rate of {} directly",
                ratio(cold.ops_per_sec() / of_direct.ops_per_sec()),
                direct.action()
            ));
        }
    }
    if cold.exhausted {
        text.push_str(&format!(
            " (every key had been read after {:.2} s, before the time was up)",
            cold.elapsed.as_secs_f64()
        ));
    }
    text.push('.');
    text
}

/// A rate in words: grouped when large, with decimals when small.
fn rate(value: f64) -> String {
    if value >= 100.0 {
        grouped(value)
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn measured(ops: u64, latency_ns: u64) -> Measured {
        let mut latency = hdrhistogram::Histogram::new_with_bounds(1, 1_000_000_000, 3).unwrap();
        latency.record_n(latency_ns, ops).unwrap();
        Measured {
            ops,
            elapsed: Duration::from_secs(1),
            latency,
            misses: 0,
            errors: 0,
            wrong: 0,
            problem: None,
            exhausted: false,
        }
    }

    fn case(query: Query, way: Way, ops: u64, latency_ns: u64) -> Case {
        Case {
            query,
            way,
            measured: measured(ops, latency_ns),
        }
    }

    fn conditions() -> Conditions {
        Conditions {
            records: 1000,
            blob_median: 24 * 1024,
            blob_bytes: 40_000_000,
            workers: 8,
            seconds: 1.0,
            nodes: 2,
            generated: true,
            debug_servers: false,
        }
    }

    #[test]
    fn findings_say_who_wins_from_the_figures() {
        let cases = vec![
            case(Query::ProductById, Way::Files, 90_000, 50_000),
            case(Query::ProductById, Way::Sqlite, 20_000, 200_000),
            case(Query::ProductById, Way::CacheWarm, 30_000, 150_000),
        ];
        let findings = findings(&cases, &conditions()).join("\n");
        assert!(
            findings.contains("reading the files directly wins over the warm cache, 90,000 vs 30,000 ops/s (3.00x as many)"),
            "{findings}"
        );
        assert!(
            findings.contains(
                "the warm cache wins over querying SQLite, 30,000 vs 20,000 ops/s (1.50x as many)"
            ),
            "{findings}"
        );
    }

    #[test]
    fn the_report_has_a_table_per_query_and_named_metrics() {
        let cases = vec![
            case(Query::ProductById, Way::Sqlite, 20_000, 200_000),
            case(Query::ProductById, Way::CacheWarm, 30_000, 150_000),
            case(Query::BlobById, Way::Files, 10_000, 80_000),
        ];
        let report = report(&cases, &conditions());
        assert_eq!(report.tables.len(), 2);
        let by_id = &report.tables[0];
        assert_eq!(by_id.columns[4], "vs SQLite");
        assert_eq!(by_id.rows[1][4], "1.50x");
        assert!(report.metrics.iter().any(|m| m.name == "db/product_by_id/cache_warm/ops_per_sec"
            && m.value == 30_000.0));
        assert!(
            report
                .metrics
                .iter()
                .any(|m| m.name == "db/blob_by_id/files/p99_us")
        );
        let Plot::Bars {
            groups,
            series,
            log,
            ..
        } = &report.plots[0]
        else {
            panic!("a bar chart");
        };
        assert!(*log);
        assert_eq!(series.len(), 4);
        assert_eq!(
            groups[0].1,
            vec![None, Some(20_000.0), Some(30_000.0), None]
        );
    }
}
