//! The programs in `examples/`, run against real servers: each must exit 0 and print the line
//! that shows it did what it says, and fail with a clear message when nothing answers.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use cache_tests::{ServerProcess, binary};

/// Longer than any example runs; a hung example fails the test instead of stalling it.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The directory of the profile the tests were built with, `target/<profile>`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    // The test executable lives in target/<profile>/deps/.
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps layout")
        .to_path_buf()
}

/// The path of an example program, all of them built once per test process.
fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "cache-examples", "--examples"]);
        if profile_dir().ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo runs");
        assert!(status.success(), "building the examples failed");
    });
    profile_dir().join("examples").join(name)
}

fn start_example(name: &str, args: &[&str]) -> std::process::Child {
    Command::new(example(name))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start example {name}: {e}"))
}

/// Waits for `child` to exit within [`RUN_TIMEOUT`], killing it if it does not.
fn finish(name: &str, child: std::process::Child) -> Output {
    let pid = child.id();
    let (done, wait) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match wait.recv_timeout(RUN_TIMEOUT) {
        Ok(output) => output.expect("the example's output is readable"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("example {name} did not finish within {RUN_TIMEOUT:?}");
        }
    }
}

/// Runs example `name` with `args`, asserts it exits 0, and returns its stdout.
fn run(name: &str, args: &[&str]) -> String {
    let output = finish(name, start_example(name, args));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "example {name} {args:?} failed ({}):\n--- stdout\n{stdout}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs example `name` with `args`, asserts it fails, and returns its stderr.
fn run_failing(name: &str, args: &[&str]) -> String {
    let output = finish(name, start_example(name, args));
    assert!(
        !output.status.success(),
        "example {name} {args:?} succeeded against nothing"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_has(output: &str, line: &str) {
    assert!(
        output.lines().any(|l| l.contains(line)),
        "expected a line with {line:?} in:\n{output}"
    );
}

/// A loopback port nothing listens on (it was free a moment ago).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binds a free port");
    listener.local_addr().expect("has an address").port()
}

fn tcp(server: &ServerProcess) -> String {
    format!("tcp://{}", server.addr)
}

#[test]
fn basic_gets_sets_and_deletes() {
    let node = ServerProcess::start(&[]).unwrap();
    let out = run("basic", &[&tcp(&node)]);
    assert_has(&out, "GET example:basic:greeting -> hello");
    assert_has(&out, "DEL example:basic:greeting again -> existed: false");
    assert_has(&out, "GET example:basic:greeting -> hello again");
}

#[test]
fn typed_reads_the_second_lookup_from_the_cache() {
    let node = ServerProcess::start(&[]).unwrap();
    let out = run("typed", &[&tcp(&node)]);
    assert_has(&out, "attempt 1: from the database");
    assert_has(&out, "attempt 2: from the cache");
    assert_has(&out, "reading the product as a u64: decode error");
}

#[test]
fn counters_count_and_limit() {
    let node = ServerProcess::start(&[]).unwrap();
    let out = run("counters", &[&tcp(&node)]);
    assert_has(&out, "page views: 200 after 200 concurrent INCRs");
    assert_has(&out, "stock: one more sold (DECR) -> 6");
    assert_has(&out, "rate limiter: 3 of 8 requests refused");
}

#[test]
fn ttl_watches_a_key_expire() {
    let node = ServerProcess::start(&[]).unwrap();
    let out = run("ttl", &[&tcp(&node), "--watch-ms", "300"]);
    assert_has(
        &out,
        "PERSIST example:ttl:token -> removed a TTL: true, no TTL",
    );
    assert_has(&out, "gone (a miss)");
    assert_has(&out, "example:ttl:flash expired after");
}

#[test]
fn examples_say_what_to_start_when_nothing_answers() {
    let nowhere = format!("tcp://127.0.0.1:{}", closed_port());
    let err = run_failing("basic", &[&nowhere]);
    assert!(
        err.contains("cannot reach the cache at") && err.contains("cargo xtask cluster"),
        "{err}"
    );
    let err = run_failing(
        "redis_client",
        &[&format!("redis://127.0.0.1:{}/", closed_port())],
    );
    assert!(err.contains("cannot reach the cache at"), "{err}");
    let err = run_failing("cluster", &[&nowhere, "--rounds", "0"]);
    assert!(err.contains("no node answered"), "{err}");
}

#[test]
fn redis_client_works_through_the_proxy() {
    let first = ServerProcess::start(&[]).unwrap();
    let second = ServerProcess::start(&[]).unwrap();
    let proxy = ServerProcess::proxy(&["--node", &tcp(&first), "--node", &tcp(&second)]).unwrap();
    let out = run("redis_client", &[&proxy.url()]);
    assert_has(&out, "PING -> PONG");
    assert_has(
        &out,
        r#"MGET 4 keys -> [Some("v1"), Some("v2"), None, Some("v4")]"#,
    );
    assert_has(&out, r#"pipeline INCR, GET, EXISTS -> (6, "v1", false)"#);
}

#[test]
fn transports_run_the_same_commands_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let socket = format!("unix://{}", dir.path().join("node.sock").display());
    let node = ServerProcess::start(&[
        "--listen",
        "tls://127.0.0.1:0",
        "--listen",
        "quic://127.0.0.1:0",
        "--listen",
        "udp://127.0.0.1:0",
        "--listen",
        &socket,
        "--tls-self-signed",
        certs.to_str().unwrap(),
    ])
    .unwrap();
    let ca = certs.join("cert.pem");
    let mut args = vec!["--tls-ca", ca.to_str().unwrap(), "--gets", "20"];
    args.extend(node.endpoints.iter().map(String::as_str));
    assert_eq!(node.endpoints.len(), 5, "{:?}", node.endpoints);
    let out = run("transports", &args);
    for endpoint in &node.endpoints {
        assert_has(&out, &format!("{endpoint:<32} ok: SET, GET, INCRBY, DEL"));
    }
    assert_has(&out, "all 5 endpoints answered");
}

#[test]
fn read_through_sqlite_loads_once_then_hits() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shop.db");
    let db_arg = db.to_str().unwrap();
    run("read_through_sqlite", &["create", db_arg]);
    let node = ServerProcess::start(&["--origin", &format!("sqlite:{db_arg}")]).unwrap();
    let out = run("read_through_sqlite", &["read", &tcp(&node)]);
    assert_has(&out, r#"GET product:1 (1st): {"id":1,"#);
    assert_has(&out, "price_cents\":2999}  loaded from SQLite");
    assert_has(&out, "price_cents\":2999}  cache hit");
    assert_has(&out, "GET product:404: miss");

    // The all-in-one mode starts its own node from the build directory.
    let node_binary = binary("cache-node");
    let out = run(
        "read_through_sqlite",
        &["demo", "--node-binary", node_binary.to_str().unwrap()],
    );
    assert_has(&out, "(still the cached row)");
    assert_has(
        &out,
        r#"DEL product:1, GET product:1: {"id":1,"name":"kettle","price_cents":2499}  loaded from SQLite"#,
    );

    // A node without an origin is refused with a hint, not read from as if it had one.
    let plain = ServerProcess::start(&[]).unwrap();
    let err = run_failing("read_through_sqlite", &["read", &tcp(&plain)]);
    assert!(err.contains("not an SQLite database"), "{err}");
}

#[test]
fn cluster_fails_over_when_a_node_dies() {
    let mut nodes: Vec<ServerProcess> =
        (0..3).map(|_| ServerProcess::start(&[]).unwrap()).collect();
    let endpoints: Vec<String> = nodes.iter().map(tcp).collect();
    let mut args: Vec<&str> = endpoints.iter().map(String::as_str).collect();
    args.extend(["--rounds", "12", "--interval-ms", "250"]);
    let mut child = start_example("cluster", &args);
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    // Kill a node once the cluster has served a round with all three.
    loop {
        let line = lines
            .recv_timeout(RUN_TIMEOUT)
            .unwrap_or_else(|_| panic!("no round reported; output so far: {seen:#?}"));
        let first_round = line.starts_with("round 1:");
        seen.push(line);
        if first_round {
            break;
        }
    }
    nodes.remove(1).kill();
    let output = finish("cluster", child);
    seen.extend(lines.try_iter());
    let out = seen.join("\n");
    assert!(
        output.status.success(),
        "cluster failed ({}):\n{out}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert_has(&out, "round 1: 100/100 hits, 0 refilled, 0 writes failed");
    assert_has(&out, &format!("{} went down", ring_name(&endpoints[1])));
    let last = seen.last().unwrap();
    assert!(
        last.starts_with("round 12: 100/100 hits") && last.ends_with("(2/3 up)"),
        "the last round did not recover on the two live nodes:\n{out}"
    );
}

/// The ring name of a TCP endpoint, as the cluster client prints it.
fn ring_name(endpoint: &str) -> &str {
    endpoint.trim_start_matches("tcp://")
}
