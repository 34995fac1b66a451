//! The results: a Markdown row per case on stdout as it finishes, and all of them as JSON at the
//! end. Both are drawn from one [`Record`], so the table and the file cannot disagree.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::measure::{Case, Measured};

/// One case as the JSON file holds it. A case that could not run has `null` figures and says
/// why in `skipped`.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub name: String,
    pub endpoint: String,
    pub transport: String,
    pub protocol: &'static str,
    pub op: &'static str,
    /// Value size in bytes.
    pub size: usize,
    /// Requests in flight per connection.
    pub depth: usize,
    pub connections: usize,
    pub ops_per_sec: Option<f64>,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub p999_us: Option<u64>,
    pub errors: Option<u64>,
    pub misses: Option<u64>,
    pub skipped: Option<String>,
}

impl Record {
    /// A case that ran.
    pub fn measured(case: &Case, size: usize, figures: &Measured) -> Record {
        Record {
            ops_per_sec: Some((figures.ops_per_sec * 10.0).round() / 10.0),
            p50_us: Some(figures.p50_us),
            p99_us: Some(figures.p99_us),
            p999_us: Some(figures.p999_us),
            errors: Some(figures.errors),
            misses: Some(figures.misses),
            ..Record::without_figures(case, size)
        }
    }

    /// A case that could not run, and why.
    pub fn skipped(case: &Case, size: usize, reason: &str) -> Record {
        Record {
            skipped: Some(reason.to_owned()),
            ..Record::without_figures(case, size)
        }
    }

    fn without_figures(case: &Case, size: usize) -> Record {
        Record {
            name: case.target.name.clone(),
            endpoint: case.target.endpoint.to_string(),
            transport: case.target.transport(),
            protocol: case.target.protocol.name(),
            op: case.op.name(),
            size,
            depth: case.depth,
            connections: case.connections,
            ops_per_sec: None,
            p50_us: None,
            p99_us: None,
            p999_us: None,
            errors: None,
            misses: None,
            skipped: None,
        }
    }

    /// The table's header, two lines.
    pub fn table_header() -> &'static str {
        "| name | transport | protocol | op | value | connections | in flight | ops/s | p50 µs \
         | p99 µs | errors |\n|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
    }

    /// The record as a table row.
    pub fn table_row(&self) -> String {
        let mut row = format!(
            "| {} | {} | {} | {} | {} B | {} | {} |",
            self.name,
            self.transport,
            self.protocol,
            self.op,
            self.size,
            self.connections,
            self.depth
        );
        let Some(ops) = self.ops_per_sec else {
            let reason = self.skipped.as_deref().unwrap_or_default();
            let _ = write!(row, " n/a | | | {reason} |");
            return row;
        };
        let _ = write!(
            row,
            " {ops:.0} | {} | {} | {}",
            self.p50_us.unwrap_or_default(),
            self.p99_us.unwrap_or_default(),
            self.errors.unwrap_or_default()
        );
        match self.misses {
            Some(misses) if misses > 0 => {
                let _ = write!(row, " ({misses} misses) |");
            }
            _ => row.push_str(" |"),
        }
        row
    }
}

/// Writes `records` to `path` as a JSON array.
pub fn write_json(path: &Path, records: &[Record]) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(records)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Op;
    use crate::target::Target;

    fn case() -> Case {
        Case {
            target: Target::parse("memcached=tcp://127.0.0.1:3@memcache").unwrap(),
            op: Op::Get,
            depth: 16,
            connections: 50,
            seconds: 1.0,
        }
    }

    #[test]
    fn a_measured_case_has_every_figure() {
        let figures = Measured {
            ops_per_sec: 123_456.78,
            p50_us: 40,
            p99_us: 90,
            p999_us: 200,
            errors: 0,
            misses: 3,
        };
        let record = Record::measured(&case(), 32, &figures);
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["name"], "memcached");
        assert_eq!(json["transport"], "TCP");
        assert_eq!(json["protocol"], "memcache");
        assert_eq!(json["op"], "GET");
        assert_eq!(json["size"], 32);
        assert_eq!(json["depth"], 16);
        assert_eq!(json["connections"], 50);
        assert_eq!(json["ops_per_sec"], 123_456.8);
        assert_eq!(json["p999_us"], 200);
        assert_eq!(json["misses"], 3);
        assert!(json["skipped"].is_null());
        assert_eq!(
            record.table_row(),
            "| memcached | TCP | memcache | GET | 32 B | 50 | 16 | 123457 | 40 | 90 | 0 (3 misses) |"
        );
    }

    #[test]
    fn a_skipped_case_has_null_figures_and_a_reason() {
        let record = Record::skipped(&case(), 4096, "too large");
        let json = serde_json::to_value(&record).unwrap();
        for field in [
            "ops_per_sec",
            "p50_us",
            "p99_us",
            "p999_us",
            "errors",
            "misses",
        ] {
            assert!(json[field].is_null(), "{field}");
        }
        assert_eq!(json["skipped"], "too large");
        assert!(record.table_row().ends_with("| n/a | | | too large |"));
    }
}
