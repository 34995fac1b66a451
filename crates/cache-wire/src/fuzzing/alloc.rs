//! Counting what a harness allocates, so a length field that claims gigabytes is caught even
//! when the fuzzer's inputs are a few kilobytes.
//!
//! [`Counting`] wraps the system allocator and keeps, per thread, the bytes live and the peak
//! since [`peak_during`] started. A binary opts in with
//! `#[global_allocator] static A: Counting = Counting;`; without it every peak reads 0.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    // Const-initialized and without destructors, so reading them never allocates.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// The system allocator, counting bytes per thread.
#[derive(Debug)]
pub struct Counting;

fn grow(bytes: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add_unsigned(bytes);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrink(bytes: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub_unsigned(bytes)));
}

// SAFETY: every call is passed to `System` unchanged; the counting touches only thread-locals.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grow(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grow(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) };
        shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            shrink(layout.size());
            grow(new_size);
        }
        new
    }
}

/// Runs `f` and returns its result with the most bytes it had allocated at once on this thread
/// (0 unless [`Counting`] is the global allocator).
pub fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = LIVE.with(Cell::get);
    let outer_peak = PEAK.with(|peak| peak.replace(start));
    let result = f();
    let peak = PEAK.with(|peak| peak.replace(outer_peak.max(peak.get())));
    (result, usize::try_from(peak - start).unwrap_or(0))
}

/// True if [`Counting`] is the global allocator of this binary.
pub fn counting() -> bool {
    let (_, peak) = peak_during(|| std::hint::black_box(Vec::<u8>::with_capacity(4096)));
    peak >= 4096
}

/// The most a harness may allocate for an input of `len` bytes: a fixed allowance (decoders
/// may reserve up to 1 MiB ahead of a frame's claimed length) plus a small multiple of the
/// input, since every value decoded is backed by at least one byte of it.
pub fn budget(len: usize) -> usize {
    (2 << 20) + 128 * len
}

/// Panics if `f` allocates more than [`budget`] for an input of `len` bytes.
pub fn bounded<R>(what: &str, len: usize, f: impl FnOnce() -> R) -> R {
    let (result, peak) = peak_during(f);
    assert!(
        peak <= budget(len),
        "{what} allocated {peak} bytes at once for {len} bytes of input (budget {})",
        budget(len)
    );
    result
}
