//! The run history: every run's figures appended as one JSON line to
//! `target/bench/history.jsonl`, and the comparison of a run with the one before it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::report::{Better, Metric, SuiteReport};
use super::{Context, Table};

const FILE: &str = "history.jsonl";

/// A change under this share of the old value is reported as no change: this machine's
/// run-to-run noise is several percent.
const NOISE: f64 = 0.05;

/// One run: when, on what, and its figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    /// Unix seconds.
    pub at: u64,
    /// `git describe`-style commit, with `-dirty` for uncommitted changes.
    pub commit: String,
    pub machine: String,
    pub quick: bool,
    pub debug: bool,
    pub suites: Vec<String>,
    /// `suite/metric` names.
    pub metrics: Vec<Metric>,
}

impl Run {
    pub fn new(ctx: &Context, debug: bool, reports: &[SuiteReport]) -> Run {
        Run {
            at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            commit: commit(),
            machine: machine(),
            quick: ctx.quick,
            debug,
            suites: reports.iter().map(|r| r.suite.clone()).collect(),
            metrics: reports
                .iter()
                .flat_map(|r| {
                    r.metrics.iter().map(|m| Metric {
                        name: format!("{}/{}", r.suite, m.name),
                        ..m.clone()
                    })
                })
                .collect(),
        }
    }

    /// A paragraph for the report: the machine, the commit and the mode.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "Machine: {}. Commit: {}. Unix time {}.",
            self.machine, self.commit, self.at
        );
        if self.quick {
            text.push_str(" **Quick run** (small data, short cases): figures are rough.");
        }
        if self.debug {
            text.push_str(" **Debug binaries**: the figures only show that the suites run.");
        }
        text.push('\n');
        text
    }
}

fn commit() -> String {
    let output = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(crate::util::project_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let Some(head) = output(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown".to_owned();
    };
    match output(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(changes) if !changes.is_empty() => format!("{head}-dirty"),
        _ => head,
    }
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let kb: u64 = text
                .lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some(format!(", {:.0} GiB", kb as f64 / (1024.0 * 1024.0)))
        })
        .unwrap_or_default();
    format!("{cpus} CPUs ({model}){memory}, {}", std::env::consts::OS)
}

/// The last run recorded in `dir`, if any.
pub fn last(dir: &Path) -> anyhow::Result<Option<Run>> {
    let path = dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    // A line that does not parse (an older format, a torn write) is passed over.
    Ok(text
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok()))
}

/// Appends `run` to the history in `dir`.
pub fn append(dir: &Path, run: &Run) -> anyhow::Result<()> {
    let path = dir.join(FILE);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    writeln!(file, "{}", serde_json::to_string(run)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// How each figure of `now` moved since `before`, as Markdown.
pub fn compare(before: &Run, now: &Run) -> String {
    let mut out = format!(
        "# Compared with the previous run (commit {}, Unix time {})\n\n",
        before.commit, before.at
    );
    if (before.quick, before.debug) != (now.quick, now.debug) {
        out.push_str(
            "_The two runs differ in --quick or --debug: their figures are not comparable._\n\n",
        );
    }
    let mut table = Table::new("", &["figure", "before", "now", "change", ""]);
    let (mut better, mut worse) = (0, 0);
    for metric in &now.metrics {
        let Some(old) = before.metrics.iter().find(|m| m.name == metric.name) else {
            continue;
        };
        let change = if old.value == 0.0 {
            0.0
        } else {
            (metric.value - old.value) / old.value.abs()
        };
        let verdict = match (change.abs() < NOISE, metric.better, change > 0.0) {
            (true, _, _) => "same",
            (false, Better::Higher, true) | (false, Better::Lower, false) => {
                better += 1;
                "better"
            }
            _ => {
                worse += 1;
                "worse"
            }
        };
        table.row(vec![
            metric.name.clone(),
            format!("{} {}", fmt(old.value), old.unit),
            format!("{} {}", fmt(metric.value), metric.unit),
            format!("{:+.1}%", change * 100.0),
            verdict.to_owned(),
        ]);
    }
    if table.rows.is_empty() {
        out.push_str("No figure in common with the previous run.\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{better} better, {worse} worse, the rest within ±{:.0}% (noise).\n",
        NOISE * 100.0
    );
    out.push_str(&table.markdown());
    out
}

fn fmt(value: f64) -> String {
    if value.abs() >= 100.0 {
        super::grouped(value)
    } else {
        format!("{value:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(metrics: Vec<Metric>) -> Run {
        Run {
            at: 1,
            commit: "abc".into(),
            machine: "m".into(),
            quick: false,
            debug: false,
            suites: vec!["db".into()],
            metrics,
        }
    }

    #[test]
    fn changes_are_judged_by_direction_and_noise() {
        let before = run(vec![
            Metric::higher("db/ops", 1000.0, "ops/s"),
            Metric::lower("db/p99", 100.0, "µs"),
            Metric::higher("db/steady", 1000.0, "ops/s"),
            Metric::higher("db/gone", 1.0, "x"),
        ]);
        let now = run(vec![
            Metric::higher("db/ops", 800.0, "ops/s"),
            Metric::lower("db/p99", 50.0, "µs"),
            Metric::higher("db/steady", 1030.0, "ops/s"),
            Metric::higher("db/new", 1.0, "x"),
        ]);
        let text = compare(&before, &now);
        assert!(text.contains("1 better, 1 worse"), "{text}");
        assert!(
            text.contains("| db/ops | 1,000 ops/s | 800 ops/s | -20.0% | worse |"),
            "{text}"
        );
        assert!(
            text.contains("| db/p99 | 100 µs | 50.000 µs | -50.0% | better |"),
            "{text}"
        );
        assert!(
            text.contains("| db/steady |") && text.contains("| same |"),
            "{text}"
        );
        assert!(!text.contains("db/new") && !text.contains("db/gone"));
    }

    #[test]
    fn the_history_keeps_every_run_and_skips_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        assert!(last(dir.path()).unwrap().is_none());
        append(dir.path(), &run(vec![Metric::higher("a", 1.0, "x")])).unwrap();
        append(dir.path(), &run(vec![Metric::higher("a", 2.0, "x")])).unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(FILE))
            .unwrap();
        file.write_all(b"{\"at\": 3, \"comm").unwrap();
        let last = last(dir.path()).unwrap().unwrap();
        assert_eq!(last.metrics[0].value, 2.0);
    }
}
