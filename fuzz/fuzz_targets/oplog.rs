//! `cache_persist::fuzzing::oplog` on every input; see docs/fuzzing.md.

#![no_main]

use cache_wire::fuzzing::alloc::Counting;
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fuzz_target!(|input: &[u8]| cache_persist::fuzzing::oplog(input));
