//! `cargo xtask bench`: the benchmark suites, one report.
//!
//! Each suite measures one capability against its peers in the same run and hands back a
//! [`SuiteReport`] (tables, plots, named figures). The runner writes them all to
//! `target/bench/report.md` and `report.json` with the plots as SVG next to them, appends the
//! figures to `target/bench/history.jsonl`, and with `--compare` prints how each figure moved
//! since the previous run. `--quick` runs every suite small enough for CI; `--debug` measures
//! the debug binaries (CI has them already; their figures mean nothing but that the suite runs).

mod db;
mod history;
mod plot;
mod progress;
mod report;
mod suites;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, bail};

pub use progress::Progress;
pub use report::{Metric, Plot, SuiteReport, Table, grouped};

use crate::util::{self, installed, project_root};

/// The suites, in the order `cargo xtask bench` runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Suite {
    /// Reads of product records and blobs: files, SQLite, and through the cache.
    Db,
    /// The same load against cache-node, cache-proxy and the installed peers.
    Throughput,
    /// Key placement algorithms: balance, movement, lookup time.
    Ring,
    /// Hit ratios of the eviction policies on traces and Zipf, with Belady's optimum.
    Eviction,
    /// Cost of each fsync mode, and recovery time.
    Persist,
    /// GET/SET over every transport and protocol.
    Transports,
}

impl Suite {
    pub const ALL: [Suite; 6] = [
        Suite::Db,
        Suite::Throughput,
        Suite::Ring,
        Suite::Eviction,
        Suite::Persist,
        Suite::Transports,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Suite::Db => "db",
            Suite::Throughput => "throughput",
            Suite::Ring => "ring",
            Suite::Eviction => "eviction",
            Suite::Persist => "persist",
            Suite::Transports => "transports",
        }
    }
}

/// Options of `cargo xtask bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Suites to run [default: all]
    #[arg(value_enum)]
    suites: Vec<Suite>,
    /// Every suite small and short: checks that they run (CI), figures are rough.
    #[arg(long)]
    quick: bool,
    /// Measure target/debug binaries instead of building release ones (for CI smoke runs).
    #[arg(long)]
    debug: bool,
    /// Use the release binaries already built.
    #[arg(long)]
    no_build: bool,
    /// Print how each figure moved since the previous run recorded in the history.
    #[arg(long)]
    compare: bool,
    /// Keep the generated data (target/bench/data) for the next run instead of removing it.
    #[arg(long)]
    keep_data: bool,
    /// Seed of all generated data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Records and blobs of the db suite [default: 100000, 5000 with --quick]
    #[arg(long)]
    records: Option<usize>,
    /// Blob sizes of the db suite: median bytes of the log-normal distribution.
    #[arg(long, default_value_t = 24 * 1024)]
    blob_median: usize,
    /// Seconds measured per case [default: 3, 0.5 with --quick]
    #[arg(long)]
    seconds: Option<f64>,
}

/// What every suite is given.
#[derive(Debug)]
pub struct Context {
    pub quick: bool,
    /// Where the binaries under test are (target/release or target/debug).
    pub bin_dir: PathBuf,
    /// `target/bench`: reports, plots, history.
    pub out_dir: PathBuf,
    /// `target/bench/data`: generated data, removed after the run unless `--keep-data`.
    pub data_dir: PathBuf,
    pub seed: u64,
    pub records: usize,
    pub blob_median: usize,
    /// Seconds measured per case.
    pub seconds: f64,
}

impl Context {
    /// The path of one of the project's binaries under test.
    pub fn binary(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    /// A progress bar on stderr.
    pub fn progress(&self, label: impl Into<String>, total: u64) -> Progress {
        Progress::new(label, total)
    }
}

const BINARIES: [&str; 3] = ["cache-node", "cache-proxy", "cache-bench"];

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let root = project_root();
    let bin_dir = root.join(if args.debug {
        "target/debug"
    } else {
        "target/release"
    });
    if args.debug {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = std::process::Command::new(cargo);
        cmd.current_dir(&root).arg("build");
        for bin in BINARIES {
            cmd.args(["--bin", bin]);
        }
        util::run_logged(&mut cmd)?;
    } else if !args.no_build {
        util::build_release(&BINARIES)?;
    }
    util::set_bin_dir(&bin_dir);
    let out_dir = root.join("target/bench");
    let ctx = Context {
        quick: args.quick,
        bin_dir,
        data_dir: out_dir.join("data"),
        out_dir,
        seed: args.seed,
        records: args
            .records
            .unwrap_or(if args.quick { 5_000 } else { 100_000 }),
        blob_median: args.blob_median,
        seconds: args.seconds.unwrap_or(if args.quick { 0.5 } else { 3.0 }),
    };
    std::fs::create_dir_all(&ctx.out_dir)
        .with_context(|| format!("cannot create {}", ctx.out_dir.display()))?;
    let suites: Vec<Suite> = if args.suites.is_empty() {
        Suite::ALL.to_vec()
    } else {
        let mut chosen = args.suites.clone();
        chosen.sort();
        chosen.dedup();
        chosen
    };
    let mut reports = Vec::new();
    let mut failed = Vec::new();
    for (i, suite) in suites.iter().enumerate() {
        eprintln!("== [{}/{}] {} suite", i + 1, suites.len(), suite.name());
        let started = Instant::now();
        match run_suite(*suite, &ctx) {
            Ok(mut report) => {
                report.suite = suite.name().to_owned();
                eprintln!(
                    "== {} done in {:.0} s",
                    suite.name(),
                    started.elapsed().as_secs_f64()
                );
                reports.push(report);
            }
            Err(error) => {
                eprintln!("== {} failed: {error:#}", suite.name());
                failed.push(format!("{}: {error:#}", suite.name()));
            }
        }
    }
    if !args.keep_data && ctx.data_dir.exists() {
        std::fs::remove_dir_all(&ctx.data_dir)
            .with_context(|| format!("cannot remove {}", ctx.data_dir.display()))?;
    }
    let run = history::Run::new(&ctx, args.debug, &reports);
    let previous = history::last(&ctx.out_dir)?;
    write_report(&ctx, &run, &reports, &failed)?;
    history::append(&ctx.out_dir, &run)?;
    if args.compare {
        match previous {
            Some(previous) => print!("{}", history::compare(&previous, &run)),
            None => println!("No earlier run in target/bench/history.jsonl to compare with."),
        }
    }
    if !failed.is_empty() {
        bail!("{} suite(s) failed:\n{}", failed.len(), failed.join("\n"));
    }
    Ok(())
}

fn run_suite(suite: Suite, ctx: &Context) -> anyhow::Result<SuiteReport> {
    match suite {
        Suite::Db => db::run(ctx),
        Suite::Throughput => suites::throughput(ctx),
        Suite::Ring => suites::ring(ctx),
        Suite::Eviction => suites::eviction(ctx),
        Suite::Persist => suites::persist(ctx),
        Suite::Transports => suites::transports(ctx),
    }
}

/// Writes `report.md`, `report.json` and the plots; prints the Markdown.
fn write_report(
    ctx: &Context,
    run: &history::Run,
    reports: &[SuiteReport],
    failed: &[String],
) -> anyhow::Result<()> {
    let mut md = String::from("# Benchmark report\n\n");
    md.push_str(&run.describe());
    md.push('\n');
    for report in reports {
        md.push_str(&format!("\n## {}\n\n{}\n\n", report.suite, report.about));
        for finding in &report.findings {
            md.push_str(&format!("- {finding}\n"));
        }
        if !report.findings.is_empty() {
            md.push('\n');
        }
        for skipped in &report.skipped {
            md.push_str(&format!("_Skipped: {skipped}_\n\n"));
        }
        for table in &report.tables {
            md.push_str(&table.markdown());
            md.push('\n');
        }
        for chart in &report.plots {
            let file = format!("{}-{}.svg", report.suite, chart.name());
            write(&ctx.out_dir.join(&file), &plot::svg(chart))?;
            md.push_str(&format!("![{}]({file})\n\n", chart.title()));
        }
    }
    for failure in failed {
        md.push_str(&format!("\n**Failed:** {failure}\n"));
    }
    write(&ctx.out_dir.join("report.md"), &md)?;
    let json = serde_json::json!({ "run": run, "suites": reports, "failed": failed });
    write(
        &ctx.out_dir.join("report.json"),
        &serde_json::to_string_pretty(&json)?,
    )?;
    println!("{md}");
    eprintln!(
        "report: {} (and report.json, plots alongside)",
        ctx.out_dir.join("report.md").display()
    );
    Ok(())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// A peer program's absence, as a suite reports it.
pub fn missing(program: &str, package: &str) -> Option<String> {
    (!installed(program)).then(|| format!("{program} is not installed (Debian: {package})"))
}
