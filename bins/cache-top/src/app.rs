//! The monitor's state and how each event changes it.
//!
//! [`App`] is plain data: the targets, a row per node, the cluster's history, the event pane
//! and what the user selected. [`App::update`] is the only way it changes, one [`Event`] at a
//! time; drawing (`ui`) and the snapshot (`snapshot`) only read it. Time comes in with the
//! events, so tests drive it with made-up instants.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::human;
use crate::poll::{Outcome, ProxyEvents, Report};
use crate::stats::{self, CommandRate, History, NodeInfo, Parsed, ProxyInfo, Rates};

/// Everything the event loop hands the app.
#[derive(Debug, Clone)]
pub enum Event {
    /// The clock moved: the ages shown advance.
    Tick(Instant),
    /// A key was pressed.
    Key(KeyEvent),
    /// The terminal changed size; the next draw uses the new one.
    Resize,
    /// A poll of a target finished.
    Report(Report),
}

/// The event pane keeps this many lines.
const EVENTS_KEPT: usize = 200;

/// How rows are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Endpoint,
    Ops,
    HitRatio,
    Memory,
    Evictions,
    Latency,
}

impl SortKey {
    const ALL: [SortKey; 6] = [
        SortKey::Endpoint,
        SortKey::Ops,
        SortKey::HitRatio,
        SortKey::Memory,
        SortKey::Evictions,
        SortKey::Latency,
    ];

    /// The next key in the `s` cycle.
    pub fn next(self) -> SortKey {
        let i = SortKey::ALL.iter().position(|k| *k == self).unwrap_or(0);
        SortKey::ALL[(i + 1) % SortKey::ALL.len()]
    }

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Endpoint => "endpoint",
            SortKey::Ops => "ops/s",
            SortKey::HitRatio => "hit%",
            SortKey::Memory => "memory",
            SortKey::Evictions => "evict/s",
            SortKey::Latency => "p99",
        }
    }
}

/// A node's state: the proxy's failure detector's, or for a node watched directly, whether it
/// answered the last poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    Up,
    Suspect,
    /// Back, but not routed to until the proxy has flushed it.
    Rejoining,
    Down,
    /// Not known yet, or the proxy reporting it cannot be reached.
    Unknown,
}

impl NodeState {
    fn from_proxy(state: &str) -> NodeState {
        match state {
            "up" => NodeState::Up,
            "suspect" => NodeState::Suspect,
            "rejoining" => NodeState::Rejoining,
            "down" => NodeState::Down,
            _ => NodeState::Unknown,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            NodeState::Up => "up",
            NodeState::Suspect => "suspect",
            NodeState::Rejoining => "rejoin",
            NodeState::Down => "down",
            NodeState::Unknown => "?",
        }
    }

    /// Up or suspect: still serving keys.
    pub fn serving(self) -> bool {
        matches!(self, NodeState::Up | NodeState::Suspect)
    }
}

/// What a target turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Not answered yet.
    Unknown,
    /// A node or any Redis-protocol server.
    Node,
    Proxy,
}

/// A proxy's own figures.
#[derive(Debug, Clone)]
pub struct ProxyView {
    pub version: Option<String>,
    pub run_id: Option<String>,
    pub clients: u64,
    pub commands: u64,
    /// Commands the proxy answered per second over the last interval.
    pub ops: Option<f64>,
    pub nodes: usize,
    /// When these figures arrived.
    pub sampled_at: Instant,
}

/// One endpoint given on the command line.
#[derive(Debug, Clone)]
pub struct Target {
    pub endpoint: String,
    pub kind: TargetKind,
    /// `None` before the first poll finished.
    pub reachable: Option<bool>,
    pub error: Option<String>,
    /// When the poller tries again after a failure.
    pub retry_in: Option<Duration>,
    pub last_report: Option<Instant>,
    pub proxy: Option<ProxyView>,
    /// The proxy's event count up to which its events are in the pane.
    events_seen: Option<u64>,
}

/// One point of a chart.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Point {
    pub ops: f64,
    /// `None` when no key was looked up in the interval.
    pub hit_ratio: Option<f64>,
}

/// One row of the node table.
#[derive(Debug, Clone)]
pub struct NodeView {
    /// The target that reports this node.
    pub target: usize,
    /// The node's name (the proxy's, or the endpoint watched).
    pub name: String,
    pub endpoint: String,
    pub state: NodeState,
    /// The last `INFO` the node gave, and when.
    pub info: Option<NodeInfo>,
    pub sampled_at: Option<Instant>,
    /// Rates over the last interval; `None` until two samples in a row, and while down.
    pub rates: Option<Rates>,
    pub command_rates: BTreeMap<String, CommandRate>,
    pub history: History<Point>,
    pub error: Option<String>,
}

impl NodeView {
    /// The value the table sorts on (higher first, except the endpoint).
    fn sort_value(&self, key: SortKey) -> f64 {
        let info = self.info.as_ref();
        match key {
            SortKey::Endpoint => 0.0,
            SortKey::Ops => self.rates.map_or(-1.0, |r| r.ops),
            SortKey::HitRatio => self.rates.and_then(|r| r.hit_ratio()).unwrap_or(-1.0),
            SortKey::Memory => info.map_or(-1.0, |i| i.used_memory as f64),
            SortKey::Evictions => self.rates.map_or(-1.0, |r| r.evicted),
            SortKey::Latency => info
                .and_then(|i| i.latency)
                .map_or(-1.0, |latency| latency.p99),
        }
    }
}

/// What an event is about, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Down,
    Up,
    /// A node flushed on its way back in.
    Rejoin,
    Policy,
    Config,
    Restart,
    Membership,
    Other,
}

impl EventKind {
    /// The kind of one of the proxy's event texts.
    fn of_proxy_text(text: &str) -> EventKind {
        if text.contains("flush failed") || text.ends_with(" down") {
            EventKind::Down
        } else if text.contains("flushed, rejoined") {
            EventKind::Rejoin
        } else if text.contains(" up (") || text.contains("answering again") {
            EventKind::Up
        } else if text.starts_with("config reloaded") {
            EventKind::Config
        } else if text.contains(" added") || text.ends_with(" removed") {
            EventKind::Membership
        } else {
            EventKind::Other
        }
    }
}

/// A line of the event pane.
#[derive(Debug, Clone, PartialEq)]
pub struct EventLine {
    /// When cache-top saw it; `None` for what a proxy reported from before cache-top started.
    pub at: Option<Instant>,
    pub kind: EventKind,
    pub text: String,
}

/// The summary in the header.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    pub nodes: usize,
    pub nodes_up: usize,
    /// Commands the nodes processed per second (`None` before any rate is known).
    pub ops: Option<f64>,
    /// Commands the proxies answered per second, when watching proxies.
    pub proxy_ops: Option<f64>,
    pub hit_ratio: Option<f64>,
    pub evicted: f64,
    pub expired: f64,
    pub used_memory: u64,
    /// Sum of the budgets; `None` if any node has none.
    pub maxmemory: Option<u64>,
    pub items: u64,
    pub clients: u64,
    /// The worst node's p99, microseconds: the cluster's p99 is no higher.
    pub worst_p99: Option<f64>,
}

/// The monitor.
#[derive(Debug)]
pub struct App {
    pub targets: Vec<Target>,
    pub nodes: Vec<NodeView>,
    /// The cluster's ops/s and hit ratio, one point per interval.
    pub history: History<Point>,
    /// When the last point was added.
    history_at: Option<Instant>,
    /// Newest last.
    pub events: VecDeque<EventLine>,
    /// The selected row, by target and name, so it survives re-sorting.
    pub selected: Option<(usize, String)>,
    pub sort: SortKey,
    pub paused: bool,
    pub detail: bool,
    pub help: bool,
    pub now: Instant,
    pub interval: Duration,
    history_len: usize,
    /// The newest report of each target that arrived while paused.
    held: Vec<Option<Report>>,
    quit: bool,
}

impl App {
    /// A monitor of `config`'s targets, nothing polled yet, at time `now`.
    pub fn new(config: &crate::Config, now: Instant) -> App {
        App {
            targets: config
                .targets
                .iter()
                .map(|endpoint| Target {
                    endpoint: endpoint.to_string(),
                    kind: TargetKind::Unknown,
                    reachable: None,
                    error: None,
                    retry_in: None,
                    last_report: None,
                    proxy: None,
                    events_seen: None,
                })
                .collect(),
            nodes: Vec::new(),
            history: History::new(config.history_len()),
            history_at: None,
            events: VecDeque::new(),
            selected: None,
            sort: SortKey::Endpoint,
            paused: false,
            detail: false,
            help: false,
            now,
            interval: config.interval,
            history_len: config.history_len(),
            held: vec![None; config.targets.len()],
            quit: false,
        }
    }

    /// True once the user asked to leave.
    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// Applies one event.
    pub fn update(&mut self, event: Event) {
        match event {
            Event::Tick(now) => self.now = self.now.max(now),
            Event::Key(key) => self.key(key),
            Event::Resize => {}
            Event::Report(report) if self.paused => self.hold(report),
            Event::Report(report) => self.apply(report),
        }
    }

    fn key(&mut self, key: KeyEvent) {
        if key.kind != KeyEventKind::Press {
            return;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Char('c') if ctrl => self.quit = true,
            _ if self.help => self.help = false,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Esc => self.detail = false,
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::Home | KeyCode::Char('g') => self.move_selection(isize::MIN),
            KeyCode::End | KeyCode::Char('G') => self.move_selection(isize::MAX),
            KeyCode::Enter => self.detail = !self.detail && self.selected_node().is_some(),
            KeyCode::Char('s') => self.sort = self.sort.next(),
            KeyCode::Char('p') => {
                self.paused = !self.paused;
                if !self.paused {
                    for report in std::mem::take(&mut self.held).into_iter().flatten() {
                        self.apply(report);
                    }
                    self.held = vec![None; self.targets.len()];
                }
            }
            _ => {}
        }
    }

    /// Rows in display order.
    pub fn sorted(&self) -> Vec<&NodeView> {
        let mut rows: Vec<&NodeView> = self.nodes.iter().collect();
        let key = self.sort;
        rows.sort_by(|a, b| {
            let by_name = (a.target, &a.name).cmp(&(b.target, &b.name));
            if key == SortKey::Endpoint {
                return by_name;
            }
            b.sort_value(key)
                .total_cmp(&a.sort_value(key))
                .then(by_name)
        });
        rows
    }

    /// Index of the selected row in [`App::sorted`].
    pub fn selected_index(&self) -> Option<usize> {
        let (target, name) = self.selected.as_ref()?;
        self.sorted()
            .iter()
            .position(|n| n.target == *target && n.name == *name)
    }

    pub fn selected_node(&self) -> Option<&NodeView> {
        self.selected_index().map(|i| self.sorted()[i])
    }

    fn move_selection(&mut self, by: isize) {
        let rows = self.sorted();
        if rows.is_empty() {
            return;
        }
        let last = rows.len() as isize - 1;
        let to = match self.selected_index() {
            None => 0,
            Some(i) => (i as isize).saturating_add(by).clamp(0, last),
        };
        let row = rows[to as usize];
        self.selected = Some((row.target, row.name.clone()));
    }

    /// Keeps the newest report per target while paused; a proxy's event list is carried over
    /// to a newer report that did not fetch one, so no event is lost.
    fn hold(&mut self, mut report: Report) {
        let Some(slot) = self.held.get_mut(report.target) else {
            return;
        };
        if let (
            Some(Report {
                outcome:
                    Outcome::Answered {
                        events: Some(old), ..
                    },
                ..
            }),
            Outcome::Answered { events: new, .. },
        ) = (slot.as_ref(), &mut report.outcome)
            && new.is_none()
        {
            *new = Some(old.clone());
        }
        *slot = Some(report);
    }

    fn note(&mut self, at: Option<Instant>, kind: EventKind, text: String) {
        if self.events.len() == EVENTS_KEPT {
            self.events.pop_front();
        }
        self.events.push_back(EventLine { at, kind, text });
    }

    /// Applies a poll's result.
    pub fn apply(&mut self, report: Report) {
        let Some(target) = self.targets.get(report.target) else {
            return;
        };
        self.now = self.now.max(report.at);
        let what = if target.kind == TargetKind::Proxy {
            "proxy"
        } else {
            "node"
        };
        let endpoint = target.endpoint.clone();
        // A node watched directly is named by its endpoint, without the default scheme.
        let name = endpoint
            .strip_prefix("tcp://")
            .unwrap_or(&endpoint)
            .to_owned();
        let was = target.reachable;
        let index = report.target;
        match report.outcome {
            Outcome::Failed { error, retry_in } => {
                if was != Some(false) {
                    let text = match was {
                        Some(true) => format!("{what} {endpoint} down: {error}"),
                        _ => format!("cannot reach {endpoint}: {error}"),
                    };
                    self.note(Some(report.at), EventKind::Down, text);
                }
                let target = &mut self.targets[index];
                target.reachable = Some(false);
                target.error = Some(error.clone());
                target.retry_in = Some(retry_in);
                target.last_report = Some(report.at);
                if target.kind == TargetKind::Proxy {
                    for node in self.nodes.iter_mut().filter(|n| n.target == index) {
                        node.state = NodeState::Unknown;
                        node.rates = None;
                    }
                } else {
                    let row = self.row(index, &name, &endpoint);
                    row.state = NodeState::Down;
                    row.rates = None;
                    row.error = Some(error);
                }
            }
            Outcome::Answered { info, events } => {
                if was == Some(false) {
                    self.note(
                        Some(report.at),
                        EventKind::Up,
                        format!("{what} {endpoint} answering again"),
                    );
                }
                let target = &mut self.targets[index];
                target.reachable = Some(true);
                target.error = None;
                target.retry_in = None;
                target.last_report = Some(report.at);
                match info {
                    Parsed::Node(info) => {
                        self.targets[index].kind = TargetKind::Node;
                        self.sample(index, &name, &endpoint, *info, report.at, true);
                        let row = self.row(index, &name, &endpoint);
                        row.state = NodeState::Up;
                        row.error = None;
                    }
                    Parsed::Proxy(proxy) => self.apply_proxy(index, proxy, events, report.at),
                }
            }
        }
        self.record_history(report.at);
        if self.selected.is_none()
            && let Some(first) = self.sorted().first()
        {
            self.selected = Some((first.target, first.name.clone()));
        }
    }

    /// Adds the cluster's point for this interval: at the first report of each round (a
    /// proxy's report covers every node; several targets report a little apart).
    fn record_history(&mut self, at: Instant) {
        let due = self
            .history_at
            .is_none_or(|last| at.saturating_duration_since(last) >= self.interval.mul_f64(0.9));
        if !due {
            return;
        }
        let summary = self.summary();
        if let Some(ops) = summary.ops {
            self.history.push(Point {
                ops,
                hit_ratio: summary.hit_ratio,
            });
            self.history_at = Some(at);
        }
    }

    fn apply_proxy(
        &mut self,
        index: usize,
        proxy: ProxyInfo,
        events: Option<ProxyEvents>,
        at: Instant,
    ) {
        let target = &mut self.targets[index];
        target.kind = TargetKind::Proxy;
        let endpoint = target.endpoint.clone();
        let previous = target.proxy.take();
        let restarted = previous
            .as_ref()
            .is_some_and(|p| p.run_id.is_some() && p.run_id != proxy.run_id);
        let ops = previous.as_ref().and_then(|p| {
            let elapsed = at.checked_duration_since(p.sampled_at)?.as_secs_f64();
            (elapsed > 0.0).then(|| {
                stats::counter_delta(p.commands, proxy.commands, restarted) as f64 / elapsed
            })
        });
        target.proxy = Some(ProxyView {
            version: proxy.version.clone(),
            run_id: proxy.run_id.clone(),
            clients: proxy.clients,
            commands: proxy.commands,
            ops,
            nodes: proxy.nodes.len(),
            sampled_at: at,
        });
        if restarted {
            target.events_seen = Some(0);
            self.note(
                Some(at),
                EventKind::Restart,
                format!("proxy {endpoint} restarted"),
            );
        }
        if let Some(ProxyEvents { total, list }) = events {
            let target = &mut self.targets[index];
            let seen = target.events_seen;
            // A count lower than what was seen means the proxy restarted meanwhile.
            let seen = seen.filter(|s| *s <= total);
            target.events_seen = Some(total);
            let (fresh, when) = match seen {
                // Everything listed at the first look happened before cache-top started.
                None => (list.len(), None),
                Some(seen) => (
                    usize::try_from(total - seen)
                        .unwrap_or(usize::MAX)
                        .min(list.len()),
                    Some(at),
                ),
            };
            for text in &list[list.len() - fresh..] {
                self.note(when, EventKind::of_proxy_text(text), text.clone());
            }
        }
        let names: Vec<String> = proxy.nodes.iter().map(|n| n.name.clone()).collect();
        self.nodes
            .retain(|n| n.target != index || names.contains(&n.name));
        for node in proxy.nodes {
            if let Some(info) = node.info {
                self.sample(index, &node.name, &node.endpoint, info, at, false);
            }
            let row = self.row(index, &node.name, &node.endpoint);
            row.state = NodeState::from_proxy(&node.state);
            if !row.state.serving() || row.sampled_at != Some(at) {
                row.rates = None;
            }
        }
    }

    /// The row of node `name` reported by `target`, made if new.
    fn row(&mut self, target: usize, name: &str, endpoint: &str) -> &mut NodeView {
        let position = self
            .nodes
            .iter()
            .position(|n| n.target == target && n.name == name);
        let index = match position {
            Some(i) => i,
            None => {
                self.nodes.push(NodeView {
                    target,
                    name: name.to_owned(),
                    endpoint: endpoint.to_owned(),
                    state: NodeState::Unknown,
                    info: None,
                    sampled_at: None,
                    rates: None,
                    command_rates: BTreeMap::new(),
                    history: History::new(self.history_len),
                    error: None,
                });
                self.nodes.len() - 1
            }
        };
        let row = &mut self.nodes[index];
        row.endpoint = endpoint.to_owned();
        row
    }

    /// Takes a node's new `INFO`: rates against the previous one, and the events that the
    /// difference shows (a restart when watched directly, a policy swap, a new budget).
    fn sample(
        &mut self,
        target: usize,
        name: &str,
        endpoint: &str,
        info: NodeInfo,
        at: Instant,
        direct: bool,
    ) {
        let row = self.row(target, name, endpoint);
        let mut notes = Vec::new();
        match (row.info.take(), row.sampled_at) {
            (Some(previous), Some(then)) => {
                let restarted = previous.run_id.is_some() && previous.run_id != info.run_id;
                let elapsed = at.saturating_duration_since(then);
                row.rates = Rates::between(&previous.counters, &info.counters, elapsed, restarted);
                row.command_rates =
                    stats::command_rates(&previous.commands, &info.commands, elapsed, restarted);
                if restarted && direct {
                    notes.push((EventKind::Restart, format!("node {name} restarted")));
                }
                if let (Some(before), Some(now)) = (&previous.policy, &info.policy)
                    && before != now
                {
                    notes.push((
                        EventKind::Policy,
                        format!("node {name} policy {before} -> {now}"),
                    ));
                }
                if previous.maxmemory != info.maxmemory {
                    notes.push((
                        EventKind::Config,
                        format!(
                            "node {name} maxmemory {} -> {}",
                            budget(previous.maxmemory),
                            budget(info.maxmemory)
                        ),
                    ));
                }
            }
            _ => row.rates = None,
        }
        if let Some(rates) = row.rates {
            row.history.push(Point {
                ops: rates.ops,
                hit_ratio: rates.hit_ratio(),
            });
        }
        row.info = Some(info);
        row.sampled_at = Some(at);
        for (kind, text) in notes {
            self.note(Some(at), kind, text);
        }
    }

    /// The cluster at a glance.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary {
            nodes: self.nodes.len(),
            maxmemory: Some(0),
            ..Summary::default()
        };
        let mut rates: Option<Rates> = None;
        for node in &self.nodes {
            if node.state.serving() {
                summary.nodes_up += 1;
            }
            if let Some(r) = node.rates {
                rates = Some(rates.map_or(r, |sum| sum.add(&r)));
            }
            let Some(info) = node.info.as_ref().filter(|_| node.state.serving()) else {
                continue;
            };
            summary.used_memory += info.used_memory;
            summary.maxmemory = match (summary.maxmemory, info.maxmemory) {
                (Some(sum), max) if max > 0 => Some(sum + max),
                _ => None,
            };
            summary.items += info.items;
            summary.clients += info.clients;
            if let Some(latency) = info.latency {
                summary.worst_p99 = Some(
                    summary
                        .worst_p99
                        .map_or(latency.p99, |w| w.max(latency.p99)),
                );
            }
        }
        if summary.used_memory == 0 && summary.nodes_up == 0 {
            summary.maxmemory = None;
        }
        if let Some(r) = rates {
            summary.ops = Some(r.ops);
            summary.hit_ratio = r.hit_ratio();
            summary.evicted = r.evicted;
            summary.expired = r.expired;
        }
        let proxies: Vec<&ProxyView> = self
            .targets
            .iter()
            .filter(|t| t.reachable == Some(true))
            .filter_map(|t| t.proxy.as_ref())
            .collect();
        if !proxies.is_empty() {
            summary.proxy_ops = proxies.iter().filter_map(|p| p.ops).reduce(|a, b| a + b);
            // The proxy's clients are the cluster's clients; the nodes' are the proxy's pool.
            summary.clients = proxies.iter().map(|p| p.clients).sum();
        }
        summary
    }
}

/// A memory budget as shown in events: `256M`, or `none`.
fn budget(bytes: u64) -> String {
    if bytes == 0 {
        "none".to_owned()
    } else {
        human::bytes(bytes)
    }
}

#[cfg(test)]
mod tests;
