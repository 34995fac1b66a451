//! The on-disk record: `[length: u32 LE][crc32c of body: u32 LE][body: CBOR]`.
//!
//! Bodies are CBOR arrays whose first element says what the record is:
//!
//! | record   | body                                   |
//! |----------|----------------------------------------|
//! | set      | `[0, key, value, expires_at or null]`  |
//! | delete   | `[1, key]`                             |
//! | expire   | `[2, key, at or null]`                 |
//! | flush    | `[3]`                                  |
//! | end      | `[4, record count]` (snapshots only)   |
//!
//! Keys and values are byte strings; times are Unix milliseconds. Every file starts with an
//! 8-byte magic that names its kind and format version.

use bytes::{BufMut, Bytes, BytesMut};
use cache_store::Change;
use cache_wire::native::cbor::{self, Head, Malformed, Reader};

/// First bytes of an operation log file.
pub const LOG_MAGIC: &[u8; 8] = b"CACHLOG1";
/// First bytes of a snapshot file.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"CACHSNP1";
/// Length of a file's magic.
pub const MAGIC_LEN: u64 = 8;
/// Length of a record's frame header (length and checksum).
pub const FRAME_HEADER: usize = 8;

const SET: u64 = 0;
const DELETE: u64 = 1;
const EXPIRE: u64 = 2;
const FLUSH: u64 = 3;
const END: u64 = 4;

/// A record read back from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Set {
        key: Bytes,
        value: Bytes,
        expires_at: Option<i64>,
    },
    Delete {
        key: Bytes,
    },
    Expire {
        key: Bytes,
        at: Option<i64>,
    },
    Flush,
    /// The last record of a complete snapshot, with the number of records before it.
    End {
        count: u64,
    },
}

/// Appends the framed record of `change` to `out`.
pub fn encode_change(change: &Change<'_>, out: &mut BytesMut) {
    frame(out, |body| match *change {
        Change::Set {
            key,
            value,
            expires_at,
        } => {
            cbor::head(cbor::ARRAY, 4, body);
            cbor::integer(SET as i64, body);
            cbor::bytes(key, body);
            cbor::bytes(value, body);
            optional_time(expires_at, body);
        }
        Change::Delete { key } => {
            cbor::head(cbor::ARRAY, 2, body);
            cbor::integer(DELETE as i64, body);
            cbor::bytes(key, body);
        }
        Change::Expire { key, at } => {
            cbor::head(cbor::ARRAY, 3, body);
            cbor::integer(EXPIRE as i64, body);
            cbor::bytes(key, body);
            optional_time(at, body);
        }
        Change::Flush => {
            cbor::head(cbor::ARRAY, 1, body);
            cbor::integer(FLUSH as i64, body);
        }
    });
}

/// Appends a snapshot's closing record to `out`.
pub fn encode_end(count: u64, out: &mut BytesMut) {
    frame(out, |body| {
        cbor::head(cbor::ARRAY, 2, body);
        cbor::integer(END as i64, body);
        cbor::head(cbor::UNSIGNED, count, body);
    });
}

fn optional_time(at: Option<i64>, out: &mut BytesMut) {
    match at {
        Some(at) => cbor::integer(at, out),
        None => out.put_u8(cbor::NULL),
    }
}

/// Writes the frame header, lets `body` write the body after it, then fills the header in.
fn frame(out: &mut BytesMut, body: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.put_bytes(0, FRAME_HEADER);
    body(out);
    let len = (out.len() - start - FRAME_HEADER) as u32;
    let crc = crc32c::crc32c(&out[start + FRAME_HEADER..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// What the next bytes of a buffer hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole, intact record of `len` bytes including its header.
    Record(Record, usize),
    /// The frame continues past the end of the buffer.
    Incomplete,
    /// The frame is whole but damaged: its checksum or body is wrong, or its length is 0.
    Damaged(&'static str),
}

/// Reads the frame at the start of `buf`.
pub fn read_frame(buf: &Bytes) -> Frame {
    if buf.len() < FRAME_HEADER {
        return Frame::Incomplete;
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if len == 0 {
        return Frame::Damaged("record of length 0");
    }
    if buf.len() - FRAME_HEADER < len {
        return Frame::Incomplete;
    }
    let body = buf.slice(FRAME_HEADER..FRAME_HEADER + len);
    if crc32c::crc32c(&body) != crc {
        return Frame::Damaged("checksum mismatch");
    }
    match decode_body(body) {
        Ok(record) => Frame::Record(record, FRAME_HEADER + len),
        Err(Malformed(what)) => Frame::Damaged(what),
    }
}

/// The length a frame header at the start of `buf` claims, header included.
pub fn claimed_len(buf: &[u8]) -> Option<u64> {
    let header: [u8; 4] = buf.get(..4)?.try_into().ok()?;
    Some(u64::from(u32::from_le_bytes(header)) + FRAME_HEADER as u64)
}

fn decode_body(body: Bytes) -> Result<Record, Malformed> {
    let mut reader = Reader::new(body);
    let fields = reader.array("a record is an array")?;
    let kind = reader.unsigned("a record starts with its kind")?;
    let record = match (kind, fields) {
        (SET, 4) => Record::Set {
            key: reader.string("a key is a string")?,
            value: reader.string("a value is a string")?,
            expires_at: optional_time_of(&mut reader)?,
        },
        (DELETE, 2) => Record::Delete {
            key: reader.string("a key is a string")?,
        },
        (EXPIRE, 3) => Record::Expire {
            key: reader.string("a key is a string")?,
            at: optional_time_of(&mut reader)?,
        },
        (FLUSH, 1) => Record::Flush,
        (END, 2) => Record::End {
            count: reader.unsigned("a count is an unsigned integer")?,
        },
        _ => return Err(Malformed("unknown record kind")),
    };
    if !reader.is_done() {
        return Err(Malformed("bytes after the record"));
    }
    Ok(record)
}

fn optional_time_of(reader: &mut Reader) -> Result<Option<i64>, Malformed> {
    match reader.head()? {
        Head::Null => Ok(None),
        Head::Unsigned(n) => i64::try_from(n)
            .map(Some)
            .map_err(|_| Malformed("time out of range")),
        Head::Negative(n) => i64::try_from(n)
            .map(|n| Some(-1 - n))
            .map_err(|_| Malformed("time out of range")),
        _ => Err(Malformed("a time is an integer or null")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(change: Change<'_>) -> Bytes {
        let mut out = BytesMut::new();
        encode_change(&change, &mut out);
        out.freeze()
    }

    #[test]
    fn each_kind_round_trips() {
        let cases = [
            (
                Change::Set {
                    key: b"k",
                    value: b"v",
                    expires_at: Some(1_700_000_000_000),
                },
                Record::Set {
                    key: Bytes::from_static(b"k"),
                    value: Bytes::from_static(b"v"),
                    expires_at: Some(1_700_000_000_000),
                },
            ),
            (
                Change::Delete { key: b"" },
                Record::Delete { key: Bytes::new() },
            ),
            (
                Change::Expire {
                    key: b"k",
                    at: None,
                },
                Record::Expire {
                    key: Bytes::from_static(b"k"),
                    at: None,
                },
            ),
            (Change::Flush, Record::Flush),
        ];
        for (change, record) in cases {
            let bytes = one(change);
            assert_eq!(read_frame(&bytes), Frame::Record(record, bytes.len()));
        }
        let mut end = BytesMut::new();
        encode_end(7, &mut end);
        let end = end.freeze();
        assert_eq!(
            read_frame(&end),
            Frame::Record(Record::End { count: 7 }, end.len())
        );
    }

    #[test]
    fn a_cut_frame_is_incomplete_and_a_flipped_bit_is_damaged() {
        let bytes = one(Change::Set {
            key: b"key",
            value: b"value",
            expires_at: None,
        });
        for cut in 0..bytes.len() {
            assert_eq!(
                read_frame(&bytes.slice(..cut)),
                Frame::Incomplete,
                "cut at {cut}"
            );
        }
        for i in FRAME_HEADER..bytes.len() {
            let mut bad = bytes.to_vec();
            bad[i] ^= 0x10;
            assert!(
                matches!(read_frame(&Bytes::from(bad)), Frame::Damaged(_)),
                "flip at {i}"
            );
        }
        assert!(matches!(
            read_frame(&Bytes::from_static(&[0; 16])),
            Frame::Damaged(_)
        ));
    }

    proptest! {
        #[test]
        fn sets_round_trip(
            key in proptest::collection::vec(any::<u8>(), 0..64),
            value in proptest::collection::vec(any::<u8>(), 0..300),
            expires_at in proptest::option::of(any::<i64>()),
        ) {
            let bytes = one(Change::Set { key: &key, value: &value, expires_at });
            let expected = Record::Set {
                key: Bytes::from(key.clone()),
                value: Bytes::from(value.clone()),
                expires_at,
            };
            prop_assert_eq!(read_frame(&bytes), Frame::Record(expected, bytes.len()));
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = read_frame(&Bytes::from(bytes));
        }
    }
}
