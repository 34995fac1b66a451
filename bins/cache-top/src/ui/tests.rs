//! Rendering on fixed stats with ratatui's `TestBackend`, asserting the cells that matter.

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

use crate::app::{App, Event};
use crate::fixtures::{self, Node, answered_with_events};

/// A proxy over three nodes: two busy ones (one with evictions) and one down, polled twice a
/// second apart, with the proxy's events.
fn cluster() -> App {
    let config = crate::Config::new(vec!["tcp://127.0.0.1:7000".parse().unwrap()]);
    let base = Instant::now();
    let mut app = App::new(&config, base);
    let a0 = Node::default();
    let b0 = Node {
        run_id: "3333333333333333333333333333333333333333",
        used: 60 * 1024 * 1024,
        ..Node::default()
    };
    let nodes = [
        ("127.0.0.1:7001", "up", Some(&a0)),
        ("127.0.0.1:7002", "up", Some(&b0)),
        ("127.0.0.1:7003", "down", None),
    ];
    app.update(Event::Report(answered_with_events(
        0,
        base,
        0.0,
        &fixtures::proxy_info(10_000, 1, &nodes),
        1,
        &["node 127.0.0.1:7001 added (tcp://127.0.0.1:7001)"],
    )));
    // a: 12,000 ops/s, 90% hits; b: 3,000 ops/s, 50% hits, 25 evictions/s.
    let a1 = Node {
        commands: a0.commands + 12_000,
        hits: a0.hits + 900,
        misses: a0.misses + 100,
        get_calls: a0.get_calls + 1000,
        get_usec: a0.get_usec + 3000,
        ..a0.clone()
    };
    let b1 = Node {
        commands: b0.commands + 3_000,
        hits: b0.hits + 500,
        misses: b0.misses + 500,
        evicted: 25,
        ..b0.clone()
    };
    let nodes = [
        ("127.0.0.1:7001", "up", Some(&a1)),
        ("127.0.0.1:7002", "up", Some(&b1)),
        ("127.0.0.1:7003", "down", None),
    ];
    app.update(Event::Report(answered_with_events(
        0,
        base,
        1.0,
        &fixtures::proxy_info(24_000, 2, &nodes),
        2,
        &[
            "node 127.0.0.1:7001 added (tcp://127.0.0.1:7001)",
            "node 127.0.0.1:7003 down",
        ],
    )));
    app
}

fn render(app: &App, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| frame.render_widget(app, frame.area()))
        .unwrap();
    terminal.backend().buffer().clone()
}

fn line(buf: &Buffer, y: u16) -> String {
    (0..buf.area.width)
        .map(|x| buf[(x, y)].symbol())
        .collect::<String>()
}

/// The row and column where `text` starts.
fn find(buf: &Buffer, text: &str) -> Option<(u16, u16)> {
    (0..buf.area.height).find_map(|y| {
        let row = line(buf, y);
        let byte = row.find(text)?;
        // Columns count characters (box drawing and bars are multi-byte).
        Some((row[..byte].chars().count() as u16, y))
    })
}

fn screen(buf: &Buffer) -> String {
    (0..buf.area.height)
        .map(|y| line(buf, y))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn overview_fits_80x24() {
    let app = cluster();
    let buf = render(&app, 80, 24);
    let text = screen(&buf);
    // The header: both live nodes' ops/s summed, the hit ratio of both, nodes up of all.
    assert!(text.contains("ops/s 15k"), "{text}");
    assert!(text.contains("hit 70.0%"), "{text}");
    assert!(text.contains("mem 76M/128M (59%)"), "{text}");
    assert!(text.contains("nodes 2/3 up"), "{text}");
    assert!(text.contains("evict/s 25"), "{text}");
    assert!(text.contains("p99 <= 15us"), "{text}");
    assert!(text.contains("proxy ops/s 14k"), "{text}");
    // The table: a row per node, with its state in its colour.
    let (x, y) = find(&buf, "127.0.0.1:7001").expect("row of 7001");
    let row = line(&buf, y);
    assert!(row.contains("12k") && row.contains("90.0%"), "{row}");
    let state_x = x + 16;
    assert_eq!(buf[(state_x, y)].symbol(), "u");
    assert_eq!(buf[(state_x, y)].fg, Color::Green);
    let (_, down_y) = find(&buf, "127.0.0.1:7003").expect("row of 7003");
    assert_eq!(buf[(state_x, down_y)].symbol(), "d");
    assert_eq!(buf[(state_x, down_y)].fg, Color::Red);
    let (_, b_y) = find(&buf, "127.0.0.1:7002").expect("row of 7002");
    let b_row = line(&buf, b_y);
    assert!(
        b_row.contains("3k") && b_row.contains("50.0%") && b_row.contains("94%"),
        "{b_row}"
    );
    // The first row is selected.
    assert!(
        buf[(x, y)]
            .modifier
            .contains(ratatui::style::Modifier::REVERSED)
    );
    // Charts and events.
    assert!(text.contains("ops/s 15k  peak 15k"), "{text}");
    assert!(text.contains("hit ratio 70.0%"), "{text}");
    let (_, event_y) = find(&buf, "node 127.0.0.1:7003 down").expect("the down event");
    assert!(line(&buf, event_y).contains("0s ago"));
    let (event_x, _) = find(&buf, "node 127.0.0.1:7003 down").unwrap_or_default();
    assert_eq!(buf[(event_x, event_y)].fg, Color::Red);
    assert!(text.contains("earlier node 127.0.0.1:7001 added"), "{text}");
    assert!(line(&buf, 23).contains("q quit"), "{text}");
    // Nothing is drawn past the right edge: every row is exactly the width.
    assert!(text.lines().all(|l| l.chars().count() == 80));
}

#[test]
fn a_bigger_terminal_gets_wider_bars_and_figures() {
    let app = cluster();
    let buf = render(&app, 140, 40);
    let (_, y) = find(&buf, "127.0.0.1:7002").expect("row");
    let row = line(&buf, y);
    assert!(row.contains("60M/64M"), "{row}");
    assert!(row.matches('█').count() > 10, "{row}");
}

#[test]
fn detail_view_shows_commands_latency_and_memory() {
    let mut app = cluster();
    app.update(Event::Key(KeyEvent::from(KeyCode::Enter)));
    let buf = render(&app, 80, 24);
    let text = screen(&buf);
    assert!(text.contains("127.0.0.1:7001 up"), "{text}");
    assert!(text.contains("policy      w-tinylfu"), "{text}");
    assert!(text.contains("used        16M/64M (25%)"), "{text}");
    assert!(text.contains("frag ratio  2.50"), "{text}");
    let (_, y) = find(&buf, "get ").expect("the get row");
    let get = line(&buf, y);
    // 1,400 calls, 1,000 in the last second at 3 us each; p50 1.5 us, p99 12 us, p99.9 40 us.
    for cell in ["1.4k", "1k", "3.0us", "1.5us", "12us", "40us"] {
        assert!(get.contains(cell), "{cell} not in {get}");
    }
    assert!(line(&buf, 23).contains("enter back"));
}

#[test]
fn help_and_pause_are_visible() {
    let mut app = cluster();
    app.update(Event::Key(KeyEvent::from(KeyCode::Char('?'))));
    let text = screen(&render(&app, 80, 24));
    assert!(text.contains(" keys "), "{text}");
    assert!(text.contains("pause / resume the display"), "{text}");
    app.update(Event::Key(KeyEvent::from(KeyCode::Char('x'))));
    app.update(Event::Key(KeyEvent::from(KeyCode::Char('p'))));
    let buf = render(&app, 80, 24);
    let (x, y) = find(&buf, "PAUSED").expect("the pause mark");
    assert_eq!(buf[(x, y)].bg, Color::Yellow);
    assert!(!screen(&buf).contains(" keys "));
}

#[test]
fn an_unreachable_target_is_said_in_the_header() {
    let config = crate::Config::new(vec!["tcp://127.0.0.1:7000".parse().unwrap()]);
    let base = Instant::now();
    let mut app = App::new(&config, base);
    app.update(Event::Report(fixtures::failed(
        0,
        base,
        0.0,
        "connection refused",
    )));
    let buf = render(&app, 80, 24);
    let (x, y) = find(
        &buf,
        "cannot reach tcp://127.0.0.1:7000: connection refused",
    )
    .expect("error");
    assert_eq!(buf[(x, y)].fg, Color::Red);
    assert!(screen(&buf).contains("nodes 0/1 up"));
}
