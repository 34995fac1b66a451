//! What a suite hands back: tables, plots and named figures, rendered to Markdown and JSON.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// One suite's results.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SuiteReport {
    /// The suite's name, as given on the command line (`db`, `throughput`, ...).
    pub suite: String,
    /// What it measured, in a sentence.
    pub about: String,
    /// Findings worth saying in words (where the cache wins, where it does not).
    pub findings: Vec<String>,
    pub tables: Vec<Table>,
    pub plots: Vec<Plot>,
    /// The figures `--compare` follows from run to run.
    pub metrics: Vec<Metric>,
    /// Parts not run, with why (a peer not installed, ...).
    pub skipped: Vec<String>,
}

/// A table: a title, column headers and rows of cells already formatted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Table {
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: impl Into<String>, columns: &[&str]) -> Table {
        Table {
            title: title.into(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table in Markdown; columns whose first cell looks numeric are right-aligned.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        if !self.title.is_empty() {
            let _ = writeln!(out, "**{}**\n", self.title);
        }
        let _ = writeln!(out, "| {} |", self.columns.join(" | "));
        let align: Vec<&str> = (0..self.columns.len())
            .map(|i| {
                let numeric = self
                    .rows
                    .first()
                    .and_then(|r| r.get(i))
                    .is_some_and(|c| leading_number(c).is_some());
                if numeric { "---:" } else { "---" }
            })
            .collect();
        let _ = writeln!(out, "|{}|", align.join("|"));
        for row in &self.rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out
    }
}

/// The number a cell starts with, ignoring thousands separators: `1,234 ops/s` is 1234.
fn leading_number(cell: &str) -> Option<f64> {
    let digits: String = cell
        .trim()
        .chars()
        .filter(|c| *c != ',')
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+'))
        .collect();
    digits.parse().ok()
}

/// Whether a larger value of a metric is an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Higher,
    Lower,
}

/// A named figure, e.g. `files/product by id/ops_per_sec`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub better: Better,
}

impl Metric {
    pub fn higher(name: impl Into<String>, value: f64, unit: &str) -> Metric {
        Metric {
            name: name.into(),
            value,
            unit: unit.to_owned(),
            better: Better::Higher,
        }
    }

    pub fn lower(name: impl Into<String>, value: f64, unit: &str) -> Metric {
        Metric {
            better: Better::Lower,
            ..Metric::higher(name, value, unit)
        }
    }
}

/// A chart, drawn to SVG by [`super::plot`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Plot {
    /// Grouped bars: one group per label, one bar per series in each.
    Bars {
        /// File name without extension, unique within the suite.
        name: String,
        title: String,
        unit: String,
        series: Vec<String>,
        /// (group label, one value per series; `None` where a series has no figure).
        groups: Vec<(String, Vec<Option<f64>>)>,
        /// Draw the value axis logarithmically (values spanning orders of magnitude).
        log: bool,
    },
    /// Lines through points.
    Lines {
        name: String,
        title: String,
        x_label: String,
        y_label: String,
        /// (series label, points (x, y)).
        series: Vec<(String, Vec<(f64, f64)>)>,
    },
}

impl Plot {
    pub fn name(&self) -> &str {
        match self {
            Plot::Bars { name, .. } | Plot::Lines { name, .. } => name,
        }
    }

    pub fn title(&self) -> &str {
        match self {
            Plot::Bars { title, .. } | Plot::Lines { title, .. } => title,
        }
    }
}

/// `1234567.8` as `1,234,568`: large rates read better grouped.
pub fn grouped(value: f64) -> String {
    let whole = value.round() as i64;
    let digits = whole.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if whole < 0 {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(0.4), "0");
        assert_eq!(grouped(999.0), "999");
        assert_eq!(grouped(1000.0), "1,000");
        assert_eq!(grouped(1_234_567.8), "1,234,568");
        assert_eq!(grouped(-45_000.0), "-45,000");
    }

    #[test]
    fn numeric_columns_are_right_aligned() {
        let mut table = Table::new("t", &["what", "ops/s", "ratio"]);
        table.row(vec!["files".into(), "1,200".into(), "1.5x".into()]);
        let text = table.markdown();
        assert!(text.contains("|---|---:|---:|"), "{text}");
        assert_eq!(leading_number("0.029 s"), Some(0.029));
        assert_eq!(leading_number("n/a"), None);
    }
}
