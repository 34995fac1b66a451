//! RESP, the Redis serialization protocol: requests in, replies out.
//!
//! Requests are decoded from a `BytesMut` the connection fills ([`Decoder`], or the stateless
//! [`decode`]): a multibulk array of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`), or an
//! inline line as typed in telnet (`GET k\r\n`), split the way Redis's `sdssplitargs` splits it.
//! A frame is complete or it is nothing: "need more bytes" is `Ok(None)`, never an error.
//!
//! Replies are encoded from a [`Response`](crate::Response) in the [`Protocol`] the client chose:
//! RESP2 by default, RESP3 after `HELLO 3`. RESP3-only shapes fall back to their RESP2 forms.

mod decode;
mod double;
mod encode;
pub mod inline;
mod reply;

#[cfg(test)]
mod tests;

pub use decode::{Decoder, Frame, Limits, decode};
pub use double::{DoubleText, format_double};
pub use encode::{
    encode, encode_array_header, encode_bulk, encode_integer, encode_nil, encode_request,
};
pub use reply::{MAX_DEPTH, ReplyError, decode_reply};

/// The reply protocol of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// RESP2, what every connection starts with.
    #[default]
    Resp2,
    /// RESP3, after `HELLO 3`: maps, doubles, booleans, verbatim strings and a distinct null.
    Resp3,
}
