//! A tiny RESP2/RESP3 reply parser, for tests only: it reads back what the encoder wrote, so
//! encoding can be checked against the meaning of a reply rather than against byte strings.

use crate::Response;
use crate::resp::{Protocol, format_double};

/// A reply as read off the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Status(String),
    Error(String),
    Integer(i64),
    Bulk(Vec<u8>),
    Null,
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Double(String),
    Boolean(bool),
    Verbatim(String, Vec<u8>),
}

/// Reads one reply from the front of `input`: the value and the bytes it used.
pub fn read_reply(input: &[u8]) -> (Value, usize) {
    let mut reader = Reader { input, pos: 0 };
    let value = reader.value();
    (value, reader.pos)
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn line(&mut self) -> &[u8] {
        let rest = &self.input[self.pos..];
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a complete line");
        self.pos += end + 2;
        &rest[..end]
    }

    fn text(&mut self) -> String {
        String::from_utf8(self.line().to_vec()).expect("utf-8 line")
    }

    fn number(&mut self) -> i64 {
        self.text().parse().expect("a number")
    }

    fn blob(&mut self, len: usize) -> Vec<u8> {
        let data = self.input[self.pos..self.pos + len].to_vec();
        assert_eq!(&self.input[self.pos + len..self.pos + len + 2], b"\r\n");
        self.pos += len + 2;
        data
    }

    fn value(&mut self) -> Value {
        let kind = self.input[self.pos];
        self.pos += 1;
        match kind {
            b'+' => Value::Status(self.text()),
            b'-' => Value::Error(self.text()),
            b':' => Value::Integer(self.number()),
            b'$' => match self.number() {
                -1 => Value::Null,
                len => Value::Bulk(self.blob(len as usize)),
            },
            b'_' => {
                assert!(self.line().is_empty());
                Value::Null
            }
            b'*' => {
                let len = self.number();
                Value::Array((0..len).map(|_| self.value()).collect())
            }
            b'%' => {
                let len = self.number();
                Value::Map((0..len).map(|_| (self.value(), self.value())).collect())
            }
            b',' => Value::Double(self.text()),
            b'#' => match self.line() {
                b"t" => Value::Boolean(true),
                b"f" => Value::Boolean(false),
                other => panic!("bad boolean {other:?}"),
            },
            b'=' => {
                let len = self.number() as usize;
                let data = self.blob(len);
                assert_eq!(data[3], b':');
                Value::Verbatim(
                    String::from_utf8(data[..3].to_vec()).unwrap(),
                    data[4..].to_vec(),
                )
            }
            other => panic!("unknown reply type {:?}", other as char),
        }
    }
}

/// What `response` should read back as in `protocol`.
pub fn expected(response: &Response, protocol: Protocol) -> Value {
    let resp3 = protocol == Protocol::Resp3;
    match response {
        Response::Ok => Value::Status("OK".into()),
        Response::Status(s) => Value::Status(s.replace(['\r', '\n'], " ")),
        Response::Error(e) => Value::Error(e.replace(['\r', '\n'], " ")),
        Response::Integer(n) => Value::Integer(*n),
        Response::Bulk(b) => Value::Bulk(b.to_vec()),
        Response::Nil => Value::Null,
        Response::Array(items) => {
            Value::Array(items.iter().map(|i| expected(i, protocol)).collect())
        }
        Response::Map(pairs) if resp3 => Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (expected(k, protocol), expected(v, protocol)))
                .collect(),
        ),
        Response::Map(pairs) => Value::Array(
            pairs
                .iter()
                .flat_map(|(k, v)| [expected(k, protocol), expected(v, protocol)])
                .collect(),
        ),
        Response::Double(d) if resp3 => Value::Double(format_double(*d).to_string()),
        Response::Double(d) => Value::Bulk(format_double(*d).as_bytes().to_vec()),
        Response::Boolean(b) if resp3 => Value::Boolean(*b),
        Response::Boolean(b) => Value::Integer(i64::from(*b)),
        Response::Verbatim(t) if resp3 => Value::Verbatim("txt".into(), t.to_vec()),
        Response::Verbatim(t) => Value::Bulk(t.to_vec()),
    }
}
