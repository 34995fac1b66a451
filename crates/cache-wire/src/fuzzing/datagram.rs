//! The UDP framing: [`Received::read`] on one datagram as a server gets it, [`Reassembly`] on a
//! run of datagrams as a client gets them (a hostile server may send anything), and
//! [`datagram::split`] followed by reassembly in a shuffled order.
//!
//! The same input is all three: after the control byte, one datagram for the server; a run of
//! length-prefixed datagrams for the client; a reply payload to split.

use bytes::BytesMut;

use super::alloc::bounded;
use super::{Rng, small_limits, split_control};
use crate::datagram::{self, Header, MAX_DATAGRAM, Reassembly, Received};
use crate::native;

pub fn datagram(input: &[u8]) {
    let (control, data) = split_control(input);
    let limits = if small_limits(control) {
        native::Limits {
            max_frame: 64,
            max_args: 8,
        }
    } else {
        native::Limits::default()
    };
    let received = bounded("Received::read", data.len(), || {
        Received::read(data, &limits)
    });
    server_side(data, &received);
    bounded("Reassembly", data.len(), || client_side(data));
    split_and_reassemble(control, data);
}

/// What the server made of a datagram agrees with its header, and the requests it read are
/// read again from a datagram of their own re-encoding.
fn server_side(data: &[u8], received: &Received) {
    let header = Header::parse(data).ok();
    match (received, header) {
        (Received::Ignore, None) => {}
        (Received::Ignore, Some((header, _))) => assert!(header.count != 1 && header.seq != 0),
        (Received::TooLarge { id }, Some((header, _))) => {
            assert_eq!((*id, header.seq), (header.id, 0));
            assert_ne!(header.count, 1);
        }
        (Received::Requests { id, requests, .. }, Some((header, payload))) => {
            assert_eq!((*id, header.count), (header.id, 1));
            let mut again = BytesMut::new();
            for (frame_id, args) in requests {
                native::encode_request(*frame_id, args, &mut again);
            }
            // Canonical CBOR is never longer than what was read.
            assert!(again.len() <= payload.len());
            // Built by hand: the input may be longer than a datagram a client would send.
            let mut datagram = BytesMut::new();
            Header {
                id: *id,
                seq: 0,
                count: 1,
            }
            .write(&mut datagram);
            datagram.extend_from_slice(&again);
            match Received::read(&datagram, &native::Limits::default()) {
                Received::Requests {
                    id: id_again,
                    requests: requests_again,
                    broken: None,
                } => {
                    assert_eq!(id_again, *id);
                    assert_eq!(&requests_again, requests);
                }
                other => panic!("re-encoded requests read as {other:?}"),
            }
        }
        (received, header) => panic!("{received:?} from a datagram with header {header:?}"),
    }
}

/// `data` read as datagrams, each behind a big-endian `u16` length, the way a client takes
/// them in: each with a valid header goes to the reassembly, and a whole reply is decoded as
/// native reply frames.
fn client_side(data: &[u8]) {
    let mut assembly: Option<Reassembly> = None;
    let mut rest = data;
    while let [high, low, after @ ..] = rest {
        let (bytes, next) =
            after.split_at(usize::from(u16::from_be_bytes([*high, *low])).min(after.len()));
        rest = next;
        let Ok((header, body)) = Header::parse(bytes) else {
            continue;
        };
        let parts = assembly.get_or_insert_with(|| Reassembly::new(header.count));
        let Some(mut whole) = parts.add(header, body) else {
            continue;
        };
        assert!(
            whole.len() <= data.len(),
            "reassembled more than was received"
        );
        assembly = None;
        let limits = native::Limits::default();
        while let Ok(Some(reply)) = native::decode_reply(&mut whole, &limits) {
            super::stream::round_trip_native_reply(reply.id, &reply.response);
        }
    }
}

/// Any reply payload split into datagrams and delivered in any order, with repeats, comes
/// back whole.
fn split_and_reassemble(control: u8, payload: &[u8]) {
    if payload.len() > datagram::MAX_REPLY {
        // Longer than any reply a server sends: the client ignores it by design.
        return;
    }
    let id = u16::from(control) << 8 | 0x5a;
    let parts = datagram::split(id, payload);
    assert_eq!(
        parts.len(),
        payload.len().div_ceil(datagram::MAX_PAYLOAD).max(1)
    );
    let mut rng = Rng::new(u64::from(control) ^ payload.len() as u64);
    let mut order: Vec<usize> = (0..parts.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let mut assembly = None;
    let mut whole = None;
    for (n, &i) in order.iter().enumerate() {
        assert!(parts[i].len() <= MAX_DATAGRAM);
        let (header, body) = Header::parse(&parts[i]).expect("split writes valid headers");
        assert_eq!((header.id, usize::from(header.seq)), (id, i));
        let assembly = assembly.get_or_insert_with(|| Reassembly::new(header.count));
        if control & 0x80 != 0 && n + 1 < order.len() {
            // A repeated datagram changes nothing.
            assert!(assembly.add(header, body).is_none());
        }
        let got = assembly.add(header, body);
        if n + 1 < order.len() {
            assert!(
                got.is_none(),
                "complete after {} of {} parts",
                n + 1,
                order.len()
            );
        } else {
            whole = got;
        }
    }
    assert_eq!(whole.as_deref(), Some(payload));
}
