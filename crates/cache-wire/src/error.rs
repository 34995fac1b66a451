//! Why a request stream could not be framed.
//!
//! A [`ProtocolError`] means the byte stream itself is broken or over a limit, so nothing after
//! it can be trusted: the connection replies `-ERR <text>` ([`ProtocolError::to_response`]) and
//! closes, as Redis does. Errors in a well-framed command (wrong arity, a bad number) are not
//! protocol errors; they are ordinary error replies built by [`crate::parse`].
//!
//! The `Display` texts are Redis's own, word for word, because clients and tests match on them.

use std::borrow::Cow;

use crate::Response;

/// The result of decoding.
pub type Result<T> = std::result::Result<T, ProtocolError>;

/// A request stream that cannot be framed. Small and `Copy`, so the hot path never boxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The `*<count>` header is not a number, or the count is over
    /// [`Limits::max_multibulk_len`](crate::resp::Limits::max_multibulk_len).
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// The `$<len>` header is not a number, is negative, or is over
    /// [`Limits::max_bulk_len`](crate::resp::Limits::max_bulk_len).
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// An argument of a multibulk request does not start with `$`. The byte is shown as Redis
    /// shows it, with `\r` and `\n` turned into spaces so the reply stays one line.
    #[error("Protocol error: expected '$', got '{}'", shown(*.0))]
    ExpectedBulk(u8),
    /// The `*<count>` line is longer than the inline limit without ending.
    #[error("Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    /// A `$<len>` line is longer than the inline limit without ending.
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// An inline request is longer than
    /// [`Limits::max_inline_len`](crate::resp::Limits::max_inline_len).
    #[error("Protocol error: too big inline request")]
    TooBigInlineRequest,
    /// An inline request has a quote that is never closed, or a closing quote followed by
    /// something other than a space.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// The bytes after a bulk argument are not `\r\n`. Redis skips these two bytes unchecked;
    /// we refuse them, because a client whose lengths are wrong would otherwise have the rest of
    /// its data run as commands.
    #[error("Protocol error: expected CRLF after bulk data")]
    MissingBulkTerminator,
    /// A request, read so far, larger than
    /// [`ClientLimits::query_buffer_limit`](crate::limits::ClientLimits::query_buffer_limit).
    #[error("Protocol error: request larger than the query buffer limit")]
    TooBigRequest,
    /// Requests read but not yet run (a client sending without reading its replies) past
    /// [`ClientLimits::query_buffer_limit`](crate::limits::ClientLimits::query_buffer_limit).
    #[error("Protocol error: requests waiting to run exceed the query buffer limit")]
    QueryBufferFull,
    /// A native frame longer than [`native::Limits::max_frame`](crate::native::Limits).
    #[error("Protocol error: native frame too large")]
    NativeFrameTooLarge,
    /// A native frame of a protocol version this build does not speak.
    #[error("Protocol error: unsupported native protocol version {0} (this server speaks 1)")]
    NativeVersion(u8),
    /// A native frame whose body is not the documented CBOR shape.
    #[error("Protocol error: malformed native frame: {0}")]
    NativeMalformed(&'static str),
}

impl ProtocolError {
    /// The reply a server sends before closing the connection: `-ERR Protocol error: ...`.
    pub fn to_response(&self) -> Response {
        Response::Error(Cow::Owned(format!("ERR {self}")))
    }
}

/// A byte as Redis's `%c` shows it once the reply is sanitized to a single line.
fn shown(byte: u8) -> char {
    match byte {
        b'\r' | b'\n' => ' ',
        // Latin-1 view of the byte: every byte maps to one char and Display never fails.
        other => char::from(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_redis_texts() {
        assert_eq!(
            ProtocolError::InvalidMultibulkLength.to_string(),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            ProtocolError::InvalidBulkLength.to_string(),
            "Protocol error: invalid bulk length"
        );
        assert_eq!(
            ProtocolError::ExpectedBulk(b'x').to_string(),
            "Protocol error: expected '$', got 'x'"
        );
        assert_eq!(
            ProtocolError::ExpectedBulk(b'\r').to_string(),
            "Protocol error: expected '$', got ' '"
        );
        assert_eq!(
            ProtocolError::TooBigInlineRequest.to_string(),
            "Protocol error: too big inline request"
        );
        assert_eq!(
            ProtocolError::UnbalancedQuotes.to_string(),
            "Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            ProtocolError::TooBigMultibulkCount.to_string(),
            "Protocol error: too big mbulk count string"
        );
        assert_eq!(
            ProtocolError::TooBigBulkCount.to_string(),
            "Protocol error: too big bulk count string"
        );
        assert_eq!(
            ProtocolError::InvalidBulkLength.to_response(),
            Response::Error(Cow::Borrowed("ERR Protocol error: invalid bulk length"))
        );
    }
}
