//! `cargo xtask ring`: how evenly and how stably each placement algorithm spreads keys.
//!
//! For every [`Algorithm`] at `--nodes` nodes and `--keys` keys it reports peak-to-mean load,
//! the fraction of keys moved when one node joins and when one leaves (against the ideal, the
//! share that has to move), the time of one lookup, and the table's memory. `cache-ring` is
//! built optimized in every profile (see the workspace `Cargo.toml`), so the timings mean
//! something even from a debug xtask.

use std::hint::black_box;
use std::time::Instant;

use cache_ring::{Algorithm, Member, Ring};

#[derive(Debug, clap::Args)]
pub struct RingArgs {
    /// Nodes in the cluster before one is added.
    #[arg(long, default_value_t = 10)]
    nodes: usize,
    /// Keys placed.
    #[arg(long, default_value_t = 1_000_000)]
    keys: usize,
    /// Instead: check against a running twemproxy (nutcracker) that the twemproxy mode places
    /// keys exactly as it does.
    #[arg(long)]
    pub check_twemproxy: bool,
    /// With --check-twemproxy: use the release cache-node already built.
    #[arg(long)]
    pub no_build: bool,
}

/// One algorithm's figures.
#[derive(Debug)]
pub struct RingReport {
    pub algorithm: Algorithm,
    pub peak_to_mean: f64,
    /// Moved fraction on adding a node, divided by the ideal `1 / (nodes + 1)`.
    pub added_vs_ideal: f64,
    /// Moved fraction on removing a node, divided by the ideal (the removed node's share).
    pub removed_vs_ideal: f64,
    pub lookup_ns: f64,
    pub table_bytes: usize,
}

fn members(n: usize) -> Vec<Member> {
    // Names as the proxy gives them: the node's address.
    (0..n)
        .map(|i| Member::new(format!("127.0.0.1:{}", 7001 + i)))
        .collect()
}

fn owners(ring: &Ring, keys: &[Vec<u8>]) -> Vec<String> {
    keys.iter()
        .map(|k| ring.members()[ring.node_for(k).unwrap_or(0)].name.clone())
        .collect()
}

fn moved(a: &[String], b: &[String]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x != y).count() as f64 / a.len() as f64
}

/// Measures one algorithm.
pub fn measure(algorithm: Algorithm, nodes: usize, keys: &[Vec<u8>]) -> anyhow::Result<RingReport> {
    let ring = Ring::new(algorithm, members(nodes))?;
    let grown = Ring::new(algorithm, members(nodes + 1))?;
    // Remove a node from the middle, not the last one added.
    let mut fewer = members(nodes);
    let removed = fewer.remove(nodes / 2).name;
    let shrunk = Ring::new(algorithm, fewer)?;

    let base = owners(&ring, keys);
    let mut load = vec![0usize; nodes];
    for key in keys {
        load[ring.node_for(key).unwrap_or(0)] += 1;
    }
    let mean = keys.len() as f64 / nodes as f64;
    let peak_to_mean = *load.iter().max().unwrap_or(&0) as f64 / mean;
    let added = moved(&base, &owners(&grown, keys)) * (nodes + 1) as f64;
    let removed_share = base.iter().filter(|n| **n == removed).count() as f64 / keys.len() as f64;
    let removed_vs_ideal = moved(&base, &owners(&shrunk, keys)) / removed_share;

    // Time whole-key lookups (hash included) over the key set, best of three passes.
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let started = Instant::now();
        let mut sum = 0usize;
        for key in keys {
            sum = sum.wrapping_add(ring.node_for(black_box(key)).unwrap_or(0));
        }
        black_box(sum);
        best = best.min(started.elapsed().as_nanos() as f64 / keys.len() as f64);
    }
    Ok(RingReport {
        algorithm,
        peak_to_mean,
        added_vs_ideal: added,
        removed_vs_ideal,
        lookup_ns: best,
        table_bytes: ring.table_bytes(),
    })
}

pub fn run(args: &RingArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.nodes >= 2, "--nodes must be at least 2");
    anyhow::ensure!(args.keys >= 1000, "--keys must be at least 1000");
    // Keys shaped like application keys, 16 to 20 bytes.
    let keys: Vec<Vec<u8>> = (0..args.keys)
        .map(|i| format!("user:{i:08}:profile").into_bytes())
        .collect();
    println!(
        "{} nodes, {} keys; moved is the fraction of keys that changed node divided by the ideal",
        args.nodes, args.keys
    );
    println!(
        "{:<12} {:>12} {:>14} {:>16} {:>11} {:>11}",
        "algorithm", "peak/mean", "moved on add", "moved on remove", "lookup ns", "table KiB"
    );
    for algorithm in Algorithm::ALL {
        let r = measure(algorithm, args.nodes, &keys)?;
        println!(
            "{:<12} {:>12.4} {:>13.3}x {:>15.3}x {:>11.1} {:>11.1}",
            r.algorithm.name(),
            r.peak_to_mean,
            r.added_vs_ideal,
            r.removed_vs_ideal,
            r.lookup_ns,
            r.table_bytes as f64 / 1024.0
        );
    }
    Ok(())
}
