//! The cluster client: talks to the nodes directly, with no proxy hop, placing every key with
//! the same ring as cache-proxy and watching each node's health itself. It writes a set of keys,
//! then reads them in rounds, refilling whatever misses (cache-aside), and prints the hit rate
//! and which nodes are up.
//!
//! Stop one node while it runs and watch the failover: reads of that node's keys turn into
//! misses at once, never errors or hangs; writes to it fail ("unavailable") for the fraction of
//! a second until the client's health checks call it down; from then on its keys go to the
//! other nodes, start there as misses, get refilled, and the hit rate climbs back to 100%. The
//! other nodes' keys are not touched. When the node comes back it is flushed before it takes
//! keys again (what it held may be stale), so its keys move home as misses once more.
//!
//! Start the nodes: `cargo xtask cluster` (nodes on 7001-7003, the defaults here); to stop one,
//! find its pid with `pgrep -f 'cache-node --port 7002'` and `kill` it.
//!
//! Run: `cargo run -p cache-examples --example cluster -- tcp://127.0.0.1:7001 tcp://127.0.0.1:7002 tcp://127.0.0.1:7003`

use std::time::Duration;

use anyhow::{bail, ensure};
use cache_client::{ClusterClient, ClusterOptions, Commands, Error};
use clap::Parser;

/// The cluster client, and what it does when a node goes down.
#[derive(Debug, Parser)]
struct Args {
    /// The nodes (not the proxy): tcp://host:port, unix:///path, or host:port.
    #[arg(default_values = ["tcp://127.0.0.1:7001", "tcp://127.0.0.1:7002", "tcp://127.0.0.1:7003"])]
    endpoints: Vec<String>,
    /// How many keys to write and read back.
    #[arg(long, default_value_t = 100)]
    keys: usize,
    /// How many rounds of reads.
    #[arg(long, default_value_t = 30)]
    rounds: u32,
    /// The pause between rounds, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
}

fn key(i: usize) -> String {
    format!("example:cluster:item:{i}")
}

/// The nodes keys are routed to, as `a, b (2/3 up)`.
fn describe_up(cluster: &ClusterClient) -> String {
    let nodes = cluster.nodes();
    let up: Vec<&str> = nodes
        .iter()
        .filter(|(_, up)| *up)
        .map(|(name, _)| name.as_str())
        .collect();
    format!("{} ({}/{} up)", up.join(", "), up.len(), nodes.len())
}

/// Outcome of one read-and-refill pass over every key.
#[derive(Debug, Default)]
struct Round {
    hits: usize,
    refilled: usize,
    failed_writes: usize,
}

async fn read_all(cluster: &ClusterClient, keys: usize) -> anyhow::Result<Round> {
    let mut round = Round::default();
    for i in 0..keys {
        let expected = i.to_string();
        match cluster.get(key(i)).await? {
            Some(value) => {
                ensure!(value == expected.as_bytes(), "{} has a wrong value", key(i));
                round.hits += 1;
            }
            None => match cluster.set(key(i), &expected, None).await {
                Ok(()) => round.refilled += 1,
                // The node is down but not yet known to be, or no node is left at all.
                Err(error) if error.is_unavailable() || matches!(error, Error::NoNode) => {
                    round.failed_writes += 1
                }
                Err(error) => return Err(error.into()),
            },
        }
    }
    Ok(round)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let endpoints: Vec<&str> = args.endpoints.iter().map(String::as_str).collect();
    // Returns once every node has been probed once, so nodes already down are known.
    let cluster = ClusterClient::connect(&endpoints, ClusterOptions::default()).await?;
    let nodes = cluster.nodes();
    for (name, up) in &nodes {
        if *up {
            println!("{name}: up");
        } else {
            println!("{name}: down, its share of the keys goes to the other nodes");
        }
    }
    if nodes.iter().all(|(_, up)| !up) {
        bail!(
            "no node answered at {}; start them with `cargo xtask cluster` or pass the \
             endpoints of running nodes",
            args.endpoints.join(" ")
        );
    }

    for i in 0..args.keys {
        cluster.set(key(i), i.to_string(), None).await?;
    }
    println!("wrote {} keys across {}", args.keys, describe_up(&cluster));

    let mut last = cluster.nodes();
    for round in 1..=args.rounds {
        tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
        let result = read_all(&cluster, args.keys).await?;
        let now = cluster.nodes();
        for ((name, was_up), (_, is_up)) in last.iter().zip(&now) {
            match (was_up, is_up) {
                (true, false) => println!("{name} went down: its keys now go to the other nodes"),
                (false, true) => println!("{name} is up (flushed first): its keys move back to it"),
                _ => {}
            }
        }
        last = now;
        println!(
            "round {round}: {}/{} hits, {} refilled, {} writes failed; nodes {}",
            result.hits,
            args.keys,
            result.refilled,
            result.failed_writes,
            describe_up(&cluster)
        );
    }
    Ok(())
}
