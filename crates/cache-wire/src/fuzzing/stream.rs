//! The stream decoders: RESP and native requests as a server reads them (directly and through
//! [`ServerCodec`]), and RESP and native replies as a client reads them.
//!
//! Each check decodes the stream twice, in one read and in the reads the control byte picks,
//! and asserts the two agree: a frame must not depend on how its bytes were cut. Every frame
//! decoded is encoded again and must decode to itself.

use bytes::BytesMut;

use super::alloc::bounded;
use super::{Outcome, drive, reads, small_limits, split_control};
use crate::codec::ServerCodec;
use crate::resp::{self, Protocol};
use crate::{Response, native};

fn resp_limits(control: u8) -> resp::Limits {
    if small_limits(control) {
        resp::Limits {
            max_bulk_len: 32,
            max_multibulk_len: 8,
            max_inline_len: 24,
            max_request_len: 96,
        }
    } else {
        resp::Limits::default()
    }
}

fn native_limits(control: u8) -> native::Limits {
    if small_limits(control) {
        native::Limits {
            max_frame: 64,
            max_args: 8,
        }
    } else {
        native::Limits::default()
    }
}

/// Asserts that the stream decodes the same in one read and in `sizes`, and returns it.
fn agree<T: std::fmt::Debug, E: std::fmt::Debug>(
    what: &str,
    stream: &[u8],
    sizes: &[usize],
    mut decoder: impl FnMut() -> Box<dyn FnMut(&mut BytesMut) -> Result<Option<T>, E>>,
) -> Outcome<T, E> {
    let whole = bounded(what, stream.len(), || {
        drive(stream, &[stream.len()], decoder())
    });
    let split = bounded(what, stream.len(), || drive(stream, sizes, decoder()));
    // Compared as text, where a NaN double equals itself.
    assert_eq!(
        format!("{whole:?}"),
        format!("{split:?}"),
        "{what}: one read and reads of {sizes:?} disagree"
    );
    assert!(whole.consumed <= stream.len());
    whole
}

/// RESP requests through [`resp::Decoder`] and [`ServerCodec`].
pub fn resp_request(input: &[u8]) {
    let (control, stream) = split_control(input);
    let limits = resp_limits(control);
    let sizes = reads(control, stream.len());
    let outcome = agree("resp::Decoder", stream, &sizes, || {
        let mut decoder = resp::Decoder::new(limits);
        Box::new(move |buf| decoder.decode(buf))
    });
    for frame in &outcome.items {
        assert!(!frame.is_empty(), "an empty request was not skipped");
        let mut encoded = BytesMut::new();
        resp::encode_request(frame, &mut encoded);
        // Inline requests are not bound by the multibulk count: read them back with defaults.
        let again = resp::decode(&mut encoded, &resp::Limits::default());
        assert_eq!(again, Ok(Some(frame.clone())), "re-encoded request");
        assert!(encoded.is_empty(), "re-encoded request left bytes");
    }
    if stream.first().is_some_and(|&b| native::is_native(b)) {
        return;
    }
    let mut codec = ServerCodec::new(limits);
    let served = drive(stream, &sizes, |buf| codec.decode(buf));
    assert!(!codec.is_native());
    let served_args: Vec<_> = served
        .items
        .iter()
        .map(|incoming| {
            assert_eq!(incoming.id, None);
            incoming.args.clone()
        })
        .collect();
    assert_eq!(
        served_args, outcome.items,
        "ServerCodec and resp::Decoder disagree"
    );
    assert_eq!(
        (served.error, served.consumed),
        (outcome.error, outcome.consumed)
    );
}

/// Native requests through [`native::decode_request`] and [`ServerCodec`].
pub fn native_request(input: &[u8]) {
    let (control, stream) = split_control(input);
    let limits = native_limits(control);
    let sizes = reads(control, stream.len());
    let outcome = agree("native::decode_request", stream, &sizes, || {
        Box::new(move |buf| native::decode_request(buf, &limits))
    });
    for request in &outcome.items {
        let mut encoded = BytesMut::new();
        native::encode_request(request.id, &request.args, &mut encoded);
        let again = native::decode_request(&mut encoded, &native::Limits::default());
        assert_eq!(again, Ok(Some(request.clone())), "re-encoded request");
        assert!(encoded.is_empty(), "re-encoded request left bytes");
    }
    // A server learns the protocol from the first byte; a native stream must read the same.
    let mut codec = if small_limits(control) {
        ServerCodec::native_only(limits)
    } else {
        ServerCodec::new(resp::Limits::default())
    };
    if !stream.first().is_some_and(|&b| native::is_native(b)) && !codec.is_native() {
        return;
    }
    let served = drive(stream, &sizes, |buf| codec.decode(buf));
    let served: Vec<_> = served
        .items
        .into_iter()
        .map(|incoming| (incoming.id, incoming.args))
        .collect();
    let direct: Vec<_> = outcome
        .items
        .iter()
        .map(|request| (Some(request.id), request.args.clone()))
        .collect();
    assert_eq!(
        served, direct,
        "ServerCodec and native::decode_request disagree"
    );
}

/// RESP replies through [`resp::decode_reply`], as the client and the proxy read them.
pub fn resp_reply(input: &[u8]) {
    let (control, stream) = split_control(input);
    let limits = resp_limits(control);
    let sizes = reads(control, stream.len());
    let outcome = agree("resp::decode_reply", stream, &sizes, || {
        Box::new(move |buf| resp::decode_reply(buf, &limits))
    });
    for reply in &outcome.items {
        // A decoded reply re-encodes to bytes that decode to the same encoding (doubles are
        // compared as text, so NaN is equal to itself).
        let mut first = BytesMut::new();
        resp::encode(reply, Protocol::Resp3, &mut first);
        let mut input = first.clone();
        let again = resp::decode_reply(&mut input, &resp::Limits::default())
            .unwrap_or_else(|e| panic!("re-encoded reply {first:?}: {e}"))
            .unwrap_or_else(|| panic!("re-encoded reply {first:?} is incomplete"));
        assert!(input.is_empty(), "re-encoded reply left bytes");
        let mut second = BytesMut::new();
        resp::encode(&again, Protocol::Resp3, &mut second);
        assert_eq!(first, second, "reply changed on a round trip");
        // The RESP2 form is a whole reply too.
        let mut resp2 = BytesMut::new();
        resp::encode(reply, Protocol::Resp2, &mut resp2);
        assert!(matches!(
            resp::decode_reply(&mut resp2, &resp::Limits::default()),
            Ok(Some(_))
        ));
        assert!(resp2.is_empty(), "RESP2 reply left bytes");
    }
}

/// Native replies through [`native::decode_reply`].
pub fn native_reply(input: &[u8]) {
    let (control, stream) = split_control(input);
    let limits = native_limits(control);
    let sizes = reads(control, stream.len());
    let outcome = agree("native::decode_reply", stream, &sizes, || {
        Box::new(move |buf| native::decode_reply(buf, &limits))
    });
    for reply in &outcome.items {
        round_trip_native_reply(reply.id, &reply.response);
    }
}

/// Encodes a reply, decodes it and encodes it again: the two encodings must be the same bytes.
pub(crate) fn round_trip_native_reply(id: u64, response: &Response) {
    let mut first = BytesMut::new();
    native::encode_reply(id, response, &mut first);
    let mut input = first.clone();
    let again = native::decode_reply(&mut input, &native::Limits::default())
        .unwrap_or_else(|e| panic!("re-encoded reply {first:?}: {e}"))
        .unwrap_or_else(|| panic!("re-encoded reply {first:?} is incomplete"));
    assert!(input.is_empty(), "re-encoded reply left bytes");
    assert_eq!(again.id, id);
    let mut second = BytesMut::new();
    native::encode_reply(id, &again.response, &mut second);
    assert_eq!(first, second, "reply changed on a round trip");
}
