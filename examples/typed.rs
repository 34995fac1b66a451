//! Caching typed objects: any serde type is stored as CBOR with `set_as` and read back with
//! `get_as`, in the usual cache-aside pattern in front of a slow lookup. Reading a value as the
//! wrong type is an error (`Error::Decode`), not a miss.
//!
//! Start a server: `cargo xtask cluster` (its proxy, tcp://127.0.0.1:7000, is the default here)
//! or `cache-node --port 7000`.
//!
//! Run: `cargo run -p cache-examples --example typed -- tcp://127.0.0.1:7000`

use std::time::{Duration, Instant};

use cache_client::{Client, Commands, ConnectOptions, Error};
use cache_examples::{PROXY, START_HINT, connect};
use clap::Parser;
use serde::{Deserialize, Serialize};

/// Serde structs in the cache, cache-aside.
#[derive(Debug, Parser)]
struct Args {
    /// A node or the proxy: tcp://host:port, unix:///path, or host:port.
    #[arg(default_value = PROXY)]
    endpoint: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Product {
    id: u64,
    name: String,
    price_cents: i64,
    tags: Vec<String>,
}

/// Stands in for a database query.
async fn load_product(id: u64) -> Product {
    tokio::time::sleep(Duration::from_millis(50)).await;
    Product {
        id,
        name: format!("product {id}"),
        price_cents: 1999,
        tags: vec!["demo".into()],
    }
}

fn product_key(id: u64) -> String {
    format!("example:typed:product:{id}")
}

/// Cache-aside: the cache first, the database on a miss, then fill the cache. Also says where
/// the product came from.
async fn product(cache: &Client, id: u64) -> cache_client::Result<(Product, &'static str)> {
    let key = product_key(id);
    if let Some(hit) = cache.get_as::<Product>(&key).await? {
        return Ok((hit, "from the cache"));
    }
    let fresh = load_product(id).await;
    cache
        .set_as(&key, &fresh, Some(Duration::from_secs(300)))
        .await?;
    Ok((fresh, "from the database"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cache = connect(&args.endpoint, ConnectOptions::default(), START_HINT).await?;
    println!("connected to {}", args.endpoint);

    // Start cold, so the first lookup misses.
    cache.del(product_key(7)).await?;
    for attempt in 1..=2 {
        let started = Instant::now();
        let (p, source) = product(&cache, 7).await?;
        println!(
            "attempt {attempt}: {source} in {:.1} ms: {p:?}",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }

    // The bytes under the key are a CBOR map; asking for a number instead fails loudly.
    match cache.get_as::<u64>(product_key(7)).await {
        Err(Error::Decode(why)) => println!("reading the product as a u64: decode error ({why})"),
        other => anyhow::bail!("expected a decode error, got {other:?}"),
    }
    Ok(())
}
