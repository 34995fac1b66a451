//! Commands on a node with a disk tier: each key lives in memory or on disk, never both.
//!
//! Plain writes of large values go to disk and then remove the memory copy; smaller writes
//! remove the disk copy and then go to memory (in that order, since a write to memory may evict
//! the value it wrote to disk). Reads, deletes and the key commands answer from either
//! place. Any other command on a key that is on disk first moves the value to memory (so
//! memory's semantics apply unchanged), and a value left at or over the threshold afterwards
//! moves back to disk.
//!
//! Moves between the two are written so that a race with another client's write ends with one
//! of the written values or with the key absent, never with an older value shadowing a newer
//! one: a move to memory only keeps its copy if the disk record it read is still current, and a
//! move to disk only deletes the memory copy if it still holds the value moved.

use std::borrow::Cow;

use bytes::Bytes;
use cache_persist::DiskTier;
use cache_store::{ExpiryChange, KeyTtl, SetCondition, SetOptions};
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
            let expiry = expires_at.map_or(ExpiryChange::Clear, ExpiryChange::At);
            let options = SetOptions {
                expiry,
                ..SetOptions::default()
            };
            // The disk copy goes first: the write itself may evict the new value to disk.
            tier.remove(&key);
            match store.set(&key, &value, options) {
                Ok(_) => Response::Ok,
                Err(e) => store_error(e),
            }
        }
        Command::MSet { pairs } => {
            for (key, value) in &pairs {
                if big(value) && to_disk(node, tier, key, value, None) {
                    continue;
                }
                tier.remove(key);
                if let Err(e) = store.set(key, value, SetOptions::default()) {
                    return store_error(e);
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
            Some(value) => {
                tier.remove(&key);
                Response::Bulk(value)
            }
            None => match tier.get(&key, now) {
                Some(found) if tier.remove_if(&key, found.at) => Response::Bulk(found.value),
                _ => Response::Nil,
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
            let keys = moved_keys(&command);
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

/// The keys a command works on that must be in memory while it runs: those of every
/// command that reads or changes a value and is not answered above.
fn moved_keys(command: &Command) -> Vec<Bytes> {
    match command {
        Command::Set { key, .. }
        | Command::SetNx { key, .. }
        | Command::GetEx { key, .. }
        | Command::Append { key, .. }
        | Command::IncrBy { key, .. }
        | Command::IncrByFloat { key, .. }
        | Command::Expire { key, .. }
        | Command::Persist { key } => vec![key.clone()],
        Command::MSetNx { pairs } => pairs.iter().map(|(k, _)| k.clone()).collect(),
        Command::Touch { keys } => keys.clone(),
        _ => Vec::new(),
    }
}

/// A value of `key` that missed memory, from the disk tier. With `evict_to_disk`, a value
/// under the threshold moves back to memory: it was evicted, and is wanted again.
pub fn read(node: &Node, tier: &DiskTier, key: &[u8]) -> Option<Bytes> {
    let found = tier.get(key, node.store.now_ms())?;
    if node.tier_evict && found.value.len() < node.tier_threshold {
        let _ = to_memory(node, tier, key);
    }
    Some(found.value)
}

/// Writes a large value to disk and removes the memory copy; false if the disk refused (the
/// caller then keeps it in memory).
fn to_disk(node: &Node, tier: &DiskTier, key: &[u8], value: &[u8], at: Option<i64>) -> bool {
    // Memory first: were the memory copy still there while the disk one is written, an
    // eviction could write it to disk over the new value.
    node.store.delete(key);
    match tier.put(key, value, at) {
        Ok(_) => true,
        Err(error) => {
            tracing::warn!(%error, "disk tier write failed; the value is kept in memory");
            false
        }
    }
}

/// Moves `key`'s value from disk to memory, if it is on disk and not in memory.
fn to_memory(node: &Node, tier: &DiskTier, key: &[u8]) -> Result<(), Response> {
    let store = &node.store;
    if store.exists(key) {
        return Ok(());
    }
    let Some(found) = tier.get(key, store.now_ms()) else {
        return Ok(());
    };
    let options = SetOptions {
        condition: Some(SetCondition::IfAbsent),
        expiry: found
            .expires_at
            .map_or(ExpiryChange::Clear, ExpiryChange::At),
        return_old: false,
    };
    match store.set(key, &found.value, options) {
        Ok(outcome) if outcome.written => {
            // Someone wrote the key on disk meanwhile: their value is newer than ours.
            if !tier.remove_if(key, found.at) {
                store.delete_if_value(key, &found.value);
            }
            if !store.exists(key) && tier.meta(key, store.now_ms()).is_some() {
                // Memory evicted it straight back to disk: a command run now would not see it.
                return Err(Response::Error(Cow::Borrowed(
                    "ERR the value is on disk and memory is too full to work on it; raise maxmemory or try again",
                )));
            }
            Ok(())
        }
        // Someone wrote the key in memory meanwhile: theirs is newer, and the disk copy is stale.
        Ok(_) => {
            tier.remove_if(key, found.at);
            Ok(())
        }
        Err(e) => Err(store_error(e)),
    }
}

/// Moves a value that grew to the threshold in memory to disk.
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
    let Ok(at) = tier.put(key, &value, expires_at) else {
        return;
    };
    if !store.delete_if_value(key, &value) {
        // Changed meanwhile: the memory value is the newer one.
        tier.remove_if(key, at);
    }
}
