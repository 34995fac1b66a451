//! From the arguments of a request to a validated [`Command`], with Redis 7's error texts.
//!
//! [`parse`] looks the name up in the command table (case-insensitively, without allocating),
//! checks the arity, reads numbers and options, and either returns the command with its
//! [`CommandId`] or the reply to send instead. Everything that needs no state is checked here, so
//! the executor never sees a malformed command; what needs the store, the clock or the
//! configuration (an expiry that overflows once added to now, `SELECT` of a database that does
//! not exist, a `HELLO` version not spoken, `CONFIG SET` values) is left to it.

pub mod errors;
mod keys;
mod number;
mod reply;
mod server;
mod strings;
mod table;

#[cfg(test)]
mod tests;

use bytes::Bytes;

use self::errors::{unknown_command, wrong_arity};
pub use self::number::{parse_f64, parse_i64};
pub use self::reply::{command_info, command_reply};
pub use self::table::{CommandId, CommandSpec};
use crate::Response;
use crate::command::Command;

/// Validates a request.
///
/// `Ok` holds the command and the table entry it was invoked as (`UNLINK` parses to
/// [`Command::Del`] with [`CommandId::UNLINK`]). `Err` holds a reply that is ready to send and
/// needs no executor: almost always an error, but also the text of the `HELP` subcommands and
/// the `OK` of `CLIENT SETINFO`; count it as a failed call only if [`Response::is_error`].
pub fn parse(args: &[Bytes]) -> Result<(CommandId, Command), Response> {
    let id = args
        .first()
        .and_then(|name| CommandId::lookup(name))
        .ok_or_else(|| unknown_command(args))?;
    if !id.spec().accepts(args.len()) {
        return Err(wrong_arity(id.name()));
    }
    let command = command(id, args)?;
    Ok((id, command))
}

/// One arm per command. The slice patterns repeat the arity the table already checked, so no
/// argument is ever indexed out of bounds even if the table were wrong: a mismatch falls to the
/// last arm and is reported as a wrong number of arguments.
fn command(id: CommandId, args: &[Bytes]) -> Result<Command, Response> {
    type C = CommandId;
    let key = |k: &Bytes| k.clone();
    Ok(match (id, args) {
        // strings
        (C::GET, [_, k]) => Command::Get { key: key(k) },
        (C::SET, [_, k, value, options @ ..]) => strings::set(k, value, options)?,
        (C::SETNX, [_, k, value]) => Command::SetNx {
            key: key(k),
            value: value.clone(),
        },
        (C::SETEX | C::PSETEX, [_, k, time, value]) => strings::set_ex(id, k, time, value)?,
        (C::GETSET, [_, k, value]) => Command::Set {
            key: key(k),
            value: value.clone(),
            condition: None,
            get: true,
            expiry: None,
            keep_ttl: false,
        },
        (C::GETDEL, [_, k]) => Command::GetDel { key: key(k) },
        (C::GETEX, [_, k, options @ ..]) => strings::get_ex(k, options)?,
        (C::MGET, [_, keys @ ..]) => Command::MGet {
            keys: keys.to_vec(),
        },
        (C::MSET, [_, rest @ ..]) => Command::MSet {
            pairs: strings::pairs(id, rest)?,
        },
        (C::MSETNX, [_, rest @ ..]) => Command::MSetNx {
            pairs: strings::pairs(id, rest)?,
        },
        (C::APPEND, [_, k, value]) => Command::Append {
            key: key(k),
            value: value.clone(),
        },
        (C::STRLEN, [_, k]) => Command::StrLen { key: key(k) },
        (C::INCR, [_, k]) => Command::IncrBy {
            key: key(k),
            delta: 1,
        },
        (C::DECR, [_, k]) => Command::IncrBy {
            key: key(k),
            delta: -1,
        },
        (C::INCRBY | C::DECRBY, [_, k, delta]) => strings::incr_by(id, k, delta)?,
        (C::INCRBYFLOAT, [_, k, delta]) => strings::incr_by_float(k, delta)?,
        // keys
        (C::DEL | C::UNLINK, [_, keys @ ..]) => Command::Del {
            keys: keys.to_vec(),
        },
        (C::EXISTS, [_, keys @ ..]) => Command::Exists {
            keys: keys.to_vec(),
        },
        (C::TOUCH, [_, keys @ ..]) => Command::Touch {
            keys: keys.to_vec(),
        },
        (C::EXPIRE | C::PEXPIRE | C::EXPIREAT | C::PEXPIREAT, [_, k, time, options @ ..]) => {
            keys::expire(id, k, time, options)?
        }
        (C::EXPIRETIME, [_, k]) => Command::ExpireTime {
            key: key(k),
            millis: false,
        },
        (C::PEXPIRETIME, [_, k]) => Command::ExpireTime {
            key: key(k),
            millis: true,
        },
        (C::TTL, [_, k]) => Command::Ttl {
            key: key(k),
            millis: false,
        },
        (C::PTTL, [_, k]) => Command::Ttl {
            key: key(k),
            millis: true,
        },
        (C::PERSIST, [_, k]) => Command::Persist { key: key(k) },
        (C::TYPE, [_, k]) => Command::Type { key: key(k) },
        (C::DBSIZE, [_]) => Command::DbSize,
        (C::FLUSHDB | C::FLUSHALL, [_, options @ ..]) => keys::flush(options)?,
        (C::SCAN, [_, cursor, options @ ..]) => keys::scan(cursor, options)?,
        (C::KEYS, [_, pattern]) => Command::Keys {
            pattern: pattern.clone(),
        },
        (C::RANDOMKEY, [_]) => Command::RandomKey,
        // connection and server
        (C::PING, [_]) => Command::Ping { message: None },
        (C::PING, [_, message]) => Command::Ping {
            message: Some(message.clone()),
        },
        (C::ECHO, [_, message]) => Command::Echo {
            message: message.clone(),
        },
        (C::HELLO, [_, rest @ ..]) => server::hello(rest)?,
        (C::AUTH, [_, rest @ ..]) => server::auth(rest)?,
        // Redis ignores QUIT's arguments.
        (C::QUIT, _) => Command::Quit,
        (C::SELECT, [_, db]) => server::select(db)?,
        (C::INFO, [_, sections @ ..]) => server::info(sections),
        (C::CONFIG, [_, sub, rest @ ..]) => server::config(sub, rest)?,
        (C::CLIENT, [_, sub, rest @ ..]) => server::client(sub, rest)?,
        (C::COMMAND, [_, rest @ ..]) => server::command(rest)?,
        (C::SAVE, [_]) => Command::Save,
        (C::BGREWRITEAOF, [_]) => Command::BgRewriteAof,
        _ => return Err(wrong_arity(id.name())),
    })
}
