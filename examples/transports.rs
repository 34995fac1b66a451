//! The same commands over every transport a node offers. The endpoint's scheme picks it:
//! `tcp://host:port` (or a bare `host:port`), `unix:///path`, `tls://host:port`,
//! `quic://host:port` (TLS 1.3 over UDP, one stream per pipelined batch) and `udp://host:port`
//! (a datagram per request, lost reads retried). The code is the same for all; only the
//! `Connector` in `ConnectOptions` needs a CA to trust for `tls://` and `quic://`.
//!
//! Start a node listening on all of them. `--tls-self-signed DIR` makes a development
//! certificate for localhost, 127.0.0.1 and ::1 in `DIR` on first start (reused after), and
//! clients trust `DIR/cert.pem`:
//!
//! ```text
//! cache-node --listen tcp://127.0.0.1:7001 --listen tls://127.0.0.1:7443 \
//!     --listen quic://127.0.0.1:7443 --listen udp://127.0.0.1:7002 \
//!     --listen unix:///tmp/cache-node.sock --tls-self-signed dev-certs
//! ```
//!
//! Run (these endpoints and CA are the defaults):
//! `cargo run -p cache-examples --example transports -- --tls-ca dev-certs/cert.pem tcp://127.0.0.1:7001 tls://127.0.0.1:7443 quic://127.0.0.1:7443 udp://127.0.0.1:7002 unix:///tmp/cache-node.sock`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use cache_client::{Client, Commands, ConnectOptions};
use cache_wire::endpoint::Endpoint;
use cache_wire::transport::{ClientTls, Connector};
use clap::Parser;

/// The same commands over each transport.
#[derive(Debug, Parser)]
struct Args {
    /// Endpoints of one node (or the proxy), one per transport to try.
    #[arg(default_values = [
        "tcp://127.0.0.1:7001",
        "tls://127.0.0.1:7443",
        "quic://127.0.0.1:7443",
        "udp://127.0.0.1:7002",
        "unix:///tmp/cache-node.sock",
    ])]
    endpoints: Vec<String>,
    /// The CA to trust for tls:// and quic:// (the node's `DIR/cert.pem` with
    /// `--tls-self-signed DIR`).
    #[arg(long, default_value = "dev-certs/cert.pem")]
    tls_ca: PathBuf,
    /// GETs timed on each transport.
    #[arg(long, default_value_t = 200)]
    gets: u32,
}

/// SET, GET, INCRBY and DEL over `cache`, then `gets` timed GETs; returns the mean GET time.
async fn exercise(cache: &Client, scheme: &str, gets: u32) -> anyhow::Result<Duration> {
    let key = format!("example:transports:{scheme}");
    let counter = format!("{key}:count");
    cache.set(&key, format!("sent over {scheme}"), None).await?;
    let value = cache.get(&key).await?;
    ensure!(
        value.as_deref() == Some(format!("sent over {scheme}").as_bytes()),
        "GET returned {value:?}"
    );
    cache.del(&counter).await?;
    ensure!(cache.incr_by(&counter, 5).await? == 5, "INCRBY went wrong");
    let started = Instant::now();
    for _ in 0..gets {
        cache.get(&key).await?;
    }
    let mean = started.elapsed() / gets.max(1);
    ensure!(cache.del(&key).await?, "DEL found nothing to delete");
    cache.del(&counter).await?;
    Ok(mean)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let endpoints: Vec<Endpoint> = args
        .endpoints
        .iter()
        .map(|e| {
            e.parse()
                .with_context(|| format!("{e:?} is not an endpoint"))
        })
        .collect::<anyhow::Result<_>>()?;
    // A CA is only needed, and only read, when a tls:// or quic:// endpoint is given.
    let needs_tls = endpoints
        .iter()
        .any(|e| matches!(e, Endpoint::Tls(_) | Endpoint::Quic(_)));
    let connector = if needs_tls {
        let tls = ClientTls::new(&args.tls_ca, None).with_context(|| {
            format!(
                "cannot load the CA {}: start the node with `--tls-self-signed DIR` and pass \
                 `--tls-ca DIR/cert.pem`, or leave out the tls:// and quic:// endpoints",
                args.tls_ca.display()
            )
        })?;
        Connector::with_tls(tls)
    } else {
        Connector::plain()
    };
    let options = ConnectOptions {
        connector,
        ..ConnectOptions::default()
    };

    let mut failed = Vec::new();
    for (text, endpoint) in args.endpoints.iter().zip(&endpoints) {
        let scheme = match endpoint {
            Endpoint::Tcp(_) => "tcp",
            Endpoint::Tls(_) => "tls",
            Endpoint::Quic(_) => "quic",
            Endpoint::Udp(_) => "udp",
            Endpoint::Unix(_) => "unix",
        };
        let outcome = async {
            let cache = Client::new(text, options.clone())?;
            exercise(&cache, scheme, args.gets).await
        };
        match outcome.await {
            Ok(mean) => println!(
                "{text:<32} ok: SET, GET, INCRBY, DEL; GET takes {:.1} us",
                mean.as_secs_f64() * 1e6
            ),
            Err(error) => {
                println!("{text:<32} FAILED: {error:#}");
                failed.push(text.as_str());
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} endpoints failed: {} (is a node listening there? the command that starts \
             one on every transport is at the top of examples/transports.rs)",
            failed.len(),
            endpoints.len(),
            failed.join(", ")
        );
    }
    println!("all {} endpoints answered", endpoints.len());
    Ok(())
}
