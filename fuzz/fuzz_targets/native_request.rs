//! `cache_wire::fuzzing::native_request` on every input; see docs/fuzzing.md.

#![no_main]

use cache_wire::fuzzing::{self, alloc::Counting};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fuzz_target!(|input: &[u8]| fuzzing::native_request(input));
