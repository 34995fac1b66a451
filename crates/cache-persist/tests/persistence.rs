//! Persistence against a real directory: restart, torn tails, corruption, compaction under
//! writes, and disk faults injected through `FaultyFs`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cache_persist::{
    Batching, Error, FaultyFs, Fs, Fsync, OnCorruption, PersistConfig, Persistence, RealFs,
};
use cache_store::{ExpiryChange, KeyTtl, SetOptions, Store, StoreConfig};

fn store() -> Arc<Store> {
    Arc::new(Store::new(StoreConfig::default()))
}

fn config(dir: &Path, fsync: Fsync) -> PersistConfig {
    PersistConfig {
        fsync,
        batching: Batching {
            bytes: 4096,
            interval: Duration::from_millis(1),
        },
        ..PersistConfig::new(dir)
    }
}

fn open(dir: &Path, fsync: Fsync) -> (Arc<Persistence>, Arc<Store>) {
    open_with(dir, fsync, Arc::new(RealFs)).expect("opens")
}

fn open_with(
    dir: &Path,
    fsync: Fsync,
    fs: Arc<dyn Fs>,
) -> cache_persist::Result<(Arc<Persistence>, Arc<Store>)> {
    let store = store();
    let (persistence, _) = Persistence::open(config(dir, fsync), fs, store.clone())?;
    Ok((persistence, store))
}

fn set(store: &Store, key: &str, value: &str) {
    store
        .set(key.as_bytes(), value.as_bytes(), SetOptions::default())
        .expect("set");
}

fn get(store: &Store, key: &str) -> Option<String> {
    store
        .get(key.as_bytes())
        .map(|v| String::from_utf8(v.to_vec()).expect("utf-8"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Waits until everything appended so far is durable.
fn sync(persistence: &Persistence) -> Result<(), Arc<str>> {
    let offset = persistence.log().appended();
    runtime().block_on(persistence.log().wait_durable(offset))
}

fn log_file(dir: &Path) -> std::path::PathBuf {
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("log."))
        })
        .collect();
    logs.sort();
    logs.pop().expect("a log")
}

#[test]
fn every_kind_of_change_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (persistence, store) = open(dir.path(), Fsync::Always);
    set(&store, "plain", "1");
    store.incr_by(b"counter", 41).expect("incr");
    store.incr_by(b"counter", 1).expect("incr");
    store.append(b"text", b"hello ").expect("append");
    store.append(b"text", b"world").expect("append");
    let later = store.now_ms() + 3_600_000;
    store
        .set(
            b"expiring",
            b"v",
            SetOptions {
                expiry: ExpiryChange::At(later),
                ..SetOptions::default()
            },
        )
        .expect("set");
    set(&store, "persisted", "p");
    store.expire(b"persisted", later, None);
    store.persist(b"persisted");
    set(&store, "deleted", "d");
    store.delete(b"deleted");
    set(&store, "expired", "e");
    store.expire(b"expired", store.now_ms() - 1, None);
    store
        .set_many(&[(b"m1".as_slice(), b"a".as_slice()), (b"m2", b"b")], false)
        .expect("mset");
    sync(&persistence).expect("durable");
    persistence.close();
    drop(persistence);

    let (_persistence, store) = open(dir.path(), Fsync::Always);
    assert_eq!(get(&store, "plain").as_deref(), Some("1"));
    assert_eq!(get(&store, "counter").as_deref(), Some("42"));
    assert_eq!(get(&store, "text").as_deref(), Some("hello world"));
    assert_eq!(store.ttl(b"expiring"), KeyTtl::ExpiresAt(later));
    assert_eq!(store.ttl(b"persisted"), KeyTtl::Persistent);
    assert_eq!(get(&store, "deleted"), None);
    assert_eq!(get(&store, "expired"), None);
    assert_eq!(get(&store, "m2").as_deref(), Some("b"));
    assert_eq!(store.len(), 7);
}

#[test]
fn a_flush_is_replayed_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (persistence, store) = open(dir.path(), Fsync::EverySec);
    set(&store, "before", "1");
    store.flush();
    set(&store, "after", "2");
    persistence.close();
    drop(persistence);
    let (_p, store) = open(dir.path(), Fsync::EverySec);
    assert_eq!(get(&store, "before"), None);
    assert_eq!(get(&store, "after").as_deref(), Some("2"));
}

#[test]
fn a_torn_last_record_is_cut_and_the_rest_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (persistence, store) = open(dir.path(), Fsync::Always);
    for i in 0..100 {
        set(&store, &format!("k{i}"), "value");
    }
    persistence.close();
    drop(persistence);
    let log = log_file(dir.path());
    let full = std::fs::read(&log).expect("read");
    // Cut the last record anywhere inside it, or leave zeros where it was.
    std::fs::write(&log, &full[..full.len() - 5]).expect("write");
    let store = self::store();
    let (persistence, recovery) = Persistence::open(
        config(dir.path(), Fsync::Always),
        Arc::new(RealFs),
        store.clone(),
    )
    .expect("a torn tail does not stop start-up");
    assert_eq!(recovery.log_records, 99);
    let (path, _, dropped) = recovery.cut.clone().expect("reported");
    assert_eq!(path, log);
    assert!(dropped > 0);
    assert_eq!(get(&store, "k98").as_deref(), Some("value"));
    assert_eq!(get(&store, "k99"), None);
    // Appending after the cut works and survives the next restart.
    set(&store, "new", "n");
    sync(&persistence).expect("durable");
    persistence.close();
    drop(persistence);
    let (_p, store) = open(dir.path(), Fsync::Always);
    assert_eq!(get(&store, "new").as_deref(), Some("n"));
    assert_eq!(store.len(), 100);

    let mut zeros = std::fs::read(&log).expect("read");
    zeros.extend_from_slice(&[0; 512]);
    std::fs::write(&log, &zeros).expect("write");
    drop(_p);
    let (_p, store) = open(dir.path(), Fsync::Always);
    assert_eq!(store.len(), 100, "a zero-filled tail is a torn write too");
}

#[test]
fn a_corrupt_record_in_the_middle_stops_start_up_until_repaired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (persistence, store) = open(dir.path(), Fsync::Always);
    for i in 0..50 {
        set(&store, &format!("k{i:02}"), "value");
    }
    persistence.close();
    drop(persistence);
    let log = log_file(dir.path());
    let mut bytes = std::fs::read(&log).expect("read");
    let record = (bytes.len() - 8) / 50;
    let damaged_at = 8 + 20 * record;
    bytes[damaged_at + 12] ^= 0xff;
    std::fs::write(&log, &bytes).expect("write");

    let error = open_with(dir.path(), Fsync::Always, Arc::new(RealFs)).expect_err("stops");
    match &error {
        Error::CorruptLog { path, offset, .. } => {
            assert_eq!(path, &log);
            assert_eq!(*offset, damaged_at as u64);
        }
        other => panic!("expected a corrupt log error, got {other}"),
    }
    let message = error.to_string();
    assert!(
        message.contains(&format!("offset {damaged_at}")),
        "{message}"
    );
    assert!(message.contains("--repair-log"), "{message}");
    assert_eq!(
        std::fs::read(&log).expect("read"),
        bytes,
        "nothing was changed"
    );

    let store = self::store();
    let repair = PersistConfig {
        on_corruption: OnCorruption::Repair,
        ..config(dir.path(), Fsync::Always)
    };
    let (_p, recovery) =
        Persistence::open(repair, Arc::new(RealFs), store.clone()).expect("repairs");
    assert_eq!(recovery.log_records, 20);
    assert_eq!(store.len(), 20);
    assert_eq!(get(&store, "k19").as_deref(), Some("value"));
}

#[test]
fn a_second_node_cannot_open_the_same_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_first, _) = open(dir.path(), Fsync::EverySec);
    let error = open_with(dir.path(), Fsync::EverySec, Arc::new(RealFs)).expect_err("locked");
    assert!(matches!(error, Error::Locked { .. }), "{error}");
}

#[test]
fn compaction_under_concurrent_writes_keeps_every_last_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (persistence, store) = open(dir.path(), Fsync::EverySec);
    for i in 0..2000 {
        set(&store, &format!("k{i}"), "old");
    }
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                for round in 0..20 {
                    for i in (w..2000).step_by(2) {
                        let key = format!("k{i}");
                        if i % 7 == 0 {
                            store.delete(key.as_bytes());
                        } else {
                            set(&store, &key, &format!("r{round}"));
                        }
                    }
                }
            })
        })
        .collect();
    for _ in 0..3 {
        assert!(persistence.request_rewrite() || persistence.status().rewrite_in_progress);
        while persistence.status().rewrite_in_progress || persistence.status().rewrite_scheduled {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    for w in writers {
        w.join().expect("writer");
    }
    assert!(persistence.status().rewrites >= 1);
    let expected: Vec<Option<String>> = (0..2000).map(|i| get(&store, &format!("k{i}"))).collect();
    persistence.close();
    drop(persistence);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("snapshot.")),
        "{names:?}"
    );
    let (_p, store) = open(dir.path(), Fsync::EverySec);
    for (i, value) in expected.iter().enumerate() {
        assert_eq!(&get(&store, &format!("k{i}")), value, "k{i}");
    }
}

#[test]
fn the_log_rewrites_itself_when_it_outgrows_the_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store();
    let config = PersistConfig {
        rewrite_percentage: 100,
        rewrite_min_size: 64 << 10,
        ..config(dir.path(), Fsync::No)
    };
    let (persistence, _) =
        Persistence::open(config, Arc::new(RealFs), store.clone()).expect("open");
    // One key rewritten over and over: the log grows, the data does not.
    for i in 0..20_000 {
        set(&store, "hot", &format!("value number {i}"));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while persistence.status().rewrites == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = persistence.status();
    assert!(status.rewrites >= 1, "no automatic rewrite: {status:?}");
    assert!(status.log_size < 64 << 10, "{status:?}");
}

#[test]
fn disk_full_refuses_writes_keeps_what_was_durable_and_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = FaultyFs::new();
    let (persistence, store) =
        open_with(dir.path(), Fsync::Always, Arc::new(fs.clone())).expect("open");
    for i in 0..10 {
        set(&store, &format!("durable{i}"), "yes");
    }
    sync(&persistence).expect("durable");
    // Room for a fraction of a record: the next batch is a short write, then ENOSPC.
    fs.disk_full_after(10);
    set(&store, "lost", "no");
    let error = sync(&persistence).expect_err("the disk is full");
    assert!(error.contains("No space left"), "{error}");
    assert!(persistence.log().failure().is_some(), "reported");
    assert_eq!(
        get(&store, "durable3").as_deref(),
        Some("yes"),
        "reads go on"
    );
    // What was durable is intact on disk: a recovery of a copy of the directory reads it all.
    let copy = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let entry = entry.expect("entry");
        if entry.file_name() != "lock" {
            std::fs::copy(entry.path(), copy.path().join(entry.file_name())).expect("copy");
        }
    }
    let (_c, copied) = open(copy.path(), Fsync::Always);
    assert_eq!(copied.len(), 10);
    assert_eq!(get(&copied, "lost"), None);

    // Space comes back: the retry writes the held record and the failure clears.
    fs.heal();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while persistence.log().failure().is_some() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        persistence.log().failure().is_none(),
        "cleared once writable"
    );
    sync(&persistence).expect("durable again");
    persistence.close();
    drop(persistence);
    let (_p, store) = open(dir.path(), Fsync::Always);
    assert_eq!(get(&store, "lost").as_deref(), Some("no"));
    assert_eq!(store.len(), 11);
}

#[test]
fn an_fsync_failure_is_cleared_only_by_a_fresh_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = FaultyFs::new();
    let (persistence, store) =
        open_with(dir.path(), Fsync::Always, Arc::new(fs.clone())).expect("open");
    set(&store, "a", "1");
    sync(&persistence).expect("durable");
    fs.fail_sync(true);
    set(&store, "b", "2");
    let error = sync(&persistence).expect_err("fsync fails");
    assert!(error.contains("fsync"), "{error}");
    assert!(persistence.log().failure().is_some());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        persistence.log().failure().is_some(),
        "still failing while fsync fails"
    );
    fs.fail_sync(false);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while persistence.log().failure().is_some() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        persistence.log().failure().is_none(),
        "a rewrite cleared it"
    );
    assert!(persistence.status().rewrites >= 1);
    persistence.close();
    drop(persistence);
    let (_p, store) = open(dir.path(), Fsync::Always);
    assert_eq!(get(&store, "b").as_deref(), Some("2"));
}
