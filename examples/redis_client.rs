//! An existing Redis client, unchanged: the `redis` crate (any other client library, or
//! `redis-cli`, does the same) against a node or the proxy, which speak RESP2 and RESP3 with
//! Redis 7's commands and error texts. Plain commands, a TTL, a counter, MSET/MGET (the proxy
//! splits them across its nodes and joins the replies) and a pipeline, all through a
//! multiplexed async connection.
//!
//! Start a server: `cargo xtask cluster` (its proxy, redis://127.0.0.1:7000, is the default
//! here) or `cache-node --port 7000`.
//!
//! Run: `cargo run -p cache-examples --example redis_client -- redis://127.0.0.1:7000/`

use anyhow::{Context, ensure};
use clap::Parser;
use redis::AsyncCommands;

/// The `redis` crate against the cache.
#[derive(Debug, Parser)]
struct Args {
    /// A redis:// URL of a node or the proxy.
    #[arg(default_value = "redis://127.0.0.1:7000/")]
    url: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = redis::Client::open(args.url.as_str())
        .with_context(|| format!("{:?} is not a redis:// URL", args.url))?;
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .with_context(|| {
            format!(
                "cannot reach the cache at {}; start one with `cargo xtask cluster` (a proxy on \
                 redis://127.0.0.1:7000) or `cache-node --port 7000`, or pass the URL of a \
                 running one",
                args.url
            )
        })?;
    println!("connected to {}", args.url);

    let pong: String = redis::cmd("PING").query_async(&mut con).await?;
    println!("PING -> {pong}");

    let _: () = con.set("example:redis:greeting", "hello").await?;
    let greeting: Option<String> = con.get("example:redis:greeting").await?;
    println!("SET/GET example:redis:greeting -> {greeting:?}");
    ensure!(
        greeting.as_deref() == Some("hello"),
        "GET returned {greeting:?}"
    );

    let _: () = con.set_ex("example:redis:session", "alice", 60).await?;
    let ttl: i64 = con.ttl("example:redis:session").await?;
    println!("SET EX 60, TTL -> {ttl}");

    let _: () = con.del("example:redis:visits").await?;
    let visits: i64 = con.incr("example:redis:visits", 5).await?;
    println!("INCRBY example:redis:visits 5 -> {visits}");

    let pairs: Vec<(String, String)> = (1..=4)
        .map(|i| (format!("example:redis:k{i}"), format!("v{i}")))
        .collect();
    let _: () = con.mset(&pairs).await?;
    let keys = [
        "example:redis:k1",
        "example:redis:k2",
        "example:redis:missing",
        "example:redis:k4",
    ];
    let values: Vec<Option<String>> = con.mget(&keys).await?;
    println!("MSET 4 keys, MGET {} keys -> {values:?}", keys.len());
    ensure!(
        values
            == [
                Some("v1".to_owned()),
                Some("v2".to_owned()),
                None,
                Some("v4".to_owned())
            ],
        "MGET returned {values:?}"
    );

    // A pipeline: every command is sent before any reply is read.
    let (count, first, exists): (i64, String, bool) = redis::pipe()
        .incr("example:redis:visits", 1)
        .get("example:redis:k1")
        .exists("example:redis:missing")
        .query_async(&mut con)
        .await?;
    println!("pipeline INCR, GET, EXISTS -> ({count}, {first:?}, {exists})");
    ensure!(
        count == visits + 1 && first == "v1" && !exists,
        "pipeline replies are wrong"
    );

    let mut all: Vec<&str> = keys.to_vec();
    all.extend([
        "example:redis:k3",
        "example:redis:greeting",
        "example:redis:session",
        "example:redis:visits",
    ]);
    let deleted: i64 = con.del(&all).await?;
    println!("DEL {} keys -> {deleted} deleted", all.len());
    Ok(())
}
