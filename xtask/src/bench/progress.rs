//! A progress bar on stderr: redrawn in place on a terminal, a line per tenth elsewhere (so a
//! CI log shows progress without thousands of lines).

use std::io::{IsTerminal, Write};
use std::time::Instant;

/// Progress of one step, e.g. "writing 100000 product files".
#[derive(Debug)]
pub struct Progress {
    label: String,
    total: u64,
    done: u64,
    started: Instant,
    terminal: bool,
    /// The last tenth (or, on a terminal, percent) shown.
    shown: u64,
}

const WIDTH: u64 = 30;

impl Progress {
    pub fn new(label: impl Into<String>, total: u64) -> Progress {
        let progress = Progress {
            label: label.into(),
            total: total.max(1),
            done: 0,
            started: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            shown: u64::MAX,
        };
        progress.draw();
        progress
    }

    /// `n` more units done.
    pub fn inc(&mut self, n: u64) {
        self.done = (self.done + n).min(self.total);
        let step = if self.terminal { 100 } else { 10 };
        let now = self.done * step / self.total;
        if now != self.shown {
            self.shown = now;
            self.draw();
        }
    }

    fn draw(&self) {
        let filled = self.done * WIDTH / self.total;
        let bar: String = (0..WIDTH)
            .map(|i| if i < filled { '#' } else { '.' })
            .collect();
        let percent = self.done * 100 / self.total;
        let elapsed = self.started.elapsed().as_secs_f64();
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(
                err,
                "\r\x1b[2K  [{bar}] {percent:>3}% {} ({elapsed:.1} s)",
                self.label
            );
        } else {
            let _ = writeln!(err, "  [{bar}] {percent:>3}% {}", self.label);
        }
        let _ = err.flush();
    }

    /// Ends the bar, leaving its final line.
    pub fn finish(mut self) {
        if self.done < self.total {
            self.done = self.total;
            self.draw();
        }
        if self.terminal {
            let _ = writeln!(std::io::stderr());
        }
    }
}
