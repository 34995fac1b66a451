//! Caching typed objects: any serde type is stored as CBOR with `set_as` and read back with
//! `get_as`, the usual cache-aside pattern in front of a slow lookup.
//!
//! Run: `cargo run -p cache-examples --example typed -- tcp://127.0.0.1:7000`

use std::time::Duration;

use cache_client::{Client, Commands, ConnectOptions};
use serde::{Deserialize, Serialize};

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

/// Cache-aside: the cache first, the database on a miss, then fill the cache.
async fn product(cache: &Client, id: u64) -> cache_client::Result<Product> {
    let key = format!("product:{id}");
    if let Some(hit) = cache.get_as::<Product>(&key).await? {
        return Ok(hit);
    }
    let fresh = load_product(id).await;
    cache
        .set_as(&key, &fresh, Some(Duration::from_secs(300)))
        .await?;
    Ok(fresh)
}

#[tokio::main]
async fn main() -> cache_client::Result<()> {
    let endpoint = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp://127.0.0.1:7000".into());
    let cache = Client::new(&endpoint, ConnectOptions::default())?;
    cache.del("product:7").await?;
    for attempt in 1..=2 {
        let started = std::time::Instant::now();
        let p = product(&cache, 7).await?;
        println!("attempt {attempt}: {p:?} in {:?}", started.elapsed());
    }
    Ok(())
}
