//! Expiry: a value set with a TTL disappears by itself. Shows SET with a TTL (the client sends
//! `SET key value PX ms`; `EX seconds` works as a raw command), TTL on keys with, without and
//! with no such key, EXPIRE on an existing key, PERSIST to take a TTL off, and a key watched
//! until it expires: from then on it is a miss, as if it had never been set.
//!
//! Start a server: `cargo xtask cluster` (its proxy, tcp://127.0.0.1:7000, is the default here)
//! or `cache-node --port 7000`.
//!
//! Run: `cargo run -p cache-examples --example ttl -- tcp://127.0.0.1:7000 --watch-ms 1500`

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use cache_client::{Client, Commands, ConnectOptions};
use cache_examples::{PROXY, START_HINT, connect};
use cache_wire::Response;
use clap::Parser;

/// TTLs: set, read, change, remove, and watch one run out.
#[derive(Debug, Parser)]
struct Args {
    /// A node or the proxy: tcp://host:port, unix:///path, or host:port.
    #[arg(default_value = PROXY)]
    endpoint: String,
    /// The TTL of the key watched until it expires, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    watch_ms: u64,
}

/// What `TTL` says about `key`, in words.
async fn describe_ttl(cache: &Client, key: &str) -> cache_client::Result<String> {
    Ok(match cache.ttl(key).await? {
        None => "no such key".to_owned(),
        Some(None) => "no TTL (kept until deleted or evicted)".to_owned(),
        Some(Some(left)) => format!("expires in {:.1} s", left.as_secs_f64()),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cache = connect(&args.endpoint, ConnectOptions::default(), START_HINT).await?;
    println!("connected to {}", args.endpoint);
    let session = "example:ttl:session";
    let token = "example:ttl:token";
    let flash = "example:ttl:flash";

    cache
        .set(session, "alice", Some(Duration::from_secs(60)))
        .await?;
    println!(
        "SET {session} alice PX 60000 -> {}",
        describe_ttl(&cache, session).await?
    );

    match cache.call(&["SET", token, "t0k3n", "EX", "30"]).await? {
        Response::Ok => {}
        other => bail!("unexpected reply to SET EX: {other:?}"),
    }
    println!(
        "SET {token} t0k3n EX 30 -> {}",
        describe_ttl(&cache, token).await?
    );

    cache.set(token, "t0k3n", None).await?;
    println!(
        "SET {token} t0k3n (again, no TTL) -> {}",
        describe_ttl(&cache, token).await?
    );
    let expired = cache.expire(token, Duration::from_secs(10)).await?;
    println!(
        "EXPIRE {token} 10 -> applied: {expired}, {}",
        describe_ttl(&cache, token).await?
    );
    match cache.call(&["PERSIST", token]).await? {
        Response::Integer(removed) => println!(
            "PERSIST {token} -> removed a TTL: {}, {}",
            removed == 1,
            describe_ttl(&cache, token).await?
        ),
        other => bail!("unexpected reply to PERSIST: {other:?}"),
    }
    cache.del(token).await?;
    let missing = cache.expire(token, Duration::from_secs(10)).await?;
    println!(
        "EXPIRE on a deleted key -> applied: {missing}, {}",
        describe_ttl(&cache, token).await?
    );

    let ttl = Duration::from_millis(args.watch_ms);
    // Taken before the SET, so the time until the key is gone can only be longer than the TTL.
    let started = Instant::now();
    cache.set(flash, "now you see me", Some(ttl)).await?;
    println!(
        "SET {flash} with a TTL of {} ms, watching it:",
        args.watch_ms
    );
    let deadline = started + ttl + Duration::from_secs(2);
    loop {
        match cache.get(flash).await? {
            Some(_) => println!(
                "  {:>5} ms: still there, {}",
                started.elapsed().as_millis(),
                describe_ttl(&cache, flash).await?
            ),
            None => {
                let after = started.elapsed();
                println!("  {:>5} ms: gone (a miss)", after.as_millis());
                // A millisecond of slack: the server rounds its clock to whole milliseconds.
                ensure!(after + Duration::from_millis(1) >= ttl, "expired too early");
                println!("{flash} expired after about {} ms", after.as_millis());
                break;
            }
        }
        ensure!(Instant::now() < deadline, "{flash} did not expire in time");
        tokio::time::sleep((ttl / 5).min(Duration::from_millis(500))).await;
    }

    cache.del(session).await?;
    Ok(())
}
