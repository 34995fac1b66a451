//! Persistence as the node sees it: open (recover, then start the writer and the compactor),
//! rewrite on demand or when the log has grown, report status, close.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use cache_store::{Change, Store};
use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::fs::{Fs, write_all};
use crate::layout::{self, Layout, log_path, snapshot_path};
use crate::log::{Batching, Fsync, Log};
use crate::record::{LOG_MAGIC, MAGIC_LEN, SNAPSHOT_MAGIC, encode_change, encode_end};
use crate::recover::{OnCorruption, Recovery, recover};

/// How persistence is set up.
#[derive(Debug, Clone)]
pub struct PersistConfig {
    /// The directory holding the snapshot and the logs.
    pub dir: PathBuf,
    /// When the log is fsynced.
    pub fsync: Fsync,
    /// How the writer batches.
    pub batching: Batching,
    /// Rewrite automatically when the files have grown this many percent over their size after
    /// the last rewrite (0 = only on `BGREWRITEAOF`).
    pub rewrite_percentage: u64,
    /// ... and the log is at least this many bytes.
    pub rewrite_min_size: u64,
    /// What to do with a damaged record in the middle of a log.
    pub on_corruption: OnCorruption,
}

impl PersistConfig {
    /// Defaults for `dir`: `everysec`, 64 KiB or 2 ms batches, rewrite at +100% and 64 MiB.
    pub fn new(dir: impl Into<PathBuf>) -> PersistConfig {
        PersistConfig {
            dir: dir.into(),
            fsync: Fsync::EverySec,
            batching: Batching {
                bytes: 64 << 10,
                interval: Duration::from_millis(2),
            },
            rewrite_percentage: 100,
            rewrite_min_size: 64 << 20,
            on_corruption: OnCorruption::Stop,
        }
    }
}

/// What `INFO persistence` shows.
#[derive(Debug, Clone)]
pub struct Status {
    pub fsync: Fsync,
    pub rewrite_in_progress: bool,
    pub rewrite_scheduled: bool,
    pub rewrites: u64,
    pub last_rewrite_ok: bool,
    /// Duration of the last rewrite.
    pub last_rewrite: Option<Duration>,
    /// Why writes are refused, if they are.
    pub failure: Option<Arc<str>>,
    /// Bytes of the current log file, and of the snapshot plus logs after the last rewrite.
    pub log_size: u64,
    pub base_size: u64,
    pub snapshot_size: u64,
    /// Bytes appended but not written yet.
    pub pending: usize,
    pub generation: u64,
}

#[derive(Debug, Default)]
struct Compaction {
    requested: bool,
    running: bool,
    closing: bool,
    rewrites: u64,
    last_ok: bool,
    last_took: Option<Duration>,
    /// Not before this time after a failed rewrite (automatic ones only).
    backoff_until: Option<Instant>,
}

/// A node's persistence: the operation log and its compaction. Dropping it closes it.
#[derive(Debug)]
pub struct Persistence {
    inner: Arc<Inner>,
    /// Held (locked) for as long as the directory is ours.
    _lock: File,
}

/// What the compactor thread shares with the handle.
#[derive(Debug)]
struct Inner {
    config: PersistConfig,
    fs: Arc<dyn Fs>,
    store: Arc<Store>,
    log: Arc<Log>,
    generation: AtomicU64,
    base_size: AtomicU64,
    snapshot_size: AtomicU64,
    compaction: Mutex<Compaction>,
    compaction_wake: Condvar,
    threads: Mutex<Vec<JoinHandle<()>>>,
    closed: AtomicBool,
}

impl Persistence {
    /// Recovers `config.dir` into `store`, then logs every change the store makes.
    pub fn open(
        config: PersistConfig,
        fs: Arc<dyn Fs>,
        store: Arc<Store>,
    ) -> Result<(Arc<Persistence>, Recovery)> {
        let dir = config.dir.clone();
        fs.create_dir_all(&dir).map_err(Error::io("create", &dir))?;
        let lock = lock_dir(&dir)?;
        let recovery = recover(&*fs, &dir, &store, config.on_corruption)?;
        let generation = recovery.generation;
        let path = log_path(&dir, generation);
        let (file, file_len) = if recovery.log_len >= MAGIC_LEN {
            (
                fs.append(&path).map_err(Error::io("open", &path))?,
                recovery.log_len,
            )
        } else {
            (new_log_file(&*fs, &dir, generation)?, MAGIC_LEN)
        };
        let log = Arc::new(Log::new(config.fsync, config.batching, file_len));
        let base = recovery.snapshot_size + file_len;
        let inner = Arc::new(Inner {
            config,
            fs,
            store: store.clone(),
            log: log.clone(),
            generation: AtomicU64::new(generation),
            base_size: AtomicU64::new(base),
            snapshot_size: AtomicU64::new(recovery.snapshot_size),
            compaction: Mutex::new(Compaction {
                last_ok: true,
                ..Compaction::default()
            }),
            compaction_wake: Condvar::new(),
            threads: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        });
        let writer = {
            let log = log.clone();
            std::thread::Builder::new()
                .name("cache-log-writer".into())
                .spawn(move || log.run_writer(file))
                .map_err(Error::io("start the log writer for", &dir))?
        };
        let compactor = {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("cache-compactor".into())
                .spawn(move || inner.run_compactor())
                .map_err(Error::io("start the compactor for", &dir))?
        };
        inner.threads.lock().extend([writer, compactor]);
        let persistence = Arc::new(Persistence { inner, _lock: lock });
        if store.attach_journal(log).is_err() {
            tracing::error!("the store already had a journal: changes go to the first one");
        }
        Ok((persistence, recovery))
    }

    /// The operation log (for waiting on durability and reading progress).
    pub fn log(&self) -> &Log {
        &self.inner.log
    }

    pub fn dir(&self) -> &Path {
        &self.inner.config.dir
    }

    /// Asks for a rewrite (`BGREWRITEAOF`); false if one is already running.
    pub fn request_rewrite(&self) -> bool {
        self.inner.request_rewrite()
    }

    pub fn status(&self) -> Status {
        self.inner.status()
    }

    /// Writes and fsyncs what is pending, then stops the threads. Waits for a running rewrite.
    pub fn close(&self) {
        self.inner.close();
    }
}

impl Inner {
    fn request_rewrite(&self) -> bool {
        let mut compaction = self.compaction.lock();
        if compaction.running {
            compaction.requested = true;
            return false;
        }
        compaction.requested = true;
        self.compaction_wake.notify_one();
        true
    }

    fn status(&self) -> Status {
        let compaction = self.compaction.lock();
        Status {
            fsync: self.log.fsync(),
            rewrite_in_progress: compaction.running,
            rewrite_scheduled: compaction.requested && !compaction.running,
            rewrites: compaction.rewrites,
            last_rewrite_ok: compaction.last_ok,
            last_rewrite: compaction.last_took,
            failure: self.log.failure(),
            log_size: self.log.file_len(),
            base_size: self.base_size.load(Ordering::Relaxed),
            snapshot_size: self.snapshot_size.load(Ordering::Relaxed),
            pending: self.log.pending_len(),
            generation: self.generation.load(Ordering::Relaxed),
        }
    }

    fn close(&self) {
        if self.closed.swap(true, Ordering::Relaxed) {
            return;
        }
        self.compaction.lock().closing = true;
        self.compaction_wake.notify_one();
        let mut threads = std::mem::take(&mut *self.threads.lock());
        // The compactor first: a rewrite in progress needs the writer for its switch.
        if let Some(compactor) = threads.pop() {
            let _ = compactor.join();
        }
        self.log.close();
        for thread in threads {
            let _ = thread.join();
        }
    }

    fn run_compactor(&self) {
        loop {
            {
                let mut compaction = self.compaction.lock();
                loop {
                    if compaction.closing {
                        return;
                    }
                    let backing_off = compaction
                        .backoff_until
                        .is_some_and(|until| Instant::now() < until);
                    if compaction.requested || (!backing_off && self.rewrite_due()) {
                        break;
                    }
                    self.compaction_wake
                        .wait_for(&mut compaction, Duration::from_secs(1));
                }
                compaction.requested = false;
                compaction.running = true;
            }
            let started = Instant::now();
            let result = self.compact();
            let took = started.elapsed();
            let mut compaction = self.compaction.lock();
            compaction.running = false;
            compaction.last_took = Some(took);
            compaction.last_ok = result.is_ok();
            match result {
                Ok(bytes) => {
                    compaction.rewrites += 1;
                    compaction.backoff_until = None;
                    tracing::info!(
                        snapshot_bytes = bytes,
                        took_ms = took.as_millis() as u64,
                        "log rewritten"
                    );
                }
                Err(error) => {
                    compaction.backoff_until = Some(Instant::now() + Duration::from_secs(5));
                    tracing::error!(%error, "log rewrite failed (the previous files are still used)");
                }
            }
        }
    }

    /// An automatic rewrite is due: after an fsync failure, or when the files outgrew the last
    /// rewrite by the configured percentage.
    fn rewrite_due(&self) -> bool {
        if self.log.needs_rewrite() {
            return true;
        }
        let percentage = self.config.rewrite_percentage;
        let log = self.log.file_len();
        if percentage == 0 || log < self.config.rewrite_min_size {
            return false;
        }
        let total = self.snapshot_size.load(Ordering::Relaxed) + log;
        let base = self.base_size.load(Ordering::Relaxed).max(1);
        total.saturating_sub(base) * 100 / base >= percentage
    }

    /// One rewrite: switch to a new log, write a snapshot, commit it by renaming, drop what it
    /// replaces. Returns the snapshot's size.
    fn compact(&self) -> std::result::Result<u64, String> {
        let dir = &self.config.dir;
        let fs = &*self.fs;
        let generation = self.generation.load(Ordering::Relaxed) + 1;
        let new_log = log_path(dir, generation);
        let file = new_log_file(fs, dir, generation).map_err(|e| e.to_string())?;
        let at = match self.log.switch(file, MAGIC_LEN) {
            Ok(at) => at,
            Err(error) => {
                let _ = fs.remove(&new_log);
                return Err(error);
            }
        };
        self.generation.store(generation, Ordering::Relaxed);
        let committed = snapshot_path(dir, generation);
        let temporary = PathBuf::from(format!("{}{}", committed.display(), layout::TEMPORARY));
        let size = match self.write_snapshot(&temporary) {
            Ok(size) => size,
            Err(error) => {
                let _ = fs.remove(&temporary);
                return Err(error);
            }
        };
        fs.rename(&temporary, &committed)
            .and_then(|()| fs.sync_dir(dir))
            .map_err(|e| format!("cannot commit snapshot {}: {e}", committed.display()))?;
        self.log.covered(at);
        self.snapshot_size.store(size, Ordering::Relaxed);
        self.base_size.store(size + MAGIC_LEN, Ordering::Relaxed);
        // Everything older is stale now; what cannot be removed here goes at the next start.
        if let Ok(layout) = Layout::scan(fs, dir) {
            for name in layout.stale {
                if let Err(error) = fs.remove(&dir.join(&name)) {
                    tracing::warn!(file = name, %error, "cannot remove a stale persistence file");
                }
            }
        }
        Ok(size)
    }

    /// Writes every live entry, shard by shard, then the end record; fsyncs. Each shard is
    /// locked only while it is copied into a buffer, never while the disk is written.
    fn write_snapshot(&self, path: &Path) -> std::result::Result<u64, String> {
        let failed = |e: std::io::Error| format!("cannot write snapshot {}: {e}", path.display());
        let mut file = self.fs.create(path).map_err(failed)?;
        write_all(&mut *file, SNAPSHOT_MAGIC).map_err(failed)?;
        let mut size = MAGIC_LEN;
        let mut count = 0u64;
        let mut buffer = BytesMut::new();
        for shard in 0..self.store.shard_count() {
            buffer.clear();
            self.store
                .for_each_entry_in_shard(shard, |key, value, expires_at| {
                    encode_change(
                        &Change::Set {
                            key,
                            value,
                            expires_at,
                        },
                        &mut buffer,
                    );
                    count += 1;
                });
            write_all(&mut *file, &buffer).map_err(failed)?;
            size += buffer.len() as u64;
        }
        buffer.clear();
        encode_end(count, &mut buffer);
        write_all(&mut *file, &buffer).map_err(failed)?;
        size += buffer.len() as u64;
        file.sync().map_err(failed)?;
        Ok(size)
    }
}

impl Drop for Persistence {
    fn drop(&mut self) {
        self.inner.close();
    }
}

/// Creates log `generation` with its header, durable (file and directory entry).
fn new_log_file(fs: &dyn Fs, dir: &Path, generation: u64) -> Result<Box<dyn crate::fs::WriteFile>> {
    let path = log_path(dir, generation);
    let mut file = fs.create(&path).map_err(Error::io("create", &path))?;
    write_all(&mut *file, LOG_MAGIC).map_err(Error::io("write", &path))?;
    file.sync().map_err(Error::io("sync", &path))?;
    fs.sync_dir(dir).map_err(Error::io("sync", dir))?;
    Ok(file)
}

/// Takes the directory's lock file, so two nodes never write one directory.
fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(layout::LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(Error::io("open", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
            dir: dir.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", &path)(e)),
    }
}
