//! Counters: INCR, DECR and INCRBY are atomic on the server, so many clients can count into one
//! key without reading it first. Shows a page-view counter fed by concurrent tasks, stock going
//! up and down, and a fixed-window rate limiter (the first INCR of a window sets its TTL).
//!
//! Start a server: `cargo xtask cluster` (its proxy, tcp://127.0.0.1:7000, is the default here)
//! or `cache-node --port 7000`.
//!
//! Run: `cargo run -p cache-examples --example counters -- tcp://127.0.0.1:7000`

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure};
use cache_client::{Client, Commands, ConnectOptions, Error};
use cache_examples::{PROXY, START_HINT, connect};
use cache_wire::Response;
use clap::Parser;

/// Atomic counters, a page-view counter and a rate limiter.
#[derive(Debug, Parser)]
struct Args {
    /// A node or the proxy: tcp://host:port, unix:///path, or host:port.
    #[arg(default_value = PROXY)]
    endpoint: String,
}

const TASKS: i64 = 8;
const VIEWS_PER_TASK: i64 = 25;
const REQUESTS_PER_WINDOW: i64 = 5;
const WINDOW: Duration = Duration::from_secs(10);

/// Counts one request of `user` in the current window; true if it is within the limit.
async fn allow(cache: &Client, user: &str) -> cache_client::Result<(bool, i64)> {
    let key = format!("example:counters:rate:{user}");
    let count = cache.incr_by(&key, 1).await?;
    if count == 1 {
        // The window starts with its first request and ends when the key expires.
        cache.expire(&key, WINDOW).await?;
    }
    Ok((count <= REQUESTS_PER_WINDOW, count))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cache = Arc::new(connect(&args.endpoint, ConnectOptions::default(), START_HINT).await?);
    println!("connected to {}", args.endpoint);
    let views = "example:counters:views:home";
    let stock = "example:counters:stock:widget";
    for key in [views, stock, "example:counters:rate:alice"] {
        cache.del(key).await?;
    }

    // Page views: many tasks increment at once and none of the increments is lost. A missing
    // key counts as 0.
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let cache = cache.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..VIEWS_PER_TASK {
                cache.incr_by(views, 1).await?;
            }
            Ok::<_, Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let total = cache.incr_by(views, 0).await?;
    println!(
        "page views: {total} after {} concurrent INCRs from {TASKS} tasks",
        TASKS * VIEWS_PER_TASK
    );
    ensure!(total == TASKS * VIEWS_PER_TASK, "increments were lost");

    // Stock: INCRBY with a negative delta, and DECR sent as a raw command.
    cache.set(stock, "10", None).await?;
    let after_sale = cache.incr_by(stock, -3).await?;
    println!("stock: 10, sold 3 (INCRBY -3) -> {after_sale}");
    let after_return = match cache.call(&["DECR", stock]).await? {
        Response::Integer(n) => n,
        other => bail!("unexpected reply to DECR: {other:?}"),
    };
    println!("stock: one more sold (DECR) -> {after_return}");

    // A counter must hold an integer; anything else is an error reply, not a silent reset.
    cache.set(stock, "plenty", None).await?;
    match cache.incr_by(stock, 1).await {
        Err(Error::Server(text)) => println!("INCRBY on \"plenty\" -> error: {text}"),
        other => bail!("expected an error reply, got {other:?}"),
    }

    // Rate limiting: at most REQUESTS_PER_WINDOW requests per user per window.
    let mut refused = 0;
    for request in 1..=REQUESTS_PER_WINDOW + 3 {
        let (allowed, count) = allow(&cache, "alice").await?;
        let verdict = if allowed { "allowed" } else { "refused" };
        println!("alice request {request}: {verdict} ({count} in this window)");
        refused += i64::from(!allowed);
    }
    if let Some(Some(left)) = cache.ttl("example:counters:rate:alice").await? {
        println!("the window resets in {:.1} s", left.as_secs_f64());
    }
    ensure!(refused == 3, "expected 3 refused requests, got {refused}");
    println!(
        "rate limiter: {refused} of {} requests refused",
        REQUESTS_PER_WINDOW + 3
    );

    for key in [views, stock, "example:counters:rate:alice"] {
        cache.del(key).await?;
    }
    Ok(())
}
