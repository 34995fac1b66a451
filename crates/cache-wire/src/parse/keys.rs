//! The keyspace commands with options: the `EXPIRE` family, `SCAN`, `FLUSHDB`/`FLUSHALL`.

use std::borrow::Cow;

use bytes::Bytes;

use super::errors::{c_bytes, error_from_bytes, invalid_expire_time, not_an_integer, syntax_error};
use super::number::{parse_cursor, parse_i64};
use super::table::CommandId;
use crate::Response;
use crate::command::{Command, ExpireCondition, Expiry};

/// `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT key time [NX|XX|GT|LT ...]`.
///
/// Redis 7 reads the options before the time. Negative and zero times are valid (the key is
/// deleted); only a time whose milliseconds overflow an i64 is refused here. Adding a relative
/// time to the clock, and refusing that sum if it overflows, is the executor's job.
pub(crate) fn expire(
    id: CommandId,
    key: &Bytes,
    time: &Bytes,
    options: &[Bytes],
) -> Result<Command, Response> {
    let condition = expire_condition(options)?;
    let n = parse_i64(time).ok_or_else(not_an_integer)?;
    let seconds = id == CommandId::EXPIRE || id == CommandId::EXPIREAT;
    let millis = if seconds {
        n.checked_mul(1000)
            .ok_or_else(|| invalid_expire_time(id.name()))?
    } else {
        n
    };
    let expiry = if id == CommandId::EXPIRE || id == CommandId::PEXPIRE {
        Expiry::In(millis)
    } else {
        Expiry::At(millis)
    };
    Ok(Command::Expire {
        key: key.clone(),
        expiry,
        condition,
    })
}

/// Redis 7's `NX`, `XX`, `GT`, `LT`, in any order and repeated at will.
fn expire_condition(options: &[Bytes]) -> Result<Option<ExpireCondition>, Response> {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for option in options {
        let is = |name: &[u8]| option.eq_ignore_ascii_case(name);
        let flag = if is(b"nx") {
            &mut nx
        } else if is(b"xx") {
            &mut xx
        } else if is(b"gt") {
            &mut gt
        } else if is(b"lt") {
            &mut lt
        } else {
            let mut text = b"ERR Unsupported option ".to_vec();
            text.extend_from_slice(c_bytes(option, usize::MAX));
            return Err(error_from_bytes(text));
        };
        *flag = true;
    }
    if nx && (xx || gt || lt) {
        return Err(Response::Error(Cow::Borrowed(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        )));
    }
    if gt && lt {
        return Err(Response::Error(Cow::Borrowed(
            "ERR GT and LT options at the same time are not compatible",
        )));
    }
    Ok(match (nx, xx, gt, lt) {
        (true, ..) => Some(ExpireCondition::IfNone),
        // GT already fails on a key without expiry, so XX adds nothing to it.
        (_, _, true, _) => Some(ExpireCondition::IfGreater),
        (_, true, _, true) => Some(ExpireCondition::IfSomeAndLess),
        (_, _, _, true) => Some(ExpireCondition::IfLess),
        (_, true, ..) => Some(ExpireCondition::IfSome),
        _ => None,
    })
}

/// `SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]`. `MATCH *` is dropped: it matches all.
pub(crate) fn scan(cursor: &Bytes, options: &[Bytes]) -> Result<Command, Response> {
    let cursor =
        parse_cursor(cursor).ok_or(Response::Error(Cow::Borrowed("ERR invalid cursor")))?;
    let mut pattern = None;
    let mut count = 10;
    let mut type_filter = None;
    let mut rest = options;
    while let [option, value, tail @ ..] = rest {
        if option.eq_ignore_ascii_case(b"count") {
            let n = parse_i64(value).ok_or_else(not_an_integer)?;
            if n < 1 {
                return Err(syntax_error());
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if option.eq_ignore_ascii_case(b"match") {
            pattern = (&value[..] != b"*").then(|| value.clone());
        } else if option.eq_ignore_ascii_case(b"type") {
            type_filter = Some(value.clone());
        } else {
            return Err(syntax_error());
        }
        rest = tail;
    }
    if !rest.is_empty() {
        // An option without its value.
        return Err(syntax_error());
    }
    Ok(Command::Scan {
        cursor,
        pattern,
        count,
        type_filter,
    })
}

/// `FLUSHDB` and `FLUSHALL [ASYNC|SYNC]`. The mode is accepted and ignored: a flush of a
/// memory store is immediate either way.
pub(crate) fn flush(options: &[Bytes]) -> Result<Command, Response> {
    match options {
        [] => Ok(Command::FlushAll),
        [mode] if mode.eq_ignore_ascii_case(b"sync") || mode.eq_ignore_ascii_case(b"async") => {
            Ok(Command::FlushAll)
        }
        _ => Err(syntax_error()),
    }
}
