//! `cache-top --once` against real servers: a node, and a proxy in front of two nodes, after
//! known traffic, checking that the snapshot reports what happened.

use std::process::Command;
use std::time::Duration;

use cache_tests::{NodeProcess, ServerProcess, binary};
use redis::Commands;
use serde_json::Value;

use crate::support::{connect, connect_url, eventually, unique_socket_path};

/// Runs `cache-top --once` with `args`; returns whether it succeeded and its stdout.
fn once(args: &[&str]) -> anyhow::Result<(bool, String)> {
    let output = Command::new(binary("cache-top"))
        .args(["--once", "--interval", "300ms"])
        .args(args)
        .output()?;
    let stdout = String::from_utf8(output.stdout)?;
    Ok((output.status.success(), stdout))
}

fn once_json(args: &[&str]) -> anyhow::Result<Value> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (ok, stdout) = once(&all)?;
    anyhow::ensure!(ok, "cache-top --once --json failed:\n{stdout}");
    Ok(serde_json::from_str(&stdout)?)
}

fn number(value: &Value, path: &str) -> u64 {
    value
        .pointer(path)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no number at {path} in {value:#}"))
}

#[test]
fn snapshot_of_a_node_reflects_its_traffic() -> anyhow::Result<()> {
    let node = NodeProcess::start(&["--maxmemory", "64mb"])?;
    let mut con = connect(&node)?;
    for key in ["a", "b", "c"] {
        let _: () = con.set(key, "value")?;
    }
    let _: Option<String> = con.get("a")?;
    let _: Option<String> = con.get("b")?;
    let _: Option<String> = con.get("missing")?;

    let endpoint = format!("tcp://{}", node.addr);
    let json = once_json(&[&endpoint])?;
    assert_eq!(json["targets"][0]["kind"], "node", "{json:#}");
    assert_eq!(json["targets"][0]["reachable"], true);
    let node_json = &json["nodes"][0];
    assert_eq!(node_json["state"], "up");
    assert_eq!(node_json["name"], node.addr.as_str());
    assert_eq!(number(node_json, "/info/counters/hits"), 2);
    assert_eq!(number(node_json, "/info/counters/misses"), 1);
    assert_eq!(number(node_json, "/info/items"), 3);
    assert_eq!(number(node_json, "/info/maxmemory"), 64 * 1024 * 1024);
    assert_eq!(node_json["info"]["policy"], "w-tinylfu");
    let commands = node_json["info"]["commands"].as_array().expect("commands");
    let calls = |name: &str| {
        commands
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["calls"].as_u64())
    };
    assert_eq!(calls("get"), Some(3));
    assert_eq!(calls("set"), Some(3));
    let p99 = node_json["info"]["latency"]["p99"]
        .as_f64()
        .expect("a data latency");
    assert!(p99 > 0.0, "p99 {p99}");
    // The second poll saw at least the first poll's INFO: a real rate over a real interval.
    let ops = node_json["rates"]["ops"].as_f64().expect("a rate");
    assert!(ops > 0.0, "ops/s {ops}");
    assert_eq!(number(&json, "/cluster/nodes_up"), 1);
    assert_eq!(number(&json, "/cluster/items"), 3);

    let (ok, text) = once(&[&endpoint])?;
    assert!(ok, "{text}");
    assert!(text.contains("nodes 1/1 up"), "{text}");
    let totals = text
        .lines()
        .rev()
        .find(|l| l.starts_with(node.addr.as_str()))
        .expect("a totals row");
    let cells: Vec<&str> = totals.split_whitespace().collect();
    // name, commands, hits, misses, hit%, evicted, expired, policy
    assert_eq!(cells[2..5], ["2", "1", "66.7%"], "{totals}");
    assert_eq!(cells.last(), Some(&"w-tinylfu"), "{totals}");
    Ok(())
}

#[test]
fn snapshot_says_when_a_server_cannot_be_reached() -> anyhow::Result<()> {
    let path = unique_socket_path("cache-top-missing");
    let endpoint = format!("unix://{path}");
    let (ok, text) = once(&["--timeout", "300ms", &endpoint])?;
    assert!(
        !ok,
        "cache-top --once must fail when nothing answers:\n{text}"
    );
    assert!(text.contains(&format!("cannot reach {endpoint}")), "{text}");
    assert!(text.contains("nodes 0/1 up"), "{text}");
    Ok(())
}

#[test]
fn snapshot_of_a_proxy_shows_every_node_and_its_events() -> anyhow::Result<()> {
    let nodes = [NodeProcess::start(&[])?, NodeProcess::start(&[])?];
    let proxy = ServerProcess::proxy(&["--node", &nodes[0].addr, "--node", &nodes[1].addr])?;
    let mut con = connect_url(&proxy.url())?;
    for i in 0..40 {
        let _: () = con.set(format!("key:{i}"), i)?;
    }
    for i in 0..40 {
        let _: Option<i64> = con.get(format!("key:{i}"))?;
    }
    for i in 0..10 {
        let _: Option<i64> = con.get(format!("absent:{i}"))?;
    }

    let endpoint = format!("tcp://{}", proxy.addr);
    let json = once_json(&[&endpoint])?;
    assert_eq!(json["targets"][0]["kind"], "proxy", "{json:#}");
    let rows = json["nodes"].as_array().expect("nodes");
    let mut names: Vec<&str> = rows.iter().filter_map(|n| n["name"].as_str()).collect();
    names.sort_unstable();
    let mut expected = [nodes[0].addr.as_str(), nodes[1].addr.as_str()];
    expected.sort_unstable();
    assert_eq!(names, expected);
    assert!(rows.iter().all(|n| n["state"] == "up"), "{json:#}");
    let sum = |path: &str| rows.iter().map(|n| number(n, path)).sum::<u64>();
    assert_eq!(sum("/info/counters/hits"), 40);
    assert_eq!(sum("/info/counters/misses"), 10);
    assert_eq!(sum("/info/items"), 40);
    assert_eq!(number(&json, "/cluster/nodes_up"), 2);
    let events: Vec<&str> = json["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["text"].as_str())
        .collect();
    for node in &nodes {
        assert!(
            events
                .iter()
                .any(|e| e.contains(&node.addr) && e.contains("added")),
            "{events:?}"
        );
    }

    // One node goes away: the proxy's detector marks it down, and so does the snapshot.
    let gone = nodes[1].addr.clone();
    let [kept, victim] = nodes;
    victim.kill();
    let mut admin = connect_url(&proxy.url())?;
    eventually(Duration::from_secs(10), || {
        let lines: Vec<String> = redis::cmd("PROXY").arg("NODES").query(&mut admin)?;
        Ok(lines
            .iter()
            .any(|l| l.contains(&format!("name={gone} ")) && l.contains("state=down"))
            .then_some(()))
    })?;
    let json = once_json(&[&endpoint])?;
    let state = |addr: &str| {
        json["nodes"]
            .as_array()
            .and_then(|rows| rows.iter().find(|n| n["name"] == addr))
            .map(|n| n["state"].clone())
    };
    assert_eq!(state(&gone), Some(Value::from("down")), "{json:#}");
    assert_eq!(state(&kept.addr), Some(Value::from("up")), "{json:#}");
    assert_eq!(number(&json, "/cluster/nodes_up"), 1);
    assert!(
        json["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["text"] == format!("node {gone} down").as_str() && e["kind"] == "down"),
        "{json:#}"
    );
    let (_, text) = once(&[&endpoint])?;
    assert!(text.contains("nodes 1/2 up"), "{text}");
    Ok(())
}
