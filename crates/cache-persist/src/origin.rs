//! Read-through origins: where a node looks for a key it does not hold.
//!
//! An [`Origin`] answers one key at a time, blocking (a file read or an SQLite query);
//! [`ReadThrough`] runs those loads on tokio's blocking pool, makes concurrent misses on one
//! key share a single load, and caches what it loaded in the store before anyone is answered.
//! "Not there" is a miss; anything else that goes wrong is an [`OriginError`] the client sees.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use cache_store::{ExpiryChange, SetCondition, SetOptions, Store};

use crate::tier::DiskTier;
use parking_lot::Mutex;
use tokio::sync::watch;

/// Why an origin could not answer. The text is what the client sees after `ERR origin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OriginError(pub Arc<str>);

impl OriginError {
    fn new(message: impl Into<String>) -> OriginError {
        OriginError(message.into().into())
    }
}

/// A source of values for keys the cache does not hold.
pub trait Origin: Send + Sync + fmt::Debug {
    /// The value of `key`, `None` when the origin does not have it. Blocks.
    fn load(&self, key: &[u8]) -> Result<Option<Vec<u8>>, OriginError>;
    /// How the origin was named (`dir:/srv/files`), for `INFO` and logs.
    fn describe(&self) -> String;
}

/// Which origin to open, as given on the command line (`dir:PATH` or `sqlite:PATH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginSpec {
    Dir(PathBuf),
    Sqlite(PathBuf),
}

impl std::str::FromStr for OriginSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<OriginSpec, String> {
        let (kind, path) = s.split_once(':').ok_or_else(|| {
            format!("origin {s:?} has no kind; use dir:PATH (a directory of files) or sqlite:PATH (an SQLite database)")
        })?;
        if path.is_empty() {
            return Err(format!("origin {s:?} has no path after {kind}:"));
        }
        match kind {
            "dir" => Ok(OriginSpec::Dir(PathBuf::from(path))),
            "sqlite" => Ok(OriginSpec::Sqlite(PathBuf::from(path))),
            other => Err(format!(
                "unknown origin kind {other:?}; use dir:PATH or sqlite:PATH"
            )),
        }
    }
}

impl fmt::Display for OriginSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OriginSpec::Dir(path) => write!(f, "dir:{}", path.display()),
            OriginSpec::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
        }
    }
}

/// Where in an SQLite database values live: `SELECT value_column FROM table WHERE key_column = ?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteColumns {
    pub table: String,
    pub key_column: String,
    pub value_column: String,
}

impl Default for SqliteColumns {
    fn default() -> SqliteColumns {
        SqliteColumns {
            table: "cache".to_owned(),
            key_column: "key".to_owned(),
            value_column: "value".to_owned(),
        }
    }
}

/// Opens the origin `spec` names, checking that it can answer (the directory exists, the
/// table and columns exist). `max_value_len` bounds what one load may return.
pub fn open_origin(
    spec: &OriginSpec,
    columns: &SqliteColumns,
    max_value_len: usize,
) -> Result<Arc<dyn Origin>, OriginError> {
    Ok(match spec {
        OriginSpec::Dir(path) => Arc::new(DirOrigin::open(path, max_value_len)?),
        OriginSpec::Sqlite(path) => Arc::new(SqliteOrigin::open(path, columns, max_value_len)?),
    })
}

/// A directory of files: the key is a path relative to the directory.
#[derive(Debug)]
pub struct DirOrigin {
    root: PathBuf,
    max_value_len: usize,
}

impl DirOrigin {
    /// The directory at `root`, which must exist.
    pub fn open(root: &Path, max_value_len: usize) -> Result<DirOrigin, OriginError> {
        let root = root
            .canonicalize()
            .map_err(|e| OriginError::new(format!("origin directory {}: {e}", root.display())))?;
        if !root.is_dir() {
            return Err(OriginError::new(format!(
                "origin {} is not a directory",
                root.display()
            )));
        }
        Ok(DirOrigin {
            root,
            max_value_len,
        })
    }

    /// The file `key` names, refusing anything that would leave the directory.
    fn path_of(&self, key: &[u8]) -> Result<PathBuf, OriginError> {
        let refuse = |why: &str| Err(OriginError::new(format!("key refused by origin: {why}")));
        let Ok(relative) = std::str::from_utf8(key) else {
            return refuse("not UTF-8");
        };
        if relative.is_empty() || relative.contains('\0') {
            return refuse("empty or contains NUL");
        }
        let relative = Path::new(relative);
        for component in relative.components() {
            match component {
                Component::Normal(_) => {}
                Component::CurDir => {}
                Component::ParentDir => return refuse("path contains .."),
                Component::RootDir | Component::Prefix(_) => {
                    return refuse("absolute path");
                }
            }
        }
        Ok(self.root.join(relative))
    }
}

impl Origin for DirOrigin {
    fn load(&self, key: &[u8]) -> Result<Option<Vec<u8>>, OriginError> {
        let path = self.path_of(key)?;
        // A symbolic link inside the directory may point out of it: resolve and check.
        let real = match path.canonicalize() {
            Ok(real) => real,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(OriginError::new(format!("origin {}: {e}", path.display()))),
        };
        if !real.starts_with(&self.root) {
            return Err(OriginError::new(
                "key refused by origin: it leads out of the directory",
            ));
        }
        let metadata = std::fs::metadata(&real)
            .map_err(|e| OriginError::new(format!("origin {}: {e}", path.display())))?;
        if !metadata.is_file() {
            return Ok(None);
        }
        if metadata.len() > self.max_value_len as u64 {
            return Err(OriginError::new(format!(
                "origin file {} is {} bytes, over the value limit of {}",
                path.display(),
                metadata.len(),
                self.max_value_len
            )));
        }
        match std::fs::read(&real) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(OriginError::new(format!("origin {}: {e}", path.display()))),
        }
    }

    fn describe(&self) -> String {
        format!("dir:{}", self.root.display())
    }
}

fn is_absent(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// A table in an SQLite database, opened read-only. Connections are pooled: a blocking load
/// takes one, or opens one when all are busy.
#[derive(Debug)]
pub struct SqliteOrigin {
    path: PathBuf,
    query: String,
    max_value_len: usize,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

/// Connections kept open between loads.
const IDLE_CONNECTIONS: usize = 8;

impl SqliteOrigin {
    /// The database at `path`; fails unless `columns` name an existing table and columns.
    pub fn open(
        path: &Path,
        columns: &SqliteColumns,
        max_value_len: usize,
    ) -> Result<SqliteOrigin, OriginError> {
        for name in [&columns.table, &columns.key_column, &columns.value_column] {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(OriginError::new(format!(
                    "origin table or column name {name:?} must be letters, digits and _"
                )));
            }
        }
        let query = format!(
            "SELECT \"{}\" FROM \"{}\" WHERE \"{}\" = ?1 LIMIT 1",
            columns.value_column, columns.table, columns.key_column
        );
        let origin = SqliteOrigin {
            path: path.to_owned(),
            query,
            max_value_len,
            idle: Mutex::new(Vec::new()),
        };
        let connection = origin.connect()?;
        connection.prepare_cached(&origin.query).map_err(|e| {
            OriginError::new(format!(
                "origin {}: {e} (set the table and columns with --origin-table, --origin-key-column, --origin-value-column)",
                path.display()
            ))
        })?;
        origin.idle.lock().push(connection);
        Ok(origin)
    }

    fn connect(&self) -> Result<rusqlite::Connection, OriginError> {
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let connection = rusqlite::Connection::open_with_flags(&self.path, flags)
            .map_err(|e| OriginError::new(format!("origin {}: {e}", self.path.display())))?;
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| OriginError::new(format!("origin {}: {e}", self.path.display())))?;
        Ok(connection)
    }

    fn query(
        &self,
        connection: &rusqlite::Connection,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, OriginError> {
        use rusqlite::types::ValueRef;
        let fail =
            |e: rusqlite::Error| OriginError::new(format!("origin {}: {e}", self.path.display()));
        let mut statement = connection.prepare_cached(&self.query).map_err(fail)?;
        // Text keys match TEXT (and, by affinity, INTEGER) columns; other bytes match BLOBs.
        let mut rows = match std::str::from_utf8(key) {
            Ok(text) => statement.query([text]),
            Err(_) => statement.query([key]),
        }
        .map_err(fail)?;
        let Some(row) = rows.next().map_err(fail)? else {
            return Ok(None);
        };
        let value = match row.get_ref(0).map_err(fail)? {
            ValueRef::Null => return Ok(None),
            ValueRef::Integer(n) => n.to_string().into_bytes(),
            ValueRef::Real(x) => x.to_string().into_bytes(),
            ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
                if bytes.len() > self.max_value_len {
                    return Err(OriginError::new(format!(
                        "origin value is {} bytes, over the value limit of {}",
                        bytes.len(),
                        self.max_value_len
                    )));
                }
                bytes.to_vec()
            }
        };
        Ok(Some(value))
    }
}

impl Origin for SqliteOrigin {
    fn load(&self, key: &[u8]) -> Result<Option<Vec<u8>>, OriginError> {
        let pooled = self.idle.lock().pop();
        let connection = match pooled {
            Some(connection) => connection,
            None => self.connect()?,
        };
        let result = self.query(&connection, key);
        let mut idle = self.idle.lock();
        if idle.len() < IDLE_CONNECTIONS {
            idle.push(connection);
        }
        result
    }

    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }
}

/// What one load found; shared by every request that waited on it.
pub type Loaded = Result<Option<Bytes>, OriginError>;

/// A load started by [`ReadThrough::start`].
#[derive(Debug)]
pub struct Loading(watch::Receiver<Option<Loaded>>);

impl Loading {
    /// What the load found.
    pub async fn wait(mut self) -> Loaded {
        match self.0.wait_for(Option::is_some).await {
            Ok(loaded) => loaded.clone().unwrap_or(Ok(None)),
            Err(_) => Err(OriginError::new("origin load was abandoned")),
        }
    }
}

/// Counters of read-through activity, for `INFO`.
#[derive(Debug, Default)]
pub struct OriginStats {
    /// Loads run against the origin.
    pub loads: AtomicU64,
    /// Loads that found a value.
    pub found: AtomicU64,
    /// Loads that found nothing.
    pub missing: AtomicU64,
    /// Loads that failed.
    pub errors: AtomicU64,
    /// Misses that waited on a load another request had started.
    pub coalesced: AtomicU64,
    /// Microseconds spent in loads, summed.
    pub load_micros: AtomicU64,
}

/// Loads missing keys from an origin into a store, one load per key at a time.
#[derive(Debug)]
pub struct ReadThrough {
    origin: Arc<dyn Origin>,
    store: Arc<Store>,
    /// Absolute expiry for loaded values: milliseconds from the load, 0 = none.
    ttl_ms: u64,
    /// Where values of at least the given size go instead of memory.
    tier: Option<(Arc<DiskTier>, usize)>,
    inflight: Mutex<HashMap<Bytes, watch::Receiver<Option<Loaded>>>>,
    stats: OriginStats,
}

impl ReadThrough {
    /// Fills `store` from `origin`; loaded values expire `ttl_ms` after loading (0 = never).
    /// With a `tier`, values of at least its threshold are kept there instead of in memory.
    pub fn new(
        origin: Arc<dyn Origin>,
        store: Arc<Store>,
        ttl_ms: u64,
        tier: Option<(Arc<DiskTier>, usize)>,
    ) -> Arc<ReadThrough> {
        Arc::new(ReadThrough {
            origin,
            store,
            ttl_ms,
            tier,
            inflight: Mutex::new(HashMap::new()),
            stats: OriginStats::default(),
        })
    }

    pub fn origin(&self) -> &dyn Origin {
        &*self.origin
    }

    pub fn stats(&self) -> &OriginStats {
        &self.stats
    }

    pub fn ttl_ms(&self) -> u64 {
        self.ttl_ms
    }

    /// The origin's value of `key`, cached in the store (unless a write reached the key first).
    /// Concurrent calls for one key share a load; the load finishes even if every caller
    /// gives up. Must be called within a tokio runtime.
    pub async fn load(self: &Arc<Self>, key: Bytes) -> Loaded {
        self.start(key).wait().await
    }

    /// Starts loading `key` (or joins the load already running) and returns at once, so
    /// several keys load side by side: call `start` for each, then [`Loading::wait`] on each.
    pub fn start(self: &Arc<Self>, key: Bytes) -> Loading {
        let mut inflight = self.inflight.lock();
        if let Some(receiver) = inflight.get(&key) {
            self.stats.coalesced.fetch_add(1, Ordering::Relaxed);
            return Loading(receiver.clone());
        }
        // A load that finished between the caller's miss and now has filled the store before
        // leaving the table: answer from the store rather than load the key again.
        let now = self.store.now_ms();
        let cached = self.store.get(&key).or_else(|| {
            let (tier, _) = self.tier.as_ref()?;
            tier.get(&key, now).map(|found| found.value)
        });
        if let Some(value) = cached {
            self.stats.coalesced.fetch_add(1, Ordering::Relaxed);
            return Loading(watch::channel(Some(Ok(Some(value)))).1);
        }
        let (sender, receiver) = watch::channel(None);
        inflight.insert(key.clone(), receiver.clone());
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || this.run_load(key, sender));
        Loading(receiver)
    }

    fn run_load(&self, key: Bytes, sender: watch::Sender<Option<Loaded>>) {
        let started = std::time::Instant::now();
        self.stats.loads.fetch_add(1, Ordering::Relaxed);
        // A panicking origin must not leave the key's entry behind (every later miss would
        // join a load that never ends).
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.origin.load(&key)))
                .unwrap_or_else(|_| {
                    Err(OriginError::new(
                        "the origin failed (panicked) loading this key",
                    ))
                });
        let loaded = match outcome {
            Ok(Some(value)) => {
                self.stats.found.fetch_add(1, Ordering::Relaxed);
                let value = Bytes::from(value);
                self.fill(&key, &value);
                Ok(Some(value))
            }
            Ok(None) => {
                self.stats.missing.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            Err(error) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(origin = %self.origin.describe(), %error, "origin load failed");
                Err(error)
            }
        };
        self.stats
            .load_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        // Leave the table before waking the waiters, so a miss after this starts a new load.
        self.inflight.lock().remove(&key);
        sender.send_replace(Some(loaded));
    }

    /// Caches a loaded value, unless the key was written while the load ran (that write is
    /// newer than the origin's copy).
    fn fill(&self, key: &[u8], value: &[u8]) {
        let now = self.store.now_ms();
        let expires_at = (self.ttl_ms > 0).then(|| now + self.ttl_ms as i64);
        // With a tier, the key may be on disk: it is locked against moves while it is checked.
        let _locked = self.tier.as_ref().map(|(tier, _)| tier.lock_keys([key]));
        if let Some((tier, threshold)) = &self.tier {
            if tier.meta(key, now).is_some() {
                return;
            }
            if value.len() >= *threshold {
                if !self.store.exists(key)
                    && let Err(error) = tier.put(key, value, expires_at)
                {
                    tracing::debug!(%error, "loaded value not kept on disk");
                }
                return;
            }
        }
        let expiry = expires_at.map_or(ExpiryChange::Clear, ExpiryChange::At);
        let options = SetOptions {
            condition: Some(SetCondition::IfAbsent),
            expiry,
            return_old: false,
        };
        if let Err(error) = self.store.set(key, value, options) {
            // The client still gets the value; it is only not cached.
            tracing::debug!(%error, "loaded value not cached");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_specs_parse() {
        assert_eq!(
            "dir:/srv/files".parse::<OriginSpec>(),
            Ok(OriginSpec::Dir("/srv/files".into()))
        );
        assert_eq!(
            "sqlite:db.sqlite".parse::<OriginSpec>(),
            Ok(OriginSpec::Sqlite("db.sqlite".into()))
        );
        assert!("/srv/files".parse::<OriginSpec>().is_err());
        assert!("dir:".parse::<OriginSpec>().is_err());
        assert!("http:x".parse::<OriginSpec>().is_err());
    }

    #[test]
    fn dir_origin_refuses_paths_out_of_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("img")).unwrap();
        std::fs::write(root.join("img/a.png"), b"png").unwrap();
        std::fs::write(dir.path().join("secret"), b"secret").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link")).unwrap();
        let origin = DirOrigin::open(&root, 1024).unwrap();

        assert_eq!(origin.load(b"img/a.png").unwrap(), Some(b"png".to_vec()));
        assert_eq!(origin.load(b"./img/a.png").unwrap(), Some(b"png".to_vec()));
        assert_eq!(origin.load(b"img/missing.png").unwrap(), None);
        assert_eq!(
            origin.load(b"img").unwrap(),
            None,
            "a directory is not a value"
        );
        for key in [
            &b"../secret"[..],
            b"img/../../secret",
            b"/etc/passwd",
            b"link",
            b"",
            b"a\0b",
            b"\xff",
        ] {
            let error = origin.load(key).unwrap_err();
            assert!(error.0.contains("refused"), "{key:?}: {error}");
        }
    }

    #[test]
    fn dir_origin_refuses_files_over_the_value_limit() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big"), vec![0u8; 2048]).unwrap();
        let origin = DirOrigin::open(dir.path(), 1024).unwrap();
        assert!(
            origin
                .load(b"big")
                .unwrap_err()
                .0
                .contains("over the value limit")
        );
    }

    fn products(path: &Path) {
        let db = rusqlite::Connection::open(path).unwrap();
        db.execute_batch(
            "CREATE TABLE products (id INTEGER PRIMARY KEY, body TEXT, price REAL);
             INSERT INTO products VALUES (1, '{\"name\":\"lamp\"}', 9.5), (2, NULL, 1);",
        )
        .unwrap();
    }

    #[test]
    fn sqlite_origin_reads_the_configured_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shop.db");
        products(&path);
        let columns = SqliteColumns {
            table: "products".into(),
            key_column: "id".into(),
            value_column: "body".into(),
        };
        let origin = SqliteOrigin::open(&path, &columns, 1024).unwrap();
        assert_eq!(
            origin.load(b"1").unwrap(),
            Some(br#"{"name":"lamp"}"#.to_vec())
        );
        assert_eq!(origin.load(b"2").unwrap(), None, "NULL is a miss");
        assert_eq!(origin.load(b"3").unwrap(), None);

        let wrong = SqliteColumns {
            table: "nope".into(),
            ..columns.clone()
        };
        let error = SqliteOrigin::open(&path, &wrong, 1024).unwrap_err();
        assert!(error.0.contains("no such table"), "{error}");
        let injected = SqliteColumns {
            table: "products; DROP TABLE products".into(),
            ..columns
        };
        assert!(SqliteOrigin::open(&path, &injected, 1024).is_err());
        assert!(
            SqliteOrigin::open(
                &dir.path().join("absent.db"),
                &SqliteColumns::default(),
                1024
            )
            .is_err()
        );
    }

    /// An origin that counts its loads and takes a while, to see concurrent misses share one.
    #[derive(Debug, Default)]
    struct Slow {
        loads: AtomicU64,
    }

    impl Origin for Slow {
        fn load(&self, key: &[u8]) -> Result<Option<Vec<u8>>, OriginError> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(50));
            match key {
                b"broken" => Err(OriginError::new("disk on fire")),
                b"absent" => Ok(None),
                _ => Ok(Some(key.to_vec())),
            }
        }

        fn describe(&self) -> String {
            "slow".into()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_share_one_load_and_fill_the_store() {
        let slow = Arc::new(Slow::default());
        let store = Arc::new(Store::new(cache_store::StoreConfig::default()));
        let reader = ReadThrough::new(slow.clone(), store.clone(), 0, None);
        let waiters: Vec<_> = (0..16)
            .map(|_| {
                let reader = reader.clone();
                tokio::spawn(async move { reader.load(Bytes::from_static(b"k")).await })
            })
            .collect();
        for waiter in waiters {
            assert_eq!(waiter.await.unwrap(), Ok(Some(Bytes::from_static(b"k"))));
        }
        assert_eq!(slow.loads.load(Ordering::SeqCst), 1);
        assert_eq!(reader.stats().coalesced.load(Ordering::SeqCst), 15);
        assert_eq!(store.get(b"k").as_deref(), Some(&b"k"[..]));

        assert_eq!(reader.load(Bytes::from_static(b"absent")).await, Ok(None));
        let error = reader
            .load(Bytes::from_static(b"broken"))
            .await
            .unwrap_err();
        assert_eq!(&*error.0, "disk on fire");
        assert_eq!(store.get(b"broken"), None);
        // A later miss runs a fresh load: failures are not cached.
        assert!(reader.load(Bytes::from_static(b"broken")).await.is_err());
        assert_eq!(slow.loads.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_during_the_load_wins_over_the_origin() {
        let slow = Arc::new(Slow::default());
        let store = Arc::new(Store::new(cache_store::StoreConfig::default()));
        let reader = ReadThrough::new(slow, store.clone(), 60_000, None);
        let load = tokio::spawn({
            let reader = reader.clone();
            async move { reader.load(Bytes::from_static(b"k")).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        store.set(b"k", b"newer", SetOptions::default()).unwrap();
        load.await.unwrap().unwrap();
        assert_eq!(store.get(b"k").as_deref(), Some(&b"newer"[..]));
        assert_eq!(store.ttl(b"k"), cache_store::KeyTtl::Persistent);
    }
}
