//! Memory limits: writing far more than `maxmemory` keeps the node under its budget by
//! evicting, and `noeviction` refuses writes with Redis's `OOM` error instead.

use redis::cmd;

use crate::support::{connect, error_text, info_number, start};

const VALUE_LEN: usize = 4096;

/// Writes `count` keys `key:<i>` of [`VALUE_LEN`] bytes in pipelines of 250.
fn fill(con: &mut redis::Connection, count: usize) -> anyhow::Result<()> {
    let value = vec![b'x'; VALUE_LEN];
    for start in (0..count).step_by(250) {
        let mut pipe = redis::pipe();
        for i in start..(start + 250).min(count) {
            pipe.cmd("SET").arg(format!("key:{i}")).arg(&value).ignore();
        }
        pipe.exec(con)?;
    }
    Ok(())
}

/// How many of the keys `key:<from>..key:<to>` can still be read.
fn readable(con: &mut redis::Connection, from: usize, to: usize) -> anyhow::Result<usize> {
    let keys: Vec<String> = (from..to).map(|i| format!("key:{i}")).collect();
    let values: Vec<Option<Vec<u8>>> = cmd("MGET").arg(&keys).query(con)?;
    Ok(values
        .iter()
        .flatten()
        .filter(|v| v.len() == VALUE_LEN)
        .count())
}

/// 20 MB into a 2 MiB budget under `policy`.
fn overfill(policy: &str) -> anyhow::Result<()> {
    let max: u64 = 2 << 20;
    let (_node, mut con) = start(&["--maxmemory", "2mb", "--maxmemory-policy", policy])?;
    let count = 20_000_000 / VALUE_LEN;
    fill(&mut con, count)?;

    let used = info_number(&mut con, "memory", "used_memory")?;
    assert_eq!(info_number(&mut con, "memory", "maxmemory")?, max);
    // One entry's worth of slack: its bytes, its key and the engine's bookkeeping.
    let one_entry = (VALUE_LEN + 128) as u64;
    assert!(
        used <= max + one_entry,
        "{policy}: used_memory {used} is over maxmemory {max}"
    );
    let evicted = info_number(&mut con, "stats", "evicted_keys")?;
    assert!(
        evicted > 0,
        "{policy}: nothing evicted after 20 MB into 2 MiB"
    );
    let items: u64 = cmd("DBSIZE").query(&mut con)?;
    assert!(
        items > 0 && items < count as u64,
        "{policy}: DBSIZE {items}"
    );
    assert_eq!(
        items + evicted,
        count as u64,
        "{policy}: keys neither present nor evicted"
    );

    // The store holds about 2 MiB / 4 KiB ≈ 500 entries; a good share of them should be recent.
    let recent = readable(&mut con, count - 100, count)?;
    assert!(
        recent > 0,
        "{policy}: none of the last 100 keys written is readable"
    );
    // Writes still succeed.
    cmd("SET").arg("after").arg("fill").exec(&mut con)?;
    assert_eq!(
        cmd("GET")
            .arg("after")
            .query::<Option<String>>(&mut con)?
            .as_deref(),
        Some("fill")
    );
    Ok(())
}

#[test]
fn overfilling_with_w_tinylfu_stays_under_maxmemory() -> anyhow::Result<()> {
    overfill("w-tinylfu")
}

#[test]
fn overfilling_with_allkeys_lru_stays_under_maxmemory() -> anyhow::Result<()> {
    overfill("allkeys-lru")?;
    // Under LRU the most recent write survives for certain.
    let (_node, mut con) = start(&["--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"])?;
    fill(&mut con, 2000)?;
    assert_eq!(
        readable(&mut con, 1999, 2000)?,
        1,
        "allkeys-lru evicted the key written last"
    );
    Ok(())
}

#[test]
fn overfilling_with_allkeys_lfu_stays_under_maxmemory() -> anyhow::Result<()> {
    overfill("allkeys-lfu")
}

#[test]
fn noeviction_refuses_writes_with_oom_once_full() -> anyhow::Result<()> {
    let max: u64 = 1 << 20;
    let (node, mut con) = start(&["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"])?;
    let value = vec![b'y'; VALUE_LEN];
    let mut written = 0;
    let oom = loop {
        match cmd("SET")
            .arg(format!("key:{written}"))
            .arg(&value)
            .query::<String>(&mut con)
        {
            Ok(_) => written += 1,
            Err(error) => break error_text(&error),
        }
        assert!(
            written < 10_000,
            "40 MB written into a 1 MiB noeviction store without an error"
        );
    };
    assert!(oom.starts_with("OOM"), "the error once full is {oom:?}");
    assert!(written > 100, "refused after only {written} keys");
    assert!(info_number(&mut con, "memory", "used_memory")? <= max);
    assert_eq!(info_number(&mut con, "stats", "evicted_keys")?, 0);
    assert_eq!(cmd("DBSIZE").query::<usize>(&mut con)?, written);

    // Reads and deletes still work, on this connection and on a new one.
    assert_eq!(cmd("GET").arg("key:0").query::<Vec<u8>>(&mut con)?, value);
    let mut other = connect(&node)?;
    let refused = cmd("SET")
        .arg("other")
        .arg(&value)
        .query::<String>(&mut other);
    assert!(refused.is_err_and(|e| error_text(&e).starts_with("OOM")));
    assert_eq!(
        cmd("DEL")
            .arg(&["key:0", "key:1", "key:2"])
            .query::<i64>(&mut other)?,
        3
    );
    // Room again.
    assert_eq!(
        cmd("SET")
            .arg("other")
            .arg(&value)
            .query::<String>(&mut other)?,
        "OK"
    );
    // Raising the limit lets writes through again.
    cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("4mb")
        .exec(&mut con)?;
    fill(&mut con, 200)?;
    Ok(())
}

#[test]
fn lowering_maxmemory_at_runtime_evicts_down_to_it() -> anyhow::Result<()> {
    let (_node, mut con) = start(&["--maxmemory-policy", "allkeys-lru"])?;
    fill(&mut con, 1000)?;
    assert_eq!(cmd("DBSIZE").query::<u64>(&mut con)?, 1000);
    cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("1mb")
        .exec(&mut con)?;
    let used = info_number(&mut con, "memory", "used_memory")?;
    assert!(
        used <= (1 << 20) + (VALUE_LEN as u64 + 128),
        "used_memory {used} after CONFIG SET maxmemory 1mb"
    );
    assert!(info_number(&mut con, "stats", "evicted_keys")? > 0);
    Ok(())
}

/// The point of the frequency-aware policies: a one-pass flood of new keys (a scan) does not
/// push out the keys clients keep reading.
fn hot_keys_survive_a_scan(policy: &str) -> anyhow::Result<()> {
    let (_node, mut con) = start(&["--maxmemory", "2mb", "--maxmemory-policy", policy])?;
    let value = vec![b'h'; VALUE_LEN];
    let hot: Vec<String> = (0..20).map(|i| format!("hot:{i}")).collect();
    let mut pipe = redis::pipe();
    for key in &hot {
        pipe.cmd("SET").arg(key).arg(&value).ignore();
    }
    for _ in 0..50 {
        pipe.cmd("MGET").arg(&hot).ignore();
    }
    pipe.exec(&mut con)?;
    // 20 MB of keys written once and never read.
    fill(&mut con, 20_000_000 / VALUE_LEN)?;
    assert!(info_number(&mut con, "stats", "evicted_keys")? > 0);
    let values: Vec<Option<Vec<u8>>> = cmd("MGET").arg(&hot).query(&mut con)?;
    let kept = values.iter().flatten().count();
    assert!(
        kept >= 18,
        "{policy}: only {kept} of 20 hot keys survived a scan of cold writes"
    );
    Ok(())
}

#[test]
fn hot_keys_survive_a_scan_under_allkeys_lfu() -> anyhow::Result<()> {
    hot_keys_survive_a_scan("allkeys-lfu")
}

#[test]
fn hot_keys_survive_a_scan_under_w_tinylfu() -> anyhow::Result<()> {
    hot_keys_survive_a_scan("w-tinylfu")
}
