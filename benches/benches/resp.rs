//! RESP decode, parse and encode throughput, and the same for the native protocol's frames,
//! so the two codecs' costs per request can be compared.

use bytes::{Bytes, BytesMut};
use cache_wire::codec::ServerCodec;
use cache_wire::parse::parse;
use cache_wire::resp::{self, Decoder, Limits, Protocol};
use cache_wire::{Response, native};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const BATCH: usize = 1000;

/// `BATCH` pipelined `SET key:<i> <32-byte value>` requests.
fn set_pipeline() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..BATCH {
        let key = format!("key:{i:012}");
        out.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$32\r\n", key.len()).as_bytes(),
        );
        out.extend_from_slice(&[b'v'; 32]);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn bench(c: &mut Criterion) {
    let input = set_pipeline();
    let mut group = c.benchmark_group("resp");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("decode_set_pipeline", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&input[..]);
            let mut decoder = Decoder::new(Limits::default());
            let mut n = 0;
            while let Ok(Some(frame)) = decoder.decode(&mut buf) {
                n += frame.len();
            }
            n
        })
    });
    group.bench_function("decode_and_parse_set_pipeline", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&input[..]);
            let mut decoder = Decoder::new(Limits::default());
            let mut n = 0;
            while let Ok(Some(frame)) = decoder.decode(&mut buf) {
                n += usize::from(parse(&frame).is_ok());
            }
            n
        })
    });
    let value = Response::Bulk(Bytes::from_static(&[b'v'; 32]));
    group.bench_function("encode_bulk_32", |b| {
        let mut out = BytesMut::with_capacity(64 * BATCH);
        b.iter(|| {
            out.clear();
            for _ in 0..BATCH {
                resp::encode(&value, Protocol::Resp2, &mut out);
            }
            out.len()
        })
    });
    let array = Response::Array((0..10).map(|_| value.clone()).collect());
    group.bench_function("encode_mget_10", |b| {
        let mut out = BytesMut::with_capacity(640 * BATCH);
        b.iter(|| {
            out.clear();
            for _ in 0..BATCH {
                resp::encode(&array, Protocol::Resp3, &mut out);
            }
            out.len()
        })
    });
    group.finish();

    // The same requests and replies as native frames, through the server's codec.
    let mut native_input = BytesMut::new();
    for i in 0..BATCH {
        let key = format!("key:{i:012}");
        native::encode_request(
            i as u64,
            &[b"SET".as_slice(), key.as_bytes(), &[b'v'; 32]],
            &mut native_input,
        );
    }
    let mut group = c.benchmark_group("native");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("decode_set_pipeline", |b| {
        b.iter(|| {
            let mut buf = native_input.clone();
            let mut decoder = ServerCodec::new(Limits::default());
            let mut n = 0;
            while let Ok(Some(frame)) = decoder.decode(&mut buf) {
                n += frame.args.len();
            }
            n
        })
    });
    group.bench_function("encode_bulk_32", |b| {
        let mut out = BytesMut::with_capacity(64 * BATCH);
        b.iter(|| {
            out.clear();
            for i in 0..BATCH {
                native::encode_reply(i as u64, &value, &mut out);
            }
            out.len()
        })
    });
    group.bench_function("encode_mget_10", |b| {
        let mut out = BytesMut::with_capacity(640 * BATCH);
        b.iter(|| {
            out.clear();
            for i in 0..BATCH {
                native::encode_reply(i as u64, &array, &mut out);
            }
            out.len()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
