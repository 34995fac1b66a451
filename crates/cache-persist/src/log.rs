//! The operation log: changes appended to a buffer under the store's shard locks, written to
//! the file by one background thread in batches (group commit).
//!
//! Offsets are logical: the number of record bytes ever appended since start, across log
//! files. `durable` is a prefix of them: every record below it is on disk and fsynced. A
//! client that must not be answered before its write is durable (`appendfsync always`, or
//! `SAVE`) waits for `durable` to pass the offset its write ended at.
//!
//! Write order: a batch is written, then (by mode) fsynced, then `durable` moves. At a log
//! switch (compaction), the old file is written to the switch point and fsynced before the
//! first byte goes to the new one, so the durable records are always a prefix of the history.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use cache_store::{Change, Journal};
use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use crate::fs::{WriteFile, write_all};
use crate::record::encode_change;

/// When the log is fsynced, as Redis's `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fsync {
    /// Every batch, before its writes are acknowledged.
    Always,
    /// Once a second, in the background.
    #[default]
    EverySec,
    /// Never: the operating system writes back when it likes.
    No,
}

impl std::str::FromStr for Fsync {
    type Err = String;

    fn from_str(text: &str) -> Result<Fsync, String> {
        match text.to_ascii_lowercase().as_str() {
            "always" => Ok(Fsync::Always),
            "everysec" => Ok(Fsync::EverySec),
            "no" => Ok(Fsync::No),
            _ => Err(format!(
                "'{text}' is not an appendfsync mode: use always, everysec or no"
            )),
        }
    }
}

impl std::fmt::Display for Fsync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Fsync::Always => "always",
            Fsync::EverySec => "everysec",
            Fsync::No => "no",
        })
    }
}

/// How the writer batches.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    /// Write as soon as this many bytes wait.
    pub bytes: usize,
    /// Otherwise write what waits this often.
    pub interval: Duration,
}

/// Where the writer is, published to waiters.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Logical offset written to the file.
    pub written: u64,
    /// Logical offset written and fsynced.
    pub durable: u64,
    /// Set while the log cannot be written; writes are refused meanwhile.
    pub failure: Option<Arc<str>>,
}

thread_local! {
    /// The offset after the last record this thread appended, for [`take_mark`].
    static MARK: Cell<u64> = const { Cell::new(0) };
}

/// The offset the calling thread's last appended record ended at, if it appended any since the
/// last call. The node runs one command on one thread, so this tells it whether the command
/// logged anything and how far it must wait for durability.
pub fn take_mark() -> Option<u64> {
    MARK.with(|m| {
        let mark = m.replace(0);
        (mark != 0).then_some(mark)
    })
}

/// A switch to a new log file, handed to the writer by compaction.
pub(crate) struct Switch {
    /// Logical offset from which records belong to the new file.
    pub at: u64,
    pub file: Box<dyn WriteFile>,
    /// The new file's length (its header).
    pub len: u64,
    pub done: std::sync::mpsc::Sender<Result<(), String>>,
}

/// What the node says while an fsync failure stands.
fn fsync_failure(error: &std::io::Error) -> String {
    format!(
        "fsync of the operation log failed ({error}); writes are refused until a rewrite (BGREWRITEAOF, also tried every few seconds) succeeds"
    )
}

/// Time between attempts to write a failing log.
const RETRY: Duration = Duration::from_secs(1);

/// The writer's own view of where it is.
struct Cursor {
    written: u64,
    durable: u64,
    /// Written since the last fsync.
    dirty: bool,
    last_sync: Instant,
}

struct State {
    pending: BytesMut,
    appended: u64,
    /// The highest offset someone waits to see durable.
    sync_wanted: u64,
    switch: Option<Switch>,
    closing: bool,
}

/// The log: the journal the store writes to, and the writer thread's shared state.
pub struct Log {
    state: Mutex<State>,
    wake: Condvar,
    fsync: Fsync,
    batching: Batching,
    /// Bytes in the current log file.
    file_len: AtomicU64,
    /// Set when an fsync failed: what was written since the last good fsync may be lost, so
    /// only a rewrite (a fresh snapshot) clears the failure.
    needs_rewrite: Arc<AtomicBool>,
    /// An `everysec` fsync is running on its own thread.
    syncing: Arc<AtomicBool>,
    progress: watch::Sender<Progress>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("fsync", &self.fsync)
            .field("progress", &*self.progress.borrow())
            .finish()
    }
}

impl Journal for Log {
    fn record(&self, change: Change<'_>) {
        let mut state = self.state.lock();
        let before = state.pending.len();
        encode_change(&change, &mut state.pending);
        state.appended += (state.pending.len() - before) as u64;
        let end = state.appended;
        // The writer is woken by the first record of a batch (to start the batch interval)
        // and by the one that fills it; the records between cost no wake-up.
        let wake = before == 0
            || (before < self.batching.bytes && state.pending.len() >= self.batching.bytes);
        drop(state);
        MARK.with(|m| m.set(end));
        if wake {
            self.wake.notify_one();
        }
    }
}

impl Log {
    pub(crate) fn new(fsync: Fsync, batching: Batching, file_len: u64) -> Log {
        Log {
            state: Mutex::new(State {
                pending: BytesMut::with_capacity(batching.bytes.max(4096) * 2),
                appended: 0,
                sync_wanted: 0,
                switch: None,
                closing: false,
            }),
            wake: Condvar::new(),
            progress: watch::Sender::new(Progress::default()),
            fsync,
            batching,
            file_len: AtomicU64::new(file_len),
            needs_rewrite: Arc::new(AtomicBool::new(false)),
            syncing: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn fsync(&self) -> Fsync {
        self.fsync
    }

    /// Where the writer is.
    pub fn progress(&self) -> Progress {
        self.progress.borrow().clone()
    }

    /// Offset after the last record appended.
    pub fn appended(&self) -> u64 {
        self.state.lock().appended
    }

    /// Bytes waiting to be written.
    pub fn pending_len(&self) -> usize {
        self.state.lock().pending.len()
    }

    /// Bytes in the current log file.
    pub fn file_len(&self) -> u64 {
        self.file_len.load(Ordering::Relaxed)
    }

    /// Why writes are refused, if they are.
    pub fn failure(&self) -> Option<Arc<str>> {
        self.progress.borrow().failure.clone()
    }

    pub(crate) fn needs_rewrite(&self) -> bool {
        self.needs_rewrite.load(Ordering::Relaxed)
    }

    /// Waits until every record before `offset` is durable. Fails if the log fails first.
    pub async fn wait_durable(&self, offset: u64) -> Result<(), Arc<str>> {
        {
            let mut state = self.state.lock();
            state.sync_wanted = state.sync_wanted.max(offset);
        }
        self.wake.notify_one();
        let mut progress = self.progress.subscribe();
        let seen = progress
            .wait_for(|p| p.durable >= offset || p.failure.is_some())
            .await
            .map_err(|_| Arc::<str>::from("the log writer stopped"))?;
        if seen.durable >= offset {
            Ok(())
        } else {
            Err(seen
                .failure
                .clone()
                .unwrap_or_else(|| "the log failed".into()))
        }
    }

    /// Hands the writer a new file; returns the switch offset once the old file holds (and has
    /// fsynced) every record before it.
    pub(crate) fn switch(&self, file: Box<dyn WriteFile>, len: u64) -> Result<u64, String> {
        let (done, finished) = std::sync::mpsc::channel();
        let at = {
            let mut state = self.state.lock();
            let at = state.appended;
            state.switch = Some(Switch {
                at,
                file,
                len,
                done,
            });
            at
        };
        self.wake.notify_one();
        finished
            .recv()
            .map_err(|_| "the log writer stopped".to_owned())??;
        Ok(at)
    }

    /// After a snapshot covering every record before `at` committed: those records are durable
    /// whatever happened to the old file, and an fsync failure is cleared.
    pub(crate) fn covered(&self, at: u64) {
        if self.needs_rewrite.swap(false, Ordering::Relaxed) {
            tracing::info!("a fresh snapshot is on disk: the log failure is cleared");
        }
        self.progress.send_modify(|p| {
            p.durable = p.durable.max(at);
            p.written = p.written.max(at);
            p.failure = None;
        });
    }

    /// Asks the writer to write and fsync everything, then stop.
    pub(crate) fn close(&self) {
        self.state.lock().closing = true;
        self.wake.notify_one();
    }

    /// The writer thread's loop: runs until [`Log::close`], then writes and fsyncs the rest.
    pub(crate) fn run_writer(&self, mut file: Box<dyn WriteFile>) {
        let mut cursor = Cursor {
            written: 0,
            durable: 0,
            dirty: false,
            last_sync: Instant::now(),
        };
        let mut retry_at: Option<Instant> = None;
        let mut close_tries = 0;
        loop {
            let mut state = self.state.lock();
            while !self.due(&state, &cursor, retry_at) {
                let now = Instant::now();
                let mut wait = Duration::from_secs(1);
                if !state.pending.is_empty() {
                    wait = wait.min(self.batching.interval);
                }
                if let Some(at) = retry_at {
                    wait = wait.min(at.saturating_duration_since(now));
                }
                if self.fsync == Fsync::EverySec && cursor.dirty {
                    wait = wait.min(
                        (cursor.last_sync + Duration::from_secs(1)).saturating_duration_since(now),
                    );
                }
                let timed_out = self.wake.wait_for(&mut state, wait).timed_out();
                // The batch interval is up: write what waits.
                if timed_out && !state.pending.is_empty() && retry_at.is_none() {
                    break;
                }
            }
            let data = state.pending.split();
            let end = state.appended;
            let switch = state.switch.take();
            let sync_wanted = state.sync_wanted > cursor.durable;
            let closing = state.closing;
            drop(state);

            let (result, unwritten) = self.pass(
                &mut file,
                &mut cursor,
                &data,
                end,
                switch,
                sync_wanted || closing,
            );
            match result {
                Ok(()) if !self.needs_rewrite() => {
                    retry_at = None;
                    let (written, durable) = (cursor.written, cursor.durable);
                    self.progress.send_if_modified(|p| {
                        let changed =
                            p.written < written || p.durable < durable || p.failure.is_some();
                        if p.failure.take().is_some() {
                            tracing::info!("the operation log is being written again");
                        }
                        p.written = p.written.max(written);
                        p.durable = p.durable.max(durable);
                        changed
                    });
                }
                Ok(()) => {
                    // Written, but an earlier fsync failed: only a rewrite clears that.
                    retry_at = Some(Instant::now() + RETRY);
                    let written = cursor.written;
                    self.progress
                        .send_modify(|p| p.written = p.written.max(written));
                }
                Err(error) => {
                    if unwritten > 0 {
                        // Not written: put it back in front of what came since.
                        let mut state = self.state.lock();
                        let mut back = BytesMut::with_capacity(unwritten + state.pending.len());
                        back.extend_from_slice(&data[data.len() - unwritten..]);
                        back.extend_from_slice(&state.pending);
                        state.pending = back;
                    }
                    if self.progress.borrow().failure.is_none() {
                        tracing::error!(%error, "cannot write the operation log: writes are refused until it can");
                    }
                    retry_at = Some(Instant::now() + RETRY);
                    let (written, durable) = (cursor.written, cursor.durable);
                    self.progress.send_modify(|p| {
                        p.written = p.written.max(written);
                        p.durable = p.durable.max(durable);
                        p.failure = Some(error.into());
                    });
                }
            }
            if closing {
                if retry_at.is_none() && self.pending_len() == 0 {
                    return;
                }
                close_tries += 1;
                if close_tries >= 3 {
                    tracing::error!(
                        bytes = self.pending_len(),
                        "shutting down with log records that could not be written or fsynced"
                    );
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
                retry_at = Some(Instant::now());
            }
        }
    }

    /// Whether the writer has work now.
    fn due(&self, state: &State, cursor: &Cursor, retry_at: Option<Instant>) -> bool {
        if state.closing || state.switch.is_some() {
            return true;
        }
        if let Some(at) = retry_at {
            return Instant::now() >= at;
        }
        let has = !state.pending.is_empty();
        state.pending.len() >= self.batching.bytes
            || (state.sync_wanted > cursor.durable && (has || cursor.dirty))
            || (self.fsync == Fsync::Always && has)
            || (self.fsync == Fsync::EverySec
                && cursor.dirty
                && cursor.last_sync.elapsed() >= Duration::from_secs(1))
    }

    /// One pass: write `data` (logical `[cursor.written, end)`), switching files at the
    /// switch point if asked, then fsync as the mode says. Returns the outcome and how many
    /// bytes at the end of `data` were not written.
    fn pass(
        &self,
        file: &mut Box<dyn WriteFile>,
        cursor: &mut Cursor,
        data: &[u8],
        end: u64,
        switch: Option<Switch>,
        sync_wanted: bool,
    ) -> (Result<(), String>, usize) {
        let mut rest = data;
        if let Some(switch) = switch {
            let split = usize::try_from(switch.at - cursor.written).unwrap_or(usize::MAX);
            let (old, new) = rest.split_at(split.min(rest.len()));
            let mut result = self.write(&mut **file, old);
            // After a failed fsync the old file cannot be trusted anyway: the snapshot the
            // switch is for will cover it.
            if result.is_ok() && !self.needs_rewrite() {
                result = file
                    .sync()
                    .map_err(|e| format!("fsync of the operation log failed: {e}"));
            }
            if let Err(error) = result {
                let _ = switch.done.send(Err(error.clone()));
                return (Err(error), rest.len());
            }
            cursor.written = switch.at;
            if !self.needs_rewrite() {
                cursor.durable = cursor.durable.max(switch.at);
            }
            cursor.dirty = false;
            cursor.last_sync = Instant::now();
            *file = switch.file;
            self.file_len.store(switch.len, Ordering::Relaxed);
            rest = new;
            let _ = switch.done.send(Ok(()));
        }
        if let Err(error) = self.write(&mut **file, rest) {
            return (Err(error), rest.len());
        }
        cursor.written = end;
        cursor.dirty |= !rest.is_empty();
        let second = cursor.last_sync.elapsed() >= Duration::from_secs(1);
        if self.fsync == Fsync::EverySec
            && !sync_wanted
            && second
            && cursor.dirty
            && self.background_sync(&**file, cursor.written)
        {
            // The once-a-second fsync runs on its own thread: writes keep reaching the kernel
            // while it runs, so a process crash loses at most the batch in hand.
            cursor.dirty = false;
            cursor.last_sync = Instant::now();
            return (Ok(()), 0);
        }
        let sync_now = match self.fsync {
            Fsync::Always => true,
            Fsync::EverySec => sync_wanted || second,
            Fsync::No => sync_wanted,
        };
        if sync_now && cursor.dirty {
            if let Err(error) = file.sync() {
                self.needs_rewrite.store(true, Ordering::Relaxed);
                return (Err(fsync_failure(&error)), 0);
            }
            cursor.dirty = false;
            cursor.last_sync = Instant::now();
            if !self.needs_rewrite() {
                cursor.durable = cursor.written;
            }
        }
        (Ok(()), 0)
    }

    /// Starts an fsync of `file` up to `offset` on a thread of its own, unless one still runs
    /// (then the caller fsyncs inline). Publishes `durable` when it completes.
    fn background_sync(&self, file: &dyn WriteFile, offset: u64) -> bool {
        if self.syncing.swap(true, Ordering::AcqRel) {
            return false;
        }
        let mut syncer = match file.syncer() {
            Ok(syncer) => syncer,
            Err(_) => {
                self.syncing.store(false, Ordering::Release);
                return false;
            }
        };
        let progress = self.progress.clone();
        let needs_rewrite = self.needs_rewrite.clone();
        let syncing = self.syncing.clone();
        let spawned = std::thread::Builder::new()
            .name("cache-log-fsync".into())
            .spawn(move || {
                match syncer.sync() {
                    Ok(()) if !needs_rewrite.load(Ordering::Relaxed) => {
                        progress.send_modify(|p| p.durable = p.durable.max(offset));
                    }
                    Ok(()) => {}
                    Err(error) => {
                        needs_rewrite.store(true, Ordering::Relaxed);
                        tracing::error!(%error, "fsync of the operation log failed: writes are refused until a rewrite succeeds");
                        progress.send_modify(|p| {
                            p.failure = Some(fsync_failure(&error).into());
                        });
                    }
                }
                syncing.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.syncing.store(false, Ordering::Release);
            return false;
        }
        true
    }

    /// Writes `data` at the end of the file; on failure cuts the file back to where it was, so
    /// a half-written batch never sits in front of the records written after it.
    fn write(&self, file: &mut dyn WriteFile, data: &[u8]) -> Result<(), String> {
        if data.is_empty() {
            return Ok(());
        }
        let before = self.file_len.load(Ordering::Relaxed);
        match write_all(file, data) {
            Ok(()) => {
                self.file_len
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(error) => {
                if let Err(cut) = file.truncate(before) {
                    tracing::error!(%cut, "cannot cut the log back after a failed write");
                    self.needs_rewrite.store(true, Ordering::Relaxed);
                }
                Err(format!("writing the log failed: {error}"))
            }
        }
    }
}
