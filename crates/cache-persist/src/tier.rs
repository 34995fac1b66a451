//! The disk tier: values kept in log-structured segment files instead of memory.
//!
//! Every write appends a framed record (the operation log's format: `[len][crc32c][CBOR]`) to
//! the head segment; an in-memory index maps each key to the record holding its value, its
//! length and its expiry. A read looks the key up, reads the record with one `pread` and checks
//! its checksum and key. A segment is sealed when it reaches `segment_size`. Space comes back
//! two ways: the oldest segment, once its live records fill less than half of it, is compacted
//! (its live records copied to the head, a few megabytes per [`DiskTier::maintain`] call, then
//! the file removed; only the oldest, so no delete record is dropped while an older segment
//! still holds the value it cancels), and when the segments together pass the budget the oldest is dropped whole
//! with the keys still in it (the tier is a cache too).
//!
//! With `keep` the segments are read back on open (deletes and flushes are records too, so the
//! index comes back as it was); without it the directory starts empty. Torn records at the end
//! of the last segment are cut; a damaged record elsewhere ends what is read of that segment.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use cache_store::{Change, EvictionSink};
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::fs::{Fs, ReadAt, WriteFile, write_all};
use crate::keylock::{KeyGuard, KeyLocks};
use crate::log::Fsync;
use crate::record::{Frame, Record, encode_change, read_frame};

/// How a disk tier is laid out and bounded.
#[derive(Debug, Clone)]
pub struct TierConfig {
    pub dir: PathBuf,
    /// Bytes all segments may take together.
    pub budget: u64,
    /// A segment is sealed, and a new one started, at this size.
    pub segment_size: u64,
    /// When writes are fsynced: `always` (before [`DiskTier::put`] returns), `everysec` (by
    /// [`DiskTier::maintain`]) or `no`.
    pub fsync: Fsync,
    /// Load the segments found in `dir` (persistence on) instead of starting empty.
    pub keep: bool,
}

/// Bytes of live records one [`DiskTier::maintain`] call copies out of a segment being compacted.
const COMPACT_STEP: u64 = 4 << 20;
/// A sealed segment is compacted when its live records fill less than this share of it.
const COMPACT_BELOW: f64 = 0.5;

/// A value found on disk, with what is needed to move it to memory safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub value: Bytes,
    pub expires_at: Option<i64>,
    /// Where the record was; [`DiskTier::remove_if`] removes the key only if it is still there.
    pub at: Place,
}

/// Where a record is: segment and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    segment: u64,
    offset: u64,
}

#[derive(Debug, Clone, Copy)]
struct Loc {
    at: Place,
    /// The whole frame, header included.
    len: u64,
    value_len: u64,
    expires_at: Option<i64>,
}

#[derive(Debug)]
struct Segment {
    reader: Arc<dyn ReadAt>,
    len: u64,
    /// Bytes of the records the index points into this segment.
    live: u64,
}

#[derive(Debug)]
struct Head {
    id: u64,
    file: Box<dyn WriteFile>,
}

#[derive(Debug)]
struct State {
    index: HashMap<Bytes, Loc>,
    segments: BTreeMap<u64, Segment>,
    head: Head,
    /// Bytes of every segment together.
    total: u64,
    /// Written since the last fsync.
    dirty: bool,
    last_sync: Instant,
    /// The sealed segment being compacted, and its keys still to move.
    compacting: Option<(u64, Vec<Bytes>)>,
    /// The last write error, until a write succeeds again.
    failure: Option<String>,
}

/// Counters for `INFO`.
#[derive(Debug, Default)]
pub struct TierStats {
    pub puts: AtomicU64,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Entries the store evicted into the tier.
    pub evictions_in: AtomicU64,
    /// Keys dropped with the oldest segment to stay within the budget.
    pub dropped: AtomicU64,
    /// Segments compacted, and bytes copied doing it.
    pub compactions: AtomicU64,
    pub compacted_bytes: AtomicU64,
    /// Reads that found a damaged record or failed (answered as misses).
    pub read_errors: AtomicU64,
    pub write_errors: AtomicU64,
}

/// What [`DiskTier::status`] reports.
#[derive(Debug, Clone)]
pub struct TierStatus {
    pub keys: usize,
    pub bytes: u64,
    pub live_bytes: u64,
    pub segments: usize,
    pub budget: u64,
    pub failure: Option<String>,
}

/// Values kept on disk, indexed in memory.
#[derive(Debug)]
pub struct DiskTier {
    fs: Arc<dyn Fs>,
    config: TierConfig,
    state: Mutex<State>,
    stats: TierStats,
    locks: KeyLocks,
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("segment.{id:06}"))
}

fn segment_id(name: &str) -> Option<u64> {
    name.strip_prefix("segment.")?.parse().ok()
}

impl DiskTier {
    /// Opens the tier in `config.dir`, loading its segments if `config.keep`. `now` (Unix ms)
    /// drops entries that expired while the node was down.
    pub fn open(config: TierConfig, fs: Arc<dyn Fs>, now: i64) -> Result<DiskTier> {
        let dir = config.dir.clone();
        fs.create_dir_all(&dir)
            .map_err(Error::io("create the disk tier directory", &dir))?;
        let names = fs
            .list(&dir)
            .map_err(Error::io("list the disk tier directory", &dir))?;
        let mut ids: Vec<u64> = names.iter().filter_map(|n| segment_id(n)).collect();
        ids.sort_unstable();
        let mut index: HashMap<Bytes, Loc> = HashMap::new();
        let mut segments = BTreeMap::new();
        for (i, &id) in ids.iter().enumerate() {
            let path = segment_path(&dir, id);
            if !config.keep {
                fs.remove(&path)
                    .map_err(Error::io("remove old disk tier segment", &path))?;
                continue;
            }
            let last = i + 1 == ids.len();
            let len = load_segment(&*fs, &path, id, last, &mut index)?;
            let reader = fs
                .open_read_at(&path)
                .map_err(Error::io("open disk tier segment", &path))?;
            segments.insert(
                id,
                Segment {
                    reader,
                    len,
                    live: 0,
                },
            );
        }
        index.retain(|_, loc| loc.expires_at.is_none_or(|at| at > now));
        for loc in index.values() {
            if let Some(segment) = segments.get_mut(&loc.at.segment) {
                segment.live += loc.len;
            }
        }
        let next = ids.last().map_or(1, |id| id + 1);
        let (head, reader) = new_segment(&*fs, &dir, next)?;
        segments.insert(
            next,
            Segment {
                reader,
                len: 0,
                live: 0,
            },
        );
        let total = segments.values().map(|s| s.len).sum();
        let tier = DiskTier {
            fs,
            config,
            state: Mutex::new(State {
                index,
                segments,
                head,
                total,
                dirty: false,
                last_sync: Instant::now(),
                compacting: None,
                failure: None,
            }),
            stats: TierStats::default(),
            locks: KeyLocks::default(),
        };
        {
            let mut state = tier.state.lock();
            tier.enforce_budget(&mut state);
        }
        Ok(tier)
    }

    /// Locks `keys` against other moves between memory and this tier, and against eviction
    /// to it, until the guard drops. Whoever moves a key holds its lock.
    pub fn lock_keys<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> KeyGuard<'_> {
        self.locks.lock(keys)
    }

    pub fn stats(&self) -> &TierStats {
        &self.stats
    }

    pub fn config(&self) -> &TierConfig {
        &self.config
    }

    /// Keeps `value` for `key` on disk, replacing what the tier had for it; returns where.
    pub fn put(&self, key: &[u8], value: &[u8], expires_at: Option<i64>) -> io::Result<Place> {
        let mut frame = BytesMut::with_capacity(value.len() + key.len() + 32);
        encode_change(
            &Change::Set {
                key,
                value,
                expires_at,
            },
            &mut frame,
        );
        let mut state = self.state.lock();
        let at = self.append(&mut state, &frame)?;
        let loc = Loc {
            at,
            len: frame.len() as u64,
            value_len: value.len() as u64,
            expires_at,
        };
        self.index_insert(&mut state, Bytes::copy_from_slice(key), loc);
        self.stats.puts.fetch_add(1, Ordering::Relaxed);
        // The record is written and indexed: a failed fsync or seal after this is reported
        // through the status, not as a failed put.
        if let Err(error) = self.after_write(&mut state) {
            state.failure = Some(error.to_string());
        }
        Ok(at)
    }

    /// The value of `key`, if the tier has it and it has not expired by `now`.
    pub fn get(&self, key: &[u8], now: i64) -> Option<Found> {
        let (loc, reader) = {
            let state = self.state.lock();
            let Some(&loc) = state.index.get(key) else {
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            if loc.expires_at.is_some_and(|at| at <= now) {
                drop(state);
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            let Some(segment) = state.segments.get(&loc.at.segment) else {
                drop(state);
                self.remove_if(key, loc.at);
                return None;
            };
            (loc, segment.reader.clone())
        };
        // Read outside the lock: the reader keeps the file open even if the segment is
        // compacted or dropped meanwhile.
        match read_value(&*reader, key, loc) {
            Ok(value) => {
                self.stats.hits.fetch_add(1, Ordering::Relaxed);
                Some(Found {
                    value,
                    expires_at: loc.expires_at,
                    at: loc.at,
                })
            }
            Err(why) => {
                self.stats.read_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(segment = loc.at.segment, offset = loc.at.offset, %why, "disk tier read failed; answered as a miss");
                self.remove_if(key, loc.at);
                None
            }
        }
    }

    /// The length and expiry of `key`'s value, without reading it.
    pub fn meta(&self, key: &[u8], now: i64) -> Option<(u64, Option<i64>)> {
        let state = self.state.lock();
        let loc = state.index.get(key)?;
        if loc.expires_at.is_some_and(|at| at <= now) {
            return None;
        }
        Some((loc.value_len, loc.expires_at))
    }

    /// Removes `key`; true if the tier had it (expired or not).
    pub fn remove(&self, key: &[u8]) -> bool {
        let mut state = self.state.lock();
        self.remove_locked(&mut state, key, None)
    }

    /// Removes `key` only if its record is still the one at `at` (nobody wrote it since it
    /// was read); true if it did.
    pub fn remove_if(&self, key: &[u8], at: Place) -> bool {
        let mut state = self.state.lock();
        self.remove_locked(&mut state, key, Some(at))
    }

    fn remove_locked(&self, state: &mut State, key: &[u8], only_at: Option<Place>) -> bool {
        match state.index.get(key) {
            Some(loc) if only_at.is_none_or(|at| at == loc.at) => {}
            _ => return false,
        }
        let mut frame = BytesMut::new();
        encode_change(&Change::Delete { key }, &mut frame);
        // Without the delete record, a restart would bring the key back: if it cannot be
        // written, the key stays (the caller then keeps the newer value in memory, which wins).
        if let Err(error) = self.append(state, &frame) {
            tracing::warn!(%error, "disk tier cannot record a delete");
            return false;
        }
        if let Some(old) = state.index.remove(key) {
            release(state, old);
        }
        let _ = self.after_write(state);
        true
    }

    /// Removes every key.
    pub fn clear(&self) -> io::Result<()> {
        let mut state = self.state.lock();
        let mut frame = BytesMut::new();
        encode_change(&Change::Flush, &mut frame);
        self.append(&mut state, &frame)?;
        state.index.clear();
        state.compacting = None;
        for segment in state.segments.values_mut() {
            segment.live = 0;
        }
        // Everything before the head is garbage now; the flush record in the head keeps a
        // restart from reading the old segments back even if removing them fails.
        self.after_write(&mut state)?;
        let head = state.head.id;
        let old: Vec<u64> = state
            .segments
            .keys()
            .copied()
            .filter(|&id| id < head)
            .collect();
        for id in old {
            self.drop_segment(&mut state, id);
        }
        Ok(())
    }

    /// Keys held (expired ones included until they are read or compacted away).
    pub fn len(&self) -> usize {
        self.state.lock().index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` with every key not expired by `now`.
    pub fn for_each_key(&self, now: i64, mut f: impl FnMut(&[u8])) {
        let keys: Vec<Bytes> = {
            let state = self.state.lock();
            state
                .index
                .iter()
                .filter(|(_, loc)| loc.expires_at.is_none_or(|at| at > now))
                .map(|(k, _)| k.clone())
                .collect()
        };
        for key in keys {
            f(&key);
        }
    }

    pub fn status(&self) -> TierStatus {
        let state = self.state.lock();
        TierStatus {
            keys: state.index.len(),
            bytes: state.total,
            live_bytes: state.segments.values().map(|s| s.live).sum(),
            segments: state.segments.len(),
            budget: self.config.budget,
            failure: state.failure.clone(),
        }
    }

    /// Periodic work: the `everysec` fsync and a step of compaction. Blocking.
    pub fn maintain(&self) {
        let mut state = self.state.lock();
        if self.config.fsync == Fsync::EverySec
            && state.dirty
            && state.last_sync.elapsed() >= Duration::from_secs(1)
        {
            self.sync_head(&mut state);
        }
        self.compact_step(&mut state);
    }

    /// Makes everything written durable (shutdown, `SAVE`).
    pub fn sync(&self) -> io::Result<()> {
        let mut state = self.state.lock();
        state.head.file.sync()?;
        state.dirty = false;
        state.last_sync = Instant::now();
        Ok(())
    }

    fn sync_head(&self, state: &mut State) {
        match state.head.file.sync() {
            Ok(()) => {
                state.dirty = false;
                state.last_sync = Instant::now();
            }
            Err(error) => {
                tracing::warn!(%error, "disk tier fsync failed");
                state.failure = Some(format!("fsync: {error}"));
            }
        }
    }

    /// Appends a frame to the head, returning where it landed. On an error the head is cut
    /// back so no partial record stays.
    fn append(&self, state: &mut State, frame: &[u8]) -> io::Result<Place> {
        let head = state.head.id;
        let offset = state.segments.get(&head).map_or(0, |s| s.len);
        if let Err(error) = write_all(&mut *state.head.file, frame) {
            self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
            let _ = state.head.file.truncate(offset);
            state.failure = Some(error.to_string());
            return Err(error);
        }
        state.failure = None;
        if let Some(segment) = state.segments.get_mut(&head) {
            segment.len += frame.len() as u64;
        }
        state.total += frame.len() as u64;
        state.dirty = true;
        Ok(Place {
            segment: head,
            offset,
        })
    }

    fn index_insert(&self, state: &mut State, key: Bytes, loc: Loc) {
        if let Some(segment) = state.segments.get_mut(&loc.at.segment) {
            segment.live += loc.len;
        }
        if let Some(old) = state.index.insert(key, loc) {
            release(state, old);
        }
    }

    /// Fsyncs if the mode says so, seals a full head, keeps within the budget.
    fn after_write(&self, state: &mut State) -> io::Result<()> {
        if self.config.fsync == Fsync::Always {
            state.head.file.sync()?;
            state.dirty = false;
        }
        let head_len = state.segments.get(&state.head.id).map_or(0, |s| s.len);
        if head_len >= self.config.segment_size {
            self.seal(state)?;
        }
        self.enforce_budget(state);
        Ok(())
    }

    fn seal(&self, state: &mut State) -> io::Result<()> {
        state.head.file.sync()?;
        let next = state.head.id + 1;
        let (head, reader) = new_segment(&*self.fs, &self.config.dir, next)
            .map_err(|e| io::Error::other(e.to_string()))?;
        state.head = head;
        state.dirty = false;
        state.segments.insert(
            next,
            Segment {
                reader,
                len: 0,
                live: 0,
            },
        );
        Ok(())
    }

    fn enforce_budget(&self, state: &mut State) {
        while state.total > self.config.budget {
            let Some((&oldest, _)) = state.segments.iter().next() else {
                return;
            };
            if oldest == state.head.id {
                return;
            }
            let before = state.index.len();
            state.index.retain(|_, loc| loc.at.segment != oldest);
            self.stats
                .dropped
                .fetch_add((before - state.index.len()) as u64, Ordering::Relaxed);
            self.drop_segment(state, oldest);
        }
    }

    fn drop_segment(&self, state: &mut State, id: u64) {
        if let Some(segment) = state.segments.remove(&id) {
            state.total -= segment.len;
        }
        if state.compacting.as_ref().is_some_and(|(c, _)| *c == id) {
            state.compacting = None;
        }
        let path = segment_path(&self.config.dir, id);
        if let Err(error) = self.fs.remove(&path) {
            tracing::warn!(path = %path.display(), %error, "cannot remove disk tier segment");
        }
    }

    /// Moves up to [`COMPACT_STEP`] bytes of live records out of the emptiest sealed segment.
    fn compact_step(&self, state: &mut State) {
        if state.compacting.is_none() {
            let head = state.head.id;
            // Only the oldest segment: its delete and flush records are not copied, which is
            // safe only when no older segment holds a value they cancel.
            let victim = state
                .segments
                .iter()
                .next()
                .filter(|(id, s)| **id != head && s.len > 0)
                .map(|(id, s)| (*id, s.live as f64 / s.len as f64))
                .filter(|(_, share)| *share < COMPACT_BELOW);
            let Some((id, _)) = victim else {
                return;
            };
            let keys = state
                .index
                .iter()
                .filter(|(_, loc)| loc.at.segment == id)
                .map(|(k, _)| k.clone())
                .collect();
            state.compacting = Some((id, keys));
        }
        let Some((id, mut keys)) = state.compacting.take() else {
            return;
        };
        let mut moved = 0;
        while moved < COMPACT_STEP {
            let Some(key) = keys.pop() else {
                break;
            };
            let Some(loc) = state.index.get(&key).copied() else {
                continue;
            };
            if loc.at.segment != id {
                continue;
            }
            let Some(reader) = state.segments.get(&id).map(|s| s.reader.clone()) else {
                break;
            };
            let mut frame = vec![0u8; loc.len as usize];
            if reader.read_exact_at(&mut frame, loc.at.offset).is_err() {
                // Unreadable: the key goes rather than point into a file about to be removed.
                self.stats.read_errors.fetch_add(1, Ordering::Relaxed);
                self.remove_locked(state, &key, Some(loc.at));
                continue;
            }
            let Ok(at) = self.append(state, &frame) else {
                // The disk is failing: try again later.
                keys.push(key);
                state.compacting = Some((id, keys));
                return;
            };
            self.index_insert(state, key, Loc { at, ..loc });
            moved += loc.len;
            let _ = self.after_write(state);
            if !state.segments.contains_key(&id) {
                return;
            }
        }
        self.stats
            .compacted_bytes
            .fetch_add(moved, Ordering::Relaxed);
        if keys.is_empty() {
            // Everything live has moved: make the copies durable before the original goes.
            if state.head.file.sync().is_ok() {
                self.drop_segment(state, id);
                self.stats.compactions.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            state.compacting = Some((id, keys));
        }
    }
}

impl EvictionSink for DiskTier {
    fn evicted(&self, key: &[u8], value: &[u8], expires_at: Option<i64>) {
        match self.put(key, value, expires_at) {
            Ok(_) => {
                self.stats.evictions_in.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => tracing::debug!(%error, "evicted entry not kept on disk"),
        }
    }

    /// A key a command is working on stays in memory: the command would not see it move.
    fn may_evict(&self, key: &[u8]) -> bool {
        !self.locks.is_locked(key)
    }
}

/// Frees the bytes an index entry held in its segment.
fn release(state: &mut State, old: Loc) {
    if let Some(segment) = state.segments.get_mut(&old.at.segment) {
        segment.live = segment.live.saturating_sub(old.len);
    }
}

fn new_segment(fs: &dyn Fs, dir: &Path, id: u64) -> Result<(Head, Arc<dyn ReadAt>)> {
    let path = segment_path(dir, id);
    let file = fs
        .create(&path)
        .map_err(Error::io("create disk tier segment", &path))?;
    fs.sync_dir(dir)
        .map_err(Error::io("sync the disk tier directory", dir))?;
    let reader = fs
        .open_read_at(&path)
        .map_err(Error::io("open disk tier segment", &path))?;
    Ok((Head { id, file }, reader))
}

fn read_value(reader: &dyn ReadAt, key: &[u8], loc: Loc) -> std::result::Result<Bytes, String> {
    let mut frame = vec![0u8; loc.len as usize];
    reader
        .read_exact_at(&mut frame, loc.at.offset)
        .map_err(|e| e.to_string())?;
    match read_frame(&Bytes::from(frame)) {
        Frame::Record(
            Record::Set {
                key: found, value, ..
            },
            _,
        ) if found == key => Ok(value),
        Frame::Record(..) => Err("the record there is not this key's".to_owned()),
        Frame::Incomplete => Err("record cut short".to_owned()),
        Frame::Damaged(why) => Err(why.to_owned()),
    }
}

/// Reads one segment into the index; returns the length kept. A torn or damaged tail of the
/// last segment is cut off; in an older segment, reading stops there.
fn load_segment(
    fs: &dyn Fs,
    path: &Path,
    id: u64,
    last: bool,
    index: &mut HashMap<Bytes, Loc>,
) -> Result<u64> {
    let (mut reader, len) = fs
        .open(path)
        .map_err(Error::io("open disk tier segment", path))?;
    let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    reader
        .read_to_end(&mut data)
        .map_err(Error::io("read disk tier segment", path))?;
    let data = Bytes::from(data);
    let mut offset = 0usize;
    while offset < data.len() {
        match read_frame(&data.slice(offset..)) {
            Frame::Record(record, frame_len) => {
                match record {
                    Record::Set {
                        key,
                        value,
                        expires_at,
                    } => {
                        let loc = Loc {
                            at: Place {
                                segment: id,
                                offset: offset as u64,
                            },
                            len: frame_len as u64,
                            value_len: value.len() as u64,
                            expires_at,
                        };
                        index.insert(key, loc);
                    }
                    Record::Delete { key } => {
                        index.remove(&key);
                    }
                    Record::Expire { key, at } => {
                        if let Some(loc) = index.get_mut(&key) {
                            loc.expires_at = at;
                        }
                    }
                    Record::Flush => index.clear(),
                    Record::End { .. } => {}
                }
                offset += frame_len;
            }
            Frame::Incomplete | Frame::Damaged(_) => {
                tracing::warn!(
                    path = %path.display(),
                    offset,
                    dropped = data.len() - offset,
                    "disk tier segment damaged or cut short; keeping what comes before"
                );
                if last {
                    let mut file = fs
                        .append(path)
                        .map_err(Error::io("open disk tier segment", path))?;
                    file.truncate(offset as u64)
                        .map_err(Error::io("cut disk tier segment", path))?;
                    file.sync()
                        .map_err(Error::io("sync disk tier segment", path))?;
                }
                return Ok(offset as u64);
            }
        }
    }
    Ok(data.len() as u64)
}

#[cfg(test)]
mod tests;
