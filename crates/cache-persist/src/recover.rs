//! Recovery: load the newest snapshot, then replay the logs after it.
//!
//! A log's last record may have been cut short by a crash (a torn write): it is cut off with
//! a warning, since it was never acknowledged as durable. A damaged record with intact records
//! after it is different: those later records may have been acknowledged, so recovery stops
//! and names the file and offset, unless asked to repair (cut there and drop what follows).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use cache_store::{ExpiryChange, SetOptions, Store};

use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::layout::{Layout, log_path, snapshot_path};
use crate::record::{Frame, LOG_MAGIC, MAGIC_LEN, Record, SNAPSHOT_MAGIC, claimed_len, read_frame};

const CHUNK: usize = 4 << 20;
/// How far past a damaged record recovery looks for an intact one before it calls the damage
/// corruption rather than a torn tail.
const TAIL_SCAN: usize = 16 << 20;

/// What recovery found and did.
#[derive(Debug, Clone, Default)]
pub struct Recovery {
    /// Records read from the snapshot and from the logs.
    pub snapshot_records: u64,
    pub log_records: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Entries in the store afterwards.
    pub keys: usize,
    /// Records that could not be loaded (the store refused them: `noeviction` and full).
    pub refused: u64,
    pub elapsed: Duration,
    /// A torn tail that was cut off: the file, the offset it was cut at, the bytes dropped.
    pub cut: Option<(PathBuf, u64, u64)>,
    /// The generation new writes go to, and the length of its log (0 = not created yet).
    pub generation: u64,
    pub log_len: u64,
    /// Size of the snapshot loaded (0 = none).
    pub snapshot_size: u64,
}

impl Recovery {
    /// Records per second, for the start-up report.
    pub fn rate(&self) -> f64 {
        (self.snapshot_records + self.log_records) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// How a damaged record is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCorruption {
    /// Stop with [`Error::CorruptLog`].
    Stop,
    /// Cut the log there and drop every later log (`--repair-log`).
    Repair,
}

/// Loads `dir` into `store` (whose journal must not be attached yet).
pub fn recover(
    fs: &dyn Fs,
    dir: &Path,
    store: &Store,
    on_corruption: OnCorruption,
) -> Result<Recovery> {
    let started = Instant::now();
    let layout = Layout::scan(fs, dir)?;
    for name in &layout.stale {
        let path = dir.join(name);
        fs.remove(&path)
            .map_err(Error::io("remove stale file", &path))?;
    }
    let mut recovery = Recovery {
        generation: layout.current(),
        ..Recovery::default()
    };
    if let Some(generation) = layout.snapshot {
        let path = snapshot_path(dir, generation);
        let file = read_file(fs, &path, SNAPSHOT_MAGIC, "snapshot", store, &mut recovery)?;
        recovery.snapshot_size = file.len;
        match file.ending {
            Ending::Clean { ended: Some(count) } if count == file.records => {}
            Ending::Clean { ended: Some(_) } => {
                return Err(Error::CorruptSnapshot {
                    path,
                    offset: file.good_len,
                    reason: "record count does not match its end record",
                });
            }
            Ending::Clean { ended: None } | Ending::Torn { .. } => {
                return Err(Error::CorruptSnapshot {
                    path,
                    offset: file.good_len,
                    reason: "the snapshot ends before its end record",
                });
            }
            Ending::Corrupt { offset, reason } => {
                return Err(Error::CorruptSnapshot {
                    path,
                    offset,
                    reason,
                });
            }
        }
        recovery.snapshot_records = file.records;
    }
    for (i, &generation) in layout.logs.iter().enumerate() {
        let path = log_path(dir, generation);
        let later = &layout.logs[i + 1..];
        let file = read_file(fs, &path, LOG_MAGIC, "log", store, &mut recovery)?;
        recovery.log_records += file.records;
        let cut_at = match file.ending {
            Ending::Clean { ended: None } => None,
            Ending::Torn { offset } if later.is_empty() => {
                tracing::warn!(
                    file = %path.display(),
                    offset,
                    dropped = file.len - offset,
                    "the log ends in a torn record (a write cut short by a crash): cut off"
                );
                recovery.cut = Some((path.clone(), offset, file.len - offset));
                Some(offset)
            }
            Ending::Clean { ended: Some(_) } | Ending::Torn { .. } | Ending::Corrupt { .. } => {
                let (offset, reason) = match file.ending {
                    Ending::Corrupt { offset, reason } => (offset, reason),
                    Ending::Torn { offset } => {
                        (offset, "a torn record in a log that is not the last")
                    }
                    _ => (file.good_len, "an end record in a log"),
                };
                if on_corruption == OnCorruption::Stop {
                    return Err(Error::CorruptLog {
                        path,
                        offset,
                        reason,
                        dropped: file.len - offset,
                        later_logs: later.len(),
                    });
                }
                tracing::warn!(file = %path.display(), offset, reason, dropped = file.len - offset,
                    later_logs = later.len(), "repairing: cutting the log at the damaged record");
                for &g in later {
                    let later_path = log_path(dir, g);
                    fs.remove(&later_path)
                        .map_err(Error::io("remove", &later_path))?;
                }
                recovery.cut = Some((path.clone(), offset, file.len - offset));
                Some(offset)
            }
        };
        recovery.generation = generation;
        recovery.log_len = cut_at.unwrap_or(file.len);
        if let Some(offset) = cut_at {
            let mut writer = fs.append(&path).map_err(Error::io("open", &path))?;
            writer.truncate(offset).map_err(Error::io("cut", &path))?;
            writer.sync().map_err(Error::io("sync", &path))?;
            if on_corruption == OnCorruption::Repair {
                break;
            }
        }
    }
    store.reset_stats();
    recovery.keys = store.len();
    recovery.elapsed = started.elapsed();
    Ok(recovery)
}

/// How a file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// At a record boundary; `ended` is the count of a snapshot's end record if there was one.
    Clean { ended: Option<u64> },
    /// In a damaged or incomplete record at `offset` with nothing intact after it.
    Torn { offset: u64 },
    /// In a damaged record at `offset` with intact records after it, or past an end record.
    Corrupt { offset: u64, reason: &'static str },
}

#[derive(Debug)]
pub(crate) struct FileRead {
    pub records: u64,
    pub len: u64,
    pub good_len: u64,
    pub ending: Ending,
    /// Records `apply` refused.
    pub refused: u64,
}

/// Reads one file, applying its records to `store`.
fn read_file(
    fs: &dyn Fs,
    path: &Path,
    magic: &[u8; 8],
    kind: &'static str,
    store: &Store,
    recovery: &mut Recovery,
) -> Result<FileRead> {
    let (mut reader, len) = fs.open(path).map_err(Error::io("open", path))?;
    let file = File {
        path,
        magic,
        kind,
        len,
    };
    let read = read_records(&mut *reader, &file, &mut |record| apply(store, record))?;
    recovery.refused += read.refused;
    recovery.bytes += len;
    Ok(read)
}

/// The file [`read_records`] reads, for its checks and its error messages.
#[derive(Debug)]
pub(crate) struct File<'a> {
    pub path: &'a Path,
    pub magic: &'a [u8; 8],
    pub kind: &'static str,
    /// The file's length: `reader` holds this many bytes.
    pub len: u64,
}

/// Reads the records of `file` from `reader`, handing each but the end record to `apply`,
/// which says whether the store took it. What recovery reads from disk and what the fuzz
/// target reads from memory both go through here.
pub(crate) fn read_records(
    reader: &mut dyn Read,
    file: &File<'_>,
    apply: &mut dyn FnMut(Record) -> bool,
) -> Result<FileRead> {
    let &File {
        path,
        magic,
        kind,
        len,
    } = file;
    let mut read = FileRead {
        records: 0,
        len,
        good_len: MAGIC_LEN,
        ending: Ending::Clean { ended: None },
        refused: 0,
    };
    if len == 0 {
        // A log created by a crash before its header was written holds nothing.
        read.good_len = 0;
        return Ok(read);
    }
    let mut pending = Bytes::new();
    let mut eof = false;
    fill(
        &mut *reader,
        &mut pending,
        MAGIC_LEN as usize,
        &mut eof,
        path,
    )?;
    if pending.len() < MAGIC_LEN as usize {
        read.good_len = 0;
        read.ending = Ending::Torn { offset: 0 };
        return Ok(read);
    }
    if &pending[..MAGIC_LEN as usize] != magic {
        return Err(Error::NotOurs {
            path: path.to_owned(),
            kind,
        });
    }
    pending.advance(MAGIC_LEN as usize);
    loop {
        match read_frame(&pending) {
            Frame::Record(record, n) => {
                if let Ending::Clean { ended: Some(_) } = read.ending {
                    read.ending = Ending::Corrupt {
                        offset: read.good_len,
                        reason: "records after the end record",
                    };
                    break;
                }
                pending.advance(n);
                read.good_len += n as u64;
                if let Record::End { count } = record {
                    read.ending = Ending::Clean { ended: Some(count) };
                } else {
                    read.records += 1;
                    if !apply(record) {
                        read.refused += 1;
                    }
                }
            }
            Frame::Incomplete if pending.is_empty() && eof => break,
            Frame::Incomplete if !eof => {
                let unread = (len - read.good_len).saturating_sub(pending.len() as u64);
                if unread == 0 {
                    eof = true;
                    continue;
                }
                // A claimed length beyond the file is damage, not a reason to read that much.
                let need =
                    claimed_len(&pending).map_or(0, |n| n.saturating_sub(pending.len() as u64));
                let want = need.max(CHUNK as u64).min(unread) as usize;
                fill(&mut *reader, &mut pending, want, &mut eof, path)?;
            }
            Frame::Incomplete | Frame::Damaged(_) => {
                let reason = match read_frame(&pending) {
                    Frame::Damaged(reason) => reason,
                    _ => "incomplete record",
                };
                let unread = if eof {
                    0
                } else {
                    (len - read.good_len).saturating_sub(pending.len() as u64)
                };
                read.ending = classify(&mut *reader, pending, unread, read.good_len, reason, path)?;
                break;
            }
        }
    }
    Ok(read)
}

/// Torn or corrupt: looks for an intact record after the damage at `offset`, in what `rest`
/// holds and up to [`TAIL_SCAN`] bytes more of the `unread` left in the file.
fn classify(
    reader: &mut dyn Read,
    mut rest: Bytes,
    mut unread: u64,
    offset: u64,
    reason: &'static str,
    path: &Path,
) -> Result<Ending> {
    while unread > 0 && rest.len() < TAIL_SCAN {
        // No further than the file's end: a small file must not cost a TAIL_SCAN buffer.
        let want = (TAIL_SCAN - rest.len()).min(usize::try_from(unread).unwrap_or(usize::MAX));
        let (before, mut eof) = (rest.len(), false);
        fill(reader, &mut rest, want, &mut eof, path)?;
        unread = if eof {
            0
        } else {
            unread - (rest.len() - before) as u64
        };
    }
    let intact_later =
        (1..rest.len()).any(|i| matches!(read_frame(&rest.slice(i..)), Frame::Record(..)));
    Ok(if intact_later || unread > 0 {
        Ending::Corrupt { offset, reason }
    } else {
        Ending::Torn { offset }
    })
}

/// Reads up to `want` more bytes onto the end of `pending`.
fn fill(
    reader: &mut dyn Read,
    pending: &mut Bytes,
    want: usize,
    eof: &mut bool,
    path: &Path,
) -> Result<()> {
    let mut buf = BytesMut::with_capacity(pending.len() + want);
    buf.extend_from_slice(pending);
    let start = buf.len();
    buf.resize(start + want, 0);
    let mut filled = start;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => {
                *eof = true;
                break;
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("read", path)(e)),
        }
    }
    buf.truncate(filled);
    *pending = buf.freeze();
    Ok(())
}

/// Applies one record; false if the store refused it.
pub(crate) fn apply(store: &Store, record: Record) -> bool {
    match record {
        Record::Set {
            key,
            value,
            expires_at,
        } => {
            let options = SetOptions {
                expiry: expires_at.map_or(ExpiryChange::Clear, ExpiryChange::At),
                ..SetOptions::default()
            };
            store.set(&key, &value, options).is_ok()
        }
        Record::Delete { key } => {
            store.delete(&key);
            true
        }
        Record::Expire { key, at: Some(at) } => {
            store.expire(&key, at, None);
            true
        }
        Record::Expire { key, at: None } => {
            store.persist(&key);
            true
        }
        Record::Flush => {
            store.flush();
            true
        }
        Record::End { .. } => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that remembers the largest read asked of it.
    struct Reads<'a> {
        bytes: &'a [u8],
        largest: usize,
    }

    impl Read for Reads<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.largest = self.largest.max(buf.len());
            self.bytes.read(buf)
        }
    }

    /// Found by the `oplog` fuzz target: a damaged record in a file of a few hundred bytes
    /// made the tail scan allocate (and zero) its whole 16 MiB window.
    #[test]
    fn a_damaged_record_is_classified_without_reading_past_the_file() {
        let bytes = b"CACHLOG1\x02\0\0\0\0\0\0\0\x81\x03";
        let mut reader = Reads { bytes, largest: 0 };
        let file = File {
            path: Path::new("log.000001"),
            magic: LOG_MAGIC,
            kind: "log",
            len: bytes.len() as u64,
        };
        let read = read_records(&mut reader, &file, &mut |_| true).unwrap();
        assert_eq!(read.ending, Ending::Torn { offset: 8 });
        assert!(
            reader.largest <= bytes.len(),
            "a read of {}",
            reader.largest
        );
    }
}
