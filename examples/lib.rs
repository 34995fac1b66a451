//! Sample programs using the cache, one idea each. Every file opens with what it shows, what to
//! start first and the command that runs it; every one takes its endpoint(s) on the command line
//! and exits non-zero, saying what to start, when nothing answers there.
//!
//! - `basic`: get, set and delete with [`cache_client::Client`]; a miss is `Ok(None)`.
//! - `typed`: serde structs stored as CBOR, cache-aside in front of a slow lookup.
//! - `counters`: INCR/DECR/INCRBY, a page-view counter fed by many tasks and a rate limiter.
//! - `ttl`: SET with a TTL, TTL, EXPIRE, PERSIST, and watching a key expire.
//! - `cluster`: the cluster client over several nodes, and what it does when one goes down.
//! - `transports`: the same commands over tcp://, tls://, quic://, udp:// and unix://.
//! - `read_through_sqlite`: a node as a read-through cache in front of an SQLite table.
//! - `redis_client`: an existing Redis client (the `redis` crate) used unchanged.
//!
//! Run one with `cargo run -p cache-examples --example basic -- tcp://127.0.0.1:7000`.
//!
//! This library holds only what every example needs: reaching the server, or failing with a
//! message that says what to start.

use anyhow::{Context, bail};
use cache_client::{Client, ConnectOptions};
use cache_wire::Response;

/// The proxy of `cargo xtask cluster`, where the single-endpoint examples go by default.
pub const PROXY: &str = "tcp://127.0.0.1:7000";

/// What to tell someone whose server did not answer.
pub const START_HINT: &str = "start one with `cargo xtask cluster` (a proxy on \
    tcp://127.0.0.1:7000) or `cache-node --port 7000`, or pass the endpoint of a running one";

/// A client of `endpoint` that has answered a `PING`; if nothing answers, an error that ends
/// with `hint` (what to start).
///
/// [`Client::new`] connects lazily, so without this first round trip an unreachable server
/// would surface only in whichever command happened to run first.
pub async fn connect(
    endpoint: &str,
    options: ConnectOptions,
    hint: &str,
) -> anyhow::Result<Client> {
    let client = Client::new(endpoint, options)
        .with_context(|| format!("{endpoint:?} is not an endpoint"))?;
    match client.call(&["PING"]).await {
        Ok(Response::Error(text)) => bail!("{endpoint} refused PING: {text}"),
        Ok(_) => Ok(client),
        Err(error) => bail!("cannot reach the cache at {endpoint} ({error}); {hint}"),
    }
}
