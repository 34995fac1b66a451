//! The fuzz targets on stable: every seed of `fuzz/corpus/<target>/` and a few thousand
//! deterministic mutations of them go through the same checks `cargo fuzz` runs
//! ([`cache_wire::fuzzing`]), with allocations counted, so CI exercises every invariant in
//! seconds. `cargo test -p cache-wire --test fuzz_corpus -- --ignored` writes the seeds again
//! (see docs/fuzzing.md).

use std::borrow::Cow;
use std::panic::catch_unwind;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use cache_wire::fuzzing::{self, alloc};
use cache_wire::resp::{self, Protocol};
use cache_wire::{Response, datagram, native};

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// Mutations per target: enough to reach past the seeds, few enough for a debug build.
const MUTATIONS: usize = 3000;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn replay(target: &str, check: fn(&[u8])) {
    fuzzing::replay(&corpus_dir(target), MUTATIONS, check);
}

#[test]
fn resp_request() {
    replay("resp_request", fuzzing::resp_request);
}

#[test]
fn native_request() {
    replay("native_request", fuzzing::native_request);
}

#[test]
fn resp_reply() {
    replay("resp_reply", fuzzing::resp_reply);
}

#[test]
fn native_reply() {
    replay("native_reply", fuzzing::native_reply);
}

#[test]
fn datagram() {
    replay("datagram", fuzzing::datagram);
}

#[test]
fn command_parse() {
    replay("command_parse", fuzzing::command_parse);
}

/// A native reply of 64 nested arrays, each claiming as many elements as bytes are left in the
/// frame: 4,007 bytes, the input the `native_reply` allocation bound failed on.
fn nested_arrays() -> Vec<u8> {
    const BODY: usize = 4000;
    let mut body = vec![0x83, 0x01, 0x00];
    for _ in 0..64 {
        let left = (BODY - body.len() - 3) as u16;
        body.push(0x99);
        body.extend_from_slice(&left.to_be_bytes());
    }
    body.resize(BODY, 0xf6);
    let mut input = vec![0, native::MAGIC, native::VERSION];
    input.extend_from_slice(&(BODY as u32).to_be_bytes());
    input.extend_from_slice(&body);
    input
}

/// Found with the `native_reply` check: each level reserved room for its claimed count, so
/// 4 KB of headers reserved 10 MB.
#[test]
fn nested_native_arrays_reserve_no_more_than_they_hold() {
    let input = nested_arrays();
    let mut frame = BytesMut::from(&input[1..]);
    let (result, peak) =
        alloc::peak_during(|| native::decode_reply(&mut frame, &native::Limits::default()));
    assert!(result.is_err(), "{result:?}");
    assert!(peak < 1 << 20, "{peak} bytes for {} of input", input.len());
    fuzzing::native_reply(&input);
}

#[test]
fn mutations_are_deterministic_and_varied() {
    let seeds = vec![b"*1\r\n$4\r\nPING\r\n".to_vec(), b"GET k\r\n".to_vec()];
    let a = fuzzing::mutations(&seeds, 200, 7);
    assert_eq!(a, fuzzing::mutations(&seeds, 200, 7));
    let distinct: std::collections::HashSet<_> = a.iter().collect();
    assert!(distinct.len() > 100, "{} distinct", distinct.len());
}

#[test]
fn the_allocation_bound_can_fail() {
    let (_, peak) = alloc::peak_during(|| std::hint::black_box(vec![0u8; alloc::budget(10) + 1]));
    assert!(peak > alloc::budget(10));
    let caught = catch_unwind(|| {
        alloc::bounded("a test", 10, || {
            std::hint::black_box(vec![0u8; alloc::budget(10) + 1]);
        })
    });
    assert!(caught.is_err());
}

// The seeds, written by the real encoders where there is one.

fn write(target: &str, name: &str, control: Option<u8>, bytes: &[u8]) {
    let dir = corpus_dir(target);
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    let mut input = control.map(|c| vec![c]).unwrap_or_default();
    input.extend_from_slice(bytes);
    std::fs::write(dir.join(format!("{name}.seed")), input).expect("write a seed");
}

fn resp_request_bytes(args: &[&[u8]]) -> Vec<u8> {
    let mut out = BytesMut::new();
    resp::encode_request(args, &mut out);
    out.to_vec()
}

fn native_request_bytes(id: u64, args: &[&[u8]]) -> Vec<u8> {
    let mut out = BytesMut::new();
    native::encode_request(id, args, &mut out);
    out.to_vec()
}

fn replies() -> Vec<(&'static str, Response)> {
    let bulk = |b: &'static [u8]| Response::Bulk(Bytes::from_static(b));
    vec![
        ("ok", Response::Ok),
        ("status", Response::Status(Cow::Borrowed("PONG"))),
        ("error", Response::err("syntax error")),
        (
            "wrongtype",
            Response::Error(Cow::Borrowed(
                "WRONGTYPE Operation against a key holding the wrong kind of value",
            )),
        ),
        ("integer", Response::Integer(-42)),
        ("bulk", bulk(b"value\r\nwith a line break")),
        ("nil", Response::Nil),
        ("double", Response::Double(3.25)),
        ("double_inf", Response::Double(f64::NEG_INFINITY)),
        ("boolean", Response::Boolean(true)),
        (
            "verbatim",
            Response::Verbatim(Bytes::from_static(b"# Server\r\nversion:1\r\n")),
        ),
        (
            "nested",
            Response::Array(vec![
                bulk(b"k"),
                Response::Nil,
                Response::Array(vec![Response::Integer(1), Response::err("inner")]),
                Response::Map(vec![(bulk(b"field"), Response::Double(0.5))]),
            ]),
        ),
        ("empty_array", Response::Array(Vec::new())),
    ]
}

#[test]
#[ignore = "writes the seed corpora; run by hand after a format change"]
fn write_seeds() {
    let t = "resp_request";
    write(t, "get", Some(0), &resp_request_bytes(&[b"GET", b"key"]));
    write(
        t,
        "set_ex_bytewise",
        Some(2),
        &resp_request_bytes(&[b"SET", b"k", b"v", b"EX", b"10"]),
    );
    let mut pipeline = resp_request_bytes(&[b"SET", b"a", b"1"]);
    pipeline.extend(resp_request_bytes(&[b"INCR", b"a"]));
    pipeline.extend(resp_request_bytes(&[b"MGET", b"a", b"b", b"c"]));
    write(t, "pipeline", Some(0x08), &pipeline);
    write(t, "pipeline_small_limits", Some(0x0b), &pipeline);
    write(
        t,
        "binary_value",
        Some(0x0c),
        &resp_request_bytes(&[b"SET", b"k", &[0, 13, 10, 255, 36, 42]]),
    );
    write(t, "inline", Some(0), b"PING\r\nGET k\nSET a b\r\n");
    write(
        t,
        "inline_quotes",
        Some(0x06),
        b"SET \"a b\" 'it\\'s' \"\\x41\\n\"\r\n",
    );
    write(
        t,
        "inline_long_small_limits",
        Some(0x01),
        b"SET key a-value-longer-than-the-small-inline-limit\r\n",
    );
    write(
        t,
        "empty_requests",
        Some(0x04),
        b"*0\r\n*-1\r\n\r\n\n*1\r\n$4\r\nPING\r\n",
    );
    write(t, "partial", Some(0x0e), b"*2\r\n$3\r\nGET\r\n$10\r\nabc");
    write(t, "expected_bulk", Some(0), b"*2\r\n$3\r\nGET\r\n:1\r\n");
    write(t, "bad_bulk_len", Some(0), b"*1\r\n$-3\r\nabc\r\n");
    write(t, "bad_count", Some(0), b"*x\r\n");
    write(t, "missing_terminator", Some(0), b"*1\r\n$3\r\nabcde\r\n");
    write(t, "unbalanced_quotes", Some(0), b"GET \"k\r\n");
    write(
        t,
        "many_args_small_limits",
        Some(0x05),
        &resp_request_bytes(&[&b"DEL"[..]; 10]),
    );

    let t = "native_request";
    write(
        t,
        "get",
        Some(0),
        &native_request_bytes(1, &[b"GET", b"key"]),
    );
    let mut pipeline = native_request_bytes(7, &[b"SET", b"k", b"v"]);
    pipeline.extend(native_request_bytes(8, &[b"GET", b"k"]));
    pipeline.extend(native_request_bytes(u64::MAX, &[b"PING"]));
    write(t, "pipeline_bytewise", Some(0x02), &pipeline);
    write(t, "pipeline_small_limits", Some(0x09), &pipeline);
    write(t, "empty_command", Some(0), &native_request_bytes(0, &[]));
    // `[1, ["get", "k"]]` with text strings, which a request may use too.
    write(
        t,
        "text_strings",
        Some(0x0a),
        &[
            0xca, 1, 0, 0, 0, 10, 0x82, 0x01, 0x82, 0x63, b'g', b'e', b't', 0x61, b'k', 0,
        ],
    );
    write(
        t,
        "truncated",
        Some(0),
        &native_request_bytes(3, &[b"SET", b"key", b"value"])[..14],
    );
    write(t, "wrong_version", Some(0), &[0xca, 2, 0, 0, 0, 1, 0x80]);
    write(
        t,
        "huge_length",
        Some(0),
        &[0xca, 1, 0xff, 0xff, 0xff, 0xff, 0x82],
    );
    write(
        t,
        "indefinite_array",
        Some(0),
        &[0xca, 1, 0, 0, 0, 3, 0x82, 0x01, 0x9f],
    );

    let t = "resp_reply";
    for (name, reply) in replies() {
        for (protocol, suffix, control) in
            [(Protocol::Resp2, "2", 0u8), (Protocol::Resp3, "3", 0x0c)]
        {
            let mut out = BytesMut::new();
            resp::encode(&reply, protocol, &mut out);
            write(t, &format!("{name}_resp{suffix}"), Some(control), &out);
        }
    }
    write(
        t,
        "attribute",
        Some(0),
        b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n:42\r\n",
    );
    write(
        t,
        "push_set_bignum",
        Some(0x02),
        b">2\r\n+message\r\n~2\r\n(3492890328409238509324850943850943825024385\r\n_\r\n",
    );
    write(
        t,
        "blob_error",
        Some(0),
        b"!21\r\nSYNTAX invalid syntax\r\n",
    );
    write(t, "too_deep", Some(0), "*1\r\n".repeat(70).as_bytes());
    write(t, "missing_crlf", Some(0), b"$3\r\nabcd\r\n");
    write(
        t,
        "small_limits",
        Some(0x01),
        b"*9\r\n:1\r\n:2\r\n:3\r\n:4\r\n:5\r\n:6\r\n:7\r\n:8\r\n:9\r\n",
    );

    let t = "native_reply";
    for (id, (name, reply)) in replies().into_iter().enumerate() {
        let mut out = BytesMut::new();
        native::encode_reply(id as u64, &reply, &mut out);
        write(t, name, Some(if id % 2 == 0 { 0 } else { 0x06 }), &out);
    }
    // `[1, 0, [1.5 as float16, 0.25 as float32, tag 1 (unknown)]]`.
    write(
        t,
        "floats_and_tag",
        Some(0),
        &[
            0xca, 1, 0, 0, 0, 14, 0x83, 0x01, 0x00, 0x83, 0xf9, 0x3e, 0x00, 0xfa, 0x3e, 0x80, 0, 0,
            0xc1, 0x00,
        ],
    );
    write(
        t,
        "status_2",
        Some(0),
        &[0xca, 1, 0, 0, 0, 6, 0x83, 0x01, 0x02, 0x62, b'h', b'i'],
    );

    let t = "datagram";
    let mut requests = native_request_bytes(1, &[b"GET", b"k"]);
    requests.extend(native_request_bytes(2, &[b"SET", b"k", b"v"]));
    let request = datagram::request(0x1234, &requests).expect("fits one datagram");
    write(t, "request", Some(0), &request);
    write(t, "request_small_limits", Some(0x81), &request);
    let mut broken = datagram::request(9, &native_request_bytes(1, &[b"GET", b"k"])).expect("fits");
    broken.extend_from_slice(&[0xca, 1, 0, 0]);
    write(t, "request_truncated", Some(0), &broken);
    write(t, "first_of_two", Some(0), &[0, 5, 0, 0, 0, 2, 0, 0, 0xca]);
    write(t, "second_of_two", Some(0x80), &[0, 5, 0, 1, 0, 2, 0, 0]);
    write(t, "reserved_set", Some(0), &[0, 5, 0, 0, 0, 1, 0, 1]);
    // A reply of two datagrams, each behind its length, as a client receives them.
    let mut payload = BytesMut::new();
    datagram::encode_replies(
        &[
            (1, Response::Bulk(Bytes::from(vec![b'x'; 1500]))),
            (2, Response::Ok),
        ],
        &mut payload,
    );
    let mut received = Vec::new();
    for part in datagram::split(77, &payload).iter().rev() {
        received.extend_from_slice(&(part.len() as u16).to_be_bytes());
        received.extend_from_slice(part);
    }
    write(t, "reply_two_parts", Some(0), &received);

    let t = "command_parse";
    let commands: &[&str] = &[
        "GET k",
        "SET k v EX 10 NX GET",
        "SET k v PXAT 1700000000000 XX",
        "SET k v KEEPTTL",
        "SETEX k 10 v",
        "PSETEX k 0 v",
        "GETEX k PERSIST",
        "GETEX k EXAT 1",
        "MSET a 1 b 2",
        "MSETNX a 1 b",
        "INCRBY k -9223372036854775808",
        "INCRBYFLOAT k 1.5e3",
        "DECRBY k 1",
        "EXPIRE k 10 GT",
        "PEXPIREAT k 1 NX XX",
        "SCAN 0 MATCH user:* COUNT 10 TYPE string",
        "FLUSHALL ASYNC",
        "PING hello",
        "ECHO x",
        "HELLO 3 AUTH user pass SETNAME conn",
        "AUTH secret",
        "SELECT 0",
        "INFO server clients",
        "CONFIG GET maxmemory*",
        "CONFIG SET maxmemory 100mb maxmemory-policy allkeys-lru",
        "CONFIG RESETSTAT",
        "CLIENT SETNAME name",
        "CLIENT LIST",
        "CLIENT HELP",
        "CLIENT SETINFO LIB-NAME x",
        "COMMAND INFO get set",
        "COMMAND COUNT",
        "COMMAND DOCS",
        "DEL a b c",
        "TTL k",
        "KEYS *",
        "nosuchcommand a b",
        "get",
    ];
    for (n, command) in commands.iter().enumerate() {
        let name = command
            .split(' ')
            .next()
            .unwrap_or("empty")
            .to_ascii_lowercase();
        let mut input = b"\n".to_vec();
        input.extend(command.replace(' ', "\n").bytes());
        write(t, &format!("{n:02}_{name}"), None, &input);
    }
}
