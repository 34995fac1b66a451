//! The cluster client: talks to the nodes directly (no proxy hop), routing every key with the
//! same ring as cache-proxy and watching node health itself. Kill a node while it runs and the
//! reads of that node's keys turn into misses, not errors.
//!
//! Run: `cargo run -p cache-examples --example cluster -- tcp://127.0.0.1:7001 tcp://127.0.0.1:7002 tcp://127.0.0.1:7003`

use std::time::Duration;

use cache_client::{ClusterClient, ClusterOptions, Commands};

#[tokio::main]
async fn main() -> cache_client::Result<()> {
    let mut endpoints: Vec<String> = std::env::args().skip(1).collect();
    if endpoints.is_empty() {
        endpoints = (7001..=7003)
            .map(|p| format!("tcp://127.0.0.1:{p}"))
            .collect();
    }
    let refs: Vec<&str> = endpoints.iter().map(String::as_str).collect();
    let cluster = ClusterClient::connect(&refs, ClusterOptions::default()).await?;
    for i in 0..100 {
        cluster
            .set(format!("item:{i}"), i.to_string(), None)
            .await?;
    }
    for round in 0..5 {
        let mut hits = 0;
        for i in 0..100 {
            if cluster.get(format!("item:{i}")).await?.is_some() {
                hits += 1;
            }
        }
        let up = cluster.nodes().iter().filter(|(_, up)| *up).count();
        println!(
            "round {round}: {hits}/100 hits, {up}/{} nodes up",
            endpoints.len()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(())
}
