//! `cargo xtask sim`: the eviction-policy trace simulator.
//!
//! Replays a synthetic Zipf workload and every recorded trace through the real engine
//! (`cache_store::Store`, one shard, fixed seed, manual clock) under each evicting policy, at
//! cache sizes that are a share of the workload's distinct keys, next to Belady's offline
//! optimum as the ceiling. Hit ratios are count-based and cold-start, as the traces README
//! defines them. The table goes to stdout, progress to stderr, and `--json` writes the results
//! for tools.

mod belady;
mod engine;
pub(crate) mod report;
mod workload;
pub(crate) mod zipf;

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, ensure};
use cache_store::PolicyKind;

use report::{Cell, Row};
use workload::Workload;

/// Flags of `cargo xtask sim`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Requests of the Zipf workload [default: 1000000, 100000 with --quick]
    #[arg(long)]
    requests: Option<usize>,
    /// Keys of the Zipf workload.
    #[arg(long, default_value_t = 10_000)]
    keys: usize,
    /// Exponent of the Zipf workload.
    #[arg(long, default_value_t = 1.0)]
    exponent: f64,
    /// Seed of the Zipf workload.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Directory of `*.txt.gz` traces [default: ../shared/traces next to the project root]
    #[arg(long, value_name = "DIR")]
    traces: Option<PathBuf>,
    /// Replay at most this many requests of each trace [default: all, 200000 with --quick]
    #[arg(long, value_name = "N")]
    trace_limit: Option<usize>,
    /// Cache sizes, in percent of each workload's distinct keys.
    #[arg(long, value_delimiter = ',', default_values_t = [1.0, 10.0])]
    sizes: Vec<f64>,
    /// Only workloads whose name contains this.
    #[arg(long, value_name = "TEXT")]
    only: Option<String>,
    /// A short run for CI: fewer Zipf requests and a prefix of each trace.
    #[arg(long)]
    quick: bool,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Simulations run at once [default: the number of CPUs]
    #[arg(long)]
    jobs: Option<usize>,
}

/// Who is measured: the engine under a policy, or the offline optimum.
#[derive(Debug, Clone, Copy)]
enum Contender {
    Engine(PolicyKind),
    Belady,
}

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Contender::Engine(kind) => kind.name(),
            Contender::Belady => "belady",
        }
    }

    fn hits(self, keys: &[u64], capacity: usize) -> Result<u64> {
        match self {
            Contender::Engine(kind) => engine::hits(keys, kind, capacity),
            Contender::Belady => Ok(belady::hits(keys, capacity)),
        }
    }
}

/// Where a workload comes from; loaded only when its turn comes.
#[derive(Debug)]
pub(crate) enum Source {
    Zipf,
    Trace(PathBuf),
}

/// What one simulation run covers, from the flags or from `cargo xtask bench`.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) zipf_requests: usize,
    pub(crate) keys: usize,
    pub(crate) exponent: f64,
    pub(crate) seed: u64,
    pub(crate) traces: PathBuf,
    pub(crate) trace_limit: Option<usize>,
    pub(crate) sizes: Vec<f64>,
    pub(crate) only: Option<String>,
    pub(crate) jobs: usize,
}

impl Plan {
    fn from_args(args: &Args) -> Plan {
        Plan {
            zipf_requests: args
                .requests
                .unwrap_or(if args.quick { 100_000 } else { 1_000_000 }),
            keys: args.keys,
            exponent: args.exponent,
            seed: args.seed,
            traces: args.traces.clone().unwrap_or_else(default_traces_dir),
            trace_limit: args.trace_limit.or(args.quick.then_some(200_000)),
            sizes: args.sizes.clone(),
            only: args.only.clone(),
            jobs: args
                .jobs
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                .max(1),
        }
    }

    /// The defaults of `cargo xtask sim` (with `--quick` if `quick`), seeded by `seed`.
    pub(crate) fn standard(quick: bool, seed: u64) -> Plan {
        Plan {
            zipf_requests: if quick { 100_000 } else { 1_000_000 },
            keys: 10_000,
            exponent: 1.0,
            seed,
            traces: default_traces_dir(),
            trace_limit: quick.then_some(200_000),
            sizes: vec![1.0, 10.0],
            only: None,
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

pub(crate) fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    let plan = Plan::from_args(&args);
    let (columns, rows) = results(&plan, |_| {})?;
    print!("{}", report::markdown(&columns, &rows));
    if let Some(path) = &args.json {
        let settings = [
            ("quick", args.quick.to_string()),
            ("zipf_requests", plan.zipf_requests.to_string()),
            ("zipf_keys", plan.keys.to_string()),
            ("zipf_exponent", plan.exponent.to_string()),
            ("zipf_seed", plan.seed.to_string()),
            (
                "trace_limit",
                plan.trace_limit
                    .map_or("null".to_owned(), |l| l.to_string()),
            ),
            ("entry_charge", engine::charge().to_string()),
        ];
        std::fs::write(path, report::json(&columns, &rows, &settings))
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("sim: wrote {}", path.display());
    }
    eprintln!("sim: done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Every contender (the evicting policies, then Belady's optimum, in `columns` order) over
/// every workload of `plan`; `done` is told the name of each workload when it is simulated.
pub(crate) fn results(
    plan: &Plan,
    mut done: impl FnMut(&str),
) -> Result<(Vec<&'static str>, Vec<Row>)> {
    ensure!(plan.keys > 0, "--keys must be at least 1");
    ensure!(
        plan.sizes.iter().all(|&s| s > 0.0 && s <= 100.0),
        "--sizes are percentages in (0, 100]"
    );
    let contenders: Vec<Contender> = PolicyKind::ALL
        .into_iter()
        .filter(|&k| k != PolicyKind::NoEviction)
        .map(Contender::Engine)
        .chain([Contender::Belady])
        .collect();
    let columns: Vec<&'static str> = contenders.iter().map(|c| c.name()).collect();
    let mut rows = Vec::new();
    for source in sources(plan)? {
        let name = match &source {
            Source::Zipf => "zipf".to_owned(),
            Source::Trace(path) => path.display().to_string(),
        };
        if plan
            .only
            .as_ref()
            .is_some_and(|only| !name.contains(only.as_str()))
        {
            continue;
        }
        let loading = Instant::now();
        let workload = match &source {
            Source::Zipf => Workload::zipf(plan.keys, plan.exponent, plan.zipf_requests, plan.seed),
            Source::Trace(path) => Workload::trace(path, plan.trace_limit)?,
        };
        eprintln!(
            "sim: {}: {} requests, {} distinct keys (loaded in {:.1}s)",
            workload.name,
            workload.keys.len(),
            workload.distinct,
            loading.elapsed().as_secs_f64()
        );
        rows.extend(simulate(&workload, &plan.sizes, &contenders, plan.jobs)?);
        done(&workload.name);
    }
    Ok((columns, rows))
}

/// The Zipf workload, then every trace in the plan's directory (none if it is missing).
pub(crate) fn sources(plan: &Plan) -> Result<Vec<Source>> {
    let mut sources = vec![Source::Zipf];
    if plan.traces.is_dir() {
        sources.extend(
            workload::trace_files(&plan.traces)?
                .into_iter()
                .map(Source::Trace),
        );
    } else {
        eprintln!(
            "sim: no trace directory at {}; skipping traces",
            plan.traces.display()
        );
    }
    Ok(sources)
}

/// `../shared/traces` beside the project root.
fn default_traces_dir() -> PathBuf {
    let root = crate::util::project_root();
    root.parent().unwrap_or(&root).join("shared").join("traces")
}

/// Every contender at every size over one workload, `jobs` at a time.
fn simulate(
    workload: &Workload,
    sizes: &[f64],
    contenders: &[Contender],
    jobs: usize,
) -> Result<Vec<Row>> {
    let capacities: Vec<usize> = sizes
        .iter()
        .map(|&pct| ((workload.distinct as f64 * pct / 100.0).round() as usize).max(1))
        .collect();
    let tasks: Vec<(usize, usize)> = (0..sizes.len())
        .flat_map(|s| (0..contenders.len()).map(move |c| (s, c)))
        .collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Cell>>>> =
        Mutex::new((0..tasks.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(tasks.len()) {
            scope.spawn(|| {
                loop {
                    let t = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(s, c)) = tasks.get(t) else { break };
                    let (contender, capacity) = (contenders[c], capacities[s]);
                    let started = Instant::now();
                    let cell = contender.hits(&workload.keys, capacity).map(|hits| Cell {
                        hits,
                        seconds: started.elapsed().as_secs_f64(),
                    });
                    if let Ok(cell) = &cell {
                        eprintln!(
                            "sim:   {} @{}% ({capacity} entries) {:<12} {:6.2}% in {:.2}s",
                            workload.name,
                            sizes[s],
                            contender.name(),
                            100.0 * cell.hits as f64 / workload.keys.len().max(1) as f64,
                            cell.seconds
                        );
                    }
                    // A poisoned lock means another task panicked; that panic ends the run.
                    if let Ok(mut results) = results.lock() {
                        results[t] = Some(cell);
                    }
                }
            });
        }
    });
    let mut results = results
        .into_inner()
        .map_err(|_| anyhow!("a simulation panicked"))?
        .into_iter();
    let mut rows = Vec::new();
    for (s, &size_percent) in sizes.iter().enumerate() {
        let mut cells = Vec::new();
        for contender in contenders {
            let cell = results
                .next()
                .flatten()
                .ok_or_else(|| anyhow!("a simulation did not finish"))?
                .with_context(|| format!("{} under {}", workload.name, contender.name()))?;
            cells.push(cell);
        }
        rows.push(Row {
            workload: workload.name.clone(),
            requests: workload.keys.len(),
            distinct: workload.distinct,
            size_percent,
            capacity: capacities[s],
            cells,
        });
    }
    Ok(rows)
}
