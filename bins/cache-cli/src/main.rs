//! `cache-cli`: talk to a cache node or the proxy from the command line.
//!
//! One-shot (`cache-cli -e quic://127.0.0.1:7443 get k`) or, with no command, an interactive
//! prompt with line editing and history. Arguments are sent as given; at the prompt a line is
//! split as redis-cli splits it (quotes and `\x` escapes). A few words stand for the commands
//! an operator needs most (see `ADMIN`).

mod format;
mod session;

use std::path::PathBuf;

use anyhow::Context;
use bytes::Bytes;
use cache_wire::Response;
use cache_wire::endpoint::Endpoint;
use cache_wire::transport::{ClientTlsSettings, Connector};
use clap::Parser;

use session::{Protocol, Session};

/// Operator shortcuts: the word, what it runs, and what it is for.
const ADMIN: &[(&str, &[&str], &str)] = &[
    (
        "stats",
        &["INFO"],
        "everything INFO reports (per node through the proxy)",
    ),
    (
        "nodes",
        &["PROXY", "NODES"],
        "the proxy's nodes and their health",
    ),
    (
        "add-node",
        &["PROXY", "NODE", "ADD"],
        "add-node ENDPOINT: add a node to the proxy",
    ),
    (
        "remove-node",
        &["PROXY", "NODE", "REMOVE"],
        "remove-node ENDPOINT: take a node out",
    ),
    (
        "events",
        &["PROXY", "EVENTS"],
        "the proxy's recent cluster events",
    ),
    (
        "policy",
        &["CONFIG", "SET", "maxmemory-policy"],
        "policy NAME: swap the eviction policy",
    ),
    (
        "flush",
        &["FLUSHALL"],
        "drop every key (every node through the proxy)",
    ),
    ("save", &["SAVE"], "write a snapshot now"),
];

fn after_help() -> String {
    let mut text = String::from("Operator shortcuts (also at the prompt):\n");
    for (word, command, what) in ADMIN {
        text.push_str(&format!("  {word:<12} {what}  [{}]\n", command.join(" ")));
    }
    text.push_str(
        "\nExamples:\n  cache-cli set greeting hello\n  cache-cli -e unix:///tmp/n1.sock get greeting\n  \
         cache-cli -e tls://localhost:7443 --tls-ca dev-certs/cert.pem nodes\n  \
         cache-cli -e quic://localhost:7443 --tls-ca dev-certs/cert.pem get greeting\n  \
         cache-cli -e udp://127.0.0.1:7002 get greeting\n",
    );
    text
}

/// Command-line client for cache-node and cache-proxy.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None, after_help = after_help())]
struct Args {
    /// Server endpoint: tcp://HOST:PORT, tls://HOST:PORT, quic://HOST:PORT, udp://HOST:PORT
    /// (native protocol only) or unix:///PATH.
    #[arg(
        short,
        long,
        value_name = "ENDPOINT",
        default_value = "tcp://127.0.0.1:7000"
    )]
    endpoint: Endpoint,
    /// Shorthand for -e tcp://127.0.0.1:PORT.
    #[arg(short, long, conflicts_with = "endpoint")]
    port: Option<u16>,
    /// Password to AUTH with after connecting.
    #[arg(short = 'a', long, env = "CACHE_CLI_AUTH", hide_env_values = true)]
    password: Option<String>,
    /// Speak the native CBOR protocol instead of RESP.
    #[arg(long)]
    native: bool,
    /// Print replies raw (no quotes or type labels), as scripts want them.
    #[arg(long)]
    raw: bool,
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
    /// The command and its arguments; none starts the interactive prompt.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// The command to send for what the user typed, with operator shortcuts expanded.
fn expand(words: Vec<Bytes>) -> Vec<Bytes> {
    let Some(first) = words.first() else {
        return words;
    };
    match ADMIN
        .iter()
        .find(|(word, _, _)| first.eq_ignore_ascii_case(word.as_bytes()))
    {
        Some((_, command, _)) => command
            .iter()
            .map(|w| Bytes::from_static(w.as_bytes()))
            .chain(words.into_iter().skip(1))
            .collect(),
        None => words,
    }
}

fn show(reply: &Response, raw: bool) -> String {
    if raw {
        format::raw(reply)
    } else {
        format::pretty(reply)
    }
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let endpoint = match args.port {
        Some(port) => Endpoint::Tcp(format!("127.0.0.1:{port}")),
        None => args.endpoint.clone(),
    };
    let connector = Connector::from_settings(&ClientTlsSettings {
        ca: args.tls_ca.clone(),
        cert: args.tls_cert.clone(),
        key: args.tls_key.clone(),
    })
    .context("TLS settings")?;
    let protocol = if args.native {
        Protocol::Native
    } else {
        Protocol::Resp
    };
    let mut session =
        Session::connect(&endpoint, &connector, protocol, args.password.as_deref()).await?;
    if !args.command.is_empty() {
        let words = args
            .command
            .iter()
            .map(|w| Bytes::from(w.clone()))
            .collect();
        let reply = session.call(&expand(words)).await?;
        println!("{}", show(&reply, args.raw));
        session.close().await;
        return Ok(!reply.is_error());
    }
    repl(&mut session, &endpoint, args.raw).await?;
    session.close().await;
    Ok(true)
}

async fn repl(session: &mut Session, endpoint: &Endpoint, raw: bool) -> anyhow::Result<()> {
    let mut editor = rustyline::DefaultEditor::new()?;
    let history =
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache_cli_history"));
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    let prompt = format!("{endpoint}> ");
    loop {
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            Err(
                rustyline::error::ReadlineError::Interrupted | rustyline::error::ReadlineError::Eof,
            ) => break,
            Err(error) => return Err(error.into()),
        };
        let words = match cache_wire::resp::inline::split_args(&Bytes::from(line.clone())) {
            Ok(words) => words,
            Err(_) => {
                println!("Invalid argument(s): unbalanced quotes");
                continue;
            }
        };
        if words.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line.as_str());
        if words[0].eq_ignore_ascii_case(b"quit") || words[0].eq_ignore_ascii_case(b"exit") {
            break;
        }
        if words[0].eq_ignore_ascii_case(b"help") {
            println!("{}", after_help());
            continue;
        }
        match session.call(&expand(words)).await {
            Ok(reply) => println!("{}", show(&reply, raw)),
            Err(error) => {
                println!("error: {error:#}");
                break;
            }
        }
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cache-cli: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(error) => {
            eprintln!("cache-cli: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}
