//! Project automation, run as `cargo xtask <command>` (the alias lives in `.cargo/config.toml`).
//!
//! One binary, one module per subcommand, few dependencies: what CI runs is what a developer
//! runs locally. `main` only parses the command line and dispatches.

mod bench;
mod cluster;
mod fuzz;
mod memory;
mod persist;
mod ring;
mod sim;
mod soak;
mod throughput;
mod twemproxy;
mod util;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "Project automation: simulations, local cluster, benchmarks, CI"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the benchmark suites (all, or those named) and write a report with plots to target/bench.
    Bench(bench::BenchArgs),
    /// Start a local cluster (nodes and a proxy) on loopback and watch it in cache-top; quitting it (or Ctrl-C) stops the cluster.
    Cluster(cluster::ClusterArgs),
    /// Replay workloads through the real engine under every eviction policy and print hit ratios.
    Sim(sim::Args),
    /// Measure resident bytes per item in cache-node, redis-server and memcached.
    Memory(memory::MemoryArgs),
    /// Compare the key placement algorithms: balance, movement, lookup time, memory.
    Ring(ring::RingArgs),
    /// Run redis-benchmark against cache-node and redis-server in one run.
    Throughput(throughput::ThroughputArgs),
    /// Run the cargo-fuzz targets (all, or the one named) for a bounded time each; needs nightly and cargo-fuzz.
    Fuzz(fuzz::FuzzArgs),
    /// Measure what persistence costs (SET/s per appendfsync mode) and how fast it recovers, against redis-server.
    Persist(persist::PersistArgs),
    /// Mixed load through the proxy while nodes are killed, stopped, added and removed; fails on unexpected errors, wrong values or memory growth.
    Soak(soak::SoakArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Bench(args) => bench::run(&args),
        Command::Cluster(args) => cluster::run(&args),
        Command::Sim(args) => sim::run(args),
        Command::Memory(args) => memory::run(&args),
        Command::Throughput(args) => throughput::run(&args),
        Command::Persist(args) => persist::run(&args),
        Command::Fuzz(args) => fuzz::run(&args),
        Command::Soak(args) => soak::run(&args),
        Command::Ring(args) if args.check_twemproxy => twemproxy::run(args.no_build),
        Command::Ring(args) => ring::run(&args),
    }
}
