//! Get, set and delete with the Rust client against one endpoint, a node or the proxy. A miss
//! is `Ok(None)`, never an error, so "not cached" is an ordinary arm of a `match`; errors are
//! kept for what went wrong (the server unreachable, a reply that makes no sense).
//!
//! Start a server: `cargo xtask cluster` (its proxy, tcp://127.0.0.1:7000, is the default here)
//! or `cache-node --port 7000`.
//!
//! Run: `cargo run -p cache-examples --example basic -- tcp://127.0.0.1:7000`

use anyhow::ensure;
use cache_client::{Commands, ConnectOptions};
use cache_examples::{PROXY, START_HINT, connect};
use clap::Parser;

/// Get, set and delete against one endpoint.
#[derive(Debug, Parser)]
struct Args {
    /// A node or the proxy: tcp://host:port, unix:///path, or host:port.
    #[arg(default_value = PROXY)]
    endpoint: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cache = connect(&args.endpoint, ConnectOptions::default(), START_HINT).await?;
    println!("connected to {}", args.endpoint);

    let key = "example:basic:greeting";
    cache.set(key, "hello", None).await?;
    println!("SET {key} hello");
    match cache.get(key).await? {
        Some(value) => println!("GET {key} -> {}", String::from_utf8_lossy(&value)),
        None => println!("GET {key} -> miss"),
    }

    // Values are bytes: anything goes, not only UTF-8.
    let blob = [0u8, 159, 146, 150, 255];
    cache.set("example:basic:blob", blob, None).await?;
    let back = cache.get("example:basic:blob").await?;
    ensure!(back.as_deref() == Some(&blob[..]), "binary value changed");
    println!("GET example:basic:blob -> {} bytes, as written", blob.len());

    // DEL says whether there was something to delete.
    let existed = cache.del(key).await?;
    println!("DEL {key} -> existed: {existed}");
    let again = cache.del(key).await?;
    println!("DEL {key} again -> existed: {again}");

    // The usual miss handling: fall back to computing (or loading) the value.
    let value = match cache.get(key).await? {
        Some(value) => String::from_utf8_lossy(&value).into_owned(),
        None => {
            println!("GET {key} -> miss, computing the value and caching it");
            let fresh = "hello again".to_owned();
            cache.set(key, &fresh, None).await?;
            fresh
        }
    };
    ensure!(
        cache.get(key).await?.as_deref() == Some(value.as_bytes()),
        "the value just cached is not there"
    );
    println!("GET {key} -> {value}");

    cache.del(key).await?;
    cache.del("example:basic:blob").await?;
    Ok(())
}
