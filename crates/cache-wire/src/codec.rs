//! What a server reads from a stream: RESP or native frames, told apart by the first byte.
//!
//! A [`ServerCodec`] starts undecided. The first byte of the connection settles it for the
//! connection's life: [`native::MAGIC`] means native frames, anything else RESP (multibulk or
//! inline). Replies are encoded in the same protocol, with the request's id when native.

use bytes::{Bytes, BytesMut};

use crate::error::Result;
use crate::resp::{self, Protocol};
use crate::{Response, native};

/// One request as read, in either protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The native request id; `None` for RESP, which answers in order.
    pub id: Option<u64>,
    /// The command name and its arguments.
    pub args: Vec<Bytes>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Undecided,
    Resp,
    Native,
}

/// The decoder of one server-side connection.
#[derive(Debug)]
pub struct ServerCodec {
    kind: Kind,
    resp: resp::Decoder,
    native: native::Limits,
}

impl ServerCodec {
    /// A codec applying `limits` to RESP and the same argument bounds to native frames.
    pub fn new(limits: resp::Limits) -> ServerCodec {
        ServerCodec {
            kind: Kind::Undecided,
            resp: resp::Decoder::new(limits),
            native: native::Limits {
                max_args: limits.max_multibulk_len,
                ..native::Limits::default()
            },
        }
    }

    /// A codec for a client held to `limits`: RESP's bounds, and native frames no larger than
    /// the largest request.
    pub fn for_client(limits: &crate::limits::ClientLimits) -> ServerCodec {
        ServerCodec {
            kind: Kind::Undecided,
            resp: resp::Decoder::new(limits.resp()),
            native: limits.native(),
        }
    }

    /// A codec that only speaks native frames (datagram transports).
    pub fn native_only(limits: native::Limits) -> ServerCodec {
        ServerCodec {
            kind: Kind::Native,
            resp: resp::Decoder::default(),
            native: limits,
        }
    }

    /// True once the connection has shown itself to speak the native protocol.
    pub fn is_native(&self) -> bool {
        self.kind == Kind::Native
    }

    /// Decodes the next complete request; `Ok(None)` means more bytes are needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Incoming>> {
        if self.kind == Kind::Undecided {
            match buf.first() {
                None => return Ok(None),
                Some(&first) if native::is_native(first) => self.kind = Kind::Native,
                Some(_) => self.kind = Kind::Resp,
            }
        }
        match self.kind {
            Kind::Native => Ok(
                native::decode_request(buf, &self.native)?.map(|r| Incoming {
                    id: Some(r.id),
                    args: r.args,
                }),
            ),
            _ => Ok(self
                .resp
                .decode(buf)?
                .map(|args| Incoming { id: None, args })),
        }
    }

    /// Appends the reply to request `id` in the connection's protocol. RESP uses `protocol`
    /// (RESP2 or RESP3); a native reply is always typed.
    pub fn encode(
        &self,
        id: Option<u64>,
        reply: &Response,
        protocol: Protocol,
        out: &mut BytesMut,
    ) {
        if self.kind == Kind::Native {
            native::encode_reply(id.unwrap_or(0), reply, out);
        } else {
            resp::encode(reply, protocol, out);
        }
    }
}
