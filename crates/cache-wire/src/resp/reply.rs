//! Decoding replies, for the side that sends requests: the cluster client and the proxy's
//! connections to nodes.
//!
//! Same two passes as the request decoder: a check pass walks the reply's headers over `&[u8]`
//! until the whole reply is known to be buffered (bulk data is skipped by its length, not
//! scanned), then the reply is cut off the buffer once and bulk strings are slices of it.
//! Every RESP2 and RESP3 type is understood; RESP3 sets and pushes become arrays, big numbers
//! bulk strings, and attributes are skipped. A reply nested deeper than [`MAX_DEPTH`] is an
//! error rather than a stack overflow.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};

use super::Limits;
use crate::Response;
use crate::parse::{parse_f64, parse_i64};

/// Deepest nesting of aggregates accepted.
pub const MAX_DEPTH: usize = 64;

/// A reply stream that cannot be framed; the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// A type byte that is not RESP.
    #[error("unexpected reply type byte 0x{0:02x}")]
    UnknownType(u8),
    /// A length or number header that does not parse, or is over the limits.
    #[error("invalid length or number in reply header")]
    InvalidHeader,
    /// Bulk data not followed by `\r\n`.
    #[error("bulk reply not terminated by CRLF")]
    MissingCrlf,
    /// Aggregates nested deeper than [`MAX_DEPTH`].
    #[error("reply nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// Decodes one reply from the front of `buf`: `Ok(None)` until all of it has arrived.
pub fn decode_reply(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Response>, ReplyError> {
    let Some(end) = check(buf, 0, limits, 0)? else {
        return Ok(None);
    };
    let frame = buf.split_to(end).freeze();
    let (reply, _) = build(&frame, 0);
    Ok(Some(reply))
}

/// The line starting at `pos` (without `\r\n`) and the position after it. A line may hold
/// `max_inline_len` bytes however it arrives: all at once or a few bytes per read.
fn line(buf: &[u8], pos: usize, limits: &Limits) -> Result<Option<(usize, usize)>, ReplyError> {
    let rest = &buf[pos..];
    let max = limits.max_inline_len;
    match memchr_crlf(rest) {
        Some(at) if at > max => Err(ReplyError::InvalidHeader),
        Some(at) => Ok(Some((pos + at, pos + at + 2))),
        // `max` bytes and the `\r` may be here with the `\n` still to come.
        None if rest.len() > max.saturating_add(1) => Err(ReplyError::InvalidHeader),
        None => Ok(None),
    }
}

fn memchr_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

fn header_number(buf: &[u8], start: usize, end: usize) -> Result<i64, ReplyError> {
    parse_i64(&buf[start..end]).ok_or(ReplyError::InvalidHeader)
}

/// Walks one reply starting at `pos`; returns the position after it once all of it is there.
fn check(
    buf: &[u8],
    pos: usize,
    limits: &Limits,
    depth: usize,
) -> Result<Option<usize>, ReplyError> {
    if depth > MAX_DEPTH {
        return Err(ReplyError::TooDeep);
    }
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    let Some((line_end, next)) = line(buf, pos + 1, limits)? else {
        return Ok(None);
    };
    match kind {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(Some(next)),
        b'$' | b'=' | b'!' => {
            let len = header_number(buf, pos + 1, line_end)?;
            if len < 0 {
                return Ok(Some(next));
            }
            let len = usize::try_from(len).map_err(|_| ReplyError::InvalidHeader)?;
            if len > limits.max_bulk_len {
                return Err(ReplyError::InvalidHeader);
            }
            let end = next + len + 2;
            if buf.len() < end {
                return Ok(None);
            }
            if &buf[end - 2..end] != b"\r\n" {
                return Err(ReplyError::MissingCrlf);
            }
            Ok(Some(end))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let count = header_number(buf, pos + 1, line_end)?;
            if count < 0 {
                return Ok(Some(next));
            }
            let mut count = usize::try_from(count).map_err(|_| ReplyError::InvalidHeader)?;
            if count > limits.max_multibulk_len {
                return Err(ReplyError::InvalidHeader);
            }
            if matches!(kind, b'%' | b'|') {
                count *= 2;
            }
            let mut at = next;
            for _ in 0..count {
                match check(buf, at, limits, depth + 1)? {
                    Some(end) => at = end,
                    None => return Ok(None),
                }
            }
            if kind == b'|' {
                // An attribute precedes the reply it describes: skip it, keep the reply.
                return check(buf, at, limits, depth + 1);
            }
            Ok(Some(at))
        }
        other => Err(ReplyError::UnknownType(other)),
    }
}

/// Builds the reply at `pos` of a frame [`check`] accepted; returns it and the position after.
fn build(frame: &Bytes, pos: usize) -> (Response, usize) {
    let kind = frame[pos];
    let line_end = pos + 1 + memchr_crlf(&frame[pos + 1..]).unwrap_or(0);
    let text = &frame[pos + 1..line_end];
    let next = line_end + 2;
    let text_string = || String::from_utf8_lossy(text).into_owned();
    match kind {
        b'+' if text == b"OK" => (Response::Ok, next),
        b'+' => (Response::Status(Cow::Owned(text_string())), next),
        b'-' => (Response::Error(Cow::Owned(text_string())), next),
        b':' => (Response::Integer(parse_i64(text).unwrap_or(0)), next),
        b'_' => (Response::Nil, next),
        b',' => (Response::Double(parse_f64(text).unwrap_or(f64::NAN)), next),
        b'#' => (Response::Boolean(text == b"t"), next),
        b'(' => (Response::Bulk(frame.slice(pos + 1..line_end)), next),
        b'$' | b'=' | b'!' => {
            let len = parse_i64(text).unwrap_or(-1);
            let Ok(len) = usize::try_from(len) else {
                return (Response::Nil, next);
            };
            let data = frame.slice(next..next + len);
            let reply = match kind {
                // A blob error carries its text in the body.
                b'!' => Response::Error(Cow::Owned(String::from_utf8_lossy(&data).into_owned())),
                // Verbatim text starts with a three-letter format and a colon.
                b'=' if data.len() >= 4 => Response::Verbatim(data.slice(4..)),
                _ => Response::Bulk(data),
            };
            (reply, next + len + 2)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let count = parse_i64(text).unwrap_or(-1);
            let Ok(count) = usize::try_from(count) else {
                return (Response::Nil, next);
            };
            let mut at = next;
            if kind == b'%' || kind == b'|' {
                let mut pairs = Vec::with_capacity(count.min(1024));
                for _ in 0..count {
                    let (key, after_key) = build(frame, at);
                    let (value, after_value) = build(frame, after_key);
                    pairs.push((key, value));
                    at = after_value;
                }
                if kind == b'|' {
                    return build(frame, at);
                }
                return (Response::Map(pairs), at);
            }
            let mut items = Vec::with_capacity(count.min(1024));
            for _ in 0..count {
                let (item, after) = build(frame, at);
                items.push(item);
                at = after;
            }
            (Response::Array(items), at)
        }
        // check() admits no other type byte.
        _ => (Response::Nil, next),
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use proptest::prelude::*;

    use super::*;
    use crate::resp::{Protocol, encode};

    fn decode_all(bytes: &[u8]) -> Result<Option<Response>, ReplyError> {
        decode_reply(&mut BytesMut::from(bytes), &Limits::default())
    }

    #[test]
    fn simple_types() {
        assert_eq!(decode_all(b"+OK\r\n"), Ok(Some(Response::Ok)));
        assert_eq!(
            decode_all(b"+PONG\r\n"),
            Ok(Some(Response::Status("PONG".into())))
        );
        assert_eq!(
            decode_all(b"-ERR no\r\n"),
            Ok(Some(Response::Error("ERR no".into())))
        );
        assert_eq!(decode_all(b":-12\r\n"), Ok(Some(Response::Integer(-12))));
        assert_eq!(decode_all(b"$-1\r\n"), Ok(Some(Response::Nil)));
        assert_eq!(decode_all(b"*-1\r\n"), Ok(Some(Response::Nil)));
        assert_eq!(decode_all(b"_\r\n"), Ok(Some(Response::Nil)));
        assert_eq!(decode_all(b"#t\r\n"), Ok(Some(Response::Boolean(true))));
        assert_eq!(decode_all(b",1.5\r\n"), Ok(Some(Response::Double(1.5))));
        assert_eq!(
            decode_all(b"=8\r\ntxt:abcd\r\n"),
            Ok(Some(Response::Verbatim(Bytes::from_static(b"abcd"))))
        );
        assert_eq!(
            decode_all(b"|1\r\n+a\r\n+b\r\n:1\r\n"),
            Ok(Some(Response::Integer(1)))
        );
    }

    #[test]
    fn incomplete_then_complete() {
        let whole = b"*2\r\n$3\r\nabc\r\n%1\r\n+k\r\n:1\r\n";
        for cut in 0..whole.len() {
            assert_eq!(decode_all(&whole[..cut]), Ok(None), "cut at {cut}");
        }
        let mut buf = BytesMut::from(&whole[..]);
        buf.extend_from_slice(b"+OK\r\n");
        let first = decode_reply(&mut buf, &Limits::default()).unwrap().unwrap();
        assert_eq!(
            first,
            Response::Array(vec![
                Response::Bulk(Bytes::from_static(b"abc")),
                Response::Map(vec![(Response::Status("k".into()), Response::Integer(1))]),
            ])
        );
        assert_eq!(&buf[..], b"+OK\r\n");
    }

    #[test]
    fn malformed_replies_are_errors() {
        assert_eq!(decode_all(b"?x\r\n"), Err(ReplyError::UnknownType(b'?')));
        assert_eq!(decode_all(b"$x\r\n"), Err(ReplyError::InvalidHeader));
        assert_eq!(decode_all(b"$1\r\nab\r\n"), Err(ReplyError::MissingCrlf));
        let deep = "*1\r\n".repeat(MAX_DEPTH + 2);
        assert_eq!(decode_all(deep.as_bytes()), Err(ReplyError::TooDeep));
    }

    /// Found by the `resp_reply` fuzz target: a line over the limit was refused when it came
    /// in pieces and accepted when it came in one read.
    #[test]
    fn the_line_limit_does_not_depend_on_the_reads() {
        let small = Limits {
            max_inline_len: 24,
            ..Limits::default()
        };
        let long: &[u8] = b"(34928903284092385093\"4850943850943825024385\r\n";
        let fits: &[u8] = b"+abcdefghijklmnopqrstuvwx\r\n";
        let mut whole = BytesMut::from(long);
        assert_eq!(
            decode_reply(&mut whole, &small),
            Err(ReplyError::InvalidHeader)
        );
        let mut whole = BytesMut::from(fits);
        assert!(matches!(decode_reply(&mut whole, &small), Ok(Some(_))));
        for cut in 0..long.len() {
            let early = decode_reply(&mut BytesMut::from(&long[..cut]), &small);
            assert!(
                matches!(early, Ok(None) | Err(ReplyError::InvalidHeader)),
                "{cut}"
            );
            let early = decode_reply(
                &mut BytesMut::from(&fits[..cut.min(fits.len() - 1)]),
                &small,
            );
            assert_eq!(early, Ok(None), "{cut}");
        }
    }

    fn reply() -> impl Strategy<Value = Response> {
        let leaf = prop_oneof![
            Just(Response::Ok),
            Just(Response::Nil),
            any::<i64>().prop_map(Response::Integer),
            "[a-zA-Z ]{1,10}"
                .prop_filter("+OK decodes as Ok", |s| s != "OK")
                .prop_map(|s| Response::Status(s.into())),
            "ERR [a-z ]{0,10}".prop_map(|s| Response::Error(s.into())),
            proptest::collection::vec(any::<u8>(), 0..40)
                .prop_map(|v| Response::Bulk(Bytes::from(v))),
        ];
        leaf.prop_recursive(3, 30, 5, |inner| {
            proptest::collection::vec(inner, 0..5).prop_map(Response::Array)
        })
    }

    proptest! {
        #[test]
        fn encode_then_decode_round_trips(r in reply(), split in 0usize..200) {
            let mut bytes = BytesMut::new();
            encode(&r, Protocol::Resp3, &mut bytes);
            let whole = bytes.clone();
            let split = split.min(whole.len());
            let mut buf = BytesMut::from(&whole[..split]);
            let early = decode_reply(&mut buf, &Limits::default()).unwrap();
            if split < whole.len() {
                prop_assert_eq!(early, None);
                buf.extend_from_slice(&whole[split..]);
                let late = decode_reply(&mut buf, &Limits::default()).unwrap();
                prop_assert_eq!(late, Some(r));
            } else {
                prop_assert_eq!(early, Some(r));
            }
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_all(&bytes);
        }
    }
}
