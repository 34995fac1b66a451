//! The string commands whose arguments need more than a key and a value: `SET` and its
//! relatives, `GETEX`, the counters.
//!
//! Options are read the way Redis 7's `parseExtendedStringArgumentsOrReply` reads them: all
//! options first (any conflict is `ERR syntax error`), then the expiry value, so a bad option is
//! reported before a bad number, as Redis does.

use std::borrow::Cow;

use bytes::Bytes;

use super::errors::{invalid_expire_time, not_a_float, not_an_integer, syntax_error, wrong_arity};
use super::number::{parse_f64, parse_i64};
use super::table::CommandId;
use crate::Response;
use crate::command::{Command, Expiry, GetExpiry, SetCondition};

/// How an expiry argument is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeUnit {
    /// `EX`: seconds from now.
    Seconds,
    /// `PX`: milliseconds from now.
    Millis,
    /// `EXAT`: a Unix time in seconds.
    UnixSeconds,
    /// `PXAT`: a Unix time in milliseconds.
    UnixMillis,
}

impl TimeUnit {
    fn from_option(option: &[u8]) -> Option<TimeUnit> {
        [
            (&b"ex"[..], TimeUnit::Seconds),
            (b"px", TimeUnit::Millis),
            (b"exat", TimeUnit::UnixSeconds),
            (b"pxat", TimeUnit::UnixMillis),
        ]
        .into_iter()
        .find(|(name, _)| option.eq_ignore_ascii_case(name))
        .map(|(_, unit)| unit)
    }
}

/// The expiry of `SET`, `SETEX`, `PSETEX` and `GETEX`: a positive number whose milliseconds fit
/// in an i64. Adding it to the clock is the executor's job, and so is refusing a sum that
/// overflows (with the same error, [`invalid_expire_time`]).
pub(crate) fn expiry(id: CommandId, unit: TimeUnit, text: &[u8]) -> Result<Expiry, Response> {
    let n = parse_i64(text).ok_or_else(not_an_integer)?;
    let seconds = matches!(unit, TimeUnit::Seconds | TimeUnit::UnixSeconds);
    if n <= 0 || (seconds && n > i64::MAX / 1000) {
        return Err(invalid_expire_time(id.name()));
    }
    let millis = if seconds { n * 1000 } else { n };
    Ok(match unit {
        TimeUnit::Seconds | TimeUnit::Millis => Expiry::In(millis),
        TimeUnit::UnixSeconds | TimeUnit::UnixMillis => Expiry::At(millis),
    })
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]`.
pub(crate) fn set(key: &Bytes, value: &Bytes, options: &[Bytes]) -> Result<Command, Response> {
    let mut condition = None;
    let mut get = false;
    let mut keep_ttl = false;
    let mut expire: Option<(TimeUnit, &Bytes)> = None;
    let mut i = 0;
    while i < options.len() {
        let option = &options[i];
        let next = options.get(i + 1);
        let is = |name: &[u8]| option.eq_ignore_ascii_case(name);
        if is(b"nx") && condition != Some(SetCondition::IfPresent) {
            condition = Some(SetCondition::IfAbsent);
        } else if is(b"xx") && condition != Some(SetCondition::IfAbsent) {
            condition = Some(SetCondition::IfPresent);
        } else if is(b"get") {
            get = true;
        } else if is(b"keepttl") && expire.is_none() {
            keep_ttl = true;
        } else if let (Some(unit), Some(next)) = (TimeUnit::from_option(option), next) {
            // The same unit twice is allowed (the last wins); two different units are not.
            if keep_ttl || expire.is_some_and(|(u, _)| u != unit) {
                return Err(syntax_error());
            }
            expire = Some((unit, next));
            i += 1;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    let expiry = expire
        .map(|(unit, text)| expiry(CommandId::SET, unit, text))
        .transpose()?;
    Ok(Command::Set {
        key: key.clone(),
        value: value.clone(),
        condition,
        get,
        expiry,
        keep_ttl,
    })
}

/// `SETEX key seconds value` and `PSETEX key milliseconds value`.
pub(crate) fn set_ex(
    id: CommandId,
    key: &Bytes,
    time: &Bytes,
    value: &Bytes,
) -> Result<Command, Response> {
    let unit = if id == CommandId::SETEX {
        TimeUnit::Seconds
    } else {
        TimeUnit::Millis
    };
    let expiry = expiry(id, unit, time)?;
    Ok(Command::Set {
        key: key.clone(),
        value: value.clone(),
        condition: None,
        get: false,
        expiry: Some(expiry),
        keep_ttl: false,
    })
}

/// `GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST]`.
///
/// Redis checks the expiry value only when the key exists; we check it always, so a bad expiry
/// on a missing key is an error here where Redis answers nil.
pub(crate) fn get_ex(key: &Bytes, options: &[Bytes]) -> Result<Command, Response> {
    let mut persist = false;
    let mut expire: Option<(TimeUnit, &Bytes)> = None;
    let mut i = 0;
    while i < options.len() {
        let option = &options[i];
        if option.eq_ignore_ascii_case(b"persist") && expire.is_none() {
            persist = true;
        } else if let (Some(unit), Some(next)) = (TimeUnit::from_option(option), options.get(i + 1))
        {
            if persist || expire.is_some_and(|(u, _)| u != unit) {
                return Err(syntax_error());
            }
            expire = Some((unit, next));
            i += 1;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    let expiry = match expire {
        Some((unit, text)) => Some(GetExpiry::Set(expiry(CommandId::GETEX, unit, text)?)),
        None if persist => Some(GetExpiry::Persist),
        None => None,
    };
    Ok(Command::GetEx {
        key: key.clone(),
        expiry,
    })
}

/// `INCRBY key n` and `DECRBY key n`, as a signed delta.
pub(crate) fn incr_by(id: CommandId, key: &Bytes, delta: &Bytes) -> Result<Command, Response> {
    let n = parse_i64(delta).ok_or_else(not_an_integer)?;
    let delta = if id == CommandId::DECRBY {
        // -i64::MIN does not exist: Redis refuses it before touching the key.
        n.checked_neg().ok_or(Response::Error(Cow::Borrowed(
            "ERR decrement would overflow",
        )))?
    } else {
        n
    };
    Ok(Command::IncrBy {
        key: key.clone(),
        delta,
    })
}

/// `INCRBYFLOAT key delta`.
pub(crate) fn incr_by_float(key: &Bytes, delta: &Bytes) -> Result<Command, Response> {
    let delta = parse_f64(delta).ok_or_else(not_a_float)?;
    if delta.is_infinite() {
        // Whatever the key holds, the sum would be infinite: Redis's reply for that sum.
        return Err(Response::Error(Cow::Borrowed(
            "ERR increment would produce NaN or Infinity",
        )));
    }
    Ok(Command::IncrByFloat {
        key: key.clone(),
        delta,
    })
}

/// `MSET` and `MSETNX`: key, value pairs, refused with the arity error if one is incomplete.
pub(crate) fn pairs(id: CommandId, args: &[Bytes]) -> Result<Vec<(Bytes, Bytes)>, Response> {
    if !args.len().is_multiple_of(2) {
        return Err(wrong_arity(id.name()));
    }
    Ok(args
        .chunks_exact(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect())
}
