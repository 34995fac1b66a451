//! `cargo xtask fuzz [TARGET] --seconds N`: runs the cargo-fuzz targets of `fuzz/` (every one,
//! or the one named) for a bounded time each and prints one line per target.
//!
//! Each run reads the committed seeds (`fuzz/corpus/<target>/`) and grows a scratch corpus in
//! `target/fuzz-corpus/<target>/`, so the seeds in the repository stay as they are. Needs a
//! nightly toolchain and `cargo install cargo-fuzz`; docs/fuzzing.md has the details.

use std::process::Command;

use anyhow::{Context, bail};

use crate::util::{installed, project_root};

/// The targets, as `fuzz/Cargo.toml` names them.
const TARGETS: &[&str] = &[
    "resp_request",
    "native_request",
    "resp_reply",
    "native_reply",
    "datagram",
    "command_parse",
    "oplog",
];

#[derive(Debug, clap::Args)]
pub struct FuzzArgs {
    /// The target to run; all of them if absent.
    target: Option<String>,
    /// How long to run each target.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
}

pub fn run(args: &FuzzArgs) -> anyhow::Result<()> {
    if !installed("cargo-fuzz") {
        bail!("cargo-fuzz is not installed: run `cargo install cargo-fuzz`");
    }
    let targets: Vec<&str> = match &args.target {
        Some(name) if TARGETS.contains(&name.as_str()) => vec![name.as_str()],
        Some(name) => bail!(
            "no fuzz target {name}: the targets are {}",
            TARGETS.join(", ")
        ),
        None => TARGETS.to_vec(),
    };
    let root = project_root();
    let mut failed = Vec::new();
    for target in targets {
        let scratch = root.join("target/fuzz-corpus").join(target);
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("cannot create {}", scratch.display()))?;
        let mut cmd = Command::new("cargo");
        // Called from `cargo xtask`, the environment names the stable toolchain: drop it.
        for var in ["RUSTUP_TOOLCHAIN", "RUSTC", "RUSTDOC", "CARGO"] {
            cmd.env_remove(var);
        }
        cmd.current_dir(root.join("fuzz"))
            .args(["+nightly", "fuzz", "run", target])
            .arg(&scratch)
            .arg(format!("corpus/{target}"))
            .arg("--")
            .arg(format!("-max_total_time={}", args.seconds))
            .args([
                "-rss_limit_mb=2048",
                "-max_len=4096",
                "-print_final_stats=1",
            ]);
        eprintln!("$ {cmd:?}");
        let output = cmd
            .output()
            .with_context(|| format!("cannot run {cmd:?}"))?;
        let log = String::from_utf8_lossy(&output.stderr);
        let stats = Stats::of(&log);
        if output.status.success() {
            println!(
                "{target}: ok, {} runs in {} s, cov {}, ft {}, corpus {}",
                stats.runs, args.seconds, stats.cov, stats.ft, stats.corpus
            );
        } else {
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
            println!(
                "{target}: FAILED after {} runs ({}); the input is in fuzz/artifacts/{target}/",
                stats.runs, output.status
            );
            failed.push(target);
        }
    }
    if !failed.is_empty() {
        bail!("fuzz targets failed: {}", failed.join(", "));
    }
    Ok(())
}

/// The figures of libFuzzer's last status line and final statistics.
#[derive(Debug, Default)]
struct Stats {
    runs: String,
    cov: String,
    ft: String,
    corpus: String,
}

impl Stats {
    fn of(log: &str) -> Stats {
        let mut stats = Stats::default();
        let field = |line: &str, name: &str| {
            let mut words = line.split_whitespace();
            words.find(|w| *w == name)?;
            words.next().map(str::to_owned)
        };
        for line in log.lines() {
            if let Some(cov) = field(line, "cov:") {
                stats.cov = cov;
                stats.ft = field(line, "ft:").unwrap_or_default();
                stats.corpus = field(line, "corp:").unwrap_or_default();
            }
            if let Some(runs) = line.strip_prefix("stat::number_of_executed_units:") {
                stats.runs = runs.trim().to_owned();
            }
        }
        stats
    }
}
