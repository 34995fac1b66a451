//! The native protocol: length-prefixed CBOR frames with request ids.
//!
//! Every frame is a 6-byte header, then a CBOR body ([RFC 8949], definite lengths):
//!
//! ```text
//! 0xCA  version (1)  length (u32, big-endian, of the body)  body
//! ```
//!
//! A request body is `[id, [name, arg, ...]]`: an unsigned request id the client chooses and
//! the command as byte (or text) strings, the same commands RESP carries. A reply body is
//! `[id, 0, value]` or `[id, 1, [code, message]]`. Replies carry the id of their request, so a
//! client matches them by id, never by position, and a server or a proxy may answer out of
//! order. Values map onto CBOR's own types (see [`encode_reply`]); error codes are
//! [`ErrorCode`]s. `docs/protocol.md` is the full specification.
//!
//! The first byte, `0xCA`, is never the first byte of a RESP request (`*`, or a printable
//! inline command), so a listener tells the two apart from a connection's first byte.
//!
//! The CBOR is read and written by a small codec of our own ([`cbor`]) so arguments are slices
//! of the input; the tests check every shape against ciborium, a general CBOR implementation.
//!
//! [RFC 8949]: https://www.rfc-editor.org/rfc/rfc8949

pub mod cbor;

use std::borrow::Cow;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::Response;
use crate::error::{ProtocolError, Result};
use cbor::{Head, Malformed, Reader};

/// The first byte of every native frame.
pub const MAGIC: u8 = 0xCA;
/// The protocol version this build speaks.
pub const VERSION: u8 = 1;
/// Bytes before the body.
pub const HEADER_LEN: usize = 6;
/// A CBOR tag marking an error nested inside a value (a top-level error uses status 1).
pub const NESTED_ERROR_TAG: u64 = 27_001;

/// Bounds on frames a peer may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest body accepted. Default 512 MiB, as the longest RESP request.
    pub max_frame: usize,
    /// Most arguments in one request. Default 1024 × 1024, as RESP.
    pub max_args: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_frame: 512 * 1024 * 1024,
            max_args: 1024 * 1024,
        }
    }
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub id: u64,
    /// The command name and its arguments.
    pub args: Vec<Bytes>,
}

/// A decoded reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub id: u64,
    pub response: Response,
}

/// The typed error codes of the native protocol. The message beside a code is the same text
/// RESP sends (`ERR syntax error`), so both protocols say the same thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ErrorCode {
    /// Any other error.
    Generic = 1,
    UnknownCommand = 2,
    WrongArity = 3,
    Syntax = 4,
    /// A number argument is not a number or is out of range.
    NotANumber = 5,
    WrongType = 6,
    /// The connection must authenticate first.
    NoAuth = 7,
    WrongPass = 8,
    /// The memory budget is full and the policy is `noeviction`.
    OutOfMemory = 9,
    /// The node holding the key cannot be reached (from a proxy or a cluster client).
    Unavailable = 10,
    Timeout = 11,
    /// The request is over a limit of the transport or the server.
    TooLarge = 12,
    /// The frame or stream is broken; the server closes after sending this.
    Protocol = 13,
    /// Too many requests queued.
    Overloaded = 14,
    UnsupportedVersion = 15,
}

impl ErrorCode {
    /// Every code, for documentation and tests.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::Generic,
        ErrorCode::UnknownCommand,
        ErrorCode::WrongArity,
        ErrorCode::Syntax,
        ErrorCode::NotANumber,
        ErrorCode::WrongType,
        ErrorCode::NoAuth,
        ErrorCode::WrongPass,
        ErrorCode::OutOfMemory,
        ErrorCode::Unavailable,
        ErrorCode::Timeout,
        ErrorCode::TooLarge,
        ErrorCode::Protocol,
        ErrorCode::Overloaded,
        ErrorCode::UnsupportedVersion,
    ];

    /// The code of an error text as the server writes it (`WRONGTYPE ...`, `ERR syntax error`).
    pub fn of(text: &str) -> ErrorCode {
        let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
        match word {
            "WRONGTYPE" => return ErrorCode::WrongType,
            "NOAUTH" => return ErrorCode::NoAuth,
            "WRONGPASS" => return ErrorCode::WrongPass,
            "OOM" => return ErrorCode::OutOfMemory,
            "NOPROTO" => return ErrorCode::UnsupportedVersion,
            _ => {}
        }
        let rest = rest.to_ascii_lowercase();
        if rest.starts_with("unknown command") || rest.starts_with("unknown subcommand") {
            ErrorCode::UnknownCommand
        } else if rest.starts_with("wrong number of arguments") {
            ErrorCode::WrongArity
        } else if rest.starts_with("syntax error") {
            ErrorCode::Syntax
        } else if rest.contains("not an integer")
            || rest.contains("not a valid float")
            || rest.contains("out of range")
        {
            ErrorCode::NotANumber
        } else if rest.starts_with("protocol error: unsupported native protocol version") {
            ErrorCode::UnsupportedVersion
        } else if rest.starts_with("protocol error") {
            ErrorCode::Protocol
        } else if rest.contains("unavailable") {
            ErrorCode::Unavailable
        } else if rest.contains("timed out") || rest.contains("timeout") {
            ErrorCode::Timeout
        } else if rest.contains("too large") || rest.contains("too big") {
            ErrorCode::TooLarge
        } else if rest.contains("overloaded") {
            ErrorCode::Overloaded
        } else {
            ErrorCode::Generic
        }
    }

    /// The code with number `n`, if there is one.
    pub fn from_number(n: u64) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| *c as u64 == n)
    }

    /// The code's name as documented (`wrong_type`).
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Generic => "generic",
            ErrorCode::UnknownCommand => "unknown_command",
            ErrorCode::WrongArity => "wrong_arity",
            ErrorCode::Syntax => "syntax",
            ErrorCode::NotANumber => "not_a_number",
            ErrorCode::WrongType => "wrong_type",
            ErrorCode::NoAuth => "no_auth",
            ErrorCode::WrongPass => "wrong_pass",
            ErrorCode::OutOfMemory => "out_of_memory",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Timeout => "timeout",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Protocol => "protocol",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::UnsupportedVersion => "unsupported_version",
        }
    }
}

/// True when `buf` starts like a native frame rather than RESP.
pub fn is_native(first_byte: u8) -> bool {
    first_byte == MAGIC
}

/// Reserves a header and returns where it starts; [`finish_frame`] fills in the length.
fn start_frame(out: &mut BytesMut) -> usize {
    let at = out.len();
    out.put_slice(&[MAGIC, VERSION, 0, 0, 0, 0]);
    at
}

fn finish_frame(out: &mut BytesMut, at: usize) {
    let len = (out.len() - at - HEADER_LEN) as u32;
    out[at + 2..at + HEADER_LEN].copy_from_slice(&len.to_be_bytes());
}

/// Appends a request frame.
pub fn encode_request<A: AsRef<[u8]>>(id: u64, args: &[A], out: &mut BytesMut) {
    let at = start_frame(out);
    cbor::head(cbor::ARRAY, 2, out);
    cbor::head(cbor::UNSIGNED, id, out);
    cbor::head(cbor::ARRAY, args.len() as u64, out);
    for arg in args {
        cbor::bytes(arg.as_ref(), out);
    }
    finish_frame(out, at);
}

/// Appends a reply frame for request `id`.
pub fn encode_reply(id: u64, response: &Response, out: &mut BytesMut) {
    let at = start_frame(out);
    cbor::head(cbor::ARRAY, 3, out);
    cbor::head(cbor::UNSIGNED, id, out);
    match response {
        Response::Error(text) => {
            cbor::head(cbor::UNSIGNED, 1, out);
            error_value(text, out);
        }
        value => {
            cbor::head(cbor::UNSIGNED, 0, out);
            encode_value(value, out);
        }
    }
    finish_frame(out, at);
}

fn error_value(text: &str, out: &mut BytesMut) {
    cbor::head(cbor::ARRAY, 2, out);
    cbor::head(cbor::UNSIGNED, ErrorCode::of(text) as u64, out);
    cbor::text(text, out);
}

/// A value as CBOR: status → text, bulk → bytes, nil → null, integer → integer, double →
/// float, boolean → bool, array → array, map → map, verbatim text → text (bytes if it is not
/// UTF-8), a nested error → tag [`NESTED_ERROR_TAG`] over `[code, message]`.
fn encode_value(value: &Response, out: &mut BytesMut) {
    match value {
        Response::Ok => cbor::text("OK", out),
        Response::Status(text) => cbor::text(text, out),
        Response::Error(text) => {
            cbor::head(cbor::TAG, NESTED_ERROR_TAG, out);
            error_value(text, out);
        }
        Response::Integer(n) => cbor::integer(*n, out),
        Response::Bulk(bytes) => cbor::bytes(bytes, out),
        Response::Nil => out.put_u8(cbor::NULL),
        Response::Array(items) => {
            cbor::head(cbor::ARRAY, items.len() as u64, out);
            for item in items {
                encode_value(item, out);
            }
        }
        Response::Map(pairs) => {
            cbor::head(cbor::MAP, pairs.len() as u64, out);
            for (key, value) in pairs {
                encode_value(key, out);
                encode_value(value, out);
            }
        }
        Response::Double(d) => cbor::float(*d, out),
        Response::Boolean(b) => out.put_u8(if *b { cbor::TRUE } else { cbor::FALSE }),
        Response::Verbatim(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => cbor::text(text, out),
            Err(_) => cbor::bytes(bytes, out),
        },
    }
}

/// Takes one whole frame's body off the front of `buf`, or `None` if it is not all there.
fn frame(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Bytes>> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    if buf[0] != MAGIC {
        return Err(ProtocolError::NativeMalformed(
            "frame does not start with 0xCA",
        ));
    }
    if buf[1] != VERSION {
        return Err(ProtocolError::NativeVersion(buf[1]));
    }
    let len = u32::from_be_bytes([buf[2], buf[3], buf[4], buf[5]]) as usize;
    if len > limits.max_frame {
        return Err(ProtocolError::NativeFrameTooLarge);
    }
    if buf.len() < HEADER_LEN + len {
        // Make room for (some of) the rest now rather than growing the buffer read by read;
        // bounded, so a header alone cannot make us reserve its whole claimed length.
        buf.reserve((HEADER_LEN + len - buf.len()).min(1 << 20));
        return Ok(None);
    }
    buf.advance(HEADER_LEN);
    Ok(Some(buf.split_to(len).freeze()))
}

fn malformed(error: Malformed) -> ProtocolError {
    ProtocolError::NativeMalformed(error.0)
}

/// Decodes one request frame from the front of `buf`; `Ok(None)` means more bytes are needed.
pub fn decode_request(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Request>> {
    let Some(body) = frame(buf, limits)? else {
        return Ok(None);
    };
    let mut reader = Reader::new(body);
    let request = (|| {
        if reader.array("a request is [id, [args]]")? != 2 {
            return Err(Malformed("a request is [id, [args]]"));
        }
        let id = reader.unsigned("the request id must be an unsigned integer")?;
        let count = reader.array("the command must be an array of strings")?;
        if count > limits.max_args {
            return Err(Malformed("too many arguments"));
        }
        let mut args = Vec::with_capacity(count);
        for _ in 0..count {
            args.push(reader.string("every argument must be a byte or text string")?);
        }
        Ok(Request { id, args })
    })()
    .map_err(malformed)?;
    if !reader.is_done() {
        return Err(ProtocolError::NativeMalformed("bytes after the request"));
    }
    Ok(Some(request))
}

/// Decodes one reply frame from the front of `buf`; `Ok(None)` means more bytes are needed.
pub fn decode_reply(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Reply>> {
    let Some(body) = frame(buf, limits)? else {
        return Ok(None);
    };
    let mut reader = Reader::new(body);
    let reply = (|| {
        if reader.array("a reply is [id, status, value]")? != 3 {
            return Err(Malformed("a reply is [id, status, value]"));
        }
        let id = reader.unsigned("the reply id must be an unsigned integer")?;
        let response = match reader.unsigned("the status must be 0 or 1")? {
            0 => decode_value(&mut reader, 0)?,
            1 => decode_error(&mut reader)?,
            _ => return Err(Malformed("the status must be 0 or 1")),
        };
        Ok(Reply { id, response })
    })()
    .map_err(malformed)?;
    if !reader.is_done() {
        return Err(ProtocolError::NativeMalformed("bytes after the reply"));
    }
    Ok(Some(reply))
}

fn decode_error(reader: &mut Reader) -> std::result::Result<Response, Malformed> {
    if reader.array("an error is [code, message]")? != 2 {
        return Err(Malformed("an error is [code, message]"));
    }
    reader.unsigned("an error code is an unsigned integer")?;
    let message = reader.string("an error message is a string")?;
    Ok(Response::Error(Cow::Owned(
        String::from_utf8_lossy(&message).into_owned(),
    )))
}

/// Elements reserved ahead of decoding an array or a map. A count is only bounded by the bytes
/// left in the frame, and every level of a nested value may claim those same bytes again:
/// reserving the counts would let 4 KB of nested headers reserve 10 MB.
const RESERVE_AHEAD: usize = 64;

fn decode_value(reader: &mut Reader, depth: usize) -> std::result::Result<Response, Malformed> {
    if depth > crate::resp::MAX_DEPTH {
        return Err(Malformed("values nested too deeply"));
    }
    Ok(match reader.head()? {
        Head::Unsigned(n) => {
            Response::Integer(i64::try_from(n).map_err(|_| Malformed("integer out of range"))?)
        }
        Head::Negative(n) => Response::Integer(
            i64::try_from(n)
                .map(|n| -1 - n)
                .map_err(|_| Malformed("integer out of range"))?,
        ),
        Head::Bytes(n) => Response::Bulk(reader.slice(n)?),
        Head::Text(n) => {
            let text = reader.slice(n)?;
            if text.contains(&b'\r') || text.contains(&b'\n') {
                // A status is one line; text of several lines is human-readable text (INFO).
                std::str::from_utf8(&text).map_err(|_| Malformed("text is not UTF-8"))?;
                Response::Verbatim(text)
            } else if text.as_ref() == b"OK" {
                Response::Ok
            } else {
                let text =
                    String::from_utf8(text.to_vec()).map_err(|_| Malformed("text is not UTF-8"))?;
                Response::Status(Cow::Owned(text))
            }
        }
        Head::Array(n) => {
            let mut items = Vec::with_capacity(n.min(RESERVE_AHEAD));
            for _ in 0..n {
                items.push(decode_value(reader, depth + 1)?);
            }
            Response::Array(items)
        }
        Head::Map(n) => {
            let mut pairs = Vec::with_capacity(n.min(RESERVE_AHEAD));
            for _ in 0..n {
                let key = decode_value(reader, depth + 1)?;
                pairs.push((key, decode_value(reader, depth + 1)?));
            }
            Response::Map(pairs)
        }
        Head::Tag(NESTED_ERROR_TAG) => decode_error(reader)?,
        Head::Tag(_) => return Err(Malformed("unknown CBOR tag")),
        Head::False => Response::Boolean(false),
        Head::True => Response::Boolean(true),
        Head::Null => Response::Nil,
        Head::Float(d) => Response::Double(d),
    })
}

#[cfg(test)]
mod tests;
