//! Disk faults on a whole node: an in-process `cache-node` whose persistence and disk tier do
//! their file I/O through a fault-injecting `Fs`, driven over the wire by a real client. For
//! each fault: what the client sees, that reads go on, and that nothing acknowledged is lost.
//! `FaultyFs` fills the disk, fails fsync, or fails the writes to one kind of file (the log,
//! a snapshot, a tier segment) with `EIO`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cache_node::{NodeConfig, Server};
use cache_persist::{FaultyFs, Fs, Fsync, RealFs};
use cache_wire::endpoint::Endpoint;

use crate::support::{connect_url, error_text, eventually, info, info_field, query_error};

/// A node serving in a runtime of its own until dropped.
struct InProcess {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
    done: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl InProcess {
    fn start(config: NodeConfig, fs: impl Fs + 'static) -> anyhow::Result<InProcess> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let server = runtime.block_on(Server::bind_with_fs(config, Arc::new(fs)))?;
        let endpoint = server
            .endpoints()
            .into_iter()
            .next()
            .context("no endpoint")?;
        let addr = endpoint
            .strip_prefix("tcp://")
            .context("a tcp endpoint")?
            .to_owned();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = runtime.spawn(server.run(async {
            let _ = stopped.await;
        }));
        Ok(InProcess {
            url: format!("redis://{addr}/"),
            stop: Some(stop),
            runtime: Some(runtime),
            done: Some(done),
        })
    }

    /// Stops the node cleanly (flushing what it can), waiting for it.
    fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let (Some(runtime), Some(done)) = (self.runtime.take(), self.done.take()) {
            runtime.block_on(done)??;
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
        Ok(())
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn config(dir: &std::path::Path, fsync: Fsync) -> NodeConfig {
    let mut config = NodeConfig {
        listen: vec![Endpoint::Tcp("127.0.0.1:0".to_owned())],
        ..NodeConfig::default()
    };
    config.background.stats_log_interval = 0;
    config.persistence.dir = Some(dir.to_owned());
    config.persistence.appendfsync = fsync;
    config.tier.enabled = true;
    config.tier.threshold = 1000;
    config
}

#[test]
fn a_full_disk_refuses_writes_keeps_reads_and_loses_nothing_acknowledged() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let fs = FaultyFs::new();
    let node = InProcess::start(config(dir.path(), Fsync::EverySec), fs.clone())?;
    let mut con = connect_url(&node.url)?;
    let big = vec![7u8; 5000];
    redis::cmd("SET")
        .arg("before")
        .arg("1")
        .query::<()>(&mut con)?;
    redis::cmd("SET")
        .arg("big")
        .arg(&big)
        .query::<()>(&mut con)?;
    redis::cmd("SAVE").query::<()>(&mut con)?;

    fs.disk_full_after(0);
    // The write that finds the disk full is in memory; the ones after it are refused.
    let _ = redis::cmd("SET")
        .arg("during")
        .arg("x")
        .query::<()>(&mut con);
    // (Within the time it takes the log writer to meet the full disk.)
    let refused = eventually(Duration::from_secs(10), || {
        let reply = redis::cmd("SET").arg("k").arg("v").query::<()>(&mut con);
        Ok(reply.err().map(|e| crate::support::error_text(&e)))
    })?;
    assert!(refused.starts_with("MISCONF"), "{refused}");
    assert!(refused.contains("operation log"), "{refused}");
    let got: String = redis::cmd("GET").arg("before").query(&mut con)?;
    assert_eq!(got, "1", "reads go on");
    let got: Vec<u8> = redis::cmd("GET").arg("big").query(&mut con)?;
    assert_eq!(got, big, "the disk tier is read too");
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut con)?;
    assert!(info.contains("aof_last_write_status:err"), "{info}");

    fs.heal();
    eventually(Duration::from_secs(10), || {
        Ok(redis::cmd("SET")
            .arg("after")
            .arg("2")
            .query::<()>(&mut con)
            .ok())
    })?;
    redis::cmd("SAVE").query::<()>(&mut con)?;
    drop(con);
    node.stop()?;

    let node = InProcess::start(config(dir.path(), Fsync::EverySec), FaultyFs::new())?;
    let mut con = connect_url(&node.url)?;
    let got: String = redis::cmd("GET").arg("before").query(&mut con)?;
    assert_eq!(got, "1");
    let got: String = redis::cmd("GET").arg("after").query(&mut con)?;
    assert_eq!(got, "2");
    let got: Vec<u8> = redis::cmd("GET").arg("big").query(&mut con)?;
    assert_eq!(got, big);
    Ok(())
}

#[test]
fn an_fsync_failure_under_always_answers_ioerr_and_closes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let fs = FaultyFs::new();
    let node = InProcess::start(config(dir.path(), Fsync::Always), fs.clone())?;
    let mut con = connect_url(&node.url)?;
    redis::cmd("SET")
        .arg("durable")
        .arg("1")
        .query::<()>(&mut con)?;

    fs.fail_sync(true);
    let error = query_error(redis::cmd("SET").arg("k").arg("v"), &mut con)?;
    assert!(error.starts_with("IOERR"), "{error}");
    assert!(
        redis::cmd("PING").query::<String>(&mut con).is_err(),
        "the connection closes after IOERR"
    );
    let mut con = connect_url(&node.url)?;
    let error = query_error(redis::cmd("SET").arg("k2").arg("v"), &mut con)?;
    assert!(error.starts_with("MISCONF"), "writes stay refused: {error}");
    let got: String = redis::cmd("GET").arg("durable").query(&mut con)?;
    assert_eq!(got, "1", "reads go on");
    fs.heal();
    eventually(Duration::from_secs(15), || {
        Ok(redis::cmd("SET")
            .arg("later")
            .arg("3")
            .query::<()>(&mut con)
            .ok())
    })?;
    drop(con);
    node.stop()?;

    let node = InProcess::start(config(dir.path(), Fsync::Always), FaultyFs::new())?;
    let mut con = connect_url(&node.url)?;
    let got: String = redis::cmd("GET").arg("durable").query(&mut con)?;
    assert_eq!(got, "1");
    let got: String = redis::cmd("GET").arg("later").query(&mut con)?;
    assert_eq!(got, "3");
    Ok(())
}

/// The `INFO section` field `name`.
fn field(con: &mut redis::Connection, section: &str, name: &str) -> anyhow::Result<String> {
    let text = info(con, section)?;
    info_field(&text, name)
        .map(str::to_owned)
        .with_context(|| format!("INFO {section} has no {name}:\n{text}"))
}

/// Asserts that `key` holds `value`.
fn assert_holds(con: &mut redis::Connection, key: &str, value: &[u8]) -> anyhow::Result<()> {
    let got: Option<Vec<u8>> = redis::cmd("GET").arg(key).query(con)?;
    assert_eq!(
        got.as_deref(),
        Some(value),
        "{key} does not hold what was acknowledged"
    );
    Ok(())
}

#[test]
fn a_log_write_error_under_everysec_refuses_writes_and_loses_nothing_acknowledged()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let disk = FaultyFs::new();
    let node = InProcess::start(config(dir.path(), Fsync::EverySec), disk.clone())?;
    let mut con = connect_url(&node.url)?;
    redis::cmd("SET")
        .arg("before")
        .arg("1")
        .query::<()>(&mut con)?;
    redis::cmd("SAVE").query::<()>(&mut con)?;

    disk.fail_writes_to("log.");
    // everysec answers a write before the log is written: the writes answered until the writer
    // meets the error are acknowledged, and must not be lost.
    let mut acknowledged = Vec::new();
    let refused = eventually(Duration::from_secs(10), || {
        let key = format!("during:{}", acknowledged.len());
        match redis::cmd("SET").arg(&key).arg(&key).query::<()>(&mut con) {
            Ok(()) => {
                acknowledged.push(key);
                Ok(None)
            }
            Err(error) => Ok(Some(error_text(&error))),
        }
    })?;
    assert!(
        !acknowledged.is_empty(),
        "under everysec the first write after the fault is answered before it is written"
    );
    assert!(
        refused
            .starts_with("MISCONF errors writing to the operation log: writing the log failed: ")
            && refused.contains("os error 5"),
        "{refused}"
    );
    assert_eq!(
        field(&mut con, "persistence", "aof_last_write_status")?,
        "err"
    );
    assert_holds(&mut con, "before", b"1")?;
    for key in &acknowledged {
        assert_holds(&mut con, key, key.as_bytes())?;
    }

    disk.heal();
    // The writer retries every second and writes what it kept.
    eventually(Duration::from_secs(10), || {
        Ok(redis::cmd("SET")
            .arg("after")
            .arg("2")
            .query::<()>(&mut con)
            .ok())
    })?;
    assert_eq!(
        field(&mut con, "persistence", "aof_last_write_status")?,
        "ok"
    );
    drop(con);
    node.stop()?;

    let node = InProcess::start(config(dir.path(), Fsync::EverySec), RealFs)?;
    let mut con = connect_url(&node.url)?;
    assert_holds(&mut con, "before", b"1")?;
    assert_holds(&mut con, "after", b"2")?;
    for key in &acknowledged {
        assert_holds(&mut con, key, key.as_bytes())?;
    }
    Ok(())
}

#[test]
fn a_log_write_error_under_always_answers_ioerr_and_loses_nothing_acknowledged()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let disk = FaultyFs::new();
    let node = InProcess::start(config(dir.path(), Fsync::Always), disk.clone())?;
    let mut con = connect_url(&node.url)?;
    redis::cmd("SET")
        .arg("durable")
        .arg("1")
        .query::<()>(&mut con)?;

    disk.fail_writes_to("log.");
    let error = query_error(redis::cmd("SET").arg("k").arg("v"), &mut con)?;
    assert!(
        error.starts_with(
            "IOERR the write is applied in memory but not durable: writing the log failed: "
        ) && error.contains("os error 5"),
        "{error}"
    );
    assert!(
        redis::cmd("PING").query::<String>(&mut con).is_err(),
        "the connection closes after IOERR"
    );
    let mut con = connect_url(&node.url)?;
    let error = query_error(redis::cmd("SET").arg("k2").arg("v"), &mut con)?;
    assert!(error.starts_with("MISCONF"), "writes stay refused: {error}");
    assert_holds(&mut con, "durable", b"1")?;
    assert_holds(&mut con, "k", b"v")?;

    disk.heal();
    eventually(Duration::from_secs(10), || {
        Ok(redis::cmd("SET")
            .arg("later")
            .arg("3")
            .query::<()>(&mut con)
            .ok())
    })?;
    drop(con);
    node.stop()?;

    let node = InProcess::start(config(dir.path(), Fsync::Always), RealFs)?;
    let mut con = connect_url(&node.url)?;
    assert_holds(&mut con, "durable", b"1")?;
    assert_holds(&mut con, "later", b"3")?;
    // The record the disk refused was kept and written once it could be, before "later".
    assert_holds(&mut con, "k", b"v")?;
    Ok(())
}

#[test]
fn a_failed_rewrite_keeps_serving_and_leaves_a_loadable_directory() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let disk = FaultyFs::new();
    let node = InProcess::start(config(dir.path(), Fsync::EverySec), disk.clone())?;
    let mut con = connect_url(&node.url)?;
    for i in 0..100 {
        redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query::<()>(&mut con)?;
    }

    disk.fail_writes_to("snapshot.");
    let status: String = redis::cmd("BGREWRITEAOF").query(&mut con)?;
    assert_eq!(status, "Background append only file rewriting started");
    eventually(Duration::from_secs(10), || {
        Ok(
            (field(&mut con, "persistence", "aof_rewrite_in_progress")? == "0"
                && field(&mut con, "persistence", "aof_last_bgrewrite_status")? == "err")
                .then_some(()),
        )
    })?;
    // The log is fine: writes go on, and SAVE still makes them durable.
    for i in 0..100 {
        redis::cmd("SET")
            .arg(format!("m{i}"))
            .arg(i)
            .query::<()>(&mut con)?;
    }
    redis::cmd("SAVE").query::<()>(&mut con)?;
    assert_eq!(
        field(&mut con, "persistence", "aof_last_write_status")?,
        "ok"
    );
    assert_eq!(field(&mut con, "persistence", "aof_rewrites")?, "0");
    drop(con);
    node.stop()?;

    // The failed rewrite left the old files (and the log it switched to): all of it loads.
    let check = |con: &mut redis::Connection| -> anyhow::Result<()> {
        for i in 0..100 {
            assert_holds(con, &format!("k{i}"), i.to_string().as_bytes())?;
            assert_holds(con, &format!("m{i}"), i.to_string().as_bytes())?;
        }
        Ok(())
    };
    let node = InProcess::start(config(dir.path(), Fsync::EverySec), RealFs)?;
    let mut con = connect_url(&node.url)?;
    check(&mut con)?;
    // On a healthy disk the next rewrite commits, and the directory still loads.
    redis::cmd("BGREWRITEAOF").query::<String>(&mut con)?;
    eventually(Duration::from_secs(10), || {
        Ok((field(&mut con, "persistence", "aof_rewrites")? == "1"
            && field(&mut con, "persistence", "aof_last_bgrewrite_status")? == "ok")
            .then_some(()))
    })?;
    drop(con);
    node.stop()?;
    let node = InProcess::start(config(dir.path(), Fsync::EverySec), RealFs)?;
    check(&mut connect_url(&node.url)?)?;
    Ok(())
}

#[test]
fn a_disk_tier_write_error_keeps_the_value_in_memory_and_durable() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let disk = FaultyFs::new();
    let node = InProcess::start(config(dir.path(), Fsync::Always), disk.clone())?;
    let mut con = connect_url(&node.url)?;
    let big = vec![9u8; 5000];
    let other = vec![3u8; 6000];

    disk.fail_writes_to("segment.");
    redis::cmd("SET")
        .arg("big")
        .arg(&big)
        .query::<()>(&mut con)?;
    assert_holds(&mut con, "big", &big)?;
    let errors: u64 = field(&mut con, "tier", "tier_write_errors")?.parse()?;
    assert!(errors >= 1, "the refused segment write was not counted");
    let last = field(&mut con, "tier", "tier_last_error")?;
    assert!(last.contains("os error 5"), "tier_last_error: {last:?}");
    assert_eq!(field(&mut con, "tier", "tier_keys")?, "0", "not on disk");
    assert_eq!(
        field(&mut con, "persistence", "aof_last_write_status")?,
        "ok"
    );

    disk.heal();
    redis::cmd("SET")
        .arg("other")
        .arg(&other)
        .query::<()>(&mut con)?;
    assert_eq!(field(&mut con, "tier", "tier_keys")?, "1", "on disk again");
    assert_eq!(field(&mut con, "tier", "tier_last_error")?, "");
    drop(con);
    node.stop()?;

    let node = InProcess::start(config(dir.path(), Fsync::Always), RealFs)?;
    let mut con = connect_url(&node.url)?;
    assert_holds(&mut con, "big", &big)?;
    assert_holds(&mut con, "other", &other)?;
    Ok(())
}
