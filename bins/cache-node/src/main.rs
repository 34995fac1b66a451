//! `cache-node`: flags and config file in, a serving node out.

use std::path::PathBuf;

use anyhow::Context;
use cache_node::config::parse_size;
use cache_node::{NodeConfig, Server};
use cache_store::PolicyKind;
use cache_wire::endpoint::Endpoint;
use cache_wire::transport::ServerTlsSettings;
use clap::Parser;

/// A memory-bounded cache server that speaks the Redis protocol (RESP2 and RESP3).
///
/// Flags override the config file; every setting has a default, so `cache-node` alone serves on
/// tcp://127.0.0.1:7001 with no memory limit.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// TOML config file (see config/cache-node.toml for every field).
    #[arg(short, long, env = "CACHE_NODE_CONFIG")]
    config: Option<PathBuf>,
    /// Endpoint to listen on, repeatable: tcp://, tls://, quic://, udp:// (HOST:PORT) or unix:///PATH [default: tcp://127.0.0.1:7001].
    #[arg(short, long, value_name = "ENDPOINT")]
    listen: Vec<Endpoint>,
    /// Shorthand for --listen tcp://127.0.0.1:PORT (0 picks a free port).
    #[arg(short, long)]
    port: Option<u16>,
    /// Byte budget for entries, e.g. 512mb or 2gb; 0 = unbounded [default: 0].
    #[arg(long, value_parser = parse_size)]
    maxmemory: Option<u64>,
    /// Eviction policy: w-tinylfu, allkeys-lru, allkeys-lfu or noeviction [default: w-tinylfu].
    #[arg(long)]
    maxmemory_policy: Option<PolicyKind>,
    /// Password clients must AUTH with [default: none].
    #[arg(long, env = "CACHE_REQUIREPASS", hide_env_values = true)]
    requirepass: Option<String>,
    /// Close connections idle this many seconds, 0 = never [default: 0].
    #[arg(long)]
    timeout: Option<u64>,
    /// Most connections served at once [default: 10000].
    #[arg(long)]
    maxclients: Option<usize>,
    /// yes: with no password set, serve only clients on this machine (loopback, Unix socket) [default: yes].
    #[arg(long, value_name = "yes|no", value_parser = cache_wire::limits::parse_yes_no)]
    protected_mode: Option<bool>,
    /// Longest key accepted, e.g. 1kb [default: 64kb].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_key_len: Option<u64>,
    /// Longest value accepted, e.g. 1mb [default: 64mb].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_value_len: Option<u64>,
    /// Store shards, a power of two [default: 16].
    #[arg(long)]
    shards: Option<usize>,
    /// Admin HTTP address serving /health and /metrics, e.g. 127.0.0.1:9121 (port 0 picks one) [default: off].
    #[arg(long, value_name = "HOST:PORT")]
    admin: Option<String>,
    /// Worker threads serving connections [default: one per CPU].
    #[arg(long)]
    threads: Option<usize>,
    /// Active expiry runs per second [default: 10].
    #[arg(long)]
    hz: Option<u32>,
    /// Seconds between one-line stats logs, 0 = off [default: 10].
    #[arg(long)]
    stats_log_interval: Option<u64>,
    /// Certificate chain (PEM) for tls:// and quic:// endpoints.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require TLS clients to present a certificate signed by this CA (PEM).
    #[arg(long, value_name = "FILE")]
    tls_client_ca: Option<PathBuf>,
    /// Development TLS: make (or reuse) a self-signed certificate for localhost in DIR; clients trust DIR/cert.pem.
    #[arg(long, value_name = "DIR", conflicts_with = "tls_cert")]
    tls_self_signed: Option<PathBuf>,
    /// Persist every write to an operation log in DIR, and load it on start [default: off].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// When the log is fsynced: always (before a write is answered), everysec or no [default: everysec].
    #[arg(long, value_name = "MODE")]
    appendfsync: Option<cache_persist::Fsync>,
    /// Start even if a log has a damaged record in the middle: cut it there, dropping the records after it.
    #[arg(long)]
    repair_log: bool,
    /// Keep large values (see --tier-threshold) on disk instead of memory, in DIR/tier (with --dir) or --tier-dir [default: off].
    #[arg(long)]
    disk_tier: bool,
    /// Directory of the disk tier's segment files (turns the tier on) [default: DIR/tier of --dir].
    #[arg(long, value_name = "DIR")]
    tier_dir: Option<PathBuf>,
    /// Bytes the disk tier may use, e.g. 20gb [default: 1gb].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    tier_budget: Option<u64>,
    /// Values of at least this size go to the disk tier [default: 64kb].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    tier_threshold: Option<u64>,
    /// Keep entries evicted from memory in the disk tier (turns the tier on) [default: off].
    #[arg(long)]
    tier_evict: bool,
    /// Read a miss from an origin and cache it: dir:PATH (key = file path under PATH) or sqlite:PATH [default: none].
    #[arg(long, value_name = "KIND:PATH")]
    origin: Option<cache_persist::OriginSpec>,
    /// Seconds a value read from the origin stays cached, 0 = until evicted [default: 0].
    #[arg(long, value_name = "SECONDS")]
    origin_ttl: Option<u64>,
    /// Table an sqlite: origin reads [default: cache].
    #[arg(long, value_name = "NAME")]
    origin_table: Option<String>,
    /// Column of that table holding the key [default: key].
    #[arg(long, value_name = "NAME")]
    origin_key_column: Option<String>,
    /// Column of that table holding the value [default: value].
    #[arg(long, value_name = "NAME")]
    origin_value_column: Option<String>,
    /// Log filter, e.g. info or cache_node=debug (RUST_LOG also works).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log: String,
    #[command(flatten)]
    limits: cache_wire::limits::LimitFlags,
}

impl Args {
    fn into_config(self) -> anyhow::Result<NodeConfig> {
        let mut config = match &self.config {
            Some(path) => NodeConfig::from_file(path)?,
            None => NodeConfig::default(),
        };
        let mut listen = self.listen;
        if let Some(port) = self.port {
            listen.push(Endpoint::Tcp(format!("127.0.0.1:{port}")));
        }
        if !listen.is_empty() {
            config.listen = listen;
        }
        config.threads = self.threads.unwrap_or(config.threads);
        config.tls.override_with(ServerTlsSettings {
            cert: self.tls_cert,
            key: self.tls_key,
            client_ca: self.tls_client_ca,
            self_signed: self.tls_self_signed,
        });
        if self.admin.is_some() {
            config.admin = self.admin;
        }
        let m = &mut config.memory;
        m.maxmemory = self.maxmemory.unwrap_or(m.maxmemory);
        m.maxmemory_policy = self.maxmemory_policy.unwrap_or(m.maxmemory_policy);
        m.shards = self.shards.unwrap_or(m.shards);
        let bytes = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        m.max_key_len = self.max_key_len.map_or(m.max_key_len, bytes);
        m.max_value_len = self.max_value_len.map_or(m.max_value_len, bytes);
        let c = &mut config.clients;
        c.requirepass = self
            .requirepass
            .unwrap_or(std::mem::take(&mut c.requirepass));
        c.timeout = self.timeout.unwrap_or(c.timeout);
        c.maxclients = self.maxclients.unwrap_or(c.maxclients);
        c.protected_mode = self.protected_mode.unwrap_or(c.protected_mode);
        self.limits.apply(&mut config.limits);
        let p = &mut config.persistence;
        if self.dir.is_some() {
            p.dir = self.dir;
        }
        p.appendfsync = self.appendfsync.unwrap_or(p.appendfsync);
        p.repair_log |= self.repair_log;
        let t = &mut config.tier;
        if self.tier_dir.is_some() {
            t.dir = self.tier_dir;
            t.enabled = true;
        }
        t.enabled |= self.disk_tier || self.tier_evict;
        t.evict_to_disk |= self.tier_evict;
        t.budget = self.tier_budget.unwrap_or(t.budget);
        t.threshold = self.tier_threshold.unwrap_or(t.threshold);
        let o = &mut config.origin;
        if self.origin.is_some() {
            o.source = self.origin;
        }
        o.ttl = self.origin_ttl.unwrap_or(o.ttl);
        o.table = self.origin_table.or(o.table.take());
        o.key_column = self.origin_key_column.or(o.key_column.take());
        o.value_column = self.origin_value_column.or(o.value_column.take());
        let b = &mut config.background;
        b.hz = self.hz.unwrap_or(b.hz);
        b.stats_log_interval = self.stats_log_interval.unwrap_or(b.stats_log_interval);
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
    let config = args.into_config()?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if config.threads > 0 {
        runtime.worker_threads(config.threads);
    }
    let runtime = runtime.enable_all().build()?;
    runtime.block_on(async {
        let server = Server::bind(config).await?;
        // One machine-readable line on stdout, for scripts and tests that start a node on
        // port 0 and need to know where it listens.
        let mut announced = server.endpoints();
        announced.extend(server.admin_url());
        println!("ready {}", announced.join(" "));
        server.run(shutdown_signal()).await
    })
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the node");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
