//! The simulator's output: a Markdown table for people, a JSON document for tools.

use std::fmt::Write as _;

/// The measurements of one workload at one cache size.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) workload: String,
    pub(crate) requests: usize,
    pub(crate) distinct: usize,
    pub(crate) size_percent: f64,
    pub(crate) capacity: usize,
    /// One per column, in column order.
    pub(crate) cells: Vec<Cell>,
}

/// One contender's result.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cell {
    pub(crate) hits: u64,
    pub(crate) seconds: f64,
}

impl Row {
    fn ratio(&self, cell: &Cell) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            cell.hits as f64 / self.requests as f64
        }
    }
}

/// The table: a row per workload and size, a column per contender, hit ratios in percent. The
/// best policy of a row is bold; the last column, the offline optimum, is excluded from that.
pub(crate) fn markdown(columns: &[&str], rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str("| workload | requests | distinct keys | cache (entries) |");
    for c in columns {
        let _ = write!(out, " {c} |");
    }
    out.push_str("\n|---|--:|--:|--:|");
    out.push_str(&"--:|".repeat(columns.len()));
    out.push('\n');
    for row in rows {
        let _ = write!(
            out,
            "| {} | {} | {} | {}% ({}) |",
            row.workload,
            thousands(row.requests),
            thousands(row.distinct),
            row.size_percent,
            thousands(row.capacity)
        );
        let policies = &row.cells[..row.cells.len().saturating_sub(1)];
        let best = policies.iter().map(|c| c.hits).max();
        for (i, cell) in row.cells.iter().enumerate() {
            let text = format!("{:.2}", 100.0 * row.ratio(cell));
            if i < policies.len() && Some(cell.hits) == best {
                let _ = write!(out, " **{text}** |");
            } else {
                let _ = write!(out, " {text} |");
            }
        }
        out.push('\n');
    }
    out
}

/// The same results as a JSON document, ratios as fractions.
pub(crate) fn json(columns: &[&str], rows: &[Row], settings: &[(&str, String)]) -> String {
    let mut out = String::from("{\n  \"settings\": {");
    for (i, (name, value)) in settings.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(out, "{sep}\n    {}: {value}", quote(name));
    }
    out.push_str("\n  },\n  \"results\": [");
    for (r, row) in rows.iter().enumerate() {
        let sep = if r == 0 { "" } else { "," };
        let _ = write!(
            out,
            "{sep}\n    {{\"workload\": {}, \"requests\": {}, \"distinct_keys\": {}, \
             \"size_percent\": {}, \"capacity_entries\": {},",
            quote(&row.workload),
            row.requests,
            row.distinct,
            row.size_percent,
            row.capacity
        );
        let ratios: Vec<String> = columns
            .iter()
            .zip(&row.cells)
            .map(|(c, cell)| format!("{}: {:.6}", quote(c), row.ratio(cell)))
            .collect();
        let seconds: Vec<String> = columns
            .iter()
            .zip(&row.cells)
            .map(|(c, cell)| format!("{}: {:.3}", quote(c), cell.seconds))
            .collect();
        let _ = write!(
            out,
            "\n     \"hit_ratio\": {{{}}},\n     \"seconds\": {{{}}}}}",
            ratios.join(", "),
            seconds.join(", ")
        );
    }
    out.push_str("\n  ]\n}\n");
    out
}

/// A JSON string literal.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// 1234567 -> "1,234,567".
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_and_strings() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(5_000_000), "5,000,000");
        assert_eq!(quote("a\"b\\c\u{1}"), "\"a\\\"b\\\\c\\u0001\"");
    }
}
