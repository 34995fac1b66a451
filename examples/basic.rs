//! Basic get/set, counters and TTLs with the Rust client, against one endpoint: a node or the
//! proxy (`cargo xtask cluster` starts both; the proxy is tcp://127.0.0.1:7000).
//!
//! Run: `cargo run -p cache-examples --example basic -- tcp://127.0.0.1:7000`

use std::time::Duration;

use cache_client::{Client, Commands, ConnectOptions};

#[tokio::main]
async fn main() -> cache_client::Result<()> {
    let endpoint = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp://127.0.0.1:7000".into());
    let cache = Client::new(&endpoint, ConnectOptions::default())?;

    cache.set("greeting", "hello", None).await?;
    // A miss is Ok(None); errors are only for what went wrong.
    match cache.get("greeting").await? {
        Some(value) => println!("greeting = {}", String::from_utf8_lossy(&value)),
        None => println!("greeting is not cached"),
    }

    let views = cache.incr_by("page:home:views", 1).await?;
    println!("home page viewed {views} times");

    cache
        .set("session:42", "alice", Some(Duration::from_secs(30)))
        .await?;
    if let Some(Some(left)) = cache.ttl("session:42").await? {
        println!("session:42 expires in {left:?}");
    }
    cache.del("session:42").await?;
    Ok(())
}
