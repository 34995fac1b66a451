//! `cache-top`: reads flags, builds the [`Config`], and runs the monitor (or one snapshot).
//!
//! No `tracing` subscriber is installed: the screen is the output, and log lines would tear it.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use cache_top::Config;
use cache_top::config::parse_duration;
use cache_wire::endpoint::Endpoint;
use cache_wire::transport::{ClientTlsSettings, Connector};
use clap::Parser;

fn after_help() -> String {
    let mut text = String::from("Keys:\n");
    for (key, what) in cache_top::ui::KEYS {
        text.push_str(&format!("  {key:<11} {what}\n"));
    }
    text.push_str(
        "\nExamples:\n  cache-top                                  the proxy of `cargo xtask cluster`\n  \
         cache-top tcp://127.0.0.1:7001 tcp://127.0.0.1:7002   two nodes\n  \
         cache-top -e tls://localhost:7443 --tls-ca dev-certs/cert.pem\n  \
         cache-top --once --json | jq .cluster\n",
    );
    text
}

/// Live terminal monitor of a cache proxy, cache nodes, or any Redis-protocol server.
///
/// Polls INFO every interval and shows throughput, hit ratio, memory against budget,
/// evictions, node states and latency. Pointed at a proxy, it shows every node behind it (as
/// the proxy sees them) and the proxy's events.
#[derive(Debug, Parser)]
#[command(version, about, after_help = after_help())]
struct Args {
    /// What to watch: a proxy, nodes, or any Redis-protocol server, as tcp://HOST:PORT,
    /// tls://, quic://, udp://, unix:///PATH or HOST:PORT. Default: the proxy of
    /// `cargo xtask cluster`.
    #[arg(
        value_name = "ENDPOINT",
        env = "CACHE_TOP_ENDPOINTS",
        value_delimiter = ','
    )]
    endpoints: Vec<Endpoint>,
    /// Also watch this endpoint (repeatable; same as a positional ENDPOINT).
    #[arg(short, long = "endpoint", value_name = "ENDPOINT")]
    endpoint: Vec<Endpoint>,
    /// Shorthand for -e tcp://127.0.0.1:PORT (repeatable).
    #[arg(short, long)]
    port: Vec<u16>,
    /// Password to AUTH with after connecting.
    #[arg(short = 'a', long, env = "CACHE_TOP_AUTH", hide_env_values = true)]
    password: Option<String>,
    /// Time between two polls (500ms, 2s, ...).
    #[arg(short, long, default_value = "1s", value_parser = parse_duration, env = "CACHE_TOP_INTERVAL")]
    interval: Duration,
    /// How far back the charts go.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    history: Duration,
    /// Bound on connecting and on each reply.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    timeout: Duration,
    /// Print one plain-text snapshot and exit (two polls one interval apart, so rates are
    /// real). Exits 1 if a target could not be reached.
    #[arg(long)]
    once: bool,
    /// With --once: print one JSON document instead.
    #[arg(long, requires = "once")]
    json: bool,
    /// CA (PEM) to trust for tls:// and quic:// endpoints; a server's self-signed cert.pem
    /// works.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// Client certificate (PEM), for servers that require one.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl Args {
    fn config(&self) -> anyhow::Result<Config> {
        let mut targets: Vec<Endpoint> = self
            .endpoints
            .iter()
            .chain(&self.endpoint)
            .cloned()
            .collect();
        targets.extend(
            self.port
                .iter()
                .map(|port| Endpoint::Tcp(format!("127.0.0.1:{port}"))),
        );
        if targets.is_empty() {
            targets.push(Endpoint::Tcp("127.0.0.1:7000".to_owned()));
        }
        let mut config = Config::new(targets);
        config.interval = self.interval;
        config.history = self.history;
        config.connect.password = self.password.clone();
        config.connect.timeout = self.timeout;
        config.connect.connect_timeout = self.timeout;
        config.connect.connector = Connector::from_settings(&ClientTlsSettings {
            ca: self.tls_ca.clone(),
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
        })
        .context("TLS settings")?;
        Ok(config)
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hangup), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the default action ends the process; keys still quit.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = hangup.recv() => {}
        _ = interrupt.recv() => {}
    }
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let args = Args::parse();
    let config = args.config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    if args.once {
        let (app, complete) = runtime.block_on(cache_top::once(&config))?;
        if args.json {
            println!("{}", cache_top::snapshot::json(&app));
        } else {
            print!("{}", cache_top::snapshot::text(&app));
        }
        return Ok(if complete {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::FAILURE
        });
    }
    anyhow::ensure!(
        std::io::stdout().is_terminal(),
        "stdout is not a terminal: use --once (or --once --json) for a snapshot"
    );
    runtime.block_on(cache_top::run(config, shutdown_signal()))?;
    Ok(std::process::ExitCode::SUCCESS)
}
