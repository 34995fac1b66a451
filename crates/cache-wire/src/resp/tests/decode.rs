//! Decoding: frames, pipelines, every protocol error, limits, and properties over random input.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use crate::error::ProtocolError;
use crate::resp::{Decoder, Frame, Limits, decode};

fn multibulk(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Every frame in `input`, decoded from one buffer, and how decoding stopped.
fn decode_all(input: &[u8], limits: Limits) -> (Vec<Frame>, Result<usize, ProtocolError>) {
    let mut decoder = Decoder::new(limits);
    let mut buf = BytesMut::from(input);
    let mut frames = Vec::new();
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => return (frames, Ok(buf.len())),
            Err(e) => return (frames, Err(e)),
        }
    }
}

/// The same, with the input arriving in chunks of the given sizes (cycled).
fn decode_chunked(
    input: &[u8],
    chunks: &[usize],
    limits: Limits,
) -> (Vec<Frame>, Result<usize, ProtocolError>) {
    let mut decoder = Decoder::new(limits);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut fed = 0;
    let mut sizes = chunks.iter().copied().cycle();
    loop {
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => return (frames, Err(e)),
            }
        }
        if fed == input.len() {
            return (frames, Ok(buf.len()));
        }
        let n = sizes.next().unwrap_or(1).max(1).min(input.len() - fed);
        buf.extend_from_slice(&input[fed..fed + n]);
        fed += n;
    }
}

fn strs(frame: &Frame) -> Vec<&str> {
    frame
        .iter()
        .map(|a| std::str::from_utf8(a).unwrap())
        .collect()
}

fn error_of(input: &[u8]) -> ProtocolError {
    decode_all(input, Limits::default())
        .1
        .expect_err("a protocol error")
}

#[test]
fn multibulk_and_inline_frames() {
    let (frames, rest) = decode_all(
        b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nSET a \"b c\"\r\nping\n",
        Limits::default(),
    );
    assert_eq!(rest, Ok(0));
    assert_eq!(
        frames.iter().map(strs).collect::<Vec<_>>(),
        [vec!["GET", "k"], vec!["SET", "a", "b c"], vec!["ping"]]
    );
}

#[test]
fn empty_requests_are_skipped() {
    let (frames, rest) = decode_all(b"\r\n\n   \r\n*0\r\n*-1\r\nPING\r\n", Limits::default());
    assert_eq!(rest, Ok(0));
    assert_eq!(frames.iter().map(strs).collect::<Vec<_>>(), [vec!["PING"]]);
}

#[test]
fn binary_arguments_and_empty_ones() {
    let input = multibulk(&[b"SET", b"", b"\r\n\0\xff"]);
    let (frames, _) = decode_all(&input, Limits::default());
    assert_eq!(
        frames,
        [vec![
            Bytes::from_static(b"SET"),
            Bytes::new(),
            Bytes::from_static(b"\r\n\0\xff")
        ]]
    );
}

#[test]
fn a_long_pipeline_in_one_buffer() {
    let mut input = Vec::new();
    for i in 0..1000 {
        input.extend(multibulk(&[b"SET", format!("key:{i}").as_bytes(), b"v"]));
        input.extend(format!("GET key:{i}\r\n").into_bytes());
    }
    let (frames, rest) = decode_all(&input, Limits::default());
    assert_eq!(rest, Ok(0));
    assert_eq!(frames.len(), 2000);
    assert_eq!(strs(&frames[1998]), ["SET", "key:999", "v"]);
    assert_eq!(strs(&frames[1999]), ["GET", "key:999"]);
}

#[test]
fn arguments_are_slices_of_the_read_buffer() {
    let mut buf = BytesMut::from(&multibulk(&[b"SET", b"key", b"value"])[..]);
    let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    let frame = decode(&mut buf, &Limits::default()).unwrap().unwrap();
    for arg in &frame {
        assert!(
            range.contains(&(arg.as_ptr() as usize)),
            "argument was copied"
        );
    }
}

#[test]
fn protocol_errors_have_redis_texts() {
    use ProtocolError::*;
    assert_eq!(error_of(b"*abc\r\n"), InvalidMultibulkLength);
    assert_eq!(error_of(b"*+1\r\n"), InvalidMultibulkLength);
    assert_eq!(error_of(b"*2147483648\r\n"), InvalidMultibulkLength);
    assert_eq!(error_of(b"*1048577\r\n"), InvalidMultibulkLength);
    assert_eq!(error_of(b"*1\rx"), InvalidMultibulkLength);
    assert_eq!(error_of(b"*1\r\n$abc\r\n"), InvalidBulkLength);
    assert_eq!(error_of(b"*1\r\n$-1\r\n"), InvalidBulkLength);
    assert_eq!(error_of(b"*1\r\n$01\r\n"), InvalidBulkLength);
    assert_eq!(error_of(b"*1\r\n$67174401\r\n"), InvalidBulkLength);
    assert_eq!(error_of(b"*1\r\nx"), ExpectedBulk(b'x'));
    assert_eq!(error_of(b"*1\r\n:1\r\n"), ExpectedBulk(b':'));
    assert_eq!(error_of(b"*1\r\n$1\r\nab\r\n"), MissingBulkTerminator);
    assert_eq!(error_of(b"GET \"k\r\n"), UnbalancedQuotes);
    assert_eq!(error_of(b"GET 'k'x\r\n"), UnbalancedQuotes);
    assert_eq!(error_of(&vec![b'a'; 64 * 1024 + 2]), TooBigInlineRequest);
    assert_eq!(error_of(&[b'*'; 64 * 1024 + 2]), TooBigMultibulkCount);
    let mut long_bulk_header = b"*1\r\n$".to_vec();
    long_bulk_header.extend(vec![b'1'; 64 * 1024 + 2]);
    assert_eq!(error_of(&long_bulk_header), TooBigBulkCount);
}

#[test]
fn the_inline_limit_is_exact() {
    let limits = Limits {
        max_inline_len: 8,
        ..Limits::default()
    };
    assert_eq!(decode_all(b"12345678\r\n", limits).0.len(), 1);
    assert_eq!(decode_all(b"12345678\n", limits).0.len(), 1);
    assert_eq!(
        decode_all(b"123456789\n", limits).1,
        Err(ProtocolError::TooBigInlineRequest)
    );
    assert_eq!(
        decode_all(b"123456789", limits).1,
        Err(ProtocolError::TooBigInlineRequest)
    );
    assert_eq!(decode_all(b"12345678", limits).1, Ok(8));
}

#[test]
fn limits_on_arguments_and_lengths() {
    let limits = Limits {
        max_bulk_len: 3,
        max_multibulk_len: 2,
        max_inline_len: 64,
        ..Limits::default()
    };
    assert_eq!(decode_all(&multibulk(&[b"a", b"bcd"]), limits).0.len(), 1);
    assert_eq!(
        decode_all(&multibulk(&[b"a", b"b", b"c"]), limits).1,
        Err(ProtocolError::InvalidMultibulkLength)
    );
    assert_eq!(
        decode_all(&multibulk(&[b"abcd"]), limits).1,
        Err(ProtocolError::InvalidBulkLength)
    );
}

#[test]
fn a_request_over_the_whole_request_limit_is_refused_at_the_header() {
    let request = multibulk(&[b"SET", b"k", b"value"]);
    let exact = Limits {
        max_request_len: request.len(),
        ..Limits::default()
    };
    assert_eq!(decode_all(&request, exact).0.len(), 1);
    let under = Limits {
        max_request_len: request.len() - 1,
        ..Limits::default()
    };
    // Refused as soon as the last header announces data past the limit, before the data.
    let mut buf = BytesMut::from(&request[..request.len() - b"value\r\n".len()]);
    let mut decoder = Decoder::new(under);
    assert_eq!(decoder.decode(&mut buf), Err(ProtocolError::TooBigRequest));
}

#[test]
fn a_declared_length_reserves_nothing() {
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(b"*2\r\n$3\r\nSET\r\n$67108864\r\nabc");
    let mut decoder = Decoder::new(Limits::default());
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert_eq!(buf.capacity(), 64);
    // Nor does a declared argument count.
    let mut buf = BytesMut::from(&b"*1048576\r\n$1\r\na\r\n"[..]);
    let capacity = buf.capacity();
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    decoder.reset();
    assert_eq!(buf.capacity(), capacity);
}

#[test]
fn a_large_value_arriving_slowly_is_examined_once() {
    let value = vec![b'x'; 1 << 20];
    let input = multibulk(&[b"SET", b"k", &value]);
    let (frames, rest) = decode_chunked(&input, &[4096], Limits::default());
    assert_eq!(rest, Ok(0));
    assert_eq!(frames[0][2].len(), 1 << 20);
}

#[test]
fn a_shrunk_buffer_resets_the_decoder() {
    let mut decoder = Decoder::new(Limits::default());
    let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r\n"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    buf.clear();
    buf.extend_from_slice(b"PING\r\n");
    assert_eq!(
        decoder.decode(&mut buf).unwrap().unwrap(),
        [Bytes::from_static(b"PING")]
    );
}

fn arg() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..24)
}

fn frame_bytes() -> impl Strategy<Value = (Vec<Vec<u8>>, Vec<u8>)> {
    prop::collection::vec(arg(), 1..6).prop_map(|args| {
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let bytes = multibulk(&refs);
        (args, bytes)
    })
}

/// An inline line that `sdssplitargs` reads back as `args`: each argument double-quoted, every
/// byte that is not plain printable ASCII written as `\xHH`.
fn inline_line(args: &[Vec<u8>]) -> Vec<u8> {
    let mut line = Vec::new();
    for arg in args {
        line.push(b'"');
        for &b in arg {
            if b.is_ascii_graphic() && b != b'"' && b != b'\\' || b == b' ' {
                line.push(b);
            } else {
                line.extend(format!("\\x{b:02x}").into_bytes());
            }
        }
        line.extend_from_slice(b"\" ");
    }
    line.extend_from_slice(b"\r\n");
    line
}

/// Bytes that look enough like RESP to reach every branch of the decoder.
fn protocol_noise() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"*$\r\n-0123456789 \"'\\x".to_vec()),
        1 => any::<u8>(),
    ];
    let piece = prop_oneof![
        prop::collection::vec(byte, 0..12),
        frame_bytes().prop_map(|(_, bytes)| bytes),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn multibulk_round_trips_split_at_every_point((args, bytes) in frame_bytes()) {
        let expected: Vec<Bytes> = args.into_iter().map(Bytes::from).collect();
        for split in 0..=bytes.len() {
            let mut decoder = Decoder::new(Limits::default());
            let mut buf = BytesMut::from(&bytes[..split]);
            let first = decoder.decode(&mut buf).unwrap();
            if split < bytes.len() {
                prop_assert_eq!(first, None);
                buf.extend_from_slice(&bytes[split..]);
                prop_assert_eq!(decoder.decode(&mut buf).unwrap(), Some(expected.clone()));
            } else {
                prop_assert_eq!(first, Some(expected.clone()));
            }
            prop_assert!(buf.is_empty());
        }
    }

    #[test]
    fn inline_round_trips(args in prop::collection::vec(arg(), 1..6)) {
        let line = inline_line(&args);
        let (frames, rest) = decode_chunked(&line, &[1], Limits::default());
        prop_assert_eq!(rest, Ok(0));
        let expected: Vec<Bytes> = args.into_iter().map(Bytes::from).collect();
        prop_assert_eq!(frames, vec![expected]);
    }

    #[test]
    fn pipelines_decode_the_same_in_any_chunking(
        frames in prop::collection::vec(prop_oneof![
            frame_bytes(),
            prop::collection::vec(arg(), 1..4).prop_map(|args| { let line = inline_line(&args); (args, line) }),
        ], 1..10),
        chunks in prop::collection::vec(1usize..40, 1..8),
    ) {
        let input: Vec<u8> = frames.iter().flat_map(|(_, bytes)| bytes.clone()).collect();
        let expected: Vec<Frame> = frames.into_iter()
            .map(|(args, _)| args.into_iter().map(Bytes::from).collect())
            .collect();
        let (decoded, rest) = decode_chunked(&input, &chunks, Limits::default());
        prop_assert_eq!(rest, Ok(0));
        prop_assert_eq!(decoded, expected);
    }

    /// Random input never panics, and the outcome (frames, then the error or the bytes left)
    /// does not depend on how the bytes were split into reads.
    #[test]
    fn random_bytes_decode_the_same_in_any_chunking(
        input in protocol_noise(),
        chunks in prop::collection::vec(1usize..16, 1..8),
        small in any::<bool>(),
    ) {
        let limits = if small {
            Limits { max_bulk_len: 12, max_multibulk_len: 4, max_inline_len: 10, max_request_len: 40 }
        } else {
            Limits::default()
        };
        let whole = decode_all(&input, limits);
        let chunked = decode_chunked(&input, &chunks, limits);
        prop_assert_eq!(whole, chunked);
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_all(&input, Limits::default());
        let _ = decode_chunked(&input, &[1], Limits { max_bulk_len: 4, max_multibulk_len: 2, max_inline_len: 3, max_request_len: 20 });
    }
}
