//! The app's state after fixed sequences of reports and keys.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent};

use super::*;
use crate::fixtures::{self, Node, answered, answered_with_events, failed};

fn app(targets: &[&str]) -> App {
    let config = crate::Config::new(targets.iter().map(|t| t.parse().unwrap()).collect());
    App::new(&config, Instant::now())
}

fn key(app: &mut App, code: KeyCode) {
    app.update(Event::Key(KeyEvent::from(code)));
}

#[test]
fn rates_come_from_two_polls_of_a_node() {
    let base = Instant::now();
    let mut app = app(&["tcp://127.0.0.1:7001"]);
    let first = Node::default();
    app.update(Event::Report(answered(
        0,
        base,
        0.0,
        &fixtures::node_info(&first),
    )));
    assert_eq!(app.nodes.len(), 1);
    assert_eq!(app.nodes[0].name, "127.0.0.1:7001");
    assert_eq!(app.nodes[0].state, NodeState::Up);
    assert_eq!(app.nodes[0].rates, None, "one sample has no rate");
    let second = Node {
        commands: first.commands + 500,
        hits: first.hits + 90,
        misses: first.misses + 10,
        evicted: 4,
        ..first.clone()
    };
    app.update(Event::Report(answered(
        0,
        base,
        0.5,
        &fixtures::node_info(&second),
    )));
    let rates = app.nodes[0].rates.expect("rates after two samples");
    assert_eq!(rates.ops, 1000.0);
    assert_eq!(rates.hit_ratio(), Some(0.9));
    assert_eq!(rates.evicted, 8.0);
    let summary = app.summary();
    assert_eq!(summary.ops, Some(1000.0));
    assert_eq!((summary.nodes_up, summary.nodes), (1, 1));
    assert_eq!(summary.maxmemory, Some(64 * 1024 * 1024));
    assert_eq!(app.history.latest().map(|p| p.ops), Some(1000.0));
    assert_eq!(app.nodes[0].history.len(), 1);
}

#[test]
fn a_restart_resets_rates_and_is_an_event() {
    let base = Instant::now();
    let mut app = app(&["tcp://127.0.0.1:7001"]);
    app.update(Event::Report(answered(
        0,
        base,
        0.0,
        &fixtures::node_info(&Node::default()),
    )));
    let restarted = Node {
        run_id: "2222222222222222222222222222222222222222",
        commands: 30,
        hits: 3,
        misses: 0,
        ..Node::default()
    };
    app.update(Event::Report(answered(
        0,
        base,
        1.0,
        &fixtures::node_info(&restarted),
    )));
    let rates = app.nodes[0].rates.expect("rates");
    assert_eq!(rates.ops, 30.0);
    assert_eq!(rates.hits, 3.0);
    let last = app.events.back().expect("an event");
    assert_eq!(last.kind, EventKind::Restart);
    assert_eq!(last.text, "node 127.0.0.1:7001 restarted");
}

#[test]
fn a_policy_swap_and_a_new_budget_are_events() {
    let base = Instant::now();
    let mut app = app(&["tcp://127.0.0.1:7001"]);
    app.update(Event::Report(answered(
        0,
        base,
        0.0,
        &fixtures::node_info(&Node::default()),
    )));
    let swapped = Node {
        policy: "allkeys-lru",
        max: 128 * 1024 * 1024,
        ..Node::default()
    };
    app.update(Event::Report(answered(
        0,
        base,
        1.0,
        &fixtures::node_info(&swapped),
    )));
    let texts: Vec<(EventKind, &str)> = app
        .events
        .iter()
        .map(|e| (e.kind, e.text.as_str()))
        .collect();
    assert_eq!(
        texts,
        [
            (
                EventKind::Policy,
                "node 127.0.0.1:7001 policy w-tinylfu -> allkeys-lru"
            ),
            (
                EventKind::Config,
                "node 127.0.0.1:7001 maxmemory 64M -> 128M"
            ),
        ]
    );
}

#[test]
fn a_node_that_stops_answering_is_down_then_back() {
    let base = Instant::now();
    let mut app = app(&["tcp://127.0.0.1:7001"]);
    app.update(Event::Report(answered(
        0,
        base,
        0.0,
        &fixtures::node_info(&Node::default()),
    )));
    app.update(Event::Report(failed(0, base, 1.0, "connection refused")));
    assert_eq!(app.nodes[0].state, NodeState::Down);
    assert_eq!(app.nodes[0].rates, None);
    assert_eq!(app.summary().nodes_up, 0);
    assert_eq!(app.targets[0].retry_in, Some(Duration::from_secs(2)));
    let down = app.events.back().expect("an event");
    assert_eq!(down.kind, EventKind::Down);
    assert_eq!(
        down.text,
        "node tcp://127.0.0.1:7001 down: connection refused"
    );
    // A second failure adds no second event.
    app.update(Event::Report(failed(0, base, 3.0, "connection refused")));
    assert_eq!(app.events.len(), 1);
    app.update(Event::Report(answered(
        0,
        base,
        5.0,
        &fixtures::node_info(&Node::default()),
    )));
    assert_eq!(app.nodes[0].state, NodeState::Up);
    assert_eq!(app.events.back().map(|e| e.kind), Some(EventKind::Up));
    assert_eq!(app.nodes[0].error, None);
}

#[test]
fn proxy_events_are_new_only_once() {
    let base = Instant::now();
    let mut app = app(&["tcp://127.0.0.1:7000"]);
    let node = Node::default();
    let nodes = [
        ("127.0.0.1:7001", "up", Some(&node)),
        ("127.0.0.1:7002", "up", Some(&node)),
    ];
    let startup = [
        "node 127.0.0.1:7001 added (tcp://127.0.0.1:7001)",
        "node 127.0.0.1:7001 up (generation 11)",
    ];
    app.update(Event::Report(answered_with_events(
        0,
        base,
        0.0,
        &fixtures::proxy_info(100, 2, &nodes),
        2,
        &startup,
    )));
    assert_eq!(app.targets[0].kind, TargetKind::Proxy);
    assert_eq!(app.nodes.len(), 2);
    assert!(
        app.events.iter().all(|e| e.at.is_none()),
        "what the proxy had before cache-top started has no time"
    );
    assert_eq!(app.events.len(), 2);
    // One node goes down, then is flushed and rejoins: two new events.
    let down = [
        ("127.0.0.1:7001", "up", Some(&node)),
        ("127.0.0.1:7002", "down", None),
    ];
    let later = [
        startup[0],
        startup[1],
        "node 127.0.0.1:7002 down",
        "node 127.0.0.1:7002 back (generation 22): flushed, rejoined",
    ];
    app.update(Event::Report(answered_with_events(
        0,
        base,
        1.0,
        &fixtures::proxy_info(300, 4, &down),
        4,
        &later,
    )));
    let kinds: Vec<EventKind> = app.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds[2..], [EventKind::Down, EventKind::Rejoin]);
    assert!(app.events.iter().skip(2).all(|e| e.at.is_some()));
    assert_eq!(
        app.nodes
            .iter()
            .find(|n| n.name == "127.0.0.1:7002")
            .map(|n| n.state),
        Some(NodeState::Down)
    );
    assert_eq!(app.summary().nodes_up, 1);
    assert_eq!(app.summary().proxy_ops, Some(200.0));
    // The same list again (the count did not move): nothing new.
    app.update(Event::Report(answered_with_events(
        0,
        base,
        2.0,
        &fixtures::proxy_info(400, 4, &down),
        4,
        &later,
    )));
    assert_eq!(app.events.len(), 4);
}

#[test]
fn a_node_removed_from_the_proxy_leaves_the_table() {
    let base = Instant::now();
    let mut app = app(&["tcp://127.0.0.1:7000"]);
    let node = Node::default();
    let two = [("a:1", "up", Some(&node)), ("b:2", "up", Some(&node))];
    app.update(Event::Report(answered(
        0,
        base,
        0.0,
        &fixtures::proxy_info(1, 0, &two),
    )));
    assert_eq!(app.nodes.len(), 2);
    let one = [("a:1", "up", Some(&node))];
    app.update(Event::Report(answered(
        0,
        base,
        1.0,
        &fixtures::proxy_info(2, 0, &one),
    )));
    assert_eq!(app.nodes.len(), 1);
    // The proxy itself going away leaves its nodes in an unknown state.
    app.update(Event::Report(failed(0, base, 2.0, "timed out")));
    assert_eq!(app.nodes[0].state, NodeState::Unknown);
    assert_eq!(
        app.events.back().map(|e| e.text.as_str()),
        Some("proxy tcp://127.0.0.1:7000 down: timed out")
    );
}

#[test]
fn pause_holds_reports_until_resumed() {
    let base = Instant::now();
    let mut app = app(&["tcp://127.0.0.1:7001"]);
    app.update(Event::Report(answered(
        0,
        base,
        0.0,
        &fixtures::node_info(&Node::default()),
    )));
    key(&mut app, KeyCode::Char('p'));
    assert!(app.paused);
    let busier = Node {
        commands: 3000,
        ..Node::default()
    };
    app.update(Event::Report(answered(
        0,
        base,
        1.0,
        &fixtures::node_info(&busier),
    )));
    assert_eq!(
        app.nodes[0].rates, None,
        "the display holds still while paused"
    );
    key(&mut app, KeyCode::Char('p'));
    assert!(!app.paused);
    assert_eq!(app.nodes[0].rates.map(|r| r.ops), Some(2000.0));
}

#[test]
fn keys_select_sort_open_and_quit() {
    let base = Instant::now();
    let mut app = app(&["tcp://127.0.0.1:7000"]);
    let (busy, idle) = (
        Node {
            commands: 100,
            ..Node::default()
        },
        Node {
            commands: 100,
            ..Node::default()
        },
    );
    let nodes = [("a:1", "up", Some(&idle)), ("b:2", "up", Some(&busy))];
    app.update(Event::Report(answered(
        0,
        base,
        0.0,
        &fixtures::proxy_info(1, 0, &nodes),
    )));
    let busy = Node {
        commands: 900,
        ..busy
    };
    let idle = Node {
        commands: 110,
        ..idle
    };
    let nodes = [("a:1", "up", Some(&idle)), ("b:2", "up", Some(&busy))];
    app.update(Event::Report(answered(
        0,
        base,
        1.0,
        &fixtures::proxy_info(2, 0, &nodes),
    )));
    assert_eq!(app.selected_node().map(|n| n.name.as_str()), Some("a:1"));
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(app.selected_node().map(|n| n.name.as_str()), Some("b:2"));
    key(&mut app, KeyCode::Down);
    assert_eq!(
        app.selected_node().map(|n| n.name.as_str()),
        Some("b:2"),
        "stops at the end"
    );
    // Sorting by ops/s puts the busy node first; the selection stays on it.
    key(&mut app, KeyCode::Char('s'));
    assert_eq!(app.sort, SortKey::Ops);
    let order: Vec<&str> = app.sorted().iter().map(|n| n.name.as_str()).collect();
    assert_eq!(order, ["b:2", "a:1"]);
    assert_eq!(app.selected_index(), Some(0));
    key(&mut app, KeyCode::Enter);
    assert!(app.detail);
    key(&mut app, KeyCode::Esc);
    assert!(!app.detail);
    key(&mut app, KeyCode::Char('?'));
    assert!(app.help);
    key(&mut app, KeyCode::Char('j'));
    assert!(!app.help, "any key closes the help");
    assert_eq!(
        app.selected_node().map(|n| n.name.as_str()),
        Some("b:2"),
        "and does nothing else"
    );
    assert!(!app.should_quit());
    key(&mut app, KeyCode::Char('q'));
    assert!(app.should_quit());
}
