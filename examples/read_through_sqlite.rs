//! A node as a read-through cache in front of SQLite. Started with `--origin sqlite:PATH`, a
//! node answers a GET that misses memory with `SELECT value FROM cache WHERE key = ?` (the
//! table and columns are set with `--origin-table`, `--origin-key-column` and
//! `--origin-value-column`), caches the row and returns it; the next GET is a memory hit. The
//! application only ever talks to the cache. The cache does not see later writes to the
//! database: DEL the key (or start the node with `--origin-ttl SECONDS`) to have it read again.
//!
//! Three steps, by hand:
//!
//! ```text
//! cargo run -p cache-examples --example read_through_sqlite -- create shop.db
//! cargo run -p cache-node -- --port 7001 --origin sqlite:shop.db
//! cargo run -p cache-examples --example read_through_sqlite -- read tcp://127.0.0.1:7001
//! ```
//!
//! Or all in one, the database in a temporary directory and the node started from the build
//! directory: `cargo build -p cache-node && cargo run -p cache-examples --example read_through_sqlite`

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use cache_client::{Client, Commands, ConnectOptions};
use cache_examples::connect;
use cache_wire::Response;
use clap::{Parser, Subcommand};

/// A node reading through to an SQLite table.
#[derive(Debug, Parser)]
struct Args {
    /// What to do; without one, `demo`.
    #[command(subcommand)]
    step: Option<Step>,
}

#[derive(Debug, Subcommand)]
enum Step {
    /// Create (or refresh) the database: table `cache`, columns `key` and `value`.
    Create { path: PathBuf },
    /// Read keys through a node started with `--origin sqlite:PATH`.
    Read {
        #[arg(default_value = "tcp://127.0.0.1:7001")]
        endpoint: String,
    },
    /// Create a database in a temporary directory, start a node on it and read through it.
    Demo {
        /// The cache-node binary; by default the one next to this example's build directory.
        #[arg(long)]
        node_binary: Option<PathBuf>,
    },
}

/// The rows the database is created with.
const PRODUCTS: [(&str, &str); 3] = [
    (
        "product:1",
        r#"{"id":1,"name":"kettle","price_cents":2999}"#,
    ),
    (
        "product:2",
        r#"{"id":2,"name":"teapot","price_cents":1999}"#,
    ),
    ("product:3", r#"{"id":3,"name":"mug","price_cents":599}"#),
];

fn create(path: &Path) -> anyhow::Result<()> {
    let db = rusqlite::Connection::open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    // The node's defaults: table `cache`, key column `key`, value column `value`.
    db.execute(
        "CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value BLOB NOT NULL)",
        [],
    )?;
    for (key, value) in PRODUCTS {
        db.execute(
            "INSERT OR REPLACE INTO cache (key, value) VALUES (?1, ?2)",
            (key, value.as_bytes()),
        )?;
    }
    println!(
        "created {} with {} rows in table cache",
        path.display(),
        PRODUCTS.len()
    );
    Ok(())
}

/// One `INFO` field as a number.
async fn info_number(cache: &Client, section: &str, field: &str) -> anyhow::Result<u64> {
    let text = match cache.call(&["INFO", section]).await? {
        Response::Bulk(text) | Response::Verbatim(text) => text,
        other => bail!("unexpected reply to INFO: {other:?}"),
    };
    let text = String::from_utf8_lossy(&text);
    text.lines()
        .find_map(|line| line.trim_end().strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.parse().ok())
        .with_context(|| format!("INFO {section} has no {field}"))
}

/// A GET, timed, and whether it made the node load from the origin.
async fn timed_get(cache: &Client, key: &str) -> anyhow::Result<(Option<String>, bool, Duration)> {
    let loads = info_number(cache, "origin", "origin_loads").await?;
    let started = Instant::now();
    let value = cache.get(key).await?;
    let took = started.elapsed();
    let loaded = info_number(cache, "origin", "origin_loads").await? > loads;
    let value = value.map(|v| String::from_utf8_lossy(&v).into_owned());
    Ok((value, loaded, took))
}

fn source(loaded: bool) -> &'static str {
    if loaded {
        "loaded from SQLite"
    } else {
        "cache hit"
    }
}

async fn read(endpoint: &str, database: Option<&Path>) -> anyhow::Result<()> {
    let hint = "start a node reading through to the database, e.g. \
        `cache-node --port 7001 --origin sqlite:shop.db` after `read_through_sqlite create shop.db`";
    let cache = connect(endpoint, ConnectOptions::default(), hint).await?;
    let origin = match cache.call(&["INFO", "origin"]).await? {
        Response::Bulk(text) | Response::Verbatim(text) => String::from_utf8_lossy(&text)
            .lines()
            .find_map(|l| l.trim_end().strip_prefix("origin:").map(str::to_owned))
            .unwrap_or_default(),
        other => bail!("unexpected reply to INFO: {other:?}"),
    };
    ensure!(
        origin.starts_with("sqlite:"),
        "the node at {endpoint} has origin {origin:?}, not an SQLite database; {hint}"
    );
    println!("{endpoint} reads through to {origin}");

    for (key, _) in PRODUCTS {
        // Drop any cached copy, so the first read goes to the database.
        cache.del(key).await?;
        let (first, loaded, took) = timed_get(&cache, key).await?;
        let Some(first) = first else {
            bail!("{key} is not in the database; fill it with `read_through_sqlite create PATH`");
        };
        println!("GET {key} (1st): {first}  {}, {took:.2?}", source(loaded));
        let (second, loaded_again, took) = timed_get(&cache, key).await?;
        println!(
            "GET {key} (2nd): {}  {}, {took:.2?}",
            second.as_deref().unwrap_or("(miss)"),
            source(loaded_again)
        );
        ensure!(
            loaded && !loaded_again && second.as_deref() == Some(first.as_str()),
            "expected a load from SQLite and then a cache hit"
        );
    }

    let (missing, _, _) = timed_get(&cache, "product:404").await?;
    ensure!(missing.is_none(), "product:404 should not exist");
    println!("GET product:404: miss, not in the database either");

    if let Some(path) = database {
        // The node does not watch the database: a changed row stays cached as it was.
        let db = rusqlite::Connection::open(path)?;
        let cheaper = r#"{"id":1,"name":"kettle","price_cents":2499}"#;
        db.execute(
            "UPDATE cache SET value = ?1 WHERE key = 'product:1'",
            [cheaper.as_bytes()],
        )?;
        println!("UPDATE product:1 in SQLite (price 2499)");
        let (stale, _, _) = timed_get(&cache, "product:1").await?;
        println!(
            "GET product:1: {}  (still the cached row)",
            stale.unwrap_or_default()
        );
        cache.del("product:1").await?;
        let (fresh, loaded, _) = timed_get(&cache, "product:1").await?;
        let fresh = fresh.unwrap_or_default();
        println!("DEL product:1, GET product:1: {fresh}  {}", source(loaded));
        ensure!(fresh == cheaper, "the updated row was not read");
    }

    for field in ["origin_loads", "origin_found", "origin_missing"] {
        println!(
            "INFO {field}: {}",
            info_number(&cache, "origin", field).await?
        );
    }
    println!(
        "INFO keyspace_hits: {}",
        info_number(&cache, "stats", "keyspace_hits").await?
    );
    Ok(())
}

/// A node this example started; killed when dropped.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `binary` on a free port, reading through to `database`; returns it and its endpoint.
fn start_node(binary: &Path, database: &Path) -> anyhow::Result<(Node, String)> {
    let origin = format!("sqlite:{}", database.display());
    let mut child = Command::new(binary)
        .args(["--listen", "tcp://127.0.0.1:0", "--origin", &origin])
        .args(["--stats-log-interval", "0", "--log", "warn"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!(
                "cannot start {}: build it with `cargo build -p cache-node`, or pass \
                 --node-binary, or start a node yourself and use `read`",
                binary.display()
            )
        })?;
    let stdout = child.stdout.take().context("the node has no stdout")?;
    let node = Node(child);
    // The node prints `ready tcp://127.0.0.1:PORT` once it listens.
    let (lines, ready) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = ready
            .recv_timeout(Duration::from_secs(30))
            .context("the node did not report ready (its log is above)")?;
        if let Some(endpoints) = line.strip_prefix("ready ") {
            let endpoint = endpoints
                .split_whitespace()
                .find(|e| e.starts_with("tcp://"))
                .context("the node reported no tcp:// endpoint")?;
            return Ok((node, endpoint.to_owned()));
        }
    }
}

async fn demo(node_binary: Option<PathBuf>) -> anyhow::Result<()> {
    let binary = match node_binary {
        Some(path) => path,
        // This example runs from target/<profile>/examples/; the node is in target/<profile>/.
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .context("cannot tell the build directory; pass --node-binary")?
            .join("cache-node"),
    };
    let dir = tempfile::tempdir()?;
    let database = dir.path().join("shop.db");
    create(&database)?;
    let (_node, endpoint) = start_node(&binary, &database)?;
    println!("started {} on {endpoint}", binary.display());
    read(&endpoint, Some(&database)).await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Args::parse().step {
        Some(Step::Create { path }) => create(&path),
        Some(Step::Read { endpoint }) => read(&endpoint, None).await,
        Some(Step::Demo { node_binary }) => demo(node_binary).await,
        None => demo(None).await,
    }
}
