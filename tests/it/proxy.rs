//! The proxy in front of real nodes: spreading keys, multi-key commands, failure, rejoin,
//! membership changes and reloads.

use std::time::{Duration, Instant};

use cache_tests::{NodeProcess, ServerProcess};
use redis::Commands;

fn connect(url: &str) -> redis::Connection {
    let client = redis::Client::open(url).expect("valid url");
    let conn = client.get_connection().expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn
}

fn cluster(nodes: usize, proxy_args: &[&str]) -> (Vec<NodeProcess>, ServerProcess) {
    let nodes: Vec<NodeProcess> = (0..nodes)
        .map(|_| NodeProcess::start(&[]).unwrap())
        .collect();
    let mut args: Vec<String> = Vec::new();
    for node in &nodes {
        args.extend(["--node".to_owned(), node.addr.clone()]);
    }
    args.extend(proxy_args.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proxy = ServerProcess::proxy(&args).unwrap();
    (nodes, proxy)
}

fn proxy_nodes(conn: &mut redis::Connection) -> Vec<String> {
    redis::cmd("PROXY").arg("NODES").query(conn).unwrap()
}

/// Polls until `f` holds, for at most `limit`.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn routable(conn: &mut redis::Connection, addr: &str) -> bool {
    proxy_nodes(conn)
        .iter()
        .any(|line| line.contains(&format!("name={addr} ")) && line.contains("routable=yes"))
}

#[test]
fn keys_spread_over_nodes_and_multi_key_commands_merge() {
    let (nodes, proxy) = cluster(3, &[]);
    let mut conn = connect(&proxy.url());
    for i in 0..300 {
        let _: () = conn.set(format!("key:{i}"), i).unwrap();
    }
    let mut total = 0;
    for node in &nodes {
        let size: usize = redis::cmd("DBSIZE")
            .query(&mut connect(&node.url()))
            .unwrap();
        assert!(
            (50..=150).contains(&size),
            "a node holds {size} of 300 keys"
        );
        total += size;
    }
    assert_eq!(total, 300);
    let size: usize = redis::cmd("DBSIZE").query(&mut conn).unwrap();
    assert_eq!(size, 300);

    let keys: Vec<String> = (0..300)
        .map(|i| format!("key:{i}"))
        .chain(["absent".into()])
        .collect();
    let values: Vec<Option<i64>> = conn.mget(&keys).unwrap();
    let expected: Vec<Option<i64>> = (0..300).map(Some).chain([None]).collect();
    assert_eq!(
        values, expected,
        "MGET merges the nodes' replies in key order"
    );

    let pairs: Vec<(String, String)> = (0..50)
        .map(|i| (format!("m:{i}"), format!("v{i}")))
        .collect();
    let _: () = conn.mset(&pairs).unwrap();
    let exists: usize = conn.exists(&keys[..20]).unwrap();
    assert_eq!(exists, 20);
    let deleted: usize = conn
        .del(&["key:1", "key:2", "key:3", "m:7", "nothing"])
        .unwrap();
    assert_eq!(deleted, 4);
    let got: Option<String> = conn.get("m:9").unwrap();
    assert_eq!(got.as_deref(), Some("v9"));

    let info: String = redis::cmd("INFO").query(&mut conn).unwrap();
    assert!(
        info.contains("# Proxy") && info.contains("nodes_up:3"),
        "{info}"
    );
    for node in &nodes {
        assert!(info.contains(&format!("# Node {}", node.addr)), "{info}");
    }
    // Every event noted so far is still kept (fewer than 64), so the count is the list's
    // length: a monitor can tell new events from the count.
    let events: Vec<String> = redis::cmd("PROXY").arg("EVENTS").query(&mut conn).unwrap();
    let total = info
        .lines()
        .find_map(|l| l.strip_prefix("events_total:"))
        .map(str::trim);
    assert_eq!(total, Some(events.len().to_string().as_str()), "{info}");
    assert!(events.len() >= 6, "three nodes added and up: {events:?}");
    let error = redis::cmd("KEYS")
        .arg("*")
        .query::<Vec<String>>(&mut conn)
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("not supported through the proxy"),
        "{error}"
    );
    let _: () = redis::cmd("FLUSHALL").query(&mut conn).unwrap();
    let size: usize = redis::cmd("DBSIZE").query(&mut conn).unwrap();
    assert_eq!(size, 0);
}

#[test]
fn a_delete_that_cannot_reach_its_node_is_an_error_not_zero() {
    let (mut nodes, proxy) = cluster(2, &["--timeout-ms", "300", "--down-mode", "miss"]);
    let mut conn = connect(&proxy.url());
    let victim = nodes.remove(0);
    let addr = victim.addr.clone();
    victim.kill();
    assert!(eventually(Duration::from_secs(5), || !routable(
        &mut conn, &addr
    )));
    let keys: Vec<String> = (0..50).map(|i| format!("key:{i}")).collect();
    // Reads of the down node's keys are misses...
    let values: Vec<Option<String>> = conn.mget(&keys).unwrap();
    assert!(values.iter().all(Option::is_none));
    // ...but a delete that could not happen must not claim it did.
    let error = conn.del::<_, i64>(&keys).unwrap_err();
    assert!(error.to_string().contains("unavailable"), "{error}");
}

#[test]
fn a_killed_node_costs_misses_not_errors_and_rejoins_flushed() {
    let timeout_ms = 500;
    let (mut nodes, proxy) = cluster(3, &["--timeout-ms", "500"]);
    let mut conn = connect(&proxy.url());
    for i in 0..300 {
        let _: () = conn.set(format!("key:{i}"), i).unwrap();
    }
    // Steady reads from another thread while one node is killed.
    let url = proxy.url();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut conn = connect(&url);
            let (mut reads, mut misses, mut slowest) = (0u64, 0u64, Duration::ZERO);
            let mut errors = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let key = format!("key:{}", reads % 300);
                let started = Instant::now();
                match conn.get::<_, Option<i64>>(&key) {
                    Ok(Some(_)) => {}
                    Ok(None) => misses += 1,
                    Err(e) => errors.push(e.to_string()),
                }
                slowest = slowest.max(started.elapsed());
                reads += 1;
            }
            (reads, misses, slowest, errors)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let victim = nodes.remove(1);
    let victim_addr = victim.addr.clone();
    victim.kill();
    assert!(
        eventually(Duration::from_secs(5), || !routable(
            &mut conn,
            &victim_addr
        )),
        "the proxy did not mark the killed node down"
    );
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (reads, misses, slowest, errors) = reader.join().unwrap();
    assert!(errors.is_empty(), "reads failed: {errors:?}");
    assert!(
        misses > 0,
        "the killed node's keys should miss ({reads} reads)"
    );
    assert!(
        slowest < Duration::from_millis(timeout_ms + 300),
        "a read took {slowest:?}, over the {timeout_ms} ms timeout"
    );
    // Writes to the dead node's keys go to the other nodes meanwhile.
    for i in 0..300 {
        let _: () = conn.set(format!("key:{i}"), i + 1000).unwrap();
    }

    // Restart on the same port: a new generation, rejoined after a flush.
    let restarted = NodeProcess::node_with(&["--listen", &format!("tcp://{victim_addr}")]).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || routable(
            &mut conn,
            &victim_addr
        )),
        "the restarted node did not rejoin: {:?}",
        proxy_nodes(&mut conn)
    );
    let events: Vec<String> = redis::cmd("PROXY").arg("EVENTS").query(&mut conn).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.contains(&victim_addr) && e.contains("flushed, rejoined")),
        "{events:?}"
    );
    let _: () = conn.set("after", "rejoin").unwrap();
    drop(restarted);
}

#[test]
fn a_node_that_was_stopped_is_flushed_before_it_is_used_again() {
    let (nodes, proxy) = cluster(2, &["--timeout-ms", "300"]);
    let mut conn = connect(&proxy.url());
    for i in 0..100 {
        let _: () = conn.set(format!("key:{i}"), "old").unwrap();
    }
    let paused = &nodes[0];
    let held: usize = redis::cmd("DBSIZE")
        .query(&mut connect(&paused.url()))
        .unwrap();
    assert!(held > 0);
    paused.signal("STOP").unwrap();
    assert!(eventually(Duration::from_secs(10), || !routable(
        &mut conn,
        &paused.addr
    )));
    // While it is away its keys live elsewhere and get new values...
    for i in 0..100 {
        let _: () = conn.set(format!("key:{i}"), "new").unwrap();
    }
    paused.signal("CONT").unwrap();
    assert!(eventually(Duration::from_secs(10), || routable(
        &mut conn,
        &paused.addr
    )));
    // ...so its old copies must be gone, or clients would read stale values.
    for i in 0..100 {
        let value: Option<String> = conn.get(format!("key:{i}")).unwrap();
        assert_ne!(
            value.as_deref(),
            Some("old"),
            "key:{i} served stale after rejoin"
        );
    }
}

#[test]
fn adding_a_node_moves_about_a_quarter_of_the_keys() {
    let (_nodes, proxy) = cluster(3, &[]);
    let mut conn = connect(&proxy.url());
    let keys = 4000;
    for i in 0..keys {
        let _: () = conn.set(format!("key:{i}"), i).unwrap();
    }
    let fourth = NodeProcess::start(&[]).unwrap();
    let _: () = redis::cmd("PROXY")
        .arg("NODE")
        .arg("ADD")
        .arg(format!("tcp://{}", fourth.addr))
        .query(&mut conn)
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || routable(
        &mut conn,
        &fourth.addr
    )));
    let names: Vec<String> = (0..keys).map(|i| format!("key:{i}")).collect();
    let values: Vec<Option<i64>> = conn.mget(&names).unwrap();
    let moved = values.iter().filter(|v| v.is_none()).count() as f64 / keys as f64;
    assert!(
        (0.18..=0.32).contains(&moved),
        "{:.1}% of keys moved; ideal is 25%",
        moved * 100.0
    );
    let error = redis::cmd("PROXY")
        .arg("NODE")
        .arg("ADD")
        .arg(&fourth.addr)
        .query::<()>(&mut conn)
        .unwrap_err();
    assert!(error.to_string().contains("already a member"), "{error}");
    let _: () = redis::cmd("PROXY")
        .arg("NODE")
        .arg("REMOVE")
        .arg(&fourth.addr)
        .query(&mut conn)
        .unwrap();
    assert_eq!(proxy_nodes(&mut conn).len(), 3);
    // Back on three nodes every key is home again, and its old owner still holds it: the
    // moved keys were never deleted there (see docs/operations.md on TTLs and stale copies).
    let values: Vec<Option<i64>> = conn.mget(&names).unwrap();
    let expected: Vec<Option<i64>> = (0..keys as i64).map(Some).collect();
    assert_eq!(values, expected);

    // A node added back may hold copies from its earlier time in the cluster: it is flushed
    // before its first use.
    let _: () = connect(&fourth.url()).set("left-over", "stale").unwrap();
    let _: () = redis::cmd("PROXY")
        .arg("NODE")
        .arg("ADD")
        .arg(&fourth.addr)
        .query(&mut conn)
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || routable(
        &mut conn,
        &fourth.addr
    )));
    let size: usize = redis::cmd("DBSIZE")
        .query(&mut connect(&fourth.url()))
        .unwrap();
    assert_eq!(size, 0, "a re-added node must be flushed before use");
}

#[test]
fn sighup_reloads_the_node_list() {
    let nodes: Vec<NodeProcess> = (0..3).map(|_| NodeProcess::start(&[]).unwrap()).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy.toml");
    let write = |n: usize| {
        let list: Vec<String> = nodes[..n]
            .iter()
            .map(|x| format!("\"tcp://{}\"", x.addr))
            .collect();
        std::fs::write(&path, format!("nodes = [{}]\n", list.join(", "))).unwrap();
    };
    write(2);
    let proxy = ServerProcess::proxy(&["--config", path.to_str().unwrap()]).unwrap();
    let mut conn = connect(&proxy.url());
    assert_eq!(proxy_nodes(&mut conn).len(), 2);
    write(3);
    proxy.signal("HUP").unwrap();
    assert!(eventually(Duration::from_secs(5), || routable(
        &mut conn,
        &nodes[2].addr
    )));
    // A broken file changes nothing and the proxy keeps serving.
    std::fs::write(&path, "nodes = [\"tcp://no-port\"]\n").unwrap();
    proxy.signal("HUP").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(proxy_nodes(&mut conn).len(), 3);
    let _: () = conn.set("still", "serving").unwrap();
}

#[test]
fn passwords_at_the_proxy_and_at_the_nodes() {
    let nodes: Vec<NodeProcess> = (0..2)
        .map(|_| NodeProcess::start(&["--requirepass", "node-secret"]).unwrap())
        .collect();
    let proxy = ServerProcess::proxy(&[
        "--node",
        &nodes[0].addr,
        "--node",
        &nodes[1].addr,
        "--requirepass",
        "proxy-secret",
        "--node-password",
        "node-secret",
    ])
    .unwrap();
    let mut conn = connect(&proxy.url());
    let error = conn.set::<_, _, ()>("k", "v").unwrap_err();
    assert!(error.to_string().contains("NOAUTH"), "{error}");
    let error = redis::cmd("PROXY")
        .arg("NODES")
        .query::<Vec<String>>(&mut conn)
        .unwrap_err();
    assert!(
        error.to_string().contains("NOAUTH"),
        "admin needs auth too: {error}"
    );
    let error = redis::cmd("AUTH")
        .arg("wrong")
        .query::<()>(&mut conn)
        .unwrap_err();
    assert!(error.to_string().contains("WRONGPASS"), "{error}");
    let _: () = redis::cmd("AUTH")
        .arg("proxy-secret")
        .query(&mut conn)
        .unwrap();
    for i in 0..20 {
        let _: () = conn.set(format!("k{i}"), i).unwrap();
    }
    let value: i64 = conn.get("k7").unwrap();
    assert_eq!(value, 7);
}

#[test]
fn the_redis_crate_async_client_works_through_the_proxy() {
    let (_nodes, proxy) = cluster(2, &[]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = redis::Client::open(proxy.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let mut pipe = redis::pipe();
        for i in 0..200 {
            pipe.set(format!("p:{i}"), i).ignore();
        }
        pipe.incr("counter", 5).get("p:42");
        let (counter, value): (i64, i64) = pipe.query_async(&mut conn).await.unwrap();
        assert_eq!((counter, value), (5, 42));
        let ttl: i64 = redis::cmd("TTL")
            .arg("p:1")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(ttl, -1);
    });
}

#[test]
fn the_proxy_listens_on_a_unix_socket() {
    use std::io::{Read, Write};
    let node = NodeProcess::start(&[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy.sock");
    let endpoint = format!("unix://{}", path.display());
    let proxy = ServerProcess::proxy(&["--listen", &endpoint, "--node", &node.addr]).unwrap();
    assert!(proxy.endpoints.contains(&endpoint), "{:?}", proxy.endpoints);
    let mut stream = std::os::unix::net::UnixStream::connect(&path).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        .unwrap();
    let expected = b"+OK\r\n$2\r\nv1\r\n";
    let mut reply = vec![0u8; expected.len()];
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(reply, expected);
    // The key went to the node behind the proxy.
    let value: Option<String> = connect(&node.url()).get("k").unwrap();
    assert_eq!(value.as_deref(), Some("v1"));
}

#[test]
fn a_client_that_sends_everything_then_closes_gets_every_reply() {
    use std::io::{Read, Write};
    let (_nodes, proxy) = cluster(2, &[]);
    let mut stream = std::net::TcpStream::connect(&proxy.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut requests = Vec::new();
    for i in 0..20_000 {
        requests.extend_from_slice(format!("SET k{i} {i}\r\n").as_bytes());
    }
    requests.extend_from_slice(b"GET k19999\r\n");
    // Write from another thread: the proxy answers while we are still sending.
    let mut writer = stream.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        writer.write_all(&requests).unwrap();
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut replies = Vec::new();
    stream.read_to_end(&mut replies).unwrap();
    sending.join().unwrap();
    let text = String::from_utf8(replies).unwrap();
    assert_eq!(text.matches("+OK\r\n").count(), 20_000);
    assert!(
        text.ends_with("$5\r\n19999\r\n"),
        "{}",
        &text[text.len().saturating_sub(40)..]
    );
}
