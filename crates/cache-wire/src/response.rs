//! The reply model: what an executor returns, before any protocol encodes it.
//!
//! Commands return a [`Response`] value; they never write to a connection. The RESP encoder
//! ([`crate::resp::encode`]) turns it into RESP2 or RESP3 bytes, choosing the RESP2 fallback for
//! the RESP3-only shapes (maps, doubles, verbatim text, booleans).

use std::borrow::Cow;

use bytes::Bytes;

/// A reply value.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// `+OK`.
    Ok,
    /// A simple status string such as `PONG`.
    Status(Cow<'static, str>),
    /// An error. The text starts with its code (`ERR`, `OOM`, `NOAUTH`, `WRONGPASS`, ...) and
    /// holds no `\r` or `\n`.
    Error(Cow<'static, str>),
    /// An integer.
    Integer(i64),
    /// A binary-safe string.
    Bulk(Bytes),
    /// The absent value: `$-1` in RESP2, `_` in RESP3.
    Nil,
    /// An array of replies.
    Array(Vec<Response>),
    /// A map: RESP3 `%`, a flat array of key, value, ... in RESP2.
    Map(Vec<(Response, Response)>),
    /// A double: RESP3 `,`, a bulk string in RESP2.
    Double(f64),
    /// A boolean: RESP3 `#`, the integer 1 or 0 in RESP2.
    Boolean(bool),
    /// Human-readable text (`INFO`, `CLIENT LIST`): RESP3 verbatim `=` with format `txt`, a bulk
    /// string in RESP2.
    Verbatim(Bytes),
}

impl Response {
    /// An error reply with the `ERR` code: `Response::err("syntax error")` is `-ERR syntax error`.
    pub fn err(message: &str) -> Response {
        Response::Error(Cow::Owned(format!("ERR {message}")))
    }

    /// A bulk string copied from a slice.
    pub fn bulk(bytes: &[u8]) -> Response {
        Response::Bulk(Bytes::copy_from_slice(bytes))
    }

    /// A bulk string if present, nil otherwise.
    pub fn bulk_or_nil(bytes: Option<Bytes>) -> Response {
        match bytes {
            Some(b) => Response::Bulk(b),
            None => Response::Nil,
        }
    }

    /// True for [`Response::Error`].
    pub fn is_error(&self) -> bool {
        matches!(self, Response::Error(_))
    }
}
