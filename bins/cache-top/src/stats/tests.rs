//! Parsing `INFO`, rates from counter deltas, counter resets, history.

use std::time::Duration;

use super::*;
use crate::fixtures::{self, Node};

fn node(text: &str) -> NodeInfo {
    match parse(text) {
        Parsed::Node(info) => *info,
        Parsed::Proxy(_) => panic!("parsed as a proxy: {text}"),
    }
}

#[test]
fn reads_a_cache_node_info() {
    let info = node(&fixtures::node_info(&Node {
        hits: 7,
        misses: 3,
        ..Node::default()
    }));
    assert_eq!(
        info.run_id.as_deref(),
        Some("1111111111111111111111111111111111111111")
    );
    assert_eq!(info.version.as_deref(), Some("0.1.0"));
    assert_eq!(info.counters.commands, 1000);
    assert_eq!((info.counters.hits, info.counters.misses), (7, 3));
    assert_eq!(info.used_memory, 16 * 1024 * 1024);
    assert_eq!(info.maxmemory, 64 * 1024 * 1024);
    assert_eq!(info.items, 5000);
    assert_eq!(info.policy.as_deref(), Some("w-tinylfu"));
    assert_eq!(info.fragmentation, Some(2.5));
    assert_eq!(info.persistence.as_deref(), Some("disabled"));
    // The merged latency of the data commands, not the slow INFO's.
    assert_eq!(info.latency.map(|l| l.p99), Some(15.0));
    // Most called first, each with its own percentiles.
    let names: Vec<&str> = info.commands.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["get", "set", "info"]);
    assert_eq!(info.commands[0].calls, 400);
    assert_eq!(info.commands[0].usec, 800);
    assert_eq!(info.commands[0].latency.map(|l| l.p999), Some(40.0));
}

#[test]
fn reads_another_redis_server() {
    // Redis: no `items`, no merged latency; keys come from the keyspace line, latency is the
    // worst data command's (INFO's own is left out).
    let text = "# Server\r\nredis_version:7.2.4\r\nrun_id:abc\r\n\r\n# Memory\r\nused_memory:952000\r\n\
                maxmemory:0\r\nmaxmemory_policy:noeviction\r\n\r\n# Stats\r\ntotal_commands_processed:4\r\n\
                keyspace_hits:1\r\nkeyspace_misses:1\r\n\r\n# Persistence\r\naof_enabled:0\r\n\r\n\
                # Commandstats\r\ncmdstat_get:calls=2,usec=5,usec_per_call=2.50,rejected_calls=0,failed_calls=0\r\n\
                cmdstat_info:calls=9,usec=900,usec_per_call=100.00,rejected_calls=0,failed_calls=0\r\n\r\n\
                # Latencystats\r\nlatency_percentiles_usec_get:p50=2.001,p99=9.023,p99.9=9.023\r\n\
                latency_percentiles_usec_info:p50=90.1,p99=300.5,p99.9=300.5\r\n\r\n\
                # Keyspace\r\ndb0:keys=12,expires=2,avg_ttl=0\r\n";
    let info = node(text);
    assert_eq!(info.version.as_deref(), Some("7.2.4"));
    assert_eq!(info.items, 12);
    assert_eq!(info.expiring_items, Some(2));
    assert_eq!(info.latency.map(|l| l.p99), Some(9.023));
    assert_eq!(info.persistence.as_deref(), Some("disabled"));
    assert_eq!(info.maxmemory, 0);
}

#[test]
fn reads_a_proxy_and_its_nodes() {
    let up = Node {
        commands: 42,
        ..Node::default()
    };
    let text = fixtures::proxy_info(
        900,
        6,
        &[
            ("127.0.0.1:7001", "up", Some(&up)),
            ("127.0.0.1:7002", "down", None),
        ],
    );
    let Parsed::Proxy(proxy) = parse(&text) else {
        panic!("not read as a proxy");
    };
    assert_eq!(proxy.commands, 900);
    assert_eq!(proxy.clients, 7);
    assert_eq!(proxy.events_total, Some(6));
    assert_eq!(proxy.nodes.len(), 2);
    assert_eq!(proxy.nodes[0].name, "127.0.0.1:7001");
    assert_eq!(proxy.nodes[0].endpoint, "tcp://127.0.0.1:7001");
    assert_eq!(proxy.nodes[0].state, "up");
    assert_eq!(
        proxy.nodes[0].info.as_ref().map(|i| i.counters.commands),
        Some(42)
    );
    assert_eq!(proxy.nodes[1].state, "down");
    assert_eq!(
        proxy.nodes[1].info, None,
        "a node the proxy could not ask has no figures"
    );
}

#[test]
fn counter_deltas_survive_resets() {
    assert_eq!(counter_delta(100, 150, false), 50);
    assert_eq!(counter_delta(100, 100, false), 0);
    // Lower than before: reset in between, everything counted now is new.
    assert_eq!(counter_delta(100, 30, false), 30);
    // A known reset (new run_id) counts from zero even when the counter is higher.
    assert_eq!(counter_delta(100, 130, true), 130);
}

#[test]
fn rates_are_deltas_over_elapsed_time() {
    let before = Counters {
        commands: 1000,
        hits: 80,
        misses: 20,
        evicted: 5,
        ..Counters::default()
    };
    let after = Counters {
        commands: 3000,
        hits: 380,
        misses: 120,
        evicted: 9,
        ..Counters::default()
    };
    let rates = Rates::between(&before, &after, Duration::from_secs(2), false).unwrap();
    assert_eq!(rates.ops, 1000.0);
    assert_eq!(rates.hits, 150.0);
    assert_eq!(rates.misses, 50.0);
    assert_eq!(rates.evicted, 2.0);
    assert_eq!(rates.hit_ratio(), Some(0.75));
    assert_eq!(Rates::between(&before, &after, Duration::ZERO, false), None);
    // No lookups in the interval: no ratio, not 0%.
    let idle = Rates::between(&after, &after, Duration::from_secs(1), false).unwrap();
    assert_eq!(idle.hit_ratio(), None);
    assert_eq!(idle.ops, 0.0);
}

#[test]
fn rates_after_a_restart_count_from_zero() {
    let before = Counters {
        commands: 5000,
        hits: 900,
        ..Counters::default()
    };
    let restarted = Counters {
        commands: 40,
        hits: 10,
        ..Counters::default()
    };
    let rates = Rates::between(&before, &restarted, Duration::from_secs(1), false).unwrap();
    assert_eq!(rates.ops, 40.0, "not a negative or wrapped rate");
    assert_eq!(rates.hits, 10.0);
}

#[test]
fn command_rates_cover_new_commands_and_resets() {
    let command = |name: &str, calls, usec| CommandInfo {
        name: name.to_owned(),
        calls,
        usec,
        failed: 0,
        latency: None,
    };
    let before = [command("get", 100, 200)];
    let after = [command("get", 300, 600), command("set", 10, 50)];
    let rates = command_rates(&before, &after, Duration::from_secs(2), false);
    assert_eq!(rates["get"].calls_per_sec, 100.0);
    assert_eq!(rates["get"].usec_per_call, Some(2.0));
    assert_eq!(rates["set"].calls_per_sec, 5.0);
    assert_eq!(rates["set"].usec_per_call, Some(5.0));
    // CONFIG RESETSTAT: fewer calls than before.
    let reset = [command("get", 4, 40)];
    let rates = command_rates(&after, &reset, Duration::from_secs(1), false);
    assert_eq!(rates["get"].calls_per_sec, 4.0);
    assert_eq!(rates["get"].usec_per_call, Some(10.0));
    let idle = command_rates(&reset, &reset, Duration::from_secs(1), false);
    assert_eq!(idle["get"].usec_per_call, None);
}

#[test]
fn history_keeps_the_newest() {
    let mut history = History::new(3);
    for i in 0..5 {
        history.push(i);
    }
    assert_eq!(history.len(), 3);
    assert_eq!(
        history.newest_first().copied().collect::<Vec<_>>(),
        [4, 3, 2]
    );
    assert_eq!(history.latest(), Some(&4));
}
