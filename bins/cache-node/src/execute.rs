//! The adapter between the command model and the store: one `match`, one reply per command.
//!
//! Commands never write to the connection; they return a [`Response`] that the connection
//! encodes in the client's protocol.

use std::borrow::Cow;

use bytes::Bytes;
use cache_store::{self as store, ExpiryChange, KeyTtl, SetOptions};
use cache_wire::Response;
use cache_wire::command::{
    ClientCommand, Command, ExpireCondition, Expiry, GetExpiry, SetCondition,
};
use cache_wire::parse::CommandId;
use cache_wire::resp::Protocol;
use cache_wire::session;

use crate::info;
use crate::node::{Node, Session};
use crate::params;
use crate::tiered;

/// Refuses a request before `AUTH` (see [`cache_wire::session::gate`]).
pub fn gate(session: &Session, args: &[Bytes]) -> Option<Response> {
    session::gate(session.authenticated, args)
}

/// Runs `command` for the client of `session`.
pub fn execute(node: &Node, session: &mut Session, id: CommandId, command: Command) -> Response {
    if !session.authenticated
        && !matches!(
            command,
            Command::Auth { .. } | Command::Hello { .. } | Command::Quit
        )
    {
        return Response::Error(Cow::Borrowed(session::NOAUTH));
    }
    if let Some(error) = check_limits(node, &command) {
        return error;
    }
    if id.spec().has_flag("write")
        && let Some(failure) = node.persistence.get().and_then(|p| p.log().failure())
    {
        return Response::Error(Cow::Owned(format!(
            "MISCONF errors writing to the operation log: {failure}. Writes are refused until it can be written again; reads are served"
        )));
    }
    match node.tier.get() {
        Some(tier) => tiered::execute(node, tier, session, id, command),
        None => run(node, session, id, command),
    }
}

/// Runs `command` against memory (and, for a read that misses, the disk tier and the origin).
pub(crate) fn run(node: &Node, session: &mut Session, id: CommandId, command: Command) -> Response {
    let store = &node.store;
    match command {
        Command::Get { key } => match store.get(&key) {
            Some(value) => Response::Bulk(value),
            None => miss(node, session, key),
        },
        Command::Set {
            key,
            value,
            condition,
            get,
            expiry,
            keep_ttl,
        } => {
            let expiry = match (expiry, keep_ttl) {
                (Some(e), _) => match resolve(store, e, id) {
                    Ok(at) => ExpiryChange::At(at),
                    Err(e) => return e,
                },
                (None, true) => ExpiryChange::Keep,
                (None, false) => ExpiryChange::Clear,
            };
            let options = SetOptions {
                condition: condition.map(set_condition),
                expiry,
                return_old: get,
            };
            match store.set(&key, &value, options) {
                Ok(outcome) if get => Response::bulk_or_nil(outcome.old),
                Ok(outcome) if outcome.written => Response::Ok,
                Ok(_) => Response::Nil,
                Err(e) => store_error(e),
            }
        }
        Command::SetNx { key, value } => {
            let options = SetOptions {
                condition: Some(store::SetCondition::IfAbsent),
                ..SetOptions::default()
            };
            match store.set(&key, &value, options) {
                Ok(outcome) => Response::Integer(i64::from(outcome.written)),
                Err(e) => store_error(e),
            }
        }
        Command::GetDel { key } => Response::bulk_or_nil(store.get_del(&key)),
        Command::GetEx { key, expiry } => {
            let change = match expiry {
                None => ExpiryChange::Keep,
                Some(GetExpiry::Persist) => ExpiryChange::Clear,
                Some(GetExpiry::Set(e)) => match resolve(store, e, id) {
                    Ok(at) => ExpiryChange::At(at),
                    Err(e) => return e,
                },
            };
            Response::bulk_or_nil(store.get_ex(&key, change))
        }
        Command::MGet { keys } => Response::Array(
            keys.into_iter()
                .map(|key| match store.get(&key) {
                    Some(value) => Response::Bulk(value),
                    None => miss(node, session, key),
                })
                .collect(),
        ),
        Command::MSet { pairs } => match store.set_many(&borrow_pairs(&pairs), false) {
            Ok(_) => Response::Ok,
            Err(e) => store_error(e),
        },
        Command::MSetNx { pairs } => match store.set_many(&borrow_pairs(&pairs), true) {
            Ok(written) => Response::Integer(i64::from(written)),
            Err(e) => store_error(e),
        },
        Command::Append { key, value } => match store.append(&key, &value) {
            Ok(len) => Response::Integer(len as i64),
            Err(e) => store_error(e),
        },
        Command::StrLen { key } => Response::Integer(store.strlen(&key) as i64),
        Command::IncrBy { key, delta } => match store.incr_by(&key, delta) {
            Ok(n) => Response::Integer(n),
            Err(e) => store_error(e),
        },
        Command::IncrByFloat { key, delta } => match store.incr_by_float(&key, delta) {
            Ok(text) => Response::Bulk(text),
            Err(e) => store_error(e),
        },
        Command::Del { keys } => count(&keys, |k| store.delete(k)),
        Command::Exists { keys } => count(&keys, |k| store.exists(k)),
        Command::Touch { keys } => count(&keys, |k| store.touch(k)),
        Command::Expire {
            key,
            expiry,
            condition,
        } => match resolve(store, expiry, id) {
            Ok(at) => Response::Integer(i64::from(store.expire(
                &key,
                at,
                condition.map(expire_condition),
            ))),
            Err(e) => e,
        },
        Command::ExpireTime { key, millis } => Response::Integer(match store.ttl(&key) {
            KeyTtl::Missing => -2,
            KeyTtl::Persistent => -1,
            KeyTtl::ExpiresAt(at) if millis => at,
            KeyTtl::ExpiresAt(at) => at / 1000,
        }),
        Command::Ttl { key, millis } => Response::Integer(match store.ttl(&key) {
            KeyTtl::Missing => -2,
            KeyTtl::Persistent => -1,
            KeyTtl::ExpiresAt(at) => {
                let left = (at - store.now_ms()).max(0);
                // Redis rounds TTL to the nearest second.
                if millis { left } else { (left + 500) / 1000 }
            }
        }),
        Command::Persist { key } => Response::Integer(i64::from(store.persist(&key))),
        Command::Type { key } => {
            let kind = if store.ttl(&key) == KeyTtl::Missing {
                "none"
            } else {
                "string"
            };
            Response::Status(Cow::Borrowed(kind))
        }
        Command::DbSize => Response::Integer(store.len() as i64),
        Command::FlushAll => {
            store.flush();
            Response::Ok
        }
        Command::Scan {
            cursor,
            pattern,
            count,
            type_filter,
        } => {
            let mut keys = Vec::new();
            let wanted = type_filter
                .as_deref()
                .is_none_or(|t| t.eq_ignore_ascii_case(b"string"));
            let next = store.scan(cursor, count, |key| {
                if wanted && pattern.as_deref().is_none_or(|p| store::glob_match(p, key)) {
                    keys.push(Response::bulk(key));
                }
            });
            Response::Array(vec![
                Response::Bulk(Bytes::from(next.to_string())),
                Response::Array(keys),
            ])
        }
        Command::Keys { pattern } => {
            let mut keys = Vec::new();
            store.for_each_key(|key| {
                if store::glob_match(&pattern, key) {
                    keys.push(Response::bulk(key));
                }
            });
            Response::Array(keys)
        }
        Command::RandomKey => Response::bulk_or_nil(store.random_key()),
        Command::Ping { message: None } => Response::Status(Cow::Borrowed("PONG")),
        Command::Ping { message: Some(m) } | Command::Echo { message: m } => Response::Bulk(m),
        Command::Hello {
            protocol,
            auth,
            name,
        } => hello(node, session, protocol, auth, name),
        Command::Auth { username, password } => auth(node, session, username.as_deref(), &password),
        Command::Quit => {
            session.closing = true;
            Response::Ok
        }
        Command::Select { db: 0 } => Response::Ok,
        Command::Select { .. } => Response::err("DB index is out of range"),
        Command::Info { sections } => {
            Response::Verbatim(Bytes::from(info::render(node, &sections)))
        }
        Command::Config(config) => params::config(node, config),
        Command::Command(query) => cache_wire::parse::command_reply(&query),
        Command::Client(client) => client_command(node, session, client),
        Command::Save => match node.persistence.get() {
            Some(persistence) => {
                if let Some(Err(error)) = node.tier.get().map(|tier| tier.sync()) {
                    return Response::Error(Cow::Owned(format!(
                        "IOERR the disk tier cannot be made durable: {error}"
                    )));
                }
                // Answered once everything logged so far is written and fsynced.
                session.must_persist = Some(persistence.log().appended());
                Response::Ok
            }
            None => not_persistent(),
        },
        Command::BgRewriteAof => match node.persistence.get() {
            Some(persistence) if persistence.request_rewrite() => Response::Status(Cow::Borrowed(
                "Background append only file rewriting started",
            )),
            Some(_) => Response::Status(Cow::Borrowed(
                "Background append only file rewriting scheduled",
            )),
            None => not_persistent(),
        },
    }
}

/// The answer to a read that missed memory: the disk tier's value, else the origin's.
fn miss(node: &Node, session: &mut Session, key: Bytes) -> Response {
    if let Some(tier) = node.tier.get()
        && let Some(value) = tiered::read(node, tier, &key)
    {
        return Response::Bulk(value);
    }
    read_through(node, session, key)
}

/// The answer to a read that missed memory: nil without an origin; with one, what the origin
/// loaded on the request's second run, or on its first run a note that `key` must be loaded
/// (the placeholder reply is never sent: the connection loads the keys and runs the request
/// again).
fn read_through(node: &Node, session: &mut Session, key: Bytes) -> Response {
    if node.origin.get().is_none() {
        return Response::Nil;
    }
    match session.origin_loaded.get(&key) {
        Some(Ok(value)) => Response::bulk_or_nil(value.clone()),
        Some(Err(error)) => Response::Error(Cow::Owned(format!("ERR origin: {error}"))),
        None => {
            session.origin_wanted.push(key);
            Response::Nil
        }
    }
}

/// Refuses keys and values over the configured limits before they reach the store.
fn check_limits(node: &Node, command: &Command) -> Option<Response> {
    let too_long_key = |k: &Bytes| k.len() > node.max_key_len;
    let too_long_value = |v: &Bytes| v.len() > node.max_value_len;
    let (keys_bad, value_bad) = match command {
        Command::Set { key, value, .. }
        | Command::SetNx { key, value }
        | Command::Append { key, value } => (too_long_key(key), too_long_value(value)),
        Command::MSet { pairs } | Command::MSetNx { pairs } => (
            pairs.iter().any(|(k, _)| too_long_key(k)),
            pairs.iter().any(|(_, v)| too_long_value(v)),
        ),
        _ => (false, false),
    };
    if keys_bad {
        return Some(Response::Error(Cow::Owned(format!(
            "ERR key is longer than the limit of {} bytes (max_key_len)",
            node.max_key_len
        ))));
    }
    if value_bad {
        return Some(Response::Error(Cow::Owned(format!(
            "ERR value is longer than the limit of {} bytes (max_value_len)",
            node.max_value_len
        ))));
    }
    None
}

fn not_persistent() -> Response {
    Response::err(
        "persistence is not enabled on this node: nothing to save (start it with --dir DIR to use SAVE and BGREWRITEAOF)",
    )
}

pub(crate) fn store_error(error: store::Error) -> Response {
    Response::Error(Cow::Owned(error.to_string()))
}

/// Turns a client's expiry into an absolute time, refusing one that overflows.
pub(crate) fn resolve(
    store: &store::Store,
    expiry: Expiry,
    id: CommandId,
) -> Result<i64, Response> {
    let at = match expiry {
        Expiry::At(at) => Some(at),
        Expiry::In(ms) => store.now_ms().checked_add(ms),
    };
    at.ok_or_else(|| {
        Response::Error(Cow::Owned(format!(
            "ERR invalid expire time in '{}' command",
            id.name()
        )))
    })
}

fn set_condition(c: SetCondition) -> store::SetCondition {
    match c {
        SetCondition::IfAbsent => store::SetCondition::IfAbsent,
        SetCondition::IfPresent => store::SetCondition::IfPresent,
    }
}

fn expire_condition(c: ExpireCondition) -> store::ExpireCondition {
    match c {
        ExpireCondition::IfNone => store::ExpireCondition::IfNone,
        ExpireCondition::IfSome => store::ExpireCondition::IfSome,
        ExpireCondition::IfGreater => store::ExpireCondition::IfGreater,
        ExpireCondition::IfLess => store::ExpireCondition::IfLess,
        ExpireCondition::IfSomeAndLess => store::ExpireCondition::IfSomeAndLess,
    }
}

fn borrow_pairs(pairs: &[(Bytes, Bytes)]) -> Vec<(&[u8], &[u8])> {
    pairs.iter().map(|(k, v)| (&k[..], &v[..])).collect()
}

fn count(keys: &[Bytes], mut f: impl FnMut(&[u8]) -> bool) -> Response {
    Response::Integer(keys.iter().filter(|k| f(k)).count() as i64)
}

fn auth(node: &Node, session: &mut Session, username: Option<&[u8]>, password: &[u8]) -> Response {
    let required = node.params.read().requirepass.clone();
    let reply = session::authenticate(&required, username, password);
    if reply == Response::Ok {
        session.authenticated = true;
    }
    reply
}

fn hello(
    node: &Node,
    session: &mut Session,
    protocol: Option<i64>,
    auth_args: Option<(Bytes, Bytes)>,
    name: Option<Bytes>,
) -> Response {
    let version = match session::hello_protocol(protocol) {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    if let Some((user, pass)) = auth_args {
        let reply = auth(node, session, Some(&user), &pass);
        if reply.is_error() {
            return reply;
        }
    }
    if !session.authenticated {
        return session::hello_noauth();
    }
    if let Some(v) = version {
        session.protocol = v;
        session.client.protocol.store(
            if v == Protocol::Resp3 { 3 } else { 2 },
            std::sync::atomic::Ordering::Relaxed,
        );
    }
    if let Some(name) = name {
        *session.client.name.lock() = Some(name);
    }
    session::hello_reply(session.protocol, session.client.id)
}

fn client_command(node: &Node, session: &mut Session, command: ClientCommand) -> Response {
    match command {
        ClientCommand::SetName(name) => {
            *session.client.name.lock() = (!name.is_empty()).then_some(name);
            Response::Ok
        }
        ClientCommand::GetName => Response::bulk_or_nil(session.client.name.lock().clone()),
        ClientCommand::Id => Response::Integer(session.client.id as i64),
        ClientCommand::List => {
            let clients: Vec<_> = node.clients.lock().values().cloned().collect();
            let text: String = clients
                .iter()
                .map(|c| info::client_line(node, c) + "\n")
                .collect();
            Response::Verbatim(Bytes::from(text))
        }
        ClientCommand::Info => {
            Response::Verbatim(Bytes::from(info::client_line(node, &session.client) + "\n"))
        }
    }
}
