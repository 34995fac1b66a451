//! The checks behind the fuzz targets in `fuzz/` and behind the corpus test that replays their
//! seeds on stable (`tests/fuzz_corpus.rs`): one function per target, taking arbitrary bytes,
//! running the real decoder on them and panicking when an invariant breaks. Not part of the
//! crate's API; `docs/fuzzing.md` describes what each one checks.
//!
//! Most inputs are read as a control byte followed by the bytes under test. The control byte
//! picks the limits (the defaults, or small ones that the fuzzer can reach) and how a stream
//! is cut into reads, so the partial-frame paths are exercised as much as the whole ones.

pub mod alloc;
mod command;
mod datagram;
mod stream;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use bytes::{Bytes, BytesMut};

pub use command::command_parse;
pub use datagram::datagram;
pub use stream::{native_reply, native_request, resp_reply, resp_request};

/// The control byte and the bytes under test.
pub fn split_control(input: &[u8]) -> (u8, &[u8]) {
    match input.split_first() {
        Some((&control, rest)) => (control, rest),
        None => (0, &[]),
    }
}

/// True if the control byte asks for the small limits.
pub fn small_limits(control: u8) -> bool {
    control & 1 == 1
}

/// A small deterministic generator (xorshift64*), for cutting streams and for the mutations
/// of the corpus test.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 if `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// The lengths of the reads a stream of `len` bytes arrives in, chosen by `control`: one read,
/// single bytes, or random sizes up to 3, 16 or 300 bytes.
pub fn reads(control: u8, len: usize) -> Vec<usize> {
    let largest = match (control >> 1) & 7 {
        0 => return vec![len],
        1 => 1,
        2 | 3 => 3,
        4 | 5 => 16,
        _ => 300,
    };
    let mut rng = Rng::new(u64::from(control) << 32 | len as u64);
    let mut sizes = Vec::new();
    let mut left = len;
    while left > 0 {
        let size = (1 + rng.below(largest)).min(left);
        sizes.push(size);
        left -= size;
    }
    sizes
}

/// What a decoder made of a stream: the items in order, the error that ended it if any, and
/// the bytes it consumed.
#[derive(Debug)]
pub struct Outcome<T, E> {
    pub items: Vec<T>,
    pub error: Option<E>,
    pub consumed: usize,
}

/// Feeds `stream` to `decode` in reads of `sizes`, as a connection does: after every read,
/// decode until more bytes are needed or an error ends the stream.
pub fn drive<T, E>(
    stream: &[u8],
    sizes: &[usize],
    mut decode: impl FnMut(&mut BytesMut) -> Result<Option<T>, E>,
) -> Outcome<T, E> {
    let mut buf = BytesMut::new();
    let mut appended = 0;
    let mut items = Vec::new();
    for &size in sizes {
        buf.extend_from_slice(&stream[appended..appended + size]);
        appended += size;
        loop {
            let before = buf.len();
            let result = decode(&mut buf);
            assert!(buf.len() <= before, "a decoder grew its input");
            match result {
                Ok(Some(item)) => {
                    assert!(
                        buf.len() < before,
                        "a decoder produced an item from no bytes"
                    );
                    items.push(item);
                }
                Ok(None) => break,
                Err(error) => {
                    return Outcome {
                        items,
                        error: Some(error),
                        consumed: appended - buf.len(),
                    };
                }
            }
        }
    }
    Outcome {
        items,
        error: None,
        consumed: appended - buf.len(),
    }
}

/// `count` inputs derived from `seeds` by the usual mutations (bit flips, interesting bytes,
/// insertions, deletions, repeats, splices), the same for the same `seed`.
pub fn mutations(seeds: &[Vec<u8>], count: usize, seed: u64) -> Vec<Vec<u8>> {
    const INTERESTING: &[u8] = b"\r\n\0\xff\xca\x01*$:+-%|~>=!_,#(0123456789\"' \\x";
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(count);
    if seeds.is_empty() {
        return out;
    }
    for _ in 0..count {
        let mut input = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(input.len() + 1);
            match rng.below(7) {
                0 if at < input.len() => input[at] ^= 1 << rng.below(8),
                1 if at < input.len() => input[at] = INTERESTING[rng.below(INTERESTING.len())],
                2 => input.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
                3 => {
                    let end = (at + 1 + rng.below(8)).min(input.len());
                    input.drain(at.min(end)..end);
                }
                4 => {
                    let end = (at + 1 + rng.below(16)).min(input.len());
                    let piece = input[at.min(end)..end].to_vec();
                    input.splice(at..at, piece);
                }
                5 => {
                    let other = &seeds[rng.below(seeds.len())];
                    let from = rng.below(other.len() + 1);
                    input.truncate(at);
                    input.extend_from_slice(&other[from..]);
                }
                _ => input.truncate(at),
            }
        }
        out.push(input);
    }
    out
}

/// The seeds of a corpus directory: its `*.seed` files, in name order.
pub fn seeds(dir: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "seed"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no seeds in {}", dir.display());
    paths
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

/// What the stable corpus tests run: `check` on every seed in `dir` and on `count`
/// mutations of them, with allocations counted. A failure names the input.
pub fn replay(dir: &Path, count: usize, check: fn(&[u8])) {
    assert!(
        alloc::counting(),
        "the counting allocator is not the global allocator"
    );
    let seeds = seeds(dir);
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let seed = name
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31) ^ u64::from(b));
    let inputs = seeds.iter().cloned().chain(mutations(&seeds, count, seed));
    for (n, input) in inputs.enumerate() {
        if catch_unwind(AssertUnwindSafe(|| check(&input))).is_err() {
            panic!(
                "{name}: input {n} fails: {:?}",
                Bytes::copy_from_slice(&input)
            );
        }
    }
}
