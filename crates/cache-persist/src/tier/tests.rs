//! Tests of the disk tier: reopen, budget and compaction, damaged records, a full disk, remove_if.

use super::*;
use crate::fs::{FaultyFs, RealFs};

fn config(dir: &Path, budget: u64, segment_size: u64, keep: bool) -> TierConfig {
    TierConfig {
        dir: dir.to_owned(),
        budget,
        segment_size,
        fsync: Fsync::No,
        keep,
    }
}

fn value(i: u32, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i as usize * 31 + j) as u8).collect()
}

#[test]
fn values_come_back_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let tier = DiskTier::open(
        config(dir.path(), 1 << 30, 1 << 16, true),
        Arc::new(RealFs),
        0,
    )
    .unwrap();
    for i in 0..100 {
        tier.put(format!("k{i}").as_bytes(), &value(i, 5000), None)
            .unwrap();
    }
    tier.put(b"k7", b"changed", Some(1_000)).unwrap();
    assert!(tier.remove(b"k8"));
    assert!(!tier.remove(b"k8"));
    assert!(tier.status().segments > 5, "segments roll at 64 KiB");
    assert_eq!(tier.get(b"k9", 0).unwrap().value, value(9, 5000));
    assert_eq!(tier.get(b"k7", 999).unwrap().value, &b"changed"[..]);
    assert_eq!(tier.get(b"k7", 1_000), None, "expired");
    assert_eq!(tier.meta(b"k10", 0), Some((5000, None)));
    tier.sync().unwrap();
    drop(tier);

    let tier = DiskTier::open(
        config(dir.path(), 1 << 30, 1 << 16, true),
        Arc::new(RealFs),
        500,
    )
    .unwrap();
    assert_eq!(tier.len(), 99);
    assert_eq!(tier.get(b"k99", 500).unwrap().value, value(99, 5000));
    assert_eq!(tier.get(b"k8", 500), None, "deletes are kept");
    assert_eq!(tier.get(b"k7", 500).unwrap().expires_at, Some(1_000));
    tier.clear().unwrap();
    drop(tier);
    let tier = DiskTier::open(
        config(dir.path(), 1 << 30, 1 << 16, true),
        Arc::new(RealFs),
        0,
    )
    .unwrap();
    assert!(tier.is_empty(), "a flush is kept");
    drop(tier);
    let tier = DiskTier::open(
        config(dir.path(), 1 << 30, 1 << 16, false),
        Arc::new(RealFs),
        0,
    )
    .unwrap();
    assert!(tier.is_empty());
}

#[test]
fn the_budget_drops_the_oldest_segment_and_compaction_reclaims_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let budget = 1 << 20;
    let tier = DiskTier::open(
        config(dir.path(), budget, 1 << 17, true),
        Arc::new(RealFs),
        0,
    )
    .unwrap();
    // 400 KB of distinct keys, each overwritten 5 times: 2 MB written, 400 KB live.
    for round in 0..5 {
        for i in 0..100 {
            tier.put(format!("k{i}").as_bytes(), &value(i + round, 4000), None)
                .unwrap();
            tier.maintain();
        }
    }
    let status = tier.status();
    assert!(status.bytes <= budget + (1 << 17), "{status:?}");
    assert!(tier.stats().compactions.load(Ordering::Relaxed) > 0);
    assert_eq!(
        tier.stats().dropped.load(Ordering::Relaxed),
        0,
        "compaction kept the tier within budget without dropping live keys: {status:?}"
    );
    for i in 0..100 {
        assert_eq!(
            tier.get(format!("k{i}").as_bytes(), 0).unwrap().value,
            value(i + 4, 4000)
        );
    }

    // Distinct keys past the budget: the oldest go, whole segments at a time.
    for i in 0..600 {
        tier.put(format!("n{i}").as_bytes(), &value(i, 4000), None)
            .unwrap();
    }
    let status = tier.status();
    assert!(status.bytes <= budget + (1 << 17), "{status:?}");
    assert!(tier.stats().dropped.load(Ordering::Relaxed) > 0);
    assert!(tier.get(b"n599", 0).is_some(), "the newest stay");
    assert!(tier.get(b"k0", 0).is_none(), "the oldest went");
    let on_disk: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(on_disk, status.bytes, "dropped segments are removed");
}

#[test]
fn a_torn_tail_is_cut_and_a_damaged_record_is_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let tier = DiskTier::open(
        config(dir.path(), 1 << 30, 1 << 30, true),
        Arc::new(RealFs),
        0,
    )
    .unwrap();
    tier.put(b"a", &value(1, 1000), None).unwrap();
    tier.put(b"b", &value(2, 1000), None).unwrap();
    drop(tier);
    let path = segment_path(dir.path(), 1);
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len - 10).unwrap();
    let tier = DiskTier::open(
        config(dir.path(), 1 << 30, 1 << 30, true),
        Arc::new(RealFs),
        0,
    )
    .unwrap();
    assert_eq!(tier.len(), 1, "the torn record is gone");
    assert_eq!(tier.get(b"a", 0).unwrap().value, value(1, 1000));

    // Damage a's value on disk behind the tier's back: the read is a miss, not bad data.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[500] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(tier.get(b"a", 0), None);
    assert_eq!(tier.stats().read_errors.load(Ordering::Relaxed), 1);
}

#[test]
fn a_full_disk_fails_the_put_and_keeps_what_was_there() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    let tier = DiskTier::open(
        config(dir.path(), 1 << 30, 1 << 30, true),
        Arc::new(fs.clone()),
        0,
    )
    .unwrap();
    tier.put(b"a", &value(1, 1000), None).unwrap();
    fs.disk_full_after(500);
    assert!(tier.put(b"b", &value(2, 1000), None).is_err());
    assert!(tier.put(b"a", &value(3, 1000), None).is_err());
    assert!(tier.status().failure.is_some());
    fs.heal();
    assert_eq!(tier.get(b"a", 0).unwrap().value, value(1, 1000));
    assert_eq!(tier.get(b"b", 0), None);
    tier.put(b"c", &value(4, 1000), None).unwrap();
    assert!(tier.status().failure.is_none());
    drop(tier);
    let tier = DiskTier::open(
        config(dir.path(), 1 << 30, 1 << 30, true),
        Arc::new(RealFs),
        0,
    )
    .unwrap();
    assert_eq!(tier.len(), 2, "no partial record was left behind");
    assert_eq!(tier.get(b"c", 0).unwrap().value, value(4, 1000));
}

#[test]
fn remove_if_only_removes_the_record_that_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let tier = DiskTier::open(
        config(dir.path(), 1 << 30, 1 << 30, false),
        Arc::new(RealFs),
        0,
    )
    .unwrap();
    tier.put(b"k", b"one", None).unwrap();
    let first = tier.get(b"k", 0).unwrap();
    tier.put(b"k", b"two", None).unwrap();
    assert!(!tier.remove_if(b"k", first.at));
    let second = tier.get(b"k", 0).unwrap();
    assert!(tier.remove_if(b"k", second.at));
    assert!(tier.is_empty());
}
