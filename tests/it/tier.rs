//! The disk tier through the real binary: large values live on disk and answer every command
//! as if in memory, evicted entries stay readable from disk, and the tier survives a restart
//! and `kill -9` with persistence on.

use anyhow::Context;
use cache_tests::NodeProcess;

use crate::support::{Rng, connect, info, info_field};

fn tier_number(con: &mut redis::Connection, name: &str) -> anyhow::Result<u64> {
    let text = info(con, "tier")?;
    info_field(&text, name)
        .with_context(|| format!("no {name} in {text}"))?
        .parse()
        .context("a number")
}

fn used_memory(con: &mut redis::Connection) -> anyhow::Result<u64> {
    let text = info(con, "memory")?;
    info_field(&text, "used_memory")
        .context("used_memory")?
        .parse()
        .context("a number")
}

fn node(dir: &std::path::Path, extra: &[&str]) -> anyhow::Result<NodeProcess> {
    let data = dir.join("data");
    let mut args = vec![
        "--dir",
        data.to_str().context("path")?,
        "--appendfsync",
        "always",
        "--disk-tier",
        "--tier-threshold",
        "4kb",
    ];
    args.extend_from_slice(extra);
    NodeProcess::start(&args)
}

#[test]
fn large_values_live_on_disk_and_behave_as_in_memory() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let node = node(dir.path(), &[])?;
    let mut con = connect(&node)?;
    let mut rng = Rng::new(7);
    let images: Vec<Vec<u8>> = (0..20).map(|i| rng.bytes(20_000 + i * 1000)).collect();
    let before = used_memory(&mut con)?;
    for (i, image) in images.iter().enumerate() {
        redis::cmd("SET")
            .arg(format!("img:{i}"))
            .arg(image)
            .query::<()>(&mut con)?;
    }
    redis::cmd("SET")
        .arg("small")
        .arg("v")
        .query::<()>(&mut con)?;
    assert_eq!(tier_number(&mut con, "tier_keys")?, 20);
    let grown = used_memory(&mut con)? - before;
    assert!(
        grown < 10_000,
        "values over the threshold are not in memory: {grown} bytes"
    );

    for (i, image) in images.iter().enumerate() {
        let got: Vec<u8> = redis::cmd("GET").arg(format!("img:{i}")).query(&mut con)?;
        assert_eq!(&got, image, "img:{i}");
    }
    let got: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
        .arg("img:3")
        .arg("small")
        .arg("none")
        .query(&mut con)?;
    assert_eq!(
        got,
        vec![Some(images[3].clone()), Some(b"v".to_vec()), None]
    );
    let len: usize = redis::cmd("STRLEN").arg("img:4").query(&mut con)?;
    assert_eq!(len, images[4].len());
    let n: i64 = redis::cmd("EXISTS")
        .arg("img:1")
        .arg("small")
        .arg("none")
        .query(&mut con)?;
    assert_eq!(n, 2);
    let kind: String = redis::cmd("TYPE").arg("img:1").query(&mut con)?;
    assert_eq!(kind, "string");
    let size: i64 = redis::cmd("DBSIZE").query(&mut con)?;
    assert_eq!(size, 21);
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("img:1*").query(&mut con)?;
    keys.sort();
    assert_eq!(keys.len(), 11, "{keys:?}");

    // A value on disk keeps its TTL; EXPIRE and APPEND work on it.
    redis::cmd("SET")
        .arg("img:0")
        .arg(&images[0])
        .arg("EX")
        .arg(100)
        .query::<()>(&mut con)?;
    let ttl: i64 = redis::cmd("TTL").arg("img:0").query(&mut con)?;
    assert!((99..=100).contains(&ttl), "{ttl}");
    let set: i64 = redis::cmd("EXPIRE").arg("img:1").arg(50).query(&mut con)?;
    assert_eq!(set, 1);
    let ttl: i64 = redis::cmd("TTL").arg("img:1").query(&mut con)?;
    assert!((49..=50).contains(&ttl), "{ttl}");
    let len: usize = redis::cmd("APPEND")
        .arg("img:2")
        .arg("tail")
        .query(&mut con)?;
    assert_eq!(len, images[2].len() + 4);
    let got: Vec<u8> = redis::cmd("GET").arg("img:2").query(&mut con)?;
    assert_eq!(&got[..images[2].len()], &images[2][..]);
    assert_eq!(&got[images[2].len()..], b"tail");
    let nx: bool = redis::cmd("SETNX").arg("img:5").arg("x").query(&mut con)?;
    assert!(!nx, "SETNX sees a key that is on disk");

    // A small value replaces a large one, and DEL and GETDEL reach the disk.
    redis::cmd("SET")
        .arg("img:6")
        .arg("tiny")
        .query::<()>(&mut con)?;
    let got: String = redis::cmd("GET").arg("img:6").query(&mut con)?;
    assert_eq!(got, "tiny");
    let deleted: i64 = redis::cmd("DEL")
        .arg("img:7")
        .arg("img:8")
        .arg("none")
        .query(&mut con)?;
    assert_eq!(deleted, 2);
    let got: Vec<u8> = redis::cmd("GETDEL").arg("img:9").query(&mut con)?;
    assert_eq!(got, images[9]);
    let gone: Option<Vec<u8>> = redis::cmd("GET").arg("img:9").query(&mut con)?;
    assert_eq!(gone, None);
    assert_eq!(tier_number(&mut con, "tier_keys")?, 16);

    // Everything comes back after kill -9 (appendfsync always: the tier fsyncs each write).
    node.kill();
    let node = self::node(dir.path(), &[])?;
    let mut con = connect(&node)?;
    assert_eq!(tier_number(&mut con, "tier_keys")?, 16);
    let got: Vec<u8> = redis::cmd("GET").arg("img:19").query(&mut con)?;
    assert_eq!(got, images[19]);
    let got: String = redis::cmd("GET").arg("img:6").query(&mut con)?;
    assert_eq!(got, "tiny");
    let gone: Option<Vec<u8>> = redis::cmd("GET").arg("img:7").query(&mut con)?;
    assert_eq!(gone, None);
    let got: Vec<u8> = redis::cmd("GET").arg("img:2").query(&mut con)?;
    assert_eq!(got.len(), images[2].len() + 4);
    let ttl: i64 = redis::cmd("TTL").arg("img:1").query(&mut con)?;
    assert!((1..=50).contains(&ttl), "{ttl}");

    redis::cmd("FLUSHALL").query::<()>(&mut con)?;
    assert_eq!(tier_number(&mut con, "tier_keys")?, 0);
    let size: i64 = redis::cmd("DBSIZE").query(&mut con)?;
    assert_eq!(size, 0);
    Ok(())
}

#[test]
fn evicted_entries_stay_readable_from_disk() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let tier = dir.path().join("tier");
    let node = NodeProcess::start(&[
        "--maxmemory",
        "200kb",
        "--tier-evict",
        "--tier-dir",
        tier.to_str().context("path")?,
    ])?;
    let mut con = connect(&node)?;
    let mut rng = Rng::new(11);
    let values: Vec<Vec<u8>> = (0..2000).map(|_| rng.bytes(1000)).collect();
    for (i, value) in values.iter().enumerate() {
        redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(value)
            .query::<()>(&mut con)?;
    }
    assert!(used_memory(&mut con)? <= 200 * 1024);
    let evicted = tier_number(&mut con, "tier_evictions_in")?;
    assert!(
        evicted > 1000,
        "most entries were evicted to disk: {evicted}"
    );
    for (i, value) in values.iter().enumerate() {
        let got: Vec<u8> = redis::cmd("GET").arg(format!("k{i}")).query(&mut con)?;
        assert_eq!(&got, value, "k{i}");
    }
    assert!(tier_number(&mut con, "tier_hits")? > 1000);
    // A key evicted to disk and then deleted is gone from both.
    let deleted: i64 = redis::cmd("DEL").arg("k0").query(&mut con)?;
    assert_eq!(deleted, 1);
    let gone: Option<Vec<u8>> = redis::cmd("GET").arg("k0").query(&mut con)?;
    assert_eq!(gone, None);
    Ok(())
}

#[test]
fn the_tier_needs_a_directory() -> anyhow::Result<()> {
    let output = std::process::Command::new(cache_tests::binary("cache-node"))
        .args(["--listen", "tcp://127.0.0.1:0", "--disk-tier"])
        .output()?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--tier-dir"), "{stderr}");
    Ok(())
}

/// Clients writing, appending to and deleting their own keys while each other's writes evict
/// those keys to disk: every key ends with the value its client last wrote, and no key is
/// left in both places (a disk copy behind the memory one would come back once the memory
/// copy went).
#[test]
fn moves_and_evictions_racing_on_the_same_keys_lose_nothing() -> anyhow::Result<()> {
    const CLIENTS: u64 = 4;
    const KEYS: u64 = 30;
    const OPS: usize = 1500;
    let dir = tempfile::tempdir()?;
    let tier = dir.path().join("tier");
    let node = NodeProcess::start(&[
        "--maxmemory",
        "64kb",
        "--tier-evict",
        "--tier-threshold",
        "4kb",
        "--tier-dir",
        tier.to_str().context("path")?,
    ])?;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let mut con = connect(&node)?;
            Ok(std::thread::spawn(move || -> anyhow::Result<_> {
                let mut rng = Rng::new(100 + client);
                let mut model: Vec<Option<Vec<u8>>> = vec![None; KEYS as usize];
                for op in 0..OPS {
                    let k = (rng.next_u64() % KEYS) as usize;
                    let key = format!("c{client}:k{k}");
                    match rng.next_u64() % 20 {
                        0..=6 => {
                            let len = 200 + rng.next_u64() % 1800;
                            let value = rng.bytes(len as usize);
                            redis::cmd("SET")
                                .arg(&key)
                                .arg(&value)
                                .query::<()>(&mut con)?;
                            model[k] = Some(value);
                        }
                        7..=9 => {
                            let len = 5000 + rng.next_u64() % 3000;
                            let value = rng.bytes(len as usize);
                            redis::cmd("SET")
                                .arg(&key)
                                .arg(&value)
                                .query::<()>(&mut con)?;
                            model[k] = Some(value);
                        }
                        10..=14 => {
                            let len = 300 + rng.next_u64() % 700;
                            let suffix = rng.bytes(len as usize);
                            let len: usize = redis::cmd("APPEND")
                                .arg(&key)
                                .arg(&suffix)
                                .query(&mut con)?;
                            let value = model[k].get_or_insert_with(Vec::new);
                            value.extend_from_slice(&suffix);
                            anyhow::ensure!(len == value.len(), "APPEND {key} at op {op}");
                        }
                        15..=17 => {
                            let got: Option<Vec<u8>> =
                                redis::cmd("GET").arg(&key).query(&mut con)?;
                            anyhow::ensure!(got == model[k], "GET {key} at op {op}");
                        }
                        _ => {
                            redis::cmd("DEL").arg(&key).query::<()>(&mut con)?;
                            model[k] = None;
                        }
                    }
                }
                Ok((client, model))
            }))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut con = connect(&node)?;
    let mut present = 0;
    for handle in clients {
        let (client, model) = handle
            .join()
            .map_err(|_| anyhow::anyhow!("client panicked"))??;
        for (k, expected) in model.iter().enumerate() {
            let key = format!("c{client}:k{k}");
            let got: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query(&mut con)?;
            assert!(got == *expected, "{key} ends with its last written value");
            present += usize::from(expected.is_some());
        }
    }
    assert!(
        tier_number(&mut con, "tier_evictions_in")? > 100,
        "the clients' writes kept evicting each other's keys"
    );
    let dbsize: usize = redis::cmd("DBSIZE").query(&mut con)?;
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con)?;
    assert_eq!(keys.len(), present, "KEYS lists each key once");
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), present, "no key is both in memory and on disk");
    assert_eq!(dbsize, present);
    Ok(())
}
