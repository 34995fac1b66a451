use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use ciborium::Value;
use proptest::prelude::*;

use super::*;

fn body(frame: &[u8]) -> &[u8] {
    assert_eq!(frame[0], MAGIC);
    assert_eq!(frame[1], VERSION);
    let len = u32::from_be_bytes([frame[2], frame[3], frame[4], frame[5]]) as usize;
    assert_eq!(frame.len(), HEADER_LEN + len);
    &frame[HEADER_LEN..]
}

fn framed(value: &Value) -> BytesMut {
    let mut cbor = Vec::new();
    ciborium::into_writer(value, &mut cbor).unwrap();
    let mut out = BytesMut::new();
    out.extend_from_slice(&[MAGIC, VERSION]);
    out.extend_from_slice(&(cbor.len() as u32).to_be_bytes());
    out.extend_from_slice(&cbor);
    out
}

/// What a reply looks like after a round trip: the forms the protocol does not tell apart
/// (status `OK` and `Ok`, one-line verbatim text and status text) come back as one of them;
/// text of several lines comes back as verbatim text.
fn normal(response: &Response) -> Response {
    match response {
        Response::Status(s) if s == "OK" => Response::Ok,
        Response::Verbatim(b) => match std::str::from_utf8(b) {
            Ok(text) if text.contains(['\r', '\n']) => Response::Verbatim(b.clone()),
            Ok("OK") => Response::Ok,
            Ok(text) => Response::Status(Cow::Owned(text.to_owned())),
            Err(_) => Response::Bulk(b.clone()),
        },
        Response::Array(items) => Response::Array(items.iter().map(normal).collect()),
        Response::Map(pairs) => {
            Response::Map(pairs.iter().map(|(k, v)| (normal(k), normal(v))).collect())
        }
        other => other.clone(),
    }
}

fn response() -> impl Strategy<Value = Response> {
    let leaf = prop_oneof![
        Just(Response::Ok),
        "[a-zA-Z ]{0,12}".prop_map(|s| Response::Status(Cow::Owned(s))),
        "[A-Z]{1,8} [a-z ]{0,20}".prop_map(|s| Response::Error(Cow::Owned(s))),
        any::<i64>().prop_map(Response::Integer),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| Response::Bulk(b.into())),
        Just(Response::Nil),
        any::<f64>()
            .prop_filter("NaN never equals itself", |d| !d.is_nan())
            .prop_map(Response::Double),
        any::<bool>().prop_map(Response::Boolean),
        "[ -~\n]{0,30}".prop_map(|s| Response::Verbatim(Bytes::from(s))),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Response::Array),
            proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Response::Map),
        ]
    })
}

proptest! {
    #[test]
    fn requests_round_trip(id in any::<u64>(), args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20)) {
        let mut buf = BytesMut::new();
        encode_request(id, &args, &mut buf);
        let request = decode_request(&mut buf, &Limits::default()).unwrap().unwrap();
        prop_assert!(buf.is_empty());
        prop_assert_eq!(request.id, id);
        prop_assert_eq!(request.args.iter().map(|a| a.to_vec()).collect::<Vec<_>>(), args);
    }

    #[test]
    fn replies_round_trip(id in any::<u64>(), reply in response()) {
        let mut buf = BytesMut::new();
        encode_reply(id, &reply, &mut buf);
        let decoded = decode_reply(&mut buf, &Limits::default()).unwrap().unwrap();
        prop_assert!(buf.is_empty());
        prop_assert_eq!(decoded.id, id);
        prop_assert_eq!(decoded.response, normal(&reply));
    }

    /// Every frame we write is standard CBOR: ciborium reads the documented shape.
    #[test]
    fn ciborium_reads_our_frames(id in any::<u64>(), args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..50), 1..6), reply in response()) {
        let mut buf = BytesMut::new();
        encode_request(id, &args, &mut buf);
        let value: Value = ciborium::from_reader(body(&buf)).unwrap();
        let expected = Value::Array(vec![
            Value::Integer(id.into()),
            Value::Array(args.iter().map(|a| Value::Bytes(a.clone())).collect()),
        ]);
        prop_assert_eq!(value, expected);

        let mut buf = BytesMut::new();
        encode_reply(id, &reply, &mut buf);
        let value: Value = ciborium::from_reader(body(&buf)).unwrap();
        let Value::Array(parts) = value else { panic!("a reply is an array") };
        prop_assert_eq!(parts.len(), 3);
        prop_assert_eq!(&parts[0], &Value::Integer(id.into()));
        prop_assert_eq!(&parts[1], &Value::Integer(u8::from(reply.is_error()).into()));
    }

    /// Frames another CBOR implementation writes (here ciborium) decode the same.
    #[test]
    fn ciborium_frames_decode(id in any::<u64>(), args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..50), 1..6), text in any::<bool>()) {
        let arg = |a: &Vec<u8>| if text { Value::Text(String::from_utf8_lossy(a).into_owned()) } else { Value::Bytes(a.clone()) };
        let mut buf = framed(&Value::Array(vec![
            Value::Integer(id.into()),
            Value::Array(args.iter().map(arg).collect()),
        ]));
        let request = decode_request(&mut buf, &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(request.id, id);
        let expected: Vec<Vec<u8>> = args.iter().map(|a| if text { String::from_utf8_lossy(a).into_owned().into_bytes() } else { a.clone() }).collect();
        prop_assert_eq!(request.args.iter().map(|a| a.to_vec()).collect::<Vec<_>>(), expected);
    }

    /// A frame split anywhere is incomplete until its last byte, then whole.
    #[test]
    fn partial_frames_wait(args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 1..8), cut in any::<prop::sample::Index>()) {
        let mut whole = BytesMut::new();
        encode_request(7, &args, &mut whole);
        let cut = cut.index(whole.len());
        let mut buf = BytesMut::from(&whole[..cut]);
        prop_assert_eq!(decode_request(&mut buf, &Limits::default()).unwrap(), None);
        buf.extend_from_slice(&whole[cut..]);
        prop_assert!(decode_request(&mut buf, &Limits::default()).unwrap().is_some());
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut framed = BytesMut::from(&[MAGIC, VERSION][..]);
        framed.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        framed.extend_from_slice(&bytes);
        let _ = decode_request(&mut framed.clone(), &Limits::default());
        let _ = decode_reply(&mut framed, &Limits::default());
        let _ = decode_request(&mut BytesMut::from(&bytes[..]), &Limits::default());
    }
}

#[test]
fn a_get_request_is_these_bytes() {
    // The example in docs/protocol.md: request 1, GET k.
    let mut buf = BytesMut::new();
    encode_request(1, &["GET", "k"], &mut buf);
    assert_eq!(
        &buf[..],
        &[
            0xCA, 0x01, 0, 0, 0, 9, 0x82, 0x01, 0x82, 0x43, b'G', b'E', b'T', 0x41, b'k'
        ]
    );
    let mut buf = BytesMut::new();
    encode_reply(1, &Response::Bulk(Bytes::from_static(b"v")), &mut buf);
    assert_eq!(
        &buf[..],
        &[0xCA, 0x01, 0, 0, 0, 5, 0x83, 0x01, 0x00, 0x41, b'v']
    );
    let mut buf = BytesMut::new();
    encode_reply(2, &Response::Nil, &mut buf);
    assert_eq!(&buf[..], &[0xCA, 0x01, 0, 0, 0, 4, 0x83, 0x02, 0x00, 0xf6]);
}

#[test]
fn errors_carry_their_code_and_the_resp_text() {
    let mut buf = BytesMut::new();
    encode_reply(3, &Response::err("syntax error"), &mut buf);
    let value: Value = ciborium::from_reader(body(&buf)).unwrap();
    assert_eq!(
        value,
        Value::Array(vec![
            Value::Integer(3.into()),
            Value::Integer(1.into()),
            Value::Array(vec![
                Value::Integer((ErrorCode::Syntax as u16).into()),
                Value::Text("ERR syntax error".into()),
            ]),
        ])
    );
    for (text, code) in [
        (
            "WRONGTYPE Operation against a key holding the wrong kind of value",
            ErrorCode::WrongType,
        ),
        (
            "ERR unknown command 'FOO', with args beginning with: ",
            ErrorCode::UnknownCommand,
        ),
        (
            "ERR wrong number of arguments for 'get' command",
            ErrorCode::WrongArity,
        ),
        (
            "ERR value is not an integer or out of range",
            ErrorCode::NotANumber,
        ),
        ("NOAUTH Authentication required.", ErrorCode::NoAuth),
        (
            "OOM command not allowed when used memory > 'maxmemory'.",
            ErrorCode::OutOfMemory,
        ),
        (
            "ERR cache node for this key is unavailable, try again",
            ErrorCode::Unavailable,
        ),
        (
            "ERR Protocol error: invalid bulk length",
            ErrorCode::Protocol,
        ),
        ("ERR no such thing", ErrorCode::Generic),
        (
            &format!("ERR {}", ProtocolError::NativeVersion(2)),
            ErrorCode::UnsupportedVersion,
        ),
    ] {
        assert_eq!(ErrorCode::of(text), code, "{text}");
    }
    for code in ErrorCode::ALL {
        assert_eq!(ErrorCode::from_number(code as u64), Some(code));
    }
}

#[test]
fn bad_frames_are_protocol_errors() {
    let limits = Limits::default();
    let mut wrong_version = BytesMut::from(&[MAGIC, 9, 0, 0, 0, 0][..]);
    assert_eq!(
        decode_request(&mut wrong_version, &limits),
        Err(ProtocolError::NativeVersion(9))
    );
    let mut huge = BytesMut::from(&[MAGIC, VERSION, 0xff, 0xff, 0xff, 0xff][..]);
    assert_eq!(
        decode_request(
            &mut huge,
            &Limits {
                max_frame: 1 << 20,
                ..limits
            }
        ),
        Err(ProtocolError::NativeFrameTooLarge)
    );
    // [1, 5]: the command is not an array.
    let mut not_args = framed(&Value::Array(vec![
        Value::Integer(1.into()),
        Value::Integer(5.into()),
    ]));
    assert!(matches!(
        decode_request(&mut not_args, &limits),
        Err(ProtocolError::NativeMalformed(_))
    ));
    // An array header claiming more items than the body holds.
    let mut lying = BytesMut::from(&[MAGIC, VERSION, 0, 0, 0, 3, 0x82, 0x01, 0x9b][..]);
    assert!(decode_request(&mut lying, &limits).is_err());
}

#[test]
fn the_codec_tells_resp_from_native_by_the_first_byte() {
    use crate::codec::ServerCodec;
    let mut native = BytesMut::new();
    encode_request(42, &["PING"], &mut native);
    let mut codec = ServerCodec::new(crate::resp::Limits::default());
    let incoming = codec.decode(&mut native).unwrap().unwrap();
    assert_eq!(incoming.id, Some(42));
    assert!(codec.is_native());

    let mut resp = BytesMut::from(&b"*1\r\n$4\r\nPING\r\nPING\r\n"[..]);
    let mut codec = ServerCodec::new(crate::resp::Limits::default());
    assert_eq!(codec.decode(&mut resp).unwrap().unwrap().id, None);
    assert_eq!(
        codec.decode(&mut resp).unwrap().unwrap().args,
        vec![Bytes::from("PING")]
    );
    assert!(!codec.is_native());
}
