//! `cache_wire::fuzzing::resp_reply` on every input; see docs/fuzzing.md.

#![no_main]

use cache_wire::fuzzing::{self, alloc::Counting};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fuzz_target!(|input: &[u8]| fuzzing::resp_reply(input));
