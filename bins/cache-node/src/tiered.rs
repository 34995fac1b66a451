//! Commands on a node with a disk tier: each key lives in memory or on disk, never both.
//!
//! Plain writes of large values go to disk, smaller ones to memory; reads, deletes and the
//! key commands answer from either place. Any other command on a key that is on disk first
//! moves the value to memory (so memory's semantics apply unchanged), and a value left at or
//! over the threshold afterwards moves back to disk.
//!
//! Every command that writes or moves a key holds the key's lock ([`DiskTier::lock_keys`])
//! for its whole run, and the store does not evict a locked key, so nothing else moves it
//! meanwhile. A move writes the new place before it clears the old one, and a read that
//! misses memory looks again under the lock: a concurrent reader sees the key in one place or
//! the other, never in neither.

use std::borrow::Cow;

use bytes::Bytes;
use cache_persist::DiskTier;
use cache_store::{ExpiryChange, KeyTtl, SetOptions};
use cache_wire::Response;
use cache_wire::command::Command;
use cache_wire::parse::CommandId;

use crate::execute::{resolve, run, store_error};
use crate::node::{Node, Session};

/// Runs `command` on a node whose disk tier is `tier`.
pub fn execute(
    node: &Node,
    tier: &DiskTier,
    session: &mut Session,
    id: CommandId,
    command: Command,
) -> Response {
    let store = &node.store;
    let keys = locked_keys(&command);
    // GET and MGET are not locked here: a miss locks its key in `read`.
    let _locked = tier.lock_keys(keys.iter().map(|key| &key[..]));
    let now = store.now_ms();
    let big = |value: &[u8]| value.len() >= node.tier_threshold;
    match command {
        Command::Set {
            key,
            value,
            condition: None,
            get: false,
            expiry,
            keep_ttl: false,
        } => {
            let expires_at = match expiry.map(|e| resolve(store, e, id)).transpose() {
                Ok(at) => at,
                Err(reply) => return reply,
            };
            if big(&value) && to_disk(node, tier, &key, &value, expires_at) {
                return Response::Ok;
            }
            match to_memory_replacing(node, tier, &key, &value, expires_at) {
                Ok(()) => Response::Ok,
                Err(reply) => reply,
            }
        }
        Command::MSet { pairs } => {
            for (key, value) in &pairs {
                if big(value) && to_disk(node, tier, key, value, None) {
                    continue;
                }
                if let Err(reply) = to_memory_replacing(node, tier, key, value, None) {
                    return reply;
                }
            }
            Response::Ok
        }
        Command::Del { keys } => Response::Integer(
            keys.iter()
                .filter(|key| {
                    let in_memory = store.delete(key);
                    let on_disk = tier.remove(key);
                    in_memory || on_disk
                })
                .count() as i64,
        ),
        Command::GetDel { key } => match store.get_del(&key) {
            Some(value) => Response::Bulk(value),
            None => match tier.get(&key, now) {
                Some(found) => {
                    tier.remove(&key);
                    Response::Bulk(found.value)
                }
                None => Response::Nil,
            },
        },
        Command::Exists { keys } => Response::Integer(
            keys.iter()
                .filter(|key| store.exists(key) || tier.meta(key, now).is_some())
                .count() as i64,
        ),
        Command::StrLen { ref key } if !store.exists(key) => {
            Response::Integer(tier.meta(key, now).map_or(0, |(len, _)| len as i64))
        }
        Command::Ttl { ref key, millis } if !store.exists(key) => {
            Response::Integer(match tier.meta(key, now) {
                None => -2,
                Some((_, None)) => -1,
                Some((_, Some(at))) => {
                    let left = (at - now).max(0);
                    if millis { left } else { (left + 500) / 1000 }
                }
            })
        }
        Command::ExpireTime { ref key, millis } if !store.exists(key) => {
            Response::Integer(match tier.meta(key, now) {
                None => -2,
                Some((_, None)) => -1,
                Some((_, Some(at))) if millis => at,
                Some((_, Some(at))) => at / 1000,
            })
        }
        Command::Type { ref key } if !store.exists(key) && tier.meta(key, now).is_some() => {
            Response::Status(Cow::Borrowed("string"))
        }
        Command::DbSize => Response::Integer((store.len() + tier.len()) as i64),
        Command::FlushAll => {
            let reply = run(node, session, id, Command::FlushAll);
            match tier.clear() {
                Ok(()) => reply,
                Err(error) => Response::Error(Cow::Owned(format!(
                    "ERR memory flushed, but the disk tier could not be: {error}"
                ))),
            }
        }
        Command::Keys { pattern } => {
            let mut reply = run(
                node,
                session,
                id,
                Command::Keys {
                    pattern: pattern.clone(),
                },
            );
            if let Response::Array(keys) = &mut reply {
                tier.for_each_key(now, |key| {
                    if cache_store::glob_match(&pattern, key) {
                        keys.push(Response::bulk(key));
                    }
                });
            }
            reply
        }
        command => {
            for key in &keys {
                if let Err(reply) = to_memory(node, tier, key) {
                    return reply;
                }
            }
            let reply = run(node, session, id, command);
            for key in &keys {
                if store.strlen(key) >= node.tier_threshold {
                    back_to_disk(node, tier, key);
                }
            }
            reply
        }
    }
}

/// The keys a command works on, locked while it runs: every key of the commands answered
/// above, and of the others, those that must be in memory while they run (every command that
/// reads or changes a value and is not answered above).
fn locked_keys(command: &Command) -> Vec<Bytes> {
    match command {
        Command::Set { key, .. }
        | Command::SetNx { key, .. }
        | Command::GetEx { key, .. }
        | Command::GetDel { key }
        | Command::Append { key, .. }
        | Command::IncrBy { key, .. }
        | Command::IncrByFloat { key, .. }
        | Command::Expire { key, .. }
        | Command::Persist { key }
        | Command::StrLen { key }
        | Command::Ttl { key, .. }
        | Command::ExpireTime { key, .. }
        | Command::Type { key } => vec![key.clone()],
        Command::MSet { pairs } | Command::MSetNx { pairs } => {
            pairs.iter().map(|(k, _)| k.clone()).collect()
        }
        Command::Touch { keys } | Command::Del { keys } | Command::Exists { keys } => keys.clone(),
        _ => Vec::new(),
    }
}

/// A value of `key` that missed memory: from memory if a move brought it there meanwhile,
/// else from the disk tier. With `evict_to_disk`, a value under the threshold moves back to
/// memory: it was evicted, and is wanted again.
pub fn read(node: &Node, tier: &DiskTier, key: &[u8]) -> Option<Bytes> {
    let _locked = tier.lock_keys([key]);
    if let Some(value) = node.store.peek(key) {
        return Some(value);
    }
    let found = tier.get(key, node.store.now_ms())?;
    if node.tier_evict && found.value.len() < node.tier_threshold {
        let _ = to_memory(node, tier, key);
    }
    Some(found.value)
}

/// Writes a large value to disk, then removes the memory copy; false if the disk refused (the
/// caller then keeps it in memory). The caller holds the key's lock.
fn to_disk(node: &Node, tier: &DiskTier, key: &[u8], value: &[u8], at: Option<i64>) -> bool {
    match tier.put(key, value, at) {
        Ok(_) => {
            node.store.delete(key);
            true
        }
        Err(error) => {
            tracing::warn!(%error, "disk tier write failed; the value is kept in memory");
            false
        }
    }
}

/// Writes a value to memory, then removes any disk copy. The caller holds the key's lock.
fn to_memory_replacing(
    node: &Node,
    tier: &DiskTier,
    key: &[u8],
    value: &[u8],
    at: Option<i64>,
) -> Result<(), Response> {
    let options = SetOptions {
        expiry: at.map_or(ExpiryChange::Clear, ExpiryChange::At),
        ..SetOptions::default()
    };
    node.store.set(key, value, options).map_err(store_error)?;
    tier.remove(key);
    Ok(())
}

/// Moves `key`'s value from disk to memory, if it is on disk and not in memory. The caller
/// holds the key's lock.
fn to_memory(node: &Node, tier: &DiskTier, key: &[u8]) -> Result<(), Response> {
    let store = &node.store;
    if store.exists(key) {
        return Ok(());
    }
    match tier.get(key, store.now_ms()) {
        Some(found) => to_memory_replacing(node, tier, key, &found.value, found.expires_at),
        None => Ok(()),
    }
}

/// Moves a value that grew to the threshold in memory to disk. The caller holds the key's
/// lock.
fn back_to_disk(node: &Node, tier: &DiskTier, key: &[u8]) {
    let store = &node.store;
    let Some(value) = store.get(key) else {
        return;
    };
    let expires_at = match store.ttl(key) {
        KeyTtl::ExpiresAt(at) => Some(at),
        KeyTtl::Persistent => None,
        KeyTtl::Missing => return,
    };
    to_disk(node, tier, key, &value, expires_at);
}
