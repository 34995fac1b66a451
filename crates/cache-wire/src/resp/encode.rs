//! Encoding replies: a [`Response`] appended to an output buffer as RESP2 or RESP3.
//!
//! The connection encodes every reply of a pipelined batch into one `BytesMut` and writes it
//! once, so encoding only appends and never flushes. The RESP3-only shapes have fixed RESP2
//! fallbacks, the ones Redis uses: a map is a flat array of keys and values, a double is a bulk
//! string of its text, a boolean is the integer 1 or 0, verbatim text is a bulk string, and the
//! null is `$-1`.
//!
//! The small `encode_*` helpers let an executor stream a large reply (an `MGET` of thousands of
//! keys) without building a [`Response`] tree first.

use bytes::{BufMut, BytesMut};

use super::Protocol;
use super::double::format_double;
use crate::Response;

/// Appends `response` to `out` in `protocol`.
pub fn encode(response: &Response, protocol: Protocol, out: &mut BytesMut) {
    match response {
        Response::Ok => out.put_slice(b"+OK\r\n"),
        Response::Status(text) => simple_line(b'+', text.as_bytes(), out),
        Response::Error(text) => simple_line(b'-', text.as_bytes(), out),
        Response::Integer(n) => encode_integer(*n, out),
        Response::Bulk(bytes) => encode_bulk(bytes, out),
        Response::Nil => encode_nil(protocol, out),
        Response::Array(items) => {
            encode_array_header(items.len(), out);
            for item in items {
                encode(item, protocol, out);
            }
        }
        Response::Map(pairs) => {
            match protocol {
                Protocol::Resp2 => encode_array_header(pairs.len() * 2, out),
                Protocol::Resp3 => length_line(b'%', pairs.len(), out),
            }
            for (key, value) in pairs {
                encode(key, protocol, out);
                encode(value, protocol, out);
            }
        }
        Response::Double(value) => {
            let text = format_double(*value);
            match protocol {
                Protocol::Resp2 => encode_bulk(text.as_bytes(), out),
                Protocol::Resp3 => simple_line(b',', text.as_bytes(), out),
            }
        }
        Response::Boolean(value) => match protocol {
            Protocol::Resp2 => out.put_slice(if *value { b":1\r\n" } else { b":0\r\n" }),
            Protocol::Resp3 => out.put_slice(if *value { b"#t\r\n" } else { b"#f\r\n" }),
        },
        Response::Verbatim(text) => match protocol {
            Protocol::Resp2 => encode_bulk(text, out),
            Protocol::Resp3 => {
                // The length counts the `txt:` format prefix.
                length_line(b'=', text.len() + 4, out);
                out.reserve(text.len() + 6);
                out.put_slice(b"txt:");
                out.put_slice(text);
                out.put_slice(b"\r\n");
            }
        },
    }
}

/// Appends a bulk string: `$<len>\r\n<bytes>\r\n`.
pub fn encode_bulk(bytes: &[u8], out: &mut BytesMut) {
    length_line(b'$', bytes.len(), out);
    out.reserve(bytes.len() + 2);
    out.put_slice(bytes);
    out.put_slice(b"\r\n");
}

/// Appends an integer: `:<n>\r\n`.
pub fn encode_integer(n: i64, out: &mut BytesMut) {
    let mut buf = itoa::Buffer::new();
    simple_line(b':', buf.format(n).as_bytes(), out);
}

/// Appends the null reply: `$-1\r\n` in RESP2, `_\r\n` in RESP3.
pub fn encode_nil(protocol: Protocol, out: &mut BytesMut) {
    out.put_slice(match protocol {
        Protocol::Resp2 => b"$-1\r\n",
        Protocol::Resp3 => b"_\r\n",
    });
}

/// Appends the header of an array of `len` elements; the caller encodes the elements next.
pub fn encode_array_header(len: usize, out: &mut BytesMut) {
    length_line(b'*', len, out);
}

fn length_line(kind: u8, len: usize, out: &mut BytesMut) {
    let mut buf = itoa::Buffer::new();
    simple_line(kind, buf.format(len).as_bytes(), out);
}

/// A one-line reply. `\r` and `\n` would end the line early and desynchronize the client, so
/// they become spaces, as Redis does for its error texts.
fn simple_line(kind: u8, text: &[u8], out: &mut BytesMut) {
    out.reserve(text.len() + 3);
    out.put_u8(kind);
    if text.iter().any(|&b| b == b'\r' || b == b'\n') {
        out.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        out.put_slice(text);
    }
    out.put_slice(b"\r\n");
}

/// Appends a request, as clients send it: an array of bulk strings, the command name first.
pub fn encode_request<A: AsRef<[u8]>>(args: &[A], out: &mut BytesMut) {
    encode_array_header(args.len(), out);
    for arg in args {
        encode_bulk(arg.as_ref(), out);
    }
}
