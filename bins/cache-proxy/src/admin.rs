//! Requests the proxy answers itself: connection commands, the `PROXY` admin command, and the
//! commands that ask every node (`INFO`, `DBSIZE`, `FLUSHALL`, `SAVE`, `BGREWRITEAOF`).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use cache_wire::command::{ClientCommand, Command, ConfigCommand};
use cache_wire::parse::command_reply;
use cache_wire::{Response, session};

use crate::config::NodeEntry;
use crate::connection::Session;
use crate::proxy::Proxy;

/// A connection-level command, answered without any node.
pub fn local(proxy: &Proxy, s: &mut Session, command: Command) -> Response {
    match command {
        Command::Ping { message: None } => Response::Status("PONG".into()),
        Command::Ping { message: Some(m) } | Command::Echo { message: m } => Response::Bulk(m),
        Command::Quit => {
            s.closing = true;
            Response::Ok
        }
        Command::Select { db: 0 } => Response::Ok,
        Command::Select { .. } => Response::err("DB index is out of range"),
        Command::Auth { username, password } => auth(proxy, s, username.as_deref(), &password),
        Command::Hello {
            protocol,
            auth: credentials,
            name,
        } => {
            let version = match session::hello_protocol(protocol) {
                Ok(v) => v,
                Err(reply) => return reply,
            };
            if let Some((user, pass)) = credentials {
                let reply = auth(proxy, s, Some(&user), &pass);
                if reply.is_error() {
                    return reply;
                }
            }
            if !s.authenticated {
                return session::hello_noauth();
            }
            if let Some(v) = version {
                s.protocol = v;
            }
            if name.is_some() {
                s.name = name;
            }
            session::hello_reply(s.protocol, s.id)
        }
        Command::Command(query) => command_reply(&query),
        Command::Client(ClientCommand::SetName(name)) => {
            s.name = (!name.is_empty()).then_some(name);
            Response::Ok
        }
        Command::Client(ClientCommand::GetName) => Response::bulk_or_nil(s.name.clone()),
        Command::Client(ClientCommand::Id) => Response::Integer(s.id as i64),
        Command::Client(ClientCommand::List | ClientCommand::Info) => {
            let name = s
                .name
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            Response::Verbatim(Bytes::from(format!("id={} name={name}\n", s.id)))
        }
        // Clients such as redis-benchmark read the node's settings at start; the proxy has
        // none of those to share, and an empty answer is what they expect for "unknown".
        Command::Config(ConfigCommand::Get(_)) => Response::Array(Vec::new()),
        Command::Config(_) => Response::err(
            "CONFIG SET and RESETSTAT are not supported through the proxy; configure nodes directly",
        ),
        _ => Response::err("command not supported by the proxy"),
    }
}

fn auth(proxy: &Proxy, s: &mut Session, username: Option<&[u8]>, password: &[u8]) -> Response {
    let reply = session::authenticate(&proxy.config.clients.requirepass, username, password);
    if reply == Response::Ok {
        s.authenticated = true;
    }
    reply
}

/// A command for every node, with the replies aggregated.
pub async fn fan_out(proxy: &Proxy, command: Command) -> Response {
    let topology = proxy.cluster.topology();
    let timeout = proxy.config.backend.timeout();
    let args: Vec<Bytes> = match &command {
        Command::Info { sections } => {
            let mut args = vec![Bytes::from_static(b"INFO")];
            args.extend(sections.iter().cloned());
            args
        }
        Command::DbSize => vec![Bytes::from_static(b"DBSIZE")],
        Command::FlushAll => vec![Bytes::from_static(b"FLUSHALL")],
        Command::Save => vec![Bytes::from_static(b"SAVE")],
        _ => vec![Bytes::from_static(b"BGREWRITEAOF")],
    };
    // Ask every node at once; a node that is down answers nothing (and is reported as such).
    let asks: Vec<_> = topology
        .backends
        .iter()
        .map(|backend| {
            let backend = backend.clone();
            let args = args.clone();
            tokio::spawn(async move {
                if !backend.is_routable() {
                    return None;
                }
                let call = async {
                    let connection = backend.connection(0).await?;
                    connection.call(&args).await
                };
                match tokio::time::timeout(timeout, call).await {
                    Ok(Ok(reply)) => Some(reply),
                    _ => None,
                }
            })
        })
        .collect();
    let mut replies = Vec::with_capacity(asks.len());
    for ask in asks {
        replies.push(ask.await.ok().flatten());
    }
    match command {
        Command::Info { .. } => info(proxy, &topology, &replies),
        Command::DbSize => Response::Integer(
            replies
                .iter()
                .map(|r| match r {
                    Some(Response::Integer(n)) => *n,
                    _ => 0,
                })
                .sum(),
        ),
        _ => {
            for (backend, reply) in topology.backends.iter().zip(&replies) {
                match reply {
                    Some(Response::Error(e)) => {
                        return Response::err(&format!("node {}: {e}", backend.name()));
                    }
                    None if backend.is_routable() => {
                        return cache_client::unavailable_reply(backend.name());
                    }
                    _ => {}
                }
            }
            Response::Ok
        }
    }
}

/// `INFO` through the proxy: a `# Proxy` section, a `# Cluster` section with totals, and a
/// `# Node <name>` section per node holding its state and the fields it reported.
fn info(
    proxy: &Proxy,
    topology: &crate::cluster::Topology,
    replies: &[Option<Response>],
) -> Response {
    let mut text = String::new();
    let up = topology.backends.iter().filter(|b| b.is_routable()).count();
    let _ = write!(
        text,
        "# Proxy\r\nproxy_version:{}\r\nredis_version:{}\r\nrun_id:{}\r\nuptime_in_seconds:{}\r\nconnected_clients:{}\r\ntotal_commands_processed:{}\r\ndistribution:{}\r\ndown_mode:{}\r\nnodes:{}\r\nnodes_up:{up}\r\nevents_total:{}\r\ndenied_connections:{}\r\nclient_query_buffer_limit_disconnections:{}\r\nclient_output_buffer_limit_disconnections:{}\r\n\r\n",
        env!("CARGO_PKG_VERSION"),
        session::REDIS_COMPAT_VERSION,
        proxy.run_id,
        proxy.started.elapsed().as_secs(),
        proxy.connected_clients.load(Ordering::Relaxed),
        proxy.commands.load(Ordering::Relaxed),
        topology.router.algorithm(),
        topology.router.mode().name(),
        topology.backends.len(),
        proxy.cluster.events_noted.load(Ordering::Relaxed),
        proxy.denied_connections.load(Ordering::Relaxed),
        proxy.query_limit_disconnections.load(Ordering::Relaxed),
        proxy.output_limit_disconnections.load(Ordering::Relaxed),
    );
    let totals = [
        "used_memory",
        "maxmemory",
        "keyspace_hits",
        "keyspace_misses",
        "evicted_keys",
        "expired_keys",
        "instantaneous_ops_per_sec",
        "total_commands_processed",
    ];
    let mut sums = [0u64; 8];
    let mut keys = 0u64;
    let mut per_node = String::new();
    for (backend, reply) in topology.backends.iter().zip(replies) {
        let state = if backend.is_routable() {
            backend.monitor.state().name()
        } else if backend.monitor.state().routable() {
            "rejoining"
        } else {
            backend.monitor.state().name()
        };
        let _ = write!(
            per_node,
            "# Node {}\r\nendpoint:{}\r\nstate:{state}\r\nweight:{}\r\nrequests:{}\r\nfailures:{}\r\n",
            backend.name(),
            backend.entry.endpoint,
            backend.entry.weight,
            backend.requests.load(Ordering::Relaxed),
            backend.failures.load(Ordering::Relaxed),
        );
        if let Some(Response::Bulk(body) | Response::Verbatim(body)) = reply {
            for line in String::from_utf8_lossy(body).lines() {
                let line = line.trim_end();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                if let Some((field, value)) = line.split_once(':') {
                    if let Some(i) = totals.iter().position(|t| *t == field) {
                        sums[i] += value.parse::<u64>().unwrap_or(0);
                    }
                    if field == "db0" {
                        keys += value
                            .split(',')
                            .find_map(|kv| kv.strip_prefix("keys="))
                            .and_then(|n| n.parse::<u64>().ok())
                            .unwrap_or(0);
                    }
                }
                per_node.push_str(line);
                per_node.push_str("\r\n");
            }
        }
        per_node.push_str("\r\n");
    }
    let _ = write!(text, "# Cluster\r\nkeys:{keys}\r\n");
    for (name, sum) in totals.iter().zip(sums) {
        let _ = write!(text, "{name}:{sum}\r\n");
    }
    text.push_str("\r\n");
    text.push_str(&per_node);
    Response::Verbatim(Bytes::from(text))
}

/// `PROXY NODES | NODE ADD <endpoint> [weight] [name] | NODE REMOVE <endpoint|name> | EVENTS`.
pub fn proxy_command(proxy: &std::sync::Arc<Proxy>, args: &[Bytes]) -> Response {
    let word = |i: usize| {
        args.get(i)
            .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase())
    };
    match (word(0).as_deref(), word(1).as_deref()) {
        (Some("NODES"), None) => {
            let topology = proxy.cluster.topology();
            Response::Array(
                topology
                    .backends
                    .iter()
                    .map(|b| {
                        let generation = b.monitor.last_health().map(|h| h.generation).unwrap_or_default();
                        Response::Bulk(Bytes::from(format!(
                            "name={} endpoint={} weight={} state={} routable={} generation={} requests={} failures={}",
                            b.name(),
                            b.entry.endpoint,
                            b.entry.weight,
                            b.monitor.state().name(),
                            if b.is_routable() { "yes" } else { "no" },
                            if generation.is_empty() { "-" } else { &generation },
                            b.requests.load(Ordering::Relaxed),
                            b.failures.load(Ordering::Relaxed),
                        )))
                    })
                    .collect(),
            )
        }
        (Some("NODE"), Some("ADD")) if (3..=5).contains(&args.len()) => {
            let endpoint =
                match String::from_utf8_lossy(&args[2]).parse::<cache_wire::endpoint::Endpoint>() {
                    Ok(e) => e,
                    Err(error) => return Response::err(&error.to_string()),
                };
            let mut entry = NodeEntry::new(endpoint);
            if let Some(weight) = args.get(3) {
                match std::str::from_utf8(weight)
                    .ok()
                    .and_then(|w| w.parse::<u32>().ok())
                {
                    Some(w) if w > 0 => entry.weight = w,
                    _ => return Response::err("weight must be a positive integer"),
                }
            }
            if let Some(name) = args.get(4) {
                entry.name = String::from_utf8_lossy(name).into_owned();
            }
            match proxy.cluster.add_node(entry) {
                Ok(()) => Response::Ok,
                Err(error) => Response::err(&error.to_string()),
            }
        }
        (Some("NODE"), Some("REMOVE")) if args.len() == 3 => {
            match proxy
                .cluster
                .remove_node(&String::from_utf8_lossy(&args[2]))
            {
                Ok(()) => Response::Ok,
                Err(error) => Response::err(&error.to_string()),
            }
        }
        (Some("EVENTS"), None) => Response::Array(
            proxy
                .cluster
                .events
                .lock()
                .iter()
                .map(|e| Response::Bulk(Bytes::from(e.clone())))
                .collect(),
        ),
        _ => Response::err(
            "unknown PROXY subcommand; use PROXY NODES, PROXY NODE ADD <endpoint> [weight] [name], PROXY NODE REMOVE <endpoint|name> or PROXY EVENTS",
        ),
    }
}
