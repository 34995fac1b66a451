//! The check behind the `oplog` fuzz target and the corpus test that replays its seeds on
//! stable (`tests/fuzz_corpus.rs`). Not part of the crate's API.

use std::path::Path;

use bytes::BytesMut;
use cache_store::{Change, Store, StoreConfig};
use cache_wire::fuzzing::alloc::bounded;

use crate::error::Error;
use crate::record::{LOG_MAGIC, MAGIC_LEN, Record, SNAPSHOT_MAGIC, encode_change, encode_end};
use crate::recover::{Ending, File, FileRead, apply, read_records};

/// Reads `input` as a log file (or as a snapshot, if it starts like one) the way recovery
/// does, applying the records to a store, and checks what it reports: offsets within the file,
/// the records written again by the log writer read back the same, and the file cut where
/// recovery would cut it reads back clean with the same records.
pub fn oplog(input: &[u8]) {
    let magic = if input.starts_with(SNAPSHOT_MAGIC) {
        SNAPSHOT_MAGIC
    } else {
        LOG_MAGIC
    };
    let store = Store::new(StoreConfig {
        shards: 1,
        hash_seed: Some(1),
        ..StoreConfig::default()
    });
    let (read, records) = bounded("the log reader", input.len(), || {
        read_all(input, magic, &mut |record| apply(&store, record))
    });
    let read = match read {
        Ok(read) => read,
        Err(Error::NotOurs { .. }) => {
            assert!(input.len() >= MAGIC_LEN as usize && !input.starts_with(magic));
            return;
        }
        Err(error) => panic!("reading from memory failed: {error}"),
    };
    let len = input.len() as u64;
    assert_eq!(read.len, len);
    assert!(read.good_len <= len, "{read:?}");
    assert_eq!(read.records, records.len() as u64);
    match read.ending {
        Ending::Clean { .. } => assert_eq!(read.good_len, len, "clean, with bytes left"),
        Ending::Torn { offset } | Ending::Corrupt { offset, .. } => {
            assert_eq!(offset, read.good_len, "{read:?}");
            assert!(offset < len, "damaged at the end of the file");
        }
    }

    // The records, written again by the writer, read back the same and clean.
    let mut again = BytesMut::from(&magic[..]);
    for record in &records {
        match record {
            Record::Set {
                key,
                value,
                expires_at,
            } => encode_change(
                &Change::Set {
                    key,
                    value,
                    expires_at: *expires_at,
                },
                &mut again,
            ),
            Record::Delete { key } => encode_change(&Change::Delete { key }, &mut again),
            Record::Expire { key, at } => {
                encode_change(&Change::Expire { key, at: *at }, &mut again)
            }
            Record::Flush => encode_change(&Change::Flush, &mut again),
            // Not handed to `apply`, so never collected.
            Record::End { .. } => panic!("an end record was applied"),
        }
    }
    let ended = match read.ending {
        Ending::Clean { ended } => ended,
        _ => None,
    };
    if let Some(count) = ended {
        encode_end(count, &mut again);
    }
    let (reread, records_again) = read_all(&again, magic, &mut |_| true);
    let reread = reread.unwrap_or_else(|e| panic!("re-encoded records: {e}"));
    assert_eq!(reread.ending, Ending::Clean { ended }, "{reread:?}");
    assert_eq!(
        records_again, records,
        "re-encoded records read back differently"
    );

    // Recovery cuts a torn or corrupt file at `good_len` (with --repair-log); what is left
    // must read clean and hold the same records.
    let (cut, records_cut) = read_all(&input[..read.good_len as usize], magic, &mut |_| true);
    let cut = cut.unwrap_or_else(|e| panic!("the file cut at {}: {e}", read.good_len));
    assert!(matches!(cut.ending, Ending::Clean { .. }), "cut: {cut:?}");
    assert_eq!(records_cut, records, "the cut file reads back differently");
}

/// Reads `bytes` as a whole file; returns what the reader reported and every record it read
/// but the end record.
fn read_all(
    bytes: &[u8],
    magic: &[u8; 8],
    apply: &mut dyn FnMut(Record) -> bool,
) -> (crate::Result<FileRead>, Vec<Record>) {
    let file = File {
        path: Path::new("fuzz-input"),
        magic,
        kind: "log",
        len: bytes.len() as u64,
    };
    let mut records = Vec::new();
    let read = read_records(&mut &bytes[..], &file, &mut |record| {
        records.push(record.clone());
        apply(record)
    });
    (read, records)
}
