//! `CONFIG GET`, `CONFIG SET` and `CONFIG RESETSTAT`.

use std::borrow::Cow;

use bytes::Bytes;
use cache_store::PolicyKind;
use cache_wire::Response;
use cache_wire::command::ConfigCommand;

use crate::config::parse_size;
use crate::node::Node;

/// Parameters `CONFIG SET` can change.
const WRITABLE: [&str; 5] = [
    "maxmemory",
    "maxmemory-policy",
    "requirepass",
    "timeout",
    "maxclients",
];

/// Every parameter `CONFIG GET` knows, with its current value.
fn parameters(node: &Node) -> Vec<(&'static str, String)> {
    let params = node.params.read().clone();
    vec![
        ("maxmemory", node.store.max_memory().to_string()),
        ("maxmemory-policy", node.store.policy().to_string()),
        ("requirepass", params.requirepass),
        ("timeout", params.timeout.to_string()),
        ("maxclients", params.maxclients.to_string()),
        ("hz", node.hz.to_string()),
        ("databases", "1".to_owned()),
        ("save", String::new()),
        ("appendonly", "no".to_owned()),
        ("appendfsync", "no".to_owned()),
        ("max-key-len", node.max_key_len.to_string()),
        ("max-value-len", node.max_value_len.to_string()),
        ("proto-max-bulk-len", node.limits.max_bulk_len.to_string()),
        (
            "max-multibulk-len",
            node.limits.max_multibulk_len.to_string(),
        ),
        ("max-inline-len", node.limits.max_inline_len.to_string()),
        (
            "client-query-buffer-limit",
            node.limits.query_buffer_limit.to_string(),
        ),
        (
            "output-buffer-limit",
            node.limits.output_buffer_limit.to_string(),
        ),
        ("max-pipeline", node.limits.max_pipeline.to_string()),
        ("protected-mode", yes_no(node.protected_mode)),
    ]
}

fn yes_no(on: bool) -> String {
    if on { "yes" } else { "no" }.to_owned()
}

/// Runs a `CONFIG` subcommand.
pub fn config(node: &Node, command: ConfigCommand) -> Response {
    match command {
        ConfigCommand::Get(patterns) => {
            let mut pairs = Vec::new();
            for (name, value) in parameters(node) {
                if patterns
                    .iter()
                    .any(|p| cache_store::glob_match(&p.to_ascii_lowercase(), name.as_bytes()))
                {
                    pairs.push((
                        Response::Bulk(Bytes::from_static(name.as_bytes())),
                        Response::Bulk(Bytes::from(value)),
                    ));
                }
            }
            Response::Map(pairs)
        }
        ConfigCommand::Set(pairs) => {
            // Validate everything first so a bad pair changes nothing.
            let mut changes = Vec::new();
            for (name, value) in &pairs {
                let name = String::from_utf8_lossy(name).to_ascii_lowercase();
                let Some(&known) = WRITABLE.iter().find(|w| **w == name) else {
                    return Response::Error(Cow::Owned(format!(
                        "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                    )));
                };
                match parse_value(known, value) {
                    Ok(change) => changes.push(change),
                    Err(why) => {
                        return Response::Error(Cow::Owned(format!(
                            "ERR CONFIG SET failed (possibly related to argument '{known}') - {why}"
                        )));
                    }
                }
            }
            for change in changes {
                apply(node, change);
            }
            Response::Ok
        }
        ConfigCommand::ResetStat => {
            node.stats.reset();
            node.store.reset_stats();
            Response::Ok
        }
    }
}

enum Change {
    MaxMemory(usize),
    Policy(PolicyKind),
    RequirePass(String),
    Timeout(u64),
    MaxClients(usize),
}

fn parse_value(name: &str, value: &[u8]) -> Result<Change, String> {
    let text = std::str::from_utf8(value).map_err(|_| "argument must be UTF-8 text".to_owned())?;
    let number = || {
        text.parse::<u64>()
            .map_err(|_| "argument couldn't be parsed into an integer".to_owned())
    };
    Ok(match name {
        "maxmemory" => Change::MaxMemory(
            parse_size(text)
                .map(|n| n as usize)
                .map_err(|_| "argument must be a memory value".to_owned())?,
        ),
        "maxmemory-policy" => Change::Policy(
            text.parse()
                .map_err(|e: cache_store::UnknownPolicy| e.to_string())?,
        ),
        "requirepass" => Change::RequirePass(text.to_owned()),
        "timeout" => Change::Timeout(number()?),
        "maxclients" => Change::MaxClients(number()?.max(1) as usize),
        _ => return Err("argument is not writable".to_owned()),
    })
}

fn apply(node: &Node, change: Change) {
    match change {
        Change::MaxMemory(bytes) => node.store.set_max_memory(bytes),
        Change::Policy(kind) => {
            let before = node.store.policy();
            node.store.set_policy(kind);
            tracing::info!(from = %before, to = %kind, "eviction policy swapped");
        }
        Change::RequirePass(pass) => node.params.write().requirepass = pass,
        Change::Timeout(secs) => node.params.write().timeout = secs,
        Change::MaxClients(n) => node.params.write().maxclients = n,
    }
}
