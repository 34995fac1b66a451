//! Faults with real processes behind the proxy (and under the Rust cluster client): a node that
//! is slow, hung, cut off, partitioned, killed or stopped, and a persistent node killed with
//! `kill -9`. For each: what clients see, that every request ends within the timeout (plus a
//! margin for a loaded machine), that other nodes' keys are unaffected, that a returning node
//! is flushed before use, and that nothing acknowledged is lost. docs/faults.md has the figures.

mod durability;
mod load;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use cache_client::{ClusterClient, ClusterOptions, Commands, ConnectOptions, DetectorConfig};
use cache_ring::{Algorithm, Member, Ring};
use cache_tests::{NodeProcess, ServerProcess};

use crate::relay::Relay;
use crate::support::{connect, connect_url, error_text, eventually};
use load::Load;

/// The proxy's (and the cluster client's) per-request timeout here.
const TIMEOUT: Duration = Duration::from_millis(300);
/// What a loaded two-core machine may add to a request bounded by [`TIMEOUT`].
const MARGIN: Duration = Duration::from_millis(700);
/// How long a node may take to be marked down or to rejoin before the test calls it stuck.
const DETECTION: Duration = Duration::from_secs(15);

/// Three nodes behind a proxy; node 0 may sit behind a [`Relay`].
struct Cluster {
    proxy: ServerProcess,
    relay: Option<Relay>,
    nodes: Vec<NodeProcess>,
    /// The proxy's name of each node (the relay's address for node 0 if relayed).
    names: Vec<String>,
    ring: Ring,
    _config: tempfile::TempDir,
}

impl Cluster {
    /// Starts the nodes (node 0 with `first_node` flags) and a proxy with a 300 ms timeout,
    /// probes every 100 ms, fall 3 and rise 2; waits until every node is routable.
    fn start(down_mode: &str, relayed: bool, first_node: &[&str]) -> anyhow::Result<Cluster> {
        let mut nodes = vec![NodeProcess::start(first_node)?];
        for _ in 1..3 {
            nodes.push(NodeProcess::start(&[])?);
        }
        let relay = relayed.then(|| Relay::start(&nodes[0].addr)).transpose()?;
        let mut names: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
        if let Some(relay) = &relay {
            names[0] = relay.addr.clone();
        }
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("proxy.toml");
        std::fs::write(
            &config,
            format!(
                "[cluster]\ndown_mode = \"{down_mode}\"\n\n[backend]\ntimeout_ms = {}\nprobe_interval_ms = 100\nfall = 3\nrise = 2\n",
                TIMEOUT.as_millis()
            ),
        )?;
        let mut args = vec![
            "--config".to_owned(),
            config.to_str().context("utf-8 path")?.to_owned(),
        ];
        for name in &names {
            args.extend(["--node".to_owned(), name.clone()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let proxy = ServerProcess::proxy(&args)?;
        let ring = Ring::new(
            Algorithm::Maglev,
            names.iter().map(|n| Member::new(n.clone())).collect(),
        )?;
        let cluster = Cluster {
            proxy,
            relay,
            nodes,
            names,
            ring,
            _config: dir,
        };
        let mut con = cluster.client()?;
        for name in &cluster.names {
            wait_routable(&mut con, name, true)?;
        }
        Ok(cluster)
    }

    fn client(&self) -> anyhow::Result<redis::Connection> {
        connect_url(&self.proxy.url())
    }

    fn relay(&self) -> anyhow::Result<&Relay> {
        self.relay.as_ref().context("the cluster has no relay")
    }

    fn owner(&self, key: &str) -> anyhow::Result<usize> {
        self.ring.node_for(key.as_bytes()).context("an empty ring")
    }

    /// Writes `key:i = i` through the proxy, checks each landed on the node the ring names,
    /// and returns node 0's keys and the others'.
    fn fill(&self, con: &mut redis::Connection) -> anyhow::Result<(Vec<String>, Vec<String>)> {
        let (mut first, mut others) = (Vec::new(), Vec::new());
        let mut direct: Vec<redis::Connection> = self
            .nodes
            .iter()
            .map(connect)
            .collect::<anyhow::Result<_>>()?;
        for i in 0..200 {
            let key = format!("key:{i}");
            redis::cmd("SET").arg(&key).arg(i).query::<()>(con)?;
            let owner = self.owner(&key)?;
            let held: bool = redis::cmd("EXISTS").arg(&key).query(&mut direct[owner])?;
            ensure!(held, "{key} is not on node {owner}, where the ring puts it");
            if owner == 0 {
                first.push(key);
            } else {
                others.push(key);
            }
        }
        ensure!(!first.is_empty() && !others.is_empty());
        Ok((first, others))
    }

    /// The keys of `keys` node 0 holds, asked directly.
    fn held_by_first(&self, keys: &[String]) -> anyhow::Result<usize> {
        let mut direct = connect(&self.nodes[0])?;
        let mut held = 0;
        for key in keys {
            held += redis::cmd("EXISTS").arg(key).query::<usize>(&mut direct)?;
        }
        Ok(held)
    }
}

fn node_line(con: &mut redis::Connection, name: &str) -> anyhow::Result<String> {
    let lines: Vec<String> = redis::cmd("PROXY").arg("NODES").query(con)?;
    lines
        .into_iter()
        .find(|line| line.starts_with(&format!("name={name} ")))
        .with_context(|| format!("PROXY NODES has no {name}"))
}

fn events(con: &mut redis::Connection) -> anyhow::Result<Vec<String>> {
    Ok(redis::cmd("PROXY").arg("EVENTS").query(con)?)
}

/// Waits until the proxy routes to `name` (or stops routing to it); returns how long it took.
fn wait_routable(
    con: &mut redis::Connection,
    name: &str,
    routable: bool,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let want = if routable {
        "routable=yes"
    } else {
        "routable=no"
    };
    eventually(DETECTION, || {
        Ok(node_line(con, name)?.contains(want).then_some(()))
    })
    .with_context(|| format!("node {name} never became {want}"))?;
    Ok(started.elapsed())
}

/// Asserts that the proxy flushed `name` when it came back (`why`: back, restarted).
fn assert_flushed_on_rejoin(
    con: &mut redis::Connection,
    name: &str,
    why: &str,
) -> anyhow::Result<()> {
    let events = events(con)?;
    ensure!(
        events.iter().any(
            |e| e.starts_with(&format!("node {name} {why} (generation "))
                && e.ends_with(": flushed, rejoined")
        ),
        "no flush of {name} on rejoin: {events:?}"
    );
    Ok(())
}

/// Runs `request`, timing it.
fn timed<T>(request: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let outcome = request();
    (outcome, started.elapsed())
}

/// The one error the proxy answers a write with when the key's node cannot take it.
fn is_unavailable(text: &str) -> bool {
    text.starts_with("ERR cache node ") && text.ends_with(" is unavailable, try again")
}

#[test]
fn a_slow_node_answers_slower_then_times_out_goes_down_and_rejoins_flushed() -> anyhow::Result<()> {
    let cluster = Cluster::start("remap", true, &[])?;
    let relay = cluster.relay()?;
    let name = cluster.names[0].clone();
    let mut con = cluster.client()?;
    let (slow, fast) = cluster.fill(&mut con)?;
    let value_of = |key: &str| key.trim_start_matches("key:").to_owned();

    // Slower but under the timeout: every read answers, later.
    let latency = TIMEOUT / 3;
    relay.set_latency(latency);
    let mut slowest = Duration::ZERO;
    for key in slow.iter().take(10) {
        let (value, took) = timed(|| redis::cmd("GET").arg(key).query::<Option<String>>(&mut con));
        assert_eq!(value?, Some(value_of(key)), "{key} through a slow link");
        assert!(
            took >= latency,
            "{key} answered in {took:?}, under the added {latency:?}"
        );
        slowest = slowest.max(took);
    }
    let line = node_line(&mut con, &name)?;
    assert!(
        line.contains("routable=yes") && line.contains(" failures=0"),
        "{line}"
    );
    eprintln!("reads with {latency:?} of added latency: slowest {slowest:?}");

    // Slower than the timeout: writes fail and reads miss, each within the timeout.
    let load = Load::start(&cluster, 2)?;
    relay.set_latency(Duration::from_secs(5));
    let slowed = Instant::now();
    let (reply, took) = timed(|| {
        redis::cmd("SET")
            .arg(&slow[0])
            .arg("x")
            .query::<()>(&mut con)
    });
    let error = reply
        .err()
        .context("a write to a node slower than the timeout succeeded")?;
    assert_eq!(
        error_text(&error),
        format!("ERR cache node {name} is unavailable, try again")
    );
    assert!(took < TIMEOUT + MARGIN, "the failed write took {took:?}");
    let mut slowest = took;
    for key in &slow[1..4] {
        let (value, took) = timed(|| redis::cmd("GET").arg(key).query::<Option<String>>(&mut con));
        assert_eq!(
            value?, None,
            "a read the node cannot answer in time is a miss"
        );
        slowest = slowest.max(took);
    }
    assert!(slowest < TIMEOUT + MARGIN, "a request took {slowest:?}");
    wait_routable(&mut con, &name, false)?;
    let down_after = slowed.elapsed();
    // Down: its keys go to the other nodes, at their speed.
    let (value, took) = timed(|| {
        redis::cmd("GET")
            .arg(&slow[4])
            .query::<Option<String>>(&mut con)
    });
    assert_eq!(value?, None);
    assert!(took < TIMEOUT, "a remapped read took {took:?}");
    redis::cmd("SET")
        .arg(&slow[0])
        .arg("remapped")
        .query::<()>(&mut con)?;
    let value: Option<String> = redis::cmd("GET").arg(&slow[0]).query(&mut con)?;
    assert_eq!(value.as_deref(), Some("remapped"));
    for key in fast.iter().take(20) {
        let (value, took) = timed(|| redis::cmd("GET").arg(key).query::<Option<String>>(&mut con));
        assert_eq!(value?, Some(value_of(key)), "a healthy node's key");
        assert!(took < TIMEOUT, "a healthy node's key took {took:?}");
    }
    load.progress(200)?;

    // Fast again: it rejoins after `rise` probes, flushed.
    relay.set_latency(Duration::ZERO);
    let back_after = wait_routable(&mut con, &name, true)?;
    assert_flushed_on_rejoin(&mut con, &name, "back")?;
    load.progress(200)?;
    let seen = load.finish();
    seen.check("slow node")?;
    assert!(
        seen.misses + seen.unavailable > 0,
        "the load never met the slow node"
    );
    assert_eq!(cluster.held_by_first(&slow)?, 0, "the node was not flushed");
    let value: Option<String> = redis::cmd("GET").arg(&slow[0]).query(&mut con)?;
    assert_eq!(
        value, None,
        "the remapped copy is not served once the owner is back"
    );
    eprintln!(
        "slow node: failed requests within {slowest:?}; down {down_after:?} after slowing; back {back_after:?} after recovering"
    );
    Ok(())
}

#[test]
fn a_hung_link_costs_bounded_misses_and_errors_and_never_blocks_other_clients() -> anyhow::Result<()>
{
    let cluster = Cluster::start("miss", true, &[])?;
    let relay = cluster.relay()?;
    let name = cluster.names[0].clone();
    let mut con = cluster.client()?;
    let (hung, fine) = cluster.fill(&mut con)?;
    let load = Load::start(&cluster, 4)?;

    relay.set_stalled(true);
    // A client that connects while the node hangs is served at once for other nodes' keys.
    let mut fresh = cluster.client()?;
    let (value, took) = timed(|| {
        redis::cmd("GET")
            .arg(&fine[0])
            .query::<Option<String>>(&mut fresh)
    });
    assert!(value?.is_some());
    assert!(
        took < TIMEOUT,
        "a healthy node's key took {took:?} while another node hangs"
    );
    let down_after = wait_routable(&mut con, &name, false)?;
    // Down, with down_mode miss: answered without asking any node.
    let (value, took) = timed(|| {
        redis::cmd("GET")
            .arg(&hung[0])
            .query::<Option<String>>(&mut con)
    });
    assert_eq!(value?, None);
    assert!(took < TIMEOUT, "a read of a down node's key took {took:?}");
    let (reply, took) = timed(|| {
        redis::cmd("SET")
            .arg(&hung[0])
            .arg("x")
            .query::<()>(&mut con)
    });
    let error = reply
        .err()
        .context("a write to a down node's key succeeded in miss mode")?;
    assert_eq!(
        error_text(&error),
        "ERR cache node for this key is unavailable, try again"
    );
    assert!(took < TIMEOUT, "a write to a down node's key took {took:?}");
    load.progress(400)?;

    relay.set_stalled(false);
    let back_after = wait_routable(&mut con, &name, true)?;
    assert_flushed_on_rejoin(&mut con, &name, "back")?;
    load.progress(200)?;
    let seen = load.finish();
    seen.check("hung link")?;
    assert!(
        seen.misses > 0 && seen.unavailable > 0,
        "the load never met the hung node"
    );
    assert_eq!(cluster.held_by_first(&hung)?, 0, "the node was not flushed");
    eprintln!("hung link: down {down_after:?} after the stall; back {back_after:?} after it ended");
    Ok(())
}

#[test]
fn cut_connections_cost_only_requests_in_flight_and_a_partition_rejoins_flushed()
-> anyhow::Result<()> {
    let cluster = Cluster::start("remap", true, &[])?;
    let relay = cluster.relay()?;
    let name = cluster.names[0].clone();
    let mut con = cluster.client()?;
    let (first, _) = cluster.fill(&mut con)?;

    // Every connection to the node cut once: the proxy reconnects; the node never goes down
    // and keeps its data.
    relay.cut();
    eventually(Duration::from_secs(5), || {
        let mut all = true;
        for key in &first {
            let value: Option<String> = redis::cmd("GET").arg(key).query(&mut con)?;
            match value {
                Some(v) => ensure!(v == key.trim_start_matches("key:"), "{key} = {v}"),
                None => all = false,
            }
        }
        Ok(all.then_some(()))
    })
    .context("the node's keys did not read back after its connections were cut")?;
    let events = events(&mut con)?;
    assert!(
        !events
            .iter()
            .any(|e| e.contains(&format!("node {name} down"))),
        "one cut took the node down: {events:?}"
    );

    // Cut and refused (a partition): down; its keys are written elsewhere meanwhile; back,
    // flushed, so the copies it kept are never served.
    relay.set_refusing(true);
    relay.cut();
    let down_after = wait_routable(&mut con, &name, false)?;
    for key in &first {
        redis::cmd("SET")
            .arg(key)
            .arg("meanwhile")
            .query::<()>(&mut con)?;
    }
    relay.set_refusing(false);
    let back_after = wait_routable(&mut con, &name, true)?;
    assert_flushed_on_rejoin(&mut con, &name, "back")?;
    for key in &first {
        let value: Option<String> = redis::cmd("GET").arg(key).query(&mut con)?;
        assert_eq!(value, None, "{key} after the partition healed");
    }
    eprintln!("partition: down {down_after:?} after it began; back {back_after:?} after it ended");
    Ok(())
}

/// A kill (`kill -9`, then a restart on the same port) or a stop (SIGSTOP, then SIGCONT) of
/// node 0 while four clients read and write through the proxy.
fn node_fault_under_load(kill: bool) -> anyhow::Result<()> {
    let mut cluster = Cluster::start("remap", false, &[])?;
    let name = cluster.names[0].clone();
    let mut con = cluster.client()?;
    let load = Load::start(&cluster, 4)?;
    if kill {
        cluster.nodes.remove(0).kill();
    } else {
        cluster.nodes[0].signal("STOP")?;
    }
    let down_after = wait_routable(&mut con, &name, false)?;
    load.progress(400)?;
    if kill {
        let restarted = NodeProcess::node_with(&["--listen", &format!("tcp://{name}")])?;
        cluster.nodes.insert(0, restarted);
    } else {
        cluster.nodes[0].signal("CONT")?;
    }
    let back_after = wait_routable(&mut con, &name, true)?;
    assert_flushed_on_rejoin(&mut con, &name, if kill { "restarted" } else { "back" })?;
    load.progress(200)?;
    let what = if kill { "killed node" } else { "stopped node" };
    let seen = load.finish();
    seen.check(what)?;
    assert!(seen.misses > 0, "the load never met the failed node");
    eprintln!("{what}: down {down_after:?} after the fault; back {back_after:?} after the repair");
    Ok(())
}

#[test]
fn a_killed_node_under_load_costs_only_documented_replies_within_the_timeout() -> anyhow::Result<()>
{
    node_fault_under_load(true)
}

#[test]
fn a_stopped_node_under_load_costs_only_documented_replies_within_the_timeout() -> anyhow::Result<()>
{
    node_fault_under_load(false)
}

#[test]
fn the_cluster_client_bounds_a_hung_node_by_its_timeout_and_flushes_it_on_rejoin()
-> anyhow::Result<()> {
    let nodes: Vec<NodeProcess> = (0..3)
        .map(|_| NodeProcess::start(&[]))
        .collect::<anyhow::Result<_>>()?;
    let relay = Relay::start(&nodes[0].addr)?;
    let names = [
        relay.addr.clone(),
        nodes[1].addr.clone(),
        nodes[2].addr.clone(),
    ];
    let endpoints: Vec<String> = names.iter().map(|n| format!("tcp://{n}")).collect();
    let ring = Ring::new(
        Algorithm::Maglev,
        names.iter().map(|n| Member::new(n.clone())).collect(),
    )?;
    let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
    let (hung, fine): (Vec<&String>, Vec<&String>) = keys
        .iter()
        .partition(|k| ring.node_for(k.as_bytes()) == Some(0));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let options = ClusterOptions {
            connect: ConnectOptions {
                timeout: TIMEOUT,
                connect_timeout: TIMEOUT,
                ..ConnectOptions::default()
            },
            detector: DetectorConfig {
                interval: Duration::from_millis(100),
                fall: 3,
                rise: 2,
                ..DetectorConfig::default()
            },
            ..ClusterOptions::default()
        };
        let refs: Vec<&str> = endpoints.iter().map(String::as_str).collect();
        let cluster = ClusterClient::connect(&refs, options).await?;
        let routable = |want: bool| {
            let cluster = &cluster;
            async move {
                let started = Instant::now();
                while cluster.nodes()[0].1 != want {
                    ensure!(started.elapsed() < DETECTION, "node 0 never became routable={want}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                anyhow::Ok(started.elapsed())
            }
        };
        let started = Instant::now();
        while !cluster.nodes().iter().all(|(_, up)| *up) {
            ensure!(started.elapsed() < DETECTION, "{:?}", cluster.nodes());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for key in &keys {
            cluster.set(key, key, None).await?;
        }

        relay.set_stalled(true);
        let (value, took) = timed_async(cluster.get(hung[0])).await;
        assert_eq!(value?, None, "a read the node cannot answer is a miss");
        assert!(took < TIMEOUT + MARGIN, "the read took {took:?}");
        let (reply, took) = timed_async(cluster.set(hung[1], "x", None)).await;
        match reply {
            Err(error) => assert!(error.is_unavailable(), "{error}"),
            Ok(()) => bail!("a write to a hung node succeeded"),
        }
        assert!(took < TIMEOUT + MARGIN, "the write took {took:?}");
        let (value, took) = timed_async(cluster.get(fine[0])).await;
        assert_eq!(value?.as_deref(), Some(fine[0].as_bytes()));
        assert!(took < TIMEOUT, "a healthy node's key took {took:?}");
        let down_after = routable(false).await?;
        cluster.set(hung[0], "remapped", None).await?;
        assert_eq!(
            cluster.get(hung[0]).await?.as_deref(),
            Some(&b"remapped"[..])
        );

        relay.set_stalled(false);
        let back_after = routable(true).await?;
        for key in &hung {
            assert_eq!(cluster.get(key).await?, None, "{key} after the rejoin");
        }
        eprintln!(
            "cluster client, hung node: down {down_after:?} after the stall; back {back_after:?} after it ended"
        );
        anyhow::Ok(())
    })?;
    let size: usize = redis::cmd("DBSIZE").query(&mut connect(&nodes[0])?)?;
    assert_eq!(size, 0, "the node was not flushed on rejoin");
    Ok(())
}

async fn timed_async<T>(request: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let outcome = request.await;
    (outcome, started.elapsed())
}
