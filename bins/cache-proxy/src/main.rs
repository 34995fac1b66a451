//! The `cache-proxy` binary: flags and config file to a [`ProxyConfig`], logging, signals.

use std::path::PathBuf;

use anyhow::Context;
use cache_proxy::config::NodeEntry;
use cache_proxy::{ProxyConfig, Server};
use cache_ring::{Algorithm, DownMode};
use cache_wire::endpoint::Endpoint;
use cache_wire::transport::ServerTlsSettings;
use clap::Parser;

/// A RESP proxy in front of cache nodes: consistent hashing, pooled pipelined node connections,
/// health checks and failover. With no flags it listens on tcp://127.0.0.1:7000.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// TOML config file (see config/cache-proxy.toml); SIGHUP re-reads its node list.
    #[arg(short, long, env = "CACHE_PROXY_CONFIG")]
    config: Option<PathBuf>,
    /// Endpoint to listen on, repeatable: tcp://, tls://, quic://, udp:// (HOST:PORT) or unix:///PATH [default: tcp://127.0.0.1:7000].
    #[arg(short, long, value_name = "ENDPOINT")]
    listen: Vec<Endpoint>,
    /// Shorthand for --listen tcp://127.0.0.1:PORT (0 picks a free port).
    #[arg(short, long)]
    port: Option<u16>,
    /// A node endpoint, repeatable; replaces the config file's nodes.
    #[arg(short, long = "node", value_name = "ENDPOINT")]
    nodes: Vec<Endpoint>,
    /// Key placement: maglev, ketama, rendezvous, multiprobe or twemproxy [default: maglev].
    #[arg(long)]
    distribution: Option<Algorithm>,
    /// Keys of a down node: remap (to other nodes) or miss [default: remap].
    #[arg(long)]
    down_mode: Option<DownMode>,
    /// Per-request timeout towards nodes, in milliseconds [default: 1000].
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Connections per node from each worker thread [default: 1].
    #[arg(long)]
    connections: Option<usize>,
    /// Password clients must AUTH with [default: none].
    #[arg(long, env = "CACHE_PROXY_REQUIREPASS", hide_env_values = true)]
    requirepass: Option<String>,
    /// Most client connections at once [default: 10000].
    #[arg(long)]
    maxclients: Option<usize>,
    /// Close client connections idle this many seconds, 0 = never [default: 0].
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// yes: with no password set, serve only clients on this machine (loopback, Unix socket) [default: yes].
    #[arg(long, value_name = "yes|no", value_parser = cache_wire::limits::parse_yes_no)]
    protected_mode: Option<bool>,
    /// Password to AUTH with at the nodes [default: none].
    #[arg(long, env = "CACHE_NODE_PASSWORD", hide_env_values = true)]
    node_password: Option<String>,
    /// Certificate chain (PEM) for tls:// listeners.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require TLS clients to present a certificate signed by this CA (PEM).
    #[arg(long, value_name = "FILE")]
    tls_client_ca: Option<PathBuf>,
    /// Development TLS: make (or reuse) a self-signed certificate for localhost in DIR.
    #[arg(long, value_name = "DIR", conflicts_with = "tls_cert")]
    tls_self_signed: Option<PathBuf>,
    /// CA (PEM) to trust for nodes at tls:// and quic:// endpoints (a node's self-signed cert.pem works).
    #[arg(long, value_name = "FILE")]
    node_tls_ca: Option<PathBuf>,
    /// Worker threads, each serving its share of clients [default: one per CPU].
    #[arg(long)]
    threads: Option<usize>,
    /// Log filter, e.g. info or cache_proxy=debug (RUST_LOG also works).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log: String,
    #[command(flatten)]
    limits: cache_wire::limits::LimitFlags,
}

impl Args {
    fn into_config(self) -> anyhow::Result<ProxyConfig> {
        let mut config = match &self.config {
            Some(path) => ProxyConfig::from_file(path)?,
            None => ProxyConfig::default(),
        };
        let mut listen = self.listen;
        if let Some(port) = self.port {
            listen.push(Endpoint::Tcp(format!("127.0.0.1:{port}")));
        }
        if !listen.is_empty() {
            config.listen = listen;
        }
        if !self.nodes.is_empty() {
            config.nodes = self.nodes.into_iter().map(NodeEntry::new).collect();
        }
        config.threads = self.threads.unwrap_or(config.threads);
        config.tls.override_with(ServerTlsSettings {
            cert: self.tls_cert,
            key: self.tls_key,
            client_ca: self.tls_client_ca,
            self_signed: self.tls_self_signed,
        });
        if self.node_tls_ca.is_some() {
            config.backend.tls.ca = self.node_tls_ca;
        }
        config.cluster.distribution = self.distribution.unwrap_or(config.cluster.distribution);
        config.cluster.down_mode = self.down_mode.unwrap_or(config.cluster.down_mode);
        let b = &mut config.backend;
        b.timeout_ms = self.timeout_ms.unwrap_or(b.timeout_ms);
        b.connections = self.connections.unwrap_or(b.connections);
        if let Some(p) = self.node_password {
            b.password = p;
        }
        let c = &mut config.clients;
        if let Some(p) = self.requirepass {
            c.requirepass = p;
        }
        c.maxclients = self.maxclients.unwrap_or(c.maxclients);
        c.timeout = self.timeout.unwrap_or(c.timeout);
        c.protected_mode = self.protected_mode.unwrap_or(c.protected_mode);
        self.limits.apply(&mut config.limits);
        Ok(config)
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log).context("invalid --log filter")?,
        )
        .with_writer(std::io::stderr)
        .init();
    let config_path = args.config.clone();
    let config = args.into_config()?;
    if config.nodes.is_empty() {
        tracing::warn!("no nodes configured: every key is unavailable until PROXY NODE ADD");
    }
    // This thread accepts, probes the nodes and handles signals; clients are served on the
    // worker threads, each with a runtime of its own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = Server::bind(config).await?;
        println!("ready {}", server.endpoints().join(" "));
        let proxy = server.proxy();
        tokio::spawn(reload_on_hangup(proxy, config_path));
        server.run(shutdown_signal()).await
    })
}

/// Re-reads the config file's node list on every SIGHUP.
async fn reload_on_hangup(proxy: std::sync::Arc<cache_proxy::Proxy>, path: Option<PathBuf>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hangup.recv().await.is_some() {
        match &path {
            Some(path) => {
                if let Err(error) = proxy.reload(path) {
                    tracing::error!("reload failed, nodes unchanged: {error:#}");
                }
            }
            None => tracing::warn!("SIGHUP ignored: the proxy was started without --config"),
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
