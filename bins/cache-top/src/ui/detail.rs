//! The detail view of one node: who it is, its memory, and its commands with their rates and
//! latency percentiles, above a chart of its ops/s.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, Widget};

use super::{bar, label, memory_text, ops_chart, state_color};
use crate::app::NodeView;
use crate::human;

pub fn draw(node: &NodeView, area: Rect, buf: &mut Buffer) {
    let block = Block::bordered().title(Line::from(vec![
        Span::raw(format!(" {} ", node.name)),
        Span::styled(
            format!("{} ", node.state.name()),
            Style::new().fg(state_color(node.state)).bold(),
        ),
    ]));
    let inner = block.inner(area);
    block.render(area, buf);
    let chart_height = if inner.height >= 14 { 4 } else { 0 };
    let [about, columns, chart] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(chart_height),
    ])
    .areas(inner);
    let [memory, commands] =
        Layout::horizontal([Constraint::Length(29), Constraint::Fill(1)]).areas(columns);

    let info = node.info.as_ref();
    let mut line = vec![label("endpoint "), Span::raw(node.endpoint.clone())];
    if let Some(info) = info {
        if let Some(version) = &info.version {
            line.extend([label("  version "), Span::raw(version.clone())]);
        }
        if let Some(uptime) = info.uptime_seconds {
            line.extend([
                label("  uptime "),
                Span::raw(human::age(std::time::Duration::from_secs(uptime))),
            ]);
        }
        if let Some(run_id) = &info.run_id {
            line.extend([
                label("  run_id "),
                Span::raw(run_id.chars().take(8).collect::<String>()),
            ]);
        }
    }
    if let Some(error) = &node.error {
        line = vec![Span::styled(
            format!("{}: {error}", node.endpoint),
            Style::new().fg(Color::Red),
        )];
    }
    Paragraph::new(Line::from(line)).render(about, buf);

    let Some(info) = info else {
        Paragraph::new(label("no data from this node yet")).render(columns, buf);
        return;
    };
    let rates = node.rates;
    let rate = |f: fn(&crate::stats::Rates) -> f64| {
        rates
            .as_ref()
            .map_or("-".to_owned(), |r| human::count(f(r)))
    };
    let row =
        |name: &str, text: String| Line::from(vec![label(&format!("{name:<12}")), Span::raw(text)]);
    let mut lines = vec![
        Line::from(Span::styled("memory", Style::new().bold())),
        row("used", memory_text(info.used_memory, Some(info.maxmemory))),
        Line::from(Span::styled(
            if info.maxmemory > 0 {
                bar(info.used_memory as f64 / info.maxmemory as f64, 27)
            } else {
                String::new()
            },
            Style::new().fg(Color::Cyan),
        )),
        row("rss", info.rss.map_or("-".to_owned(), human::bytes)),
        row(
            "frag ratio",
            info.fragmentation
                .map_or("-".to_owned(), |f| format!("{f:.2}")),
        ),
        row(
            "items",
            match info.expiring_items {
                Some(expiring) => format!(
                    "{} ({} with TTL)",
                    human::count(info.items as f64),
                    human::count(expiring as f64)
                ),
                None => human::count(info.items as f64),
            },
        ),
        row(
            "per item",
            info.used_memory
                .checked_div(info.items)
                .map_or("-".to_owned(), human::bytes),
        ),
        row(
            "policy",
            info.policy.clone().unwrap_or_else(|| "-".to_owned()),
        ),
        row(
            "evict/s",
            format!("{} ({} total)", rate(|r| r.evicted), info.counters.evicted),
        ),
        row(
            "expire/s",
            format!("{} ({} total)", rate(|r| r.expired), info.counters.expired),
        ),
        row("clients", info.clients.to_string()),
        row(
            "net in/out",
            rates.map_or("-".to_owned(), |r| {
                format!(
                    "{}/s {}/s",
                    human::bytes(r.net_input as u64),
                    human::bytes(r.net_output as u64)
                )
            }),
        ),
    ];
    let persistence = match (&info.persistence, info.aof_size, &info.aof_status) {
        (Some(p), Some(size), Some(status)) => format!("{p} {} {status}", human::bytes(size)),
        (Some(p), _, _) => p.clone(),
        _ => "-".to_owned(),
    };
    lines.push(row("persistence", persistence));
    Paragraph::new(lines).render(memory, buf);

    let header = Row::new(["command", "calls", "/s", "mean", "p50", "p99", "p99.9"])
        .style(Style::new().add_modifier(Modifier::BOLD));
    let rows: Vec<Row<'_>> = info
        .commands
        .iter()
        .map(|command| {
            let now = node.command_rates.get(&command.name);
            let latency = command.latency;
            let micros = |f: fn(&crate::stats::Percentiles) -> f64| {
                latency
                    .as_ref()
                    .map_or("-".to_owned(), |l| human::micros(f(l)))
            };
            Row::new(vec![
                command.name.clone(),
                human::count(command.calls as f64),
                now.map_or("-".to_owned(), |r| human::count(r.calls_per_sec)),
                now.and_then(|r| r.usec_per_call)
                    .map_or("-".to_owned(), human::micros),
                micros(|l| l.p50),
                micros(|l| l.p99),
                micros(|l| l.p999),
            ])
        })
        .collect();
    let widths = [
        Constraint::Fill(1),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
    ];
    Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .block(Block::new().title(Line::from(Span::styled(
            "commands (mean: last interval; p: since start)",
            Style::new().bold(),
        ))))
        .render(commands, buf);

    if chart_height > 0 {
        let (sparkline, heading) = ops_chart(&node.history, "ops/s", chart);
        sparkline
            .block(Block::bordered().title(heading))
            .render(chart, buf);
    }
}
