//! `cache-top`: a live terminal monitor of a cache proxy, of cache nodes, or of any
//! Redis-protocol server.
//!
//! Structured as a ratatui app: [`App`] is plain state, [`App::update`] applies one [`Event`],
//! `impl Widget for &App` (in [`ui`]) draws it, and [`run`] is the one event loop, selecting
//! over a tick, the terminal's event stream and the data channel the pollers ([`poll`]) send
//! their reports on. [`stats`] turns `INFO` text into numbers and rates, [`snapshot`] prints
//! the same state once as text or JSON (`--once`).
//!
//! **Invariants:** the event loop never waits on the network (pollers are tasks of their own,
//! every call bounded by a timeout); the terminal is restored on every way out, a panic
//! included ([`terminal`]).

pub mod app;
pub mod config;
pub mod human;
pub mod poll;
pub mod snapshot;
pub mod stats;
pub mod terminal;
pub mod ui;

#[cfg(test)]
mod fixtures;

use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::{Event as TerminalEvent, EventStream};
use futures_util::StreamExt;
use tokio::sync::mpsc;

pub use app::{App, Event};
pub use config::Config;

/// Runs the interactive monitor until the user quits or `shutdown` completes. The terminal is
/// in raw mode on the alternate screen meanwhile, and restored afterwards whatever happens.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    anyhow::ensure!(
        !config.targets.is_empty(),
        "nothing to watch: give an endpoint"
    );
    let (sender, mut reports) = mpsc::channel(256);
    let mut pollers = poll::spawn(&config, &sender);
    drop(sender);
    let mut app = App::new(&config, Instant::now());
    let mut screen = terminal::Screen::enter().context("cannot set up the terminal")?;
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(config.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        screen
            .terminal
            .draw(|frame| frame.render_widget(&app, frame.area()))
            .context("cannot draw")?;
        let event = tokio::select! {
            _ = tick.tick() => Event::Tick(Instant::now()),
            read = input.next() => match read {
                Some(Ok(TerminalEvent::Key(key))) => Event::Key(key),
                Some(Ok(TerminalEvent::Resize(..))) => Event::Resize,
                Some(Ok(_)) => continue,
                Some(Err(error)) => return Err(error).context("cannot read the terminal"),
                None => break,
            },
            Some(event) = reports.recv() => event,
            Some(ended) = pollers.join_next() => {
                // Pollers run until the receiver goes; one that ends has failed.
                drop(screen);
                anyhow::bail!("a poller stopped unexpectedly: {ended:?}");
            }
            () = &mut shutdown => break,
        };
        app.update(event);
        if app.should_quit() {
            break;
        }
    }
    drop(screen);
    Ok(())
}

/// Polls every target twice, `config.interval` apart (so rates are real), and returns the
/// state for [`snapshot`]; a target that fails is given up on after its first failure. The
/// second value is false if some target could not be reached.
pub async fn once(config: &Config) -> anyhow::Result<(App, bool)> {
    anyhow::ensure!(
        !config.targets.is_empty(),
        "nothing to watch: give an endpoint"
    );
    let (sender, mut reports) = mpsc::channel(64);
    let pollers = poll::spawn(config, &sender);
    drop(sender);
    let mut app = App::new(config, Instant::now());
    let mut answers = vec![0usize; config.targets.len()];
    let mut failed = vec![false; config.targets.len()];
    // Two polls plus a connect and a call each, with room to spare.
    let limit = config.interval * 2 + (config.connect.connect_timeout + config.connect.timeout) * 3;
    let deadline = tokio::time::Instant::now() + limit + Duration::from_secs(1);
    while answers
        .iter()
        .zip(&failed)
        .any(|(answered, failed)| *answered < 2 && !failed)
    {
        let Ok(Some(event)) = tokio::time::timeout_at(deadline, reports.recv()).await else {
            break;
        };
        if let Event::Report(report) = &event {
            let target = report.target;
            match report.outcome {
                poll::Outcome::Answered { .. } => answers[target] += 1,
                poll::Outcome::Failed { .. } => failed[target] = true,
            }
            if failed[target] && answers[target] > 0 {
                // It answered once, then failed: keep what the answer said.
                continue;
            }
        }
        app.update(event);
    }
    drop(pollers);
    let complete = answers.iter().all(|a| *a >= 2);
    Ok((app, complete))
}
