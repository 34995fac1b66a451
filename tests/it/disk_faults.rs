//! Disk faults on a whole node: an in-process `cache-node` whose persistence and disk tier do
//! their file I/O through a fault-injecting `Fs`, driven over the wire by a real client. For
//! each fault: what the client sees, that reads go on, and that nothing acknowledged is lost.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cache_node::{NodeConfig, Server};
use cache_persist::{FaultyFs, Fsync};
use cache_wire::endpoint::Endpoint;

use crate::support::{connect_url, eventually, query_error};

/// A node serving in a runtime of its own until dropped.
struct InProcess {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
    done: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl InProcess {
    fn start(config: NodeConfig, fs: FaultyFs) -> anyhow::Result<InProcess> {
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
