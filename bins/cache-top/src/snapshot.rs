//! `--once`: the state as one plain-text snapshot or one JSON document.

use std::fmt::Write as _;

use serde::Serialize;

use crate::app::{App, EventKind, NodeState, Summary, TargetKind};
use crate::human;
use crate::stats::{CommandRate, NodeInfo, Rates};

/// The JSON document.
#[derive(Debug, Serialize)]
pub struct Snapshot<'a> {
    pub cache_top: &'static str,
    /// The time between the two polls the rates come from.
    pub interval_ms: u128,
    pub targets: Vec<TargetSnapshot<'a>>,
    pub cluster: Summary,
    pub nodes: Vec<NodeSnapshot<'a>>,
    pub events: Vec<EventSnapshot<'a>>,
}

#[derive(Debug, Serialize)]
pub struct TargetSnapshot<'a> {
    pub endpoint: &'a str,
    pub kind: TargetKind,
    pub reachable: bool,
    pub error: Option<&'a str>,
    /// A proxy's own figures.
    pub proxy: Option<ProxySnapshot<'a>>,
}

#[derive(Debug, Serialize)]
pub struct ProxySnapshot<'a> {
    pub version: Option<&'a str>,
    pub clients: u64,
    pub commands: u64,
    pub ops_per_sec: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct NodeSnapshot<'a> {
    pub name: &'a str,
    pub endpoint: &'a str,
    pub state: NodeState,
    pub error: Option<&'a str>,
    /// Per second, over the last interval.
    pub rates: Option<Rates>,
    pub hit_ratio: Option<f64>,
    pub command_rates: &'a std::collections::BTreeMap<String, CommandRate>,
    /// Everything read from the node's `INFO`.
    pub info: Option<&'a NodeInfo>,
}

#[derive(Debug, Serialize)]
pub struct EventSnapshot<'a> {
    /// How long before the snapshot cache-top saw it; `None` if it predates cache-top.
    pub age_ms: Option<u128>,
    pub kind: EventKind,
    pub text: &'a str,
}

/// The app's state as the JSON document's structure.
pub fn snapshot(app: &App) -> Snapshot<'_> {
    Snapshot {
        cache_top: env!("CARGO_PKG_VERSION"),
        interval_ms: app.interval.as_millis(),
        targets: app
            .targets
            .iter()
            .map(|t| TargetSnapshot {
                endpoint: &t.endpoint,
                kind: t.kind,
                reachable: t.reachable == Some(true),
                error: t.error.as_deref(),
                proxy: t.proxy.as_ref().map(|p| ProxySnapshot {
                    version: p.version.as_deref(),
                    clients: p.clients,
                    commands: p.commands,
                    ops_per_sec: p.ops,
                }),
            })
            .collect(),
        cluster: app.summary(),
        nodes: app
            .sorted()
            .into_iter()
            .map(|n| NodeSnapshot {
                name: &n.name,
                endpoint: &n.endpoint,
                state: n.state,
                error: n.error.as_deref(),
                rates: n.rates,
                hit_ratio: n.rates.and_then(|r| r.hit_ratio()),
                command_rates: &n.command_rates,
                info: n.info.as_ref(),
            })
            .collect(),
        events: app
            .events
            .iter()
            .map(|e| EventSnapshot {
                age_ms: e
                    .at
                    .map(|at| app.now.saturating_duration_since(at).as_millis()),
                kind: e.kind,
                text: &e.text,
            })
            .collect(),
    }
}

/// One JSON document.
pub fn json(app: &App) -> String {
    // Plain data with string keys: serializing cannot fail.
    serde_json::to_string_pretty(&snapshot(app))
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The plain-text snapshot: the header, the node table, totals since start, and the events.
pub fn text(app: &App) -> String {
    let summary = app.summary();
    let mut out = String::new();
    let targets: Vec<String> = app
        .targets
        .iter()
        .map(|t| match t.kind {
            TargetKind::Proxy => format!("{} (proxy)", t.endpoint),
            _ => t.endpoint.clone(),
        })
        .collect();
    let _ = writeln!(
        out,
        "cache-top {}  {}  rates over {:.1}s",
        env!("CARGO_PKG_VERSION"),
        targets.join(", "),
        app.interval.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "ops/s {}  hit {}  mem {}  items {}  nodes {}/{} up",
        summary.ops.map_or("-".to_owned(), human::count),
        human::percent(summary.hit_ratio),
        crate::ui::cluster_memory(&summary),
        summary.items,
        summary.nodes_up,
        summary.nodes
    );
    let mut second = format!(
        "evict/s {}  expire/s {}  clients {}  p99 <= {}",
        human::count(summary.evicted),
        human::count(summary.expired),
        summary.clients,
        summary.worst_p99.map_or("-".to_owned(), human::micros)
    );
    if let Some(ops) = summary.proxy_ops {
        let _ = write!(second, "  proxy ops/s {}", human::count(ops));
    }
    let _ = writeln!(out, "{second}");
    for target in app.targets.iter().filter(|t| t.reachable != Some(true)) {
        let _ = writeln!(
            out,
            "cannot reach {}: {}",
            target.endpoint,
            target.error.as_deref().unwrap_or("no answer")
        );
    }
    out.push('\n');
    let rows = app.sorted();
    let width = rows.iter().map(|n| n.name.len()).max().unwrap_or(8).max(8);
    let _ = writeln!(
        out,
        "{:<width$}  {:<7} {:>7} {:>6}  {:<20} {:>7} {:>7} {:>6} {:>5} {:>7}",
        "endpoint", "state", "ops/s", "hit%", "memory", "items", "evict/s", "exp/s", "conn", "p99"
    );
    for node in &rows {
        let info = node.info.as_ref().filter(|_| node.state != NodeState::Down);
        let rate = |f: fn(&Rates) -> f64| {
            node.rates
                .as_ref()
                .map_or("-".to_owned(), |r| human::count(f(r)))
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:<7} {:>7} {:>6}  {:<20} {:>7} {:>7} {:>6} {:>5} {:>7}",
            node.name,
            node.state.name(),
            rate(|r| r.ops),
            human::percent(node.rates.and_then(|r| r.hit_ratio())),
            info.map_or("-".to_owned(), |i| crate::ui::memory_text(
                i.used_memory,
                Some(i.maxmemory)
            )),
            info.map_or("-".to_owned(), |i| i.items.to_string()),
            rate(|r| r.evicted),
            rate(|r| r.expired),
            info.map_or("-".to_owned(), |i| i.clients.to_string()),
            info.and_then(|i| i.latency)
                .map_or("-".to_owned(), |l| human::micros(l.p99)),
        );
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "{:<width$}  {:>10} {:>10} {:>10} {:>6} {:>9} {:>9}  policy",
        "totals", "commands", "hits", "misses", "hit%", "evicted", "expired"
    );
    for node in &rows {
        let Some(info) = &node.info else { continue };
        let c = info.counters;
        let _ = writeln!(
            out,
            "{:<width$}  {:>10} {:>10} {:>10} {:>6} {:>9} {:>9}  {}",
            node.name,
            c.commands,
            c.hits,
            c.misses,
            human::percent(crate::stats::ratio(c.hits as f64, c.misses as f64)),
            c.evicted,
            c.expired,
            info.policy.as_deref().unwrap_or("-")
        );
    }
    if !app.events.is_empty() {
        out.push_str("\nevents\n");
        for event in app.events.iter().rev() {
            let when = event.at.map_or("earlier".to_owned(), |at| {
                format!("{} ago", human::age(app.now.saturating_duration_since(at)))
            });
            let _ = writeln!(out, "{when:>8}  {}", human::short_ids(&event.text));
        }
    }
    out
}
