//! cache-bench against real servers: a cache-node on free loopback ports, and memcached on a
//! Unix socket when it is installed. Every server is killed when its guard drops, also when an
//! assertion fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A server process, killed and reaped on drop.
struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The cache-bench under test.
fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cache-bench"))
}

/// The cache-node next to the cache-bench under test, built for the same profile first.
fn cache_node_binary() -> PathBuf {
    let bench = Path::new(env!("CARGO_BIN_EXE_cache-bench"));
    let dir = bench
        .parent()
        .expect("the binary lives in target/<profile>");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut build = Command::new(cargo);
    build
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .args([
            "build",
            "--quiet",
            "-p",
            "cache-node",
            "--bin",
            "cache-node",
        ]);
    // Cargo gives a test the variables it gives build scripts; passed on, they would look like a
    // changed environment to build scripts watching them (ring's does) and rebuild those crates
    // here, and again on the next `cargo test`.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || matches!(
                name.as_ref(),
                "OUT_DIR" | "CARGO_CRATE_NAME" | "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR"
            )
        {
            build.env_remove(name.as_ref());
        }
    }
    if dir.ends_with("release") {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building cache-node failed");
    dir.join("cache-node")
}

/// Starts cache-node listening on `endpoints` (port 0 each) and returns it with the endpoints
/// it reported on its `ready` line.
fn start_node(endpoints: &[&str]) -> (Server, Vec<String>) {
    let mut command = Command::new(cache_node_binary());
    for endpoint in endpoints {
        command.args(["--listen", endpoint]);
    }
    let mut child = command
        .args(["--stats-log-interval", "0"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cache-node starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let server = Server { child };
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = received
            .recv_timeout(READY_TIMEOUT)
            .expect("cache-node reports ready");
        if let Some(rest) = line.strip_prefix("ready ") {
            let announced = rest.split_whitespace().map(str::to_owned).collect();
            return (server, announced);
        }
    }
}

/// Starts memcached on a Unix socket in `dir`; `None` when memcached is not installed.
fn start_memcached(dir: &Path) -> Option<(Server, PathBuf)> {
    let socket = dir.join("memcached.sock");
    let mut command = Command::new("memcached");
    command
        .arg("-s")
        .arg(&socket)
        .args(["-m", "64", "-U", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    // memcached refuses to run as root unless told which user to be.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"));
    if root {
        command.args(["-u", "root"]);
    }
    let child = match command.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("memcached did not start: {e}"),
    };
    let server = Server { child };
    let deadline = Instant::now() + READY_TIMEOUT;
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(
            Instant::now() < deadline,
            "memcached never opened {socket:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    Some((server, socket))
}

/// Runs cache-bench, asserting it succeeds, and returns its stdout and the JSON it wrote.
fn run_bench(args: &[&str], json: &Path) -> (String, Vec<Value>) {
    let Output {
        status,
        stdout,
        stderr,
    } = bench()
        .args(args)
        .arg("--json")
        .arg(json)
        .output()
        .expect("cache-bench runs");
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    assert!(
        status.success(),
        "cache-bench failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&stderr)
    );
    let text = std::fs::read_to_string(json).expect("cache-bench wrote the JSON file");
    let records: Value = serde_json::from_str(&text).expect("the file is JSON");
    let records = records.as_array().expect("a JSON array").clone();
    (stdout, records)
}

fn find<'a>(records: &'a [Value], name: &str, op: &str, size: u64) -> &'a Value {
    records
        .iter()
        .find(|r| r["name"] == name && r["op"] == op && r["size"] == size)
        .unwrap_or_else(|| panic!("no {name} {op} {size} B case in {records:#?}"))
}

fn assert_ran(record: &Value) {
    assert!(record["skipped"].is_null(), "{record}");
    assert!(
        record["ops_per_sec"].as_f64().unwrap_or(0.0) > 0.0,
        "{record}"
    );
    assert_eq!(record["errors"], 0, "{record}");
    assert_eq!(record["connections"], 4, "{record}");
    for field in ["p50_us", "p99_us", "p999_us"] {
        assert!(
            record[field].as_u64().unwrap_or(0) > 0,
            "{field} in {record}"
        );
    }
}

#[test]
fn measures_a_node_over_named_targets_with_several_connections() {
    let (_node, announced) = start_node(&["tcp://127.0.0.1:0", "udp://127.0.0.1:0"]);
    let find_endpoint = |scheme: &str| {
        announced
            .iter()
            .find(|e| e.starts_with(scheme))
            .unwrap_or_else(|| panic!("no {scheme} in {announced:?}"))
            .clone()
    };
    let (tcp, udp) = (find_endpoint("tcp://"), find_endpoint("udp://"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let json = dir.path().join("bench.json");
    let targets = [
        format!("node={tcp}"),
        format!("node-native={tcp}@native"),
        udp,
    ];
    let mut args = vec![
        "--connections",
        "4",
        "--seconds",
        "0.3",
        "--sizes",
        "32,2000",
        "--depths",
        "4",
        "--keys",
        "1000",
    ];
    for target in &targets {
        args.extend(["-e", target.as_str()]);
    }
    let (stdout, records) = run_bench(&args, &json);

    assert_eq!(
        records.len(),
        2 * 2 * 3,
        "sizes x ops x targets: {records:#?}"
    );
    for name in ["node", "node-native"] {
        for op in ["GET", "SET"] {
            for size in [32, 2000] {
                let record = find(&records, name, op, size);
                assert_ran(record);
                assert_eq!(record["transport"], "TCP");
                assert_eq!(record["depth"], 4);
            }
        }
        assert_eq!(find(&records, name, "GET", 32)["misses"], 0);
    }
    assert_eq!(find(&records, "node", "GET", 32)["protocol"], "RESP");
    assert_eq!(
        find(&records, "node-native", "GET", 32)["protocol"],
        "native"
    );
    assert_ran(find(&records, "UDP", "GET", 32));
    assert_ran(find(&records, "UDP", "SET", 32));
    assert_ran(find(&records, "UDP", "GET", 2000));
    let skipped = find(&records, "UDP", "SET", 2000);
    assert!(skipped["ops_per_sec"].is_null(), "{skipped}");
    assert!(skipped["p99_us"].is_null(), "{skipped}");
    assert!(
        skipped["skipped"]
            .as_str()
            .is_some_and(|s| s.contains("datagram"))
    );

    assert!(
        stdout.starts_with("| name | transport | protocol |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| node-native | TCP | native | SET | 32 B | 4 | 4 |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| UDP | UDP | native | SET | 2000 B | 4 | 4 | n/a |"),
        "{stdout}"
    );
}

#[test]
fn measures_memcached_over_a_unix_socket() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let Some((_memcached, socket)) = start_memcached(dir.path()) else {
        println!("memcached is not on PATH: skipping the memcache protocol test");
        return;
    };
    let json = dir.path().join("bench.json");
    let target = format!("memcached=unix://{}@memcache", socket.display());
    let args = [
        "-e",
        &target,
        "--connections",
        "4",
        "--seconds",
        "0.3",
        "--sizes",
        "32,4096",
        "--depths",
        "1,16",
        "--keys",
        "1000",
    ];
    let (stdout, records) = run_bench(&args, &json);
    assert_eq!(
        records.len(),
        2 * 2 * 2,
        "sizes x ops x depths: {records:#?}"
    );
    for record in &records {
        assert_ran(record);
        assert_eq!(record["protocol"], "memcache");
        assert_eq!(record["transport"], "UNIX");
        if record["op"] == "GET" {
            assert_eq!(record["misses"], 0, "preloaded keys all hit: {record}");
        }
    }
    assert!(
        stdout.contains("| memcached | UNIX | memcache | GET | 4096 B | 4 | 16 |"),
        "{stdout}"
    );
}

#[test]
fn refuses_memcache_over_datagrams_before_connecting() {
    let output = bench()
        .args(["-e", "mc=udp://127.0.0.1:9@memcache", "--seconds", "0.1"])
        .output()
        .expect("cache-bench runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("native protocol only"), "{stderr}");
}
