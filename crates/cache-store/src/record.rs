//! One entry's bytes in a single heap allocation, behind a thin pointer.
//!
//! Layout: `flags: u8`, the entry's slot as 4 little-endian bytes, `key_len` and `value_len` as
//! LEB128 varints, then the expiry as 8 little-endian bytes only when flag [`HAS_EXPIRY`] is
//! set, then the key, then the value. A 16-byte key with a 32-byte value and no TTL takes 55
//! bytes, so a key without a TTL pays no TTL bytes and small entries fit a 64-byte heap chunk.
//! The pointer is 8 bytes where a `Box<[u8]>` would be 16, which matters at millions of entries.
//!
//! The shard's hash table holds [`RecordRef`]s, non-owning copies of the pointer, so a lookup
//! goes from the table straight to the key; the slot written in the record leads back to the
//! policy's bookkeeping.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

const HAS_EXPIRY: u8 = 1;
/// Where the slot number sits: right after the flag byte.
const SLOT_AT: usize = 1;
/// Where the varints start.
const LENGTHS_AT: usize = SLOT_AT + 4;

/// Bytes the engine spends per entry beyond its record: the slot (8), the hash table's pointer
/// and control byte at its typical load (about 13), and the eviction policy's links and
/// bookkeeping (about 19 for the default policy). Checked against resident memory by
/// `cargo xtask memory`.
const ENTRY_OVERHEAD: usize = 40;
/// Extra bytes per entry with a TTL: its place in the shard's expiry index.
const EXPIRY_INDEX_OVERHEAD: usize = 24;

/// The bytes an entry is charged against `max_memory`: the heap chunk its record takes (the
/// record plus the allocator's 8-byte header, rounded to 16, at least 32: glibc malloc's rule)
/// plus the engine's per-entry overhead.
pub fn entry_charge(key_len: usize, value_len: usize, has_expiry: bool) -> usize {
    let record = record_len(key_len, value_len, has_expiry);
    let chunk = (record + 8).next_multiple_of(16).max(32);
    let mut charge = chunk + ENTRY_OVERHEAD;
    if has_expiry {
        charge += EXPIRY_INDEX_OVERHEAD;
    }
    charge
}

fn varint_len(mut v: u32) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn record_len(key_len: usize, value_len: usize, has_expiry: bool) -> usize {
    LENGTHS_AT
        + varint_len(key_len as u32)
        + varint_len(value_len as u32)
        + if has_expiry { 8 } else { 0 }
        + key_len
        + value_len
}

/// An owned entry record.
pub(crate) struct Record(RecordRef);

/// A non-owning view of a record: the pointer the hash table keeps.
///
/// Invariant: a `RecordRef` is only read while the [`Record`] it was taken from is alive; the
/// shard removes or replaces the table's copy whenever it drops or replaces a record.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordRef(NonNull<u8>);

// SAFETY: a Record owns its allocation exclusively, like a Box<[u8]>; a RecordRef is a shared
// view of it, used under the shard's lock.
unsafe impl Send for RecordRef {}
unsafe impl Sync for RecordRef {}

impl std::ops::Deref for Record {
    type Target = RecordRef;

    fn deref(&self) -> &RecordRef {
        &self.0
    }
}

struct Header {
    key_len: usize,
    value_len: usize,
    expiry: Option<i64>,
    /// Offset of the key.
    body: usize,
}

impl Record {
    /// A record holding `key`, `value` and an optional absolute expiry in Unix milliseconds.
    ///
    /// Keys and values longer than `u32::MAX` bytes are refused by the store's limits before
    /// they get here.
    pub(crate) fn new(key: &[u8], value: &[u8], expiry: Option<i64>) -> Record {
        Record::from_parts(key, &[value], expiry)
    }

    /// A record whose value is the concatenation of `parts` (used by `APPEND`).
    pub(crate) fn from_parts(key: &[u8], parts: &[&[u8]], expiry: Option<i64>) -> Record {
        let value_len: usize = parts.iter().map(|p| p.len()).sum();
        assert!(key.len() <= u32::MAX as usize && value_len <= u32::MAX as usize);
        let mut header = [0u8; LENGTHS_AT + 5 + 5 + 8];
        let mut at = LENGTHS_AT;
        header[0] = if expiry.is_some() { HAS_EXPIRY } else { 0 };
        header[SLOT_AT..LENGTHS_AT].copy_from_slice(&u32::MAX.to_le_bytes());
        at += write_varint(&mut header[at..], key.len() as u32);
        at += write_varint(&mut header[at..], value_len as u32);
        if let Some(expiry) = expiry {
            header[at..at + 8].copy_from_slice(&expiry.to_le_bytes());
            at += 8;
        }
        let len = at + key.len() + value_len;
        let layout = Layout::from_size_align(len, 1).expect("record length fits a layout");
        // SAFETY: `len` is at least 7 (flags, slot and two varints): the layout is non-zero.
        let ptr = unsafe { alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(ptr) else {
            alloc::handle_alloc_error(layout)
        };
        // SAFETY: the allocation holds `len` bytes: the header, then the key, then the parts,
        // written back to back without overlap.
        unsafe {
            let mut dst = ptr.as_ptr();
            for piece in std::iter::once(&header[..at])
                .chain([key])
                .chain(parts.iter().copied())
            {
                std::ptr::copy_nonoverlapping(piece.as_ptr(), dst, piece.len());
                dst = dst.add(piece.len());
            }
        }
        Record(RecordRef(ptr))
    }

    /// A non-owning copy of the pointer, for the hash table.
    pub(crate) fn view(&self) -> RecordRef {
        self.0
    }

    /// Writes the slot this record occupies.
    pub(crate) fn set_slot(&mut self, slot: u32) {
        // SAFETY: bytes SLOT_AT..LENGTHS_AT of every record hold its slot.
        unsafe {
            let dst = self.0.0.as_ptr().add(SLOT_AT);
            std::ptr::copy_nonoverlapping(slot.to_le_bytes().as_ptr(), dst, 4);
        }
    }

    /// Changes the expiry, in place when the record already has room for one. A record that
    /// gains or loses its expiry is reallocated: take a new [`Record::view`] afterwards.
    pub(crate) fn set_expiry(&mut self, expiry: Option<i64>) {
        let h = self.header();
        match (h.expiry, expiry) {
            (Some(_), Some(at)) => {
                // SAFETY: the 8 expiry bytes sit just before the key.
                unsafe {
                    let dst = self.0.0.as_ptr().add(h.body - 8);
                    std::ptr::copy_nonoverlapping(at.to_le_bytes().as_ptr(), dst, 8);
                }
            }
            (None, None) => {}
            _ => {
                let slot = self.slot();
                *self = Record::new(self.key(), self.value(), expiry);
                self.set_slot(slot);
            }
        }
    }
}

impl RecordRef {
    fn header(&self) -> Header {
        // SAFETY: the first bytes of every record are a flag byte and two complete varints,
        // written by `from_parts`; reading them stays inside the allocation.
        unsafe {
            let p = self.0.as_ptr();
            let flags = *p;
            let mut at = LENGTHS_AT;
            let key_len = read_varint(p, &mut at) as usize;
            let value_len = read_varint(p, &mut at) as usize;
            let expiry = if flags & HAS_EXPIRY != 0 {
                let mut b = [0u8; 8];
                std::ptr::copy_nonoverlapping(p.add(at), b.as_mut_ptr(), 8);
                at += 8;
                Some(i64::from_le_bytes(b))
            } else {
                None
            };
            Header {
                key_len,
                value_len,
                expiry,
                body: at,
            }
        }
    }

    /// The key.
    pub(crate) fn key(&self) -> &[u8] {
        let h = self.header();
        // SAFETY: the key occupies `key_len` bytes at `body`, inside the allocation.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(h.body), h.key_len) }
    }

    /// The value.
    pub(crate) fn value(&self) -> &[u8] {
        let h = self.header();
        // SAFETY: the value follows the key and ends the allocation.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(h.body + h.key_len), h.value_len) }
    }

    /// The absolute expiry in Unix milliseconds, if the entry has one.
    pub(crate) fn expiry(&self) -> Option<i64> {
        self.header().expiry
    }

    /// True when the entry has expired at `now`.
    pub(crate) fn is_expired(&self, now: i64) -> bool {
        self.expiry().is_some_and(|at| at <= now)
    }

    /// The slot this record occupies.
    pub(crate) fn slot(&self) -> u32 {
        let mut b = [0u8; 4];
        // SAFETY: bytes SLOT_AT..LENGTHS_AT of every record hold its slot.
        unsafe { std::ptr::copy_nonoverlapping(self.0.as_ptr().add(SLOT_AT), b.as_mut_ptr(), 4) };
        u32::from_le_bytes(b)
    }

    /// What this entry is charged against `max_memory`.
    pub(crate) fn charge(&self) -> usize {
        let h = self.header();
        entry_charge(h.key_len, h.value_len, h.expiry.is_some())
    }

    fn len(&self) -> usize {
        let h = self.header();
        h.body + h.key_len + h.value_len
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        let layout = Layout::from_size_align(self.len(), 1).expect("record length fits a layout");
        // SAFETY: allocated in `from_parts` with exactly this layout.
        unsafe { alloc::dealloc(self.0.0.as_ptr(), layout) };
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Debug for RecordRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("key_len", &self.key().len())
            .field("value_len", &self.value().len())
            .field("expiry", &self.expiry())
            .finish()
    }
}

/// Writes `v` as LEB128 into `buf` (which has room for 5 bytes); returns the bytes written.
fn write_varint(buf: &mut [u8], mut v: u32) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        buf[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    buf[n] = v as u8;
    n + 1
}

/// # Safety
/// `p + *at` must start a complete varint inside the allocation.
unsafe fn read_varint(p: *const u8, at: &mut usize) -> u32 {
    let mut v = 0u32;
    let mut shift = 0;
    loop {
        // SAFETY: guaranteed by the caller.
        let b = unsafe { *p.add(*at) };
        *at += 1;
        v |= u32::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return v;
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_fields() {
        let key = vec![7u8; 300];
        let value = b"v\0\r\nalue".to_vec();
        let mut r = Record::new(&key, &value, None);
        assert_eq!(r.key(), &key[..]);
        assert_eq!(r.value(), &value[..]);
        assert_eq!(r.expiry(), None);
        r.set_expiry(Some(-5));
        assert_eq!(r.expiry(), Some(-5));
        assert_eq!(r.key(), &key[..]);
        r.set_expiry(Some(1_700_000_000_000));
        assert_eq!(r.expiry(), Some(1_700_000_000_000));
        assert!(r.is_expired(1_700_000_000_000));
        assert!(!r.is_expired(1_699_999_999_999));
        r.set_slot(77);
        r.set_expiry(None);
        assert_eq!(r.value(), &value[..]);
        assert_eq!(r.expiry(), None);
        assert_eq!(r.slot(), 77, "the slot survives reallocation");
    }

    #[test]
    fn small_entry_fits_a_64_byte_chunk() {
        assert_eq!(record_len(16, 32, false), 55);
        assert_eq!(Record::new(&[1; 16], &[2; 32], None).len(), 55);
        assert_eq!(entry_charge(16, 32, false), 64 + ENTRY_OVERHEAD);
    }

    #[test]
    fn empty_key_and_value() {
        let r = Record::from_parts(b"", &[], None);
        assert!(r.key().is_empty() && r.value().is_empty());
    }
}
