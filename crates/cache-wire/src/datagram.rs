//! The UDP framing: an 8-byte header in front of native frames, replies split over several
//! datagrams and put back together.
//!
//! ```text
//! 0       2       4       6       8
//! | id    | seq   | count | 0     | native frames ...
//! ```
//!
//! Every field is a big-endian `u16`. A request is one datagram (`seq` 0, `count` 1) holding one
//! or more native request frames; the reply repeats the request's `id` and is split into
//! `count` datagrams numbered by `seq`, whose payloads concatenated are the native reply frames.
//! No datagram is longer than [`MAX_DATAGRAM`] bytes, small enough to cross an Ethernet path
//! without IP fragmentation. The last field is reserved and must be 0.
//!
//! Pure: the sockets live with the servers and clients.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{Response, native};

/// The longest datagram sent, header included.
pub const MAX_DATAGRAM: usize = 1400;
/// Bytes of header in front of every datagram.
pub const HEADER_LEN: usize = 8;
/// The most payload one datagram carries.
pub const MAX_PAYLOAD: usize = MAX_DATAGRAM - HEADER_LEN;
/// The longest reply payload a server sends for one request datagram (48 datagrams); a reply
/// that would be longer is answered with a `too_large` error instead. This bounds what one
/// small request can make a server send.
pub const MAX_REPLY: usize = 64 * 1024;

/// The most datagrams one reply takes: no server sends more than [`MAX_REPLY`] bytes.
pub const MAX_REPLY_DATAGRAMS: usize = MAX_REPLY.div_ceil(MAX_PAYLOAD);

/// The error for a request datagram that is part of a larger message.
pub const REQUEST_TOO_LARGE: &str = "ERR request too large for one UDP datagram: use a stream \
                                     transport (tcp://, tls://, quic:// or unix://)";

/// The header of one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Chosen by the client; the reply carries it back.
    pub id: u16,
    /// This datagram's position in its message, from 0.
    pub seq: u16,
    /// How many datagrams the message has.
    pub count: u16,
}

/// Why a datagram was not understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("datagram shorter than its 8-byte header")]
    Short,
    #[error("datagram header has seq {seq} of count {count}")]
    BadSequence { seq: u16, count: u16 },
    #[error("datagram header's reserved field is not 0")]
    Reserved,
}

impl Header {
    /// Reads the header of `datagram`; returns it and the payload after it.
    pub fn parse(datagram: &[u8]) -> Result<(Header, &[u8]), HeaderError> {
        if datagram.len() < HEADER_LEN {
            return Err(HeaderError::Short);
        }
        let field = |at: usize| u16::from_be_bytes([datagram[at], datagram[at + 1]]);
        let header = Header {
            id: field(0),
            seq: field(2),
            count: field(4),
        };
        if header.count == 0 || header.seq >= header.count {
            return Err(HeaderError::BadSequence {
                seq: header.seq,
                count: header.count,
            });
        }
        if field(6) != 0 {
            return Err(HeaderError::Reserved);
        }
        Ok((header, &datagram[HEADER_LEN..]))
    }

    /// Appends the header's 8 bytes to `out`.
    pub fn write(&self, out: &mut BytesMut) {
        out.put_u16(self.id);
        out.put_u16(self.seq);
        out.put_u16(self.count);
        out.put_u16(0);
    }
}

/// The error for a request cut short: the datagram (or stream) ends inside a frame.
pub const TRUNCATED: &str = "ERR Protocol error: the batch ends inside a request";

/// What a server makes of one datagram it received.
#[derive(Debug)]
pub enum Received {
    /// Not a request datagram (no valid header), or a later part of a refused one: no reply.
    Ignore,
    /// The first part of a request in several datagrams: answer with [`refusal`].
    TooLarge { id: u16 },
    /// The requests, `(frame id, arguments)`, and the error reply (id 0) for a broken frame
    /// that ended the datagram's requests early.
    Requests {
        id: u16,
        requests: Vec<(u64, Vec<Bytes>)>,
        broken: Option<Response>,
    },
}

impl Received {
    /// Reads a request datagram.
    pub fn read(datagram: &[u8], limits: &native::Limits) -> Received {
        // Anything without a valid header is not meant for us: no reply, which could only
        // help someone bounce traffic off the server.
        let Ok((header, payload)) = Header::parse(datagram) else {
            return Received::Ignore;
        };
        if header.count != 1 {
            // Answered once, for the first part.
            return match header.seq {
                0 => Received::TooLarge { id: header.id },
                _ => Received::Ignore,
            };
        }
        let mut input = BytesMut::from(payload);
        let (mut requests, mut broken) = (Vec::new(), None);
        loop {
            match native::decode_request(&mut input, limits) {
                Ok(Some(request)) => requests.push((request.id, request.args)),
                Ok(None) if input.is_empty() => break,
                Ok(None) => {
                    broken = Some(Response::Error(TRUNCATED.into()));
                    break;
                }
                Err(error) => {
                    broken = Some(error.to_response());
                    break;
                }
            }
        }
        Received::Requests {
            id: header.id,
            requests,
            broken,
        }
    }
}

/// The reply payload refusing a request too large for one datagram.
pub fn refusal() -> BytesMut {
    let mut output = BytesMut::new();
    native::encode_reply(0, &Response::Error(REQUEST_TOO_LARGE.into()), &mut output);
    output
}

/// True if sending the command twice does no harm, because it only reads (flagged
/// `readonly`): the only requests a client may send again when a reply datagram is lost.
pub fn retry_safe<A: AsRef<[u8]>>(args: &[A]) -> bool {
    args.first()
        .and_then(|name| crate::parse::CommandId::lookup(name.as_ref()))
        .is_some_and(|id| id.spec().has_flag("readonly"))
}

/// A single-datagram request carrying `payload` (native request frames), or `None` if it does
/// not fit one datagram.
pub fn request(id: u16, payload: &[u8]) -> Option<BytesMut> {
    if payload.len() > MAX_PAYLOAD {
        return None;
    }
    let mut out = BytesMut::with_capacity(HEADER_LEN + payload.len());
    Header {
        id,
        seq: 0,
        count: 1,
    }
    .write(&mut out);
    out.extend_from_slice(payload);
    Some(out)
}

/// Splits a reply payload into datagrams of at most [`MAX_DATAGRAM`] bytes, each with its
/// header. An empty payload is one datagram with only a header. A payload over
/// `u16::MAX` datagrams is not something a server sends ([`MAX_REPLY`] is far below it).
pub fn split(id: u16, payload: &[u8]) -> Vec<BytesMut> {
    let count = payload.len().div_ceil(MAX_PAYLOAD).max(1);
    let count16 = u16::try_from(count).unwrap_or(u16::MAX);
    let mut datagrams = Vec::with_capacity(count);
    let mut chunks = payload.chunks(MAX_PAYLOAD);
    for seq in 0..count16 {
        let chunk = chunks.next().unwrap_or_default();
        let mut out = BytesMut::with_capacity(HEADER_LEN + chunk.len());
        Header {
            id,
            seq,
            count: count16,
        }
        .write(&mut out);
        out.extend_from_slice(chunk);
        datagrams.push(out);
    }
    datagrams
}

/// Bytes kept free for the `too_large` refusals of replies that do not fit.
const REFUSAL_ROOM: usize = 256;

/// Encodes the native replies to one request datagram, `(request id, reply)` in order,
/// replacing any reply that would take the total past [`MAX_REPLY`] with a `too_large` error.
pub fn encode_replies(replies: &[(u64, Response)], output: &mut BytesMut) {
    let mut one = BytesMut::new();
    for (id, reply) in replies {
        one.clear();
        native::encode_reply(*id, reply, &mut one);
        // Room for the refusal itself is kept, so the total never passes the bound.
        if output.len() + one.len() + REFUSAL_ROOM > MAX_REPLY {
            let refused = format!(
                "ERR reply too large for UDP ({} bytes; at most {MAX_REPLY} for one request \
                 datagram): use a stream transport",
                output.len() + one.len(),
            );
            one.clear();
            native::encode_reply(*id, &Response::Error(refused.into()), &mut one);
            if output.len() + one.len() > MAX_REPLY {
                // Not even a refusal fits: the requests left get none (the client times out).
                break;
            }
        }
        output.extend_from_slice(&one);
    }
}

/// The datagrams of one reply as they arrive, in any order and possibly repeated.
#[derive(Debug)]
pub struct Reassembly {
    parts: Vec<Option<Vec<u8>>>,
    missing: usize,
}

impl Reassembly {
    /// Waits for a message of `count` datagrams. A count over [`MAX_REPLY_DATAGRAMS`] gets no
    /// slots: its datagrams are ignored.
    pub fn new(count: u16) -> Reassembly {
        let count = usize::from(count);
        let slots = if count <= MAX_REPLY_DATAGRAMS {
            count
        } else {
            0
        };
        Reassembly {
            parts: vec![None; slots],
            missing: slots,
        }
    }

    /// Adds one datagram's payload. Returns the whole payload once every part is in. A
    /// datagram that does not belong (another `count`, a repeat) is ignored; a reply whose
    /// `count` disagrees with the first part seen starts over, since it is a newer reply.
    /// A datagram claiming more parts than any reply has is ignored too, so that 8 bytes of
    /// header cannot make a client reserve a slot table for 65,535 parts.
    pub fn add(&mut self, header: Header, payload: &[u8]) -> Option<BytesMut> {
        if usize::from(header.count) > MAX_REPLY_DATAGRAMS {
            return None;
        }
        if usize::from(header.count) != self.parts.len() {
            *self = Reassembly::new(header.count);
        }
        let slot = &mut self.parts[usize::from(header.seq)];
        if slot.is_none() {
            *slot = Some(payload.to_vec());
            self.missing -= 1;
        }
        if self.missing > 0 {
            return None;
        }
        let total = self.parts.iter().flatten().map(Vec::len).sum();
        let mut whole = BytesMut::with_capacity(total);
        for part in self.parts.iter().flatten() {
            whole.extend_from_slice(part);
        }
        Some(whole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_round_trips_and_rejects_nonsense() {
        let mut out = BytesMut::new();
        let header = Header {
            id: 0xBEEF,
            seq: 2,
            count: 3,
        };
        header.write(&mut out);
        out.extend_from_slice(b"xy");
        assert_eq!(Header::parse(&out), Ok((header, &b"xy"[..])));
        assert_eq!(Header::parse(&out[..7]), Err(HeaderError::Short));
        assert_eq!(
            Header::parse(&[0, 1, 0, 3, 0, 3, 0, 0]),
            Err(HeaderError::BadSequence { seq: 3, count: 3 })
        );
        assert_eq!(
            Header::parse(&[0, 1, 0, 0, 0, 1, 0, 9]),
            Err(HeaderError::Reserved)
        );
    }

    #[test]
    fn only_reads_are_retried() {
        assert!(retry_safe(&["get", "k"]));
        assert!(retry_safe(&["MGET", "a", "b"]));
        assert!(!retry_safe(&["set", "k", "v"]));
        assert!(!retry_safe(&["incr", "k"]));
        assert!(!retry_safe(&["nosuchcommand"]));
        assert!(!retry_safe::<&str>(&[]));
    }

    #[test]
    fn a_request_must_fit_one_datagram() {
        assert_eq!(
            request(7, &[1; MAX_PAYLOAD]).map(|d| d.len()),
            Some(MAX_DATAGRAM)
        );
        assert!(request(7, &[1; MAX_PAYLOAD + 1]).is_none());
    }

    #[test]
    fn replies_past_the_bound_become_errors() {
        let big = Response::Bulk(bytes::Bytes::from(vec![b'x'; MAX_REPLY / 2 + 10]));
        let replies = [(1, big.clone()), (2, big), (3, Response::Integer(7))];
        let mut many = Vec::new();
        for id in 0..3000 {
            many.push((id, Response::Bulk(bytes::Bytes::from_static(&[b'y'; 64]))));
        }
        let mut out = BytesMut::new();
        encode_replies(&many, &mut out);
        assert!(out.len() <= MAX_REPLY, "{}", out.len());
        let mut out = BytesMut::new();
        encode_replies(&replies, &mut out);
        assert!(out.len() <= MAX_REPLY);
        let limits = native::Limits::default();
        let first = native::decode_reply(&mut out, &limits).unwrap().unwrap();
        assert!(matches!(first.response, Response::Bulk(_)));
        let second = native::decode_reply(&mut out, &limits).unwrap().unwrap();
        assert_eq!(second.id, 2);
        assert!(matches!(&second.response, Response::Error(e) if e.contains("too large")));
        let third = native::decode_reply(&mut out, &limits).unwrap().unwrap();
        assert_eq!((third.id, third.response), (3, Response::Integer(7)));
    }

    /// Found by the `datagram` fuzz target: a reply datagram claiming 65,535 parts made the
    /// client reserve 65,535 slots (1.5 MiB) for 8 bytes received.
    #[test]
    fn a_reply_of_more_parts_than_a_server_sends_is_ignored() {
        let (header, body) = Header::parse(b"\0\x01\0\0\xff\xff\0\0").unwrap();
        let mut assembly = Reassembly::new(header.count);
        assert_eq!(assembly.add(header, body), None);
        assert!(assembly.parts.capacity() <= MAX_REPLY_DATAGRAMS);
        // The largest reply a server sends still comes together.
        let payload = vec![7; MAX_REPLY];
        let parts = split(1, &payload);
        assert_eq!(parts.len(), MAX_REPLY_DATAGRAMS);
        let mut whole = None;
        for part in &parts {
            let (header, body) = Header::parse(part).unwrap();
            whole = assembly.add(header, body);
        }
        assert_eq!(whole.as_deref(), Some(&payload[..]));
    }

    #[test]
    fn an_empty_reply_is_one_datagram() {
        let parts = split(1, &[]);
        assert_eq!(parts.len(), 1);
        let (header, payload) = Header::parse(&parts[0]).unwrap();
        assert_eq!((header.seq, header.count, payload.len()), (0, 1, 0));
    }

    proptest! {
        /// Any payload split and delivered in any order, with repeats, comes back whole.
        #[test]
        fn split_then_reassemble(
            payload in proptest::collection::vec(any::<u8>(), 0..5 * MAX_PAYLOAD),
            order_seed in any::<u64>(),
            repeat in any::<bool>(),
        ) {
            let parts = split(42, &payload);
            prop_assert!(parts.iter().all(|p| p.len() <= MAX_DATAGRAM));
            let mut order: Vec<usize> = (0..parts.len()).collect();
            // A cheap deterministic shuffle from the seed.
            let mut state = order_seed | 1;
            for i in (1..order.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                order.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let (first, _) = Header::parse(&parts[0]).unwrap();
            let mut assembly = Reassembly::new(first.count);
            let mut done = None;
            for (n, &i) in order.iter().enumerate() {
                let (header, body) = Header::parse(&parts[i]).unwrap();
                prop_assert_eq!(header.id, 42);
                if repeat && n == 0 {
                    prop_assert!(parts.len() == 1 || assembly.add(header, body).is_none());
                }
                let got = assembly.add(header, body);
                if n + 1 < order.len() {
                    prop_assert!(got.is_none());
                } else {
                    done = got;
                }
            }
            prop_assert_eq!(done.map(|b| b.to_vec()), Some(payload));
        }
    }
}
