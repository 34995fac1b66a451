//! Command parsing: [`parse()`] on any argument vector.

use bytes::{Bytes, BytesMut};

use crate::parse::{CommandId, parse};
use crate::resp::{self, Protocol};
use crate::{Response, datagram, native};

/// The first byte of the input separates the arguments in the rest: `\nSET\nk\nv` is
/// `SET k v`.
pub fn command_parse(input: &[u8]) {
    let Some((&separator, rest)) = input.split_first() else {
        return;
    };
    let args: Vec<Bytes> = rest
        .split(|&b| b == separator)
        .map(Bytes::copy_from_slice)
        .collect();
    datagram::retry_safe(&args);
    match parse(&args) {
        Ok((id, _command)) => {
            assert_eq!(CommandId::lookup(&args[0]), Some(id));
            assert!(
                id.spec().accepts(args.len()),
                "{id:?} of {} args",
                args.len()
            );
        }
        Err(reply) => {
            if let Response::Error(text) = &reply {
                // Redis's error texts are one line; the ones built from arguments too.
                assert!(
                    !text.contains(['\r', '\n']),
                    "error of several lines: {text:?}"
                );
            }
            for protocol in [Protocol::Resp2, Protocol::Resp3] {
                let mut out = BytesMut::new();
                resp::encode(&reply, protocol, &mut out);
                assert!(matches!(
                    resp::decode_reply(&mut out, &resp::Limits::default()),
                    Ok(Some(_))
                ));
                assert!(out.is_empty());
            }
            let mut out = BytesMut::new();
            native::encode_reply(1, &reply, &mut out);
            assert!(matches!(
                native::decode_reply(&mut out, &native::Limits::default()),
                Ok(Some(_))
            ));
        }
    }
}
