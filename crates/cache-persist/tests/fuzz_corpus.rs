//! The `oplog` fuzz target on stable: every seed of `fuzz/corpus/oplog/` and a few thousand
//! deterministic mutations of them go through [`cache_persist::fuzzing::oplog`], the check
//! `cargo fuzz` runs, with allocations counted. The seeds are files the real writer made:
//! `cargo test -p cache-persist --test fuzz_corpus -- --ignored` writes them again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cache_persist::{Batching, Fsync, PersistConfig, Persistence, RealFs};
use cache_store::{ExpiryChange, SetOptions, Store, StoreConfig};
use cache_wire::fuzzing::{self, alloc};

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

const MUTATIONS: usize = 3000;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/oplog")
}

#[test]
fn oplog() {
    fuzzing::replay(&corpus_dir(), MUTATIONS, cache_persist::fuzzing::oplog);
}

fn write(name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(corpus_dir()).expect("create the corpus directory");
    std::fs::write(corpus_dir().join(format!("{name}.seed")), bytes).expect("write a seed");
}

/// Runs a node's persistence in `dir` over `changes`, then closes it; returns the files it
/// left, by name.
fn persist(dir: &Path, changes: impl FnOnce(&Store, &Persistence)) -> Vec<(String, Vec<u8>)> {
    let store = Arc::new(Store::new(StoreConfig::default()));
    let config = PersistConfig {
        fsync: Fsync::Always,
        batching: Batching {
            bytes: 4096,
            interval: Duration::from_millis(1),
        },
        ..PersistConfig::new(dir)
    };
    let (persistence, _) =
        Persistence::open(config, Arc::new(RealFs), store.clone()).expect("opens");
    changes(&store, &persistence);
    persistence.close();
    drop(persistence);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != "lock")
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
#[ignore = "writes the seed corpus; run by hand after a format change"]
fn write_seeds() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let files = persist(dir.path(), |store, _| {
        let set = SetOptions::default;
        store.set(b"user:1", b"alice", set()).expect("set");
        store.set(b"user:2", b"bob\r\n\0", set()).expect("set");
        let expiring = SetOptions {
            expiry: ExpiryChange::At(4_102_444_800_000),
            ..SetOptions::default()
        };
        store.set(b"session", b"token", expiring).expect("set");
        store.expire(b"user:1", 4_102_444_800_000, None);
        store.persist(b"user:1");
        store.delete(b"user:2");
        store.set(b"", b"", set()).expect("set");
        store.flush();
        store.set(b"after-flush", &[7; 40], set()).expect("set");
    });
    let log = files
        .iter()
        .find(|(name, _)| name.starts_with("log."))
        .map(|(_, bytes)| bytes.clone())
        .expect("a log");
    write("log", &log);
    // A crash in the middle of the last record: recovery cuts it off.
    write("log_torn_tail", &log[..log.len() - 5]);
    // A damaged record with intact ones after it: recovery stops.
    let mut corrupt = log.clone();
    corrupt[20] ^= 0x40;
    write("log_corrupt_middle", &corrupt);
    write("log_header_only", &log[..8]);
    write("log_short_header", &log[..5]);
    write("empty", b"");
    write("foreign", b"REDIS0011\xfa\x09redis-ver");

    let dir = tempfile::tempdir().expect("a temporary directory");
    let files = persist(dir.path(), |store, persistence| {
        store.set(b"a", b"1", SetOptions::default()).expect("set");
        store.set(b"b", b"2", SetOptions::default()).expect("set");
        let rewrites = persistence.status().rewrites;
        assert!(persistence.request_rewrite());
        while persistence.status().rewrites == rewrites {
            std::thread::sleep(Duration::from_millis(5));
        }
        store.set(b"c", b"3", SetOptions::default()).expect("set");
    });
    for (name, bytes) in &files {
        if name.starts_with("snapshot.") {
            write("snapshot", bytes);
            // The end record's count changed: the snapshot does not match its end.
            let mut miscounted = bytes.clone();
            let at = miscounted.len() - 1;
            miscounted[at] ^= 1;
            write("snapshot_miscounted", &miscounted);
            write("snapshot_no_end", &bytes[..bytes.len() - 11]);
        } else if name.starts_with("log.") && bytes.len() > 8 {
            write("log_after_snapshot", bytes);
        }
    }
}
