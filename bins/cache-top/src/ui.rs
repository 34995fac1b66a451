//! Drawing: `impl Widget for &App`.
//!
//! The screen, top to bottom: a three-line cluster header, then either the overview (the node
//! table, the ops/s and hit-ratio charts, the event pane) or the detail view of the selected
//! node, and a line of keys. It fits 80x24; the table and the charts take the extra room of a
//! bigger terminal. Drawing reads the app and changes nothing.

mod detail;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Cell, Clear, HighlightSpacing, Paragraph, RenderDirection, Row, Sparkline,
    StatefulWidget, Table, TableState, Widget,
};

use crate::app::{App, EventKind, NodeState, NodeView, Point, SortKey, TargetKind};
use crate::human;
use crate::stats::History;

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let [header, body, footer] = Layout::vertical([
            Constraint::Length(3),
            Constraint::Fill(1),
            Constraint::Length(1),
        ])
        .areas(area);
        draw_header(self, header, buf);
        match self.selected_node().filter(|_| self.detail) {
            Some(node) => detail::draw(node, body, buf),
            None => draw_overview(self, body, buf),
        }
        draw_footer(self, footer, buf);
        if self.help {
            draw_help(area, buf);
        }
    }
}

/// The colour of a node state.
pub fn state_color(state: NodeState) -> Color {
    match state {
        NodeState::Up => Color::Green,
        NodeState::Suspect => Color::Yellow,
        NodeState::Rejoining => Color::Cyan,
        NodeState::Down => Color::Red,
        NodeState::Unknown => Color::DarkGray,
    }
}

fn event_color(kind: EventKind) -> Color {
    match kind {
        EventKind::Down => Color::Red,
        EventKind::Up => Color::Green,
        EventKind::Rejoin | EventKind::Restart => Color::Yellow,
        EventKind::Policy => Color::Cyan,
        EventKind::Config => Color::Magenta,
        EventKind::Membership => Color::Blue,
        EventKind::Other => Color::Reset,
    }
}

fn label(text: &str) -> Span<'static> {
    Span::styled(text.to_owned(), Style::new().fg(Color::DarkGray))
}

fn value(text: String) -> Span<'static> {
    Span::styled(text, Style::new().add_modifier(Modifier::BOLD))
}

/// What is watched, for the title bar.
fn targets_title(app: &App) -> String {
    let Some(first) = app.targets.first() else {
        return String::new();
    };
    let kind = match first.kind {
        TargetKind::Proxy => " (proxy)",
        TargetKind::Node => "",
        TargetKind::Unknown => " (connecting)",
    };
    match app.targets.len() {
        1 => format!("{}{kind}", first.endpoint),
        n => format!("{}{kind} +{} more", first.endpoint, n - 1),
    }
}

/// The cluster's memory: `used/max (n%)`, `used (no limit)`, or `-` with no node serving.
pub fn cluster_memory(summary: &crate::app::Summary) -> String {
    if summary.nodes_up == 0 {
        "-".to_owned()
    } else {
        memory_text(summary.used_memory, summary.maxmemory)
    }
}

/// `used/max (n%)`, or `used (no limit)`.
pub fn memory_text(used: u64, max: Option<u64>) -> String {
    match max {
        Some(max) if max > 0 => format!(
            "{}/{} ({:.0}%)",
            human::bytes(used),
            human::bytes(max),
            used as f64 * 100.0 / max as f64
        ),
        _ => format!("{} (no limit)", human::bytes(used)),
    }
}

fn draw_header(app: &App, area: Rect, buf: &mut Buffer) {
    let summary = app.summary();
    let updated = app
        .targets
        .iter()
        .filter_map(|t| t.last_report)
        .max()
        .map(|at| {
            format!(
                "updated {} ago ",
                human::age(app.now.saturating_duration_since(at))
            )
        })
        .unwrap_or_else(|| "waiting for data ".to_owned());
    let title = Line::from(vec![
        Span::styled(" cache-top ", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!(" {}", targets_title(app))),
    ]);
    let [top, lines] = Layout::vertical([Constraint::Length(1), Constraint::Length(2)]).areas(area);
    let bar = Style::new().bg(Color::Blue).fg(Color::White);
    Paragraph::new(title).style(bar).render(top, buf);
    Paragraph::new(Line::from(updated).right_aligned())
        .style(bar)
        .render(top, buf);

    let nodes_style = if summary.nodes > 0 && summary.nodes_up == summary.nodes {
        Style::new().fg(Color::Green).add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    };
    let first = Line::from(vec![
        label(" ops/s "),
        value(summary.ops.map_or("-".to_owned(), human::count)),
        label("  hit "),
        value(human::percent(summary.hit_ratio)),
        label("  mem "),
        value(cluster_memory(&summary)),
        label("  items "),
        value(human::count(summary.items as f64)),
        label("  nodes "),
        Span::styled(
            format!("{}/{} up", summary.nodes_up, summary.nodes),
            nodes_style,
        ),
    ]);
    let unreachable = app.targets.iter().find(|t| t.reachable == Some(false));
    let second = match unreachable {
        Some(target) => Line::from(Span::styled(
            format!(
                " cannot reach {}: {} (retry in {})",
                target.endpoint,
                target.error.as_deref().unwrap_or("no answer"),
                human::age(target.retry_in.unwrap_or_default())
            ),
            Style::new().fg(Color::Red),
        )),
        None => {
            let mut spans = vec![
                label(" evict/s "),
                value(human::count(summary.evicted)),
                label("  expire/s "),
                value(human::count(summary.expired)),
                label("  clients "),
                value(summary.clients.to_string()),
                label("  p99 <= "),
                value(summary.worst_p99.map_or("-".to_owned(), human::micros)),
            ];
            if let Some(ops) = summary.proxy_ops {
                spans.extend([label("  proxy ops/s "), value(human::count(ops))]);
            }
            Line::from(spans)
        }
    };
    Paragraph::new(vec![first, second]).render(lines, buf);
}

fn draw_footer(app: &App, area: Rect, buf: &mut Buffer) {
    let key = |k: &str| Span::styled(k.to_owned(), Style::new().fg(Color::Cyan).bold());
    let mut spans = vec![
        Span::raw(" "),
        key("↑↓/jk"),
        Span::raw(" select  "),
        key("enter"),
        Span::raw(if app.detail { " back  " } else { " details  " }),
        key("s"),
        Span::raw(format!(" sort: {}  ", app.sort.name())),
        key("p"),
        Span::raw(" pause  "),
        key("?"),
        Span::raw(" help  "),
        key("q"),
        Span::raw(" quit"),
    ];
    if app.paused {
        spans.push(Span::styled(
            "  PAUSED",
            Style::new().fg(Color::Black).bg(Color::Yellow).bold(),
        ));
    }
    Paragraph::new(Line::from(spans)).render(area, buf);
}

fn draw_overview(app: &App, area: Rect, buf: &mut Buffer) {
    // The charts and the event pane keep at least 5 and 3 lines; the table takes what its rows
    // need of the rest, and the charts get most of what is left.
    let wanted = app.nodes.len() as u16 + 3;
    let table_height = wanted
        .min(area.height.saturating_sub(8))
        .max(4)
        .min(area.height);
    let rest = area.height - table_height;
    let charts_height = (rest * 3 / 5).max(5).min(rest);
    let [table, charts, events] = Layout::vertical([
        Constraint::Length(table_height),
        Constraint::Length(charts_height),
        Constraint::Fill(1),
    ])
    .areas(area);
    draw_table(app, table, buf);
    draw_charts(app, charts, buf);
    draw_events(app, events, buf);
}

/// Column widths of the node table for an inner width: the numbers have fixed widths, the
/// endpoint and the memory bar share the rest.
fn table_widths(width: u16) -> [u16; 10] {
    const FIXED: u16 = 7 + 6 + 5 + 6 + 7 + 5 + 4 + 5;
    let flexible = width.saturating_sub(FIXED + 9);
    // `127.0.0.1:7001` and its five-digit siblings fit at 80 columns.
    let endpoint = (flexible * 2 / 5)
        .clamp(15, 32)
        .min(flexible.saturating_sub(6));
    let memory = flexible - endpoint;
    [endpoint, 7, 6, 5, memory, 6, 7, 5, 4, 5]
}

/// A bar of `width` cells and the figures, as wide as `width` allows.
pub fn memory_cell(used: u64, max: u64, width: u16) -> String {
    let width = usize::from(width);
    if max == 0 {
        return human::bytes(used);
    }
    let ratio = used as f64 / max as f64;
    let percent = format!("{:.0}%", ratio * 100.0);
    let figures = format!("{}/{}", human::bytes(used), human::bytes(max));
    let text = if width >= figures.len() + 8 {
        figures
    } else {
        percent
    };
    let bar_width = width.saturating_sub(text.len() + 1);
    if bar_width < 2 {
        return text;
    }
    format!("{} {text}", bar(ratio, bar_width))
}

/// `width` cells, the first `ratio` of them full.
pub fn bar(ratio: f64, width: usize) -> String {
    let filled = ((ratio.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

fn draw_table(app: &App, area: Rect, buf: &mut Buffer) {
    let widths = table_widths(area.width.saturating_sub(2));
    let headers = [
        ("endpoint", Some(SortKey::Endpoint)),
        ("state", None),
        ("ops/s", Some(SortKey::Ops)),
        ("hit%", Some(SortKey::HitRatio)),
        ("memory", Some(SortKey::Memory)),
        ("items", None),
        ("evict/s", Some(SortKey::Evictions)),
        ("exp/s", None),
        ("conn", None),
        ("p99", Some(SortKey::Latency)),
    ];
    let header = Row::new(headers.iter().map(|(name, key)| {
        let style = if *key == Some(app.sort) {
            Style::new().bold().underlined().fg(Color::Yellow)
        } else {
            Style::new().bold()
        };
        Cell::from(*name).style(style)
    }));
    let rows: Vec<Row<'_>> = app
        .sorted()
        .into_iter()
        .map(|node| node_row(node, widths[4]))
        .collect();
    let block = Block::bordered().title(Line::from(vec![
        Span::raw(" nodes "),
        Span::styled(
            format!("sorted by {} ", app.sort.name()),
            Style::new().fg(Color::DarkGray),
        ),
    ]));
    let table = Table::new(rows, widths.map(Constraint::Length))
        .header(header)
        .column_spacing(1)
        .block(block)
        .highlight_spacing(HighlightSpacing::Never)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected(app.selected_index());
    StatefulWidget::render(table, area, buf, &mut state);
}

fn right(text: String) -> Cell<'static> {
    Cell::from(Line::from(text).right_aligned())
}

fn node_row(node: &NodeView, memory_width: u16) -> Row<'static> {
    let state = Cell::from(node.state.name()).style(
        Style::new()
            .fg(state_color(node.state))
            .add_modifier(Modifier::BOLD),
    );
    let name = node
        .name
        .strip_prefix("tcp://")
        .unwrap_or(&node.name)
        .to_owned();
    let info = node.info.as_ref().filter(|_| node.state != NodeState::Down);
    let rate = |f: fn(&crate::stats::Rates) -> f64| {
        node.rates
            .as_ref()
            .map_or("-".to_owned(), |r| human::count(f(r)))
    };
    Row::new(vec![
        Cell::from(name),
        state,
        right(rate(|r| r.ops)),
        right(human::percent(node.rates.and_then(|r| r.hit_ratio()))),
        Cell::from(info.map_or(String::new(), |i| {
            memory_cell(i.used_memory, i.maxmemory, memory_width)
        }))
        .style(Style::new().fg(Color::Cyan)),
        right(info.map_or("-".to_owned(), |i| human::count(i.items as f64))),
        right(rate(|r| r.evicted)),
        right(rate(|r| r.expired)),
        right(info.map_or("-".to_owned(), |i| i.clients.to_string())),
        right(
            info.and_then(|i| i.latency)
                .map_or("-".to_owned(), |l| human::micros(l.p99)),
        ),
    ])
}

/// The newest `width` values of `history`, newest first, through `f`.
fn series(
    history: &History<Point>,
    width: u16,
    f: impl Fn(&Point) -> Option<u64>,
) -> Vec<Option<u64>> {
    history
        .newest_first()
        .take(usize::from(width))
        .map(f)
        .collect()
}

/// A sparkline of ops/s, newest at the right.
pub fn ops_chart<'a>(
    history: &History<Point>,
    title: &'a str,
    area: Rect,
) -> (Sparkline<'a>, String) {
    let width = area.width.saturating_sub(2);
    let data = series(history, width, |p| Some(p.ops.round() as u64));
    let peak = history.newest_first().map(|p| p.ops).fold(0.0, f64::max);
    let now = history
        .latest()
        .map_or("-".to_owned(), |p| human::count(p.ops));
    let heading = format!(" {title} {now}  peak {} ", human::count(peak));
    let chart = Sparkline::default()
        .data(data)
        .direction(RenderDirection::RightToLeft)
        .style(Style::new().fg(Color::Green));
    (chart, heading)
}

fn draw_charts(app: &App, area: Rect, buf: &mut Buffer) {
    let [left, right] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(area);
    let (ops, heading) = ops_chart(&app.history, "ops/s", left);
    let waiting = app.history.is_empty();
    ops.block(Block::bordered().title(heading))
        .render(left, buf);

    let width = right.width.saturating_sub(2);
    // Tenths of a percent, on a fixed 0-100% scale; an interval without lookups is a gap.
    let data = series(&app.history, width, |p| {
        p.hit_ratio.map(|r| (r * 1000.0).round() as u64)
    });
    let low = app
        .history
        .newest_first()
        .filter_map(|p| p.hit_ratio)
        .reduce(f64::min);
    let now = app.history.latest().and_then(|p| p.hit_ratio);
    let heading = format!(
        " hit ratio {}  low {} ",
        human::percent(now),
        human::percent(low)
    );
    Sparkline::default()
        .data(data)
        .max(1000)
        .direction(RenderDirection::RightToLeft)
        .style(Style::new().fg(Color::Yellow))
        .block(Block::bordered().title(heading))
        .render(right, buf);
    if waiting {
        for chart in [left, right] {
            let inner = Block::bordered().inner(chart);
            Paragraph::new(Line::from(label("collecting...")).centered()).render(inner, buf);
        }
    }
}

fn draw_events(app: &App, area: Rect, buf: &mut Buffer) {
    let block = Block::bordered().title(" events ");
    let inner = block.inner(area);
    block.render(area, buf);
    let lines: Vec<Line<'_>> = app
        .events
        .iter()
        .rev()
        .take(usize::from(inner.height))
        .map(|event| {
            let when = event.at.map_or("earlier".to_owned(), |at| {
                format!("{} ago", human::age(app.now.saturating_duration_since(at)))
            });
            Line::from(vec![
                Span::styled(format!("{when:>8} "), Style::new().fg(Color::DarkGray)),
                Span::styled(
                    human::short_ids(&event.text),
                    Style::new().fg(event_color(event.kind)),
                ),
            ])
        })
        .collect();
    if lines.is_empty() {
        Paragraph::new(label("no events yet")).render(inner, buf);
    } else {
        Paragraph::new(lines).render(inner, buf);
    }
}

/// The keys, in the help overlay and `--help`.
pub const KEYS: [(&str, &str); 8] = [
    ("↑ ↓  j k", "select a node"),
    ("g G", "first / last node"),
    ("enter", "details of the node (again: back)"),
    ("esc", "back to the overview"),
    ("s", "sort by the next column"),
    ("p", "pause / resume the display"),
    ("?", "this help"),
    ("q  ctrl-c", "quit"),
];

fn draw_help(area: Rect, buf: &mut Buffer) {
    let width = 50.min(area.width);
    let height = (KEYS.len() as u16 + 4).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    Clear.render(popup, buf);
    let mut lines: Vec<Line<'_>> = KEYS
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(format!(" {key:<11}"), Style::new().fg(Color::Cyan).bold()),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(label(" any key closes this")));
    Paragraph::new(lines)
        .block(Block::bordered().title(" keys "))
        .render(popup, buf);
}

#[cfg(test)]
mod tests;
