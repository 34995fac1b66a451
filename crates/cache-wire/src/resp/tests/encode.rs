//! Encoding: exact bytes per shape and protocol, and a read-back property over random replies.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::reply_parser::{expected, read_reply};
use crate::Response;
use crate::resp::{Protocol, encode, encode_array_header, encode_bulk, encode_integer, encode_nil};

fn encoded(response: &Response, protocol: Protocol) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(response, protocol, &mut out);
    out.to_vec()
}

fn both(response: Response, resp2: &str, resp3: &str) {
    assert_eq!(
        encoded(&response, Protocol::Resp2),
        resp2.as_bytes(),
        "RESP2 {response:?}"
    );
    assert_eq!(
        encoded(&response, Protocol::Resp3),
        resp3.as_bytes(),
        "RESP3 {response:?}"
    );
}

fn bulk(text: &str) -> Response {
    Response::bulk(text.as_bytes())
}

#[test]
fn shapes_common_to_both_protocols() {
    both(Response::Ok, "+OK\r\n", "+OK\r\n");
    both(
        Response::Status(Cow::Borrowed("PONG")),
        "+PONG\r\n",
        "+PONG\r\n",
    );
    both(
        Response::err("syntax error"),
        "-ERR syntax error\r\n",
        "-ERR syntax error\r\n",
    );
    both(Response::Integer(-42), ":-42\r\n", ":-42\r\n");
    both(
        Response::Integer(i64::MIN),
        ":-9223372036854775808\r\n",
        ":-9223372036854775808\r\n",
    );
    both(bulk("hello"), "$5\r\nhello\r\n", "$5\r\nhello\r\n");
    both(bulk(""), "$0\r\n\r\n", "$0\r\n\r\n");
    both(Response::Array(vec![]), "*0\r\n", "*0\r\n");
    both(
        Response::Array(vec![bulk("a"), Response::Integer(1)]),
        "*2\r\n$1\r\na\r\n:1\r\n",
        "*2\r\n$1\r\na\r\n:1\r\n",
    );
}

#[test]
fn resp3_shapes_and_their_resp2_fallbacks() {
    both(Response::Nil, "$-1\r\n", "_\r\n");
    both(
        Response::Array(vec![Response::Nil]),
        "*1\r\n$-1\r\n",
        "*1\r\n_\r\n",
    );
    both(
        Response::Map(vec![(bulk("proto"), Response::Integer(3))]),
        "*2\r\n$5\r\nproto\r\n:3\r\n",
        "%1\r\n$5\r\nproto\r\n:3\r\n",
    );
    both(Response::Double(1.5), "$3\r\n1.5\r\n", ",1.5\r\n");
    both(Response::Double(3.0), "$1\r\n3\r\n", ",3\r\n");
    both(Response::Double(f64::INFINITY), "$3\r\ninf\r\n", ",inf\r\n");
    both(
        Response::Double(f64::NEG_INFINITY),
        "$4\r\n-inf\r\n",
        ",-inf\r\n",
    );
    both(Response::Double(f64::NAN), "$3\r\nnan\r\n", ",nan\r\n");
    both(Response::Boolean(true), ":1\r\n", "#t\r\n");
    both(Response::Boolean(false), ":0\r\n", "#f\r\n");
    both(
        Response::Verbatim(Bytes::from_static(b"# Server\r\n")),
        "$10\r\n# Server\r\n\r\n",
        "=14\r\ntxt:# Server\r\n\r\n",
    );
}

#[test]
fn line_breaks_in_one_line_replies_become_spaces() {
    both(
        Response::Error(Cow::Borrowed("ERR a\r\nb")),
        "-ERR a  b\r\n",
        "-ERR a  b\r\n",
    );
    both(
        Response::Status(Cow::Borrowed("a\nb")),
        "+a b\r\n",
        "+a b\r\n",
    );
}

#[test]
fn streaming_helpers_match_encode() {
    let mut out = BytesMut::new();
    encode_array_header(3, &mut out);
    encode_bulk(b"v", &mut out);
    encode_nil(Protocol::Resp2, &mut out);
    encode_integer(7, &mut out);
    let whole = Response::Array(vec![bulk("v"), Response::Nil, Response::Integer(7)]);
    assert_eq!(out.to_vec(), encoded(&whole, Protocol::Resp2));
}

fn any_response() -> impl Strategy<Value = Response> {
    let leaf = prop_oneof![
        Just(Response::Ok),
        "[ -~]{0,20}".prop_map(|s| Response::Status(Cow::Owned(s))),
        "ERR [ -~\r\n]{0,20}".prop_map(|s| Response::Error(Cow::Owned(s))),
        any::<i64>().prop_map(Response::Integer),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| Response::Bulk(Bytes::from(b))),
        Just(Response::Nil),
        any::<f64>().prop_map(Response::Double),
        any::<bool>().prop_map(Response::Boolean),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| Response::Verbatim(Bytes::from(b))),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Response::Array),
            prop::collection::vec((inner.clone(), inner), 0..4).prop_map(Response::Map),
        ]
    })
}

proptest! {
    #[test]
    fn replies_read_back_as_encoded(response in any_response(), resp3 in any::<bool>()) {
        let protocol = if resp3 { Protocol::Resp3 } else { Protocol::Resp2 };
        let bytes = encoded(&response, protocol);
        let (value, used) = read_reply(&bytes);
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(value, expected(&response, protocol));
    }

    #[test]
    fn doubles_read_back_to_the_same_value(value in any::<f64>()) {
        let bytes = encoded(&Response::Double(value), Protocol::Resp3);
        let text = std::str::from_utf8(&bytes[1..bytes.len() - 2]).unwrap();
        let back: f64 = text.parse().unwrap();
        prop_assert!(back == value || (back.is_nan() && value.is_nan()), "{} -> {}", value, text);
        if !value.is_nan() {
            prop_assert_eq!(back.is_sign_negative(), value.is_sign_negative());
        }
    }
}
