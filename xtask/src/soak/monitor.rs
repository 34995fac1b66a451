//! The main thread's watch over a run: a sample of every process each second (RSS, and for a
//! node whether it is full), a report row each interval, and the growth rule per process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::cluster::{self, Cluster};
use super::load::Shared;
use super::stats::{self, Growth, Row, Tally};
use super::{FULL_SHARE, SETTLE_AFTER_FULL, mib, report};

/// The RSS samples of one process incarnation.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub incarnation: u32,
    pub node: bool,
    /// Seconds since the load began.
    pub first_seen: f64,
    pub last_seen: f64,
    /// When its `used_memory` first reached [`FULL_SHARE`] of `maxmemory` (nodes only).
    pub full_since: Option<f64>,
    pub samples: Vec<(f64, u64)>,
}

impl Series {
    /// The growth rule over this incarnation's steady state: from a third into the run (and,
    /// for a node, from shortly after it filled up) to its end.
    pub fn growth(&self, run_seconds: f64) -> Growth {
        let from = run_seconds / 3.0;
        match (self.node, self.full_since) {
            (false, _) => stats::growth(&self.samples, from),
            (true, Some(full)) => stats::growth(&self.samples, from.max(full + SETTLE_AFTER_FULL)),
            (true, None) => Growth::NotJudged(format!(
                "never used {:.0}% of its maxmemory",
                FULL_SHARE * 100.0
            )),
        }
    }
}

/// The main thread's view: samples, rows, and the whole run's tally.
#[derive(Debug)]
pub struct Monitor {
    maxmemory: u64,
    pub series: BTreeMap<(String, u32), Series>,
    pub rows: Vec<Row>,
    pub total: Tally,
}

impl Monitor {
    pub fn new(maxmemory: u64) -> Monitor {
        Monitor {
            maxmemory,
            series: BTreeMap::new(),
            rows: Vec::new(),
            total: Tally::default(),
        }
    }

    /// Samples every second and prints a row every `interval` until `seconds` of load have
    /// passed or a process died on its own.
    pub fn watch(
        &mut self,
        cluster: &Mutex<Cluster>,
        shared: &Shared,
        tallies: &[Arc<Mutex<Tally>>],
        seconds: f64,
        interval: f64,
    ) {
        println!("{}", report::header());
        let (mut next_sample, mut next_row, mut last_row) = (0.0, interval, 0.0);
        let mut interval_tally = Tally::default();
        loop {
            let now = shared.seconds();
            let ending = now >= seconds;
            let mut died = false;
            if now >= next_sample || ending {
                died = self.sample(cluster, shared);
                next_sample += 1.0;
            }
            if now >= next_row || ending || died {
                for tally in tallies {
                    let mut tally = tally.lock().unwrap_or_else(|e| e.into_inner());
                    interval_tally.merge(&tally);
                    tally.clear();
                }
                let rss = self.current_rss(now);
                let row = Row::new(now, now - last_row, &interval_tally, rss);
                println!("{}", report::row_line(&row));
                self.total.merge(&interval_tally);
                interval_tally.clear();
                self.rows.push(row);
                last_row = now;
                next_row += interval;
            }
            if ending || died {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One sample of every process; true if one died on its own.
    pub fn sample(&mut self, cluster: &Mutex<Cluster>, shared: &Shared) -> bool {
        let (running, exited) = {
            let mut cluster = cluster.lock().unwrap_or_else(|e| e.into_inner());
            let exited = cluster.exited();
            (cluster.running(), exited)
        };
        for gone in &exited {
            shared.finding(gone.clone());
        }
        let now = shared.seconds();
        for process in running {
            let Some(rss) = cluster::rss_bytes(process.pid) else {
                continue;
            };
            let full = match process.port {
                Some(port) if !process.paused => {
                    cluster::node_memory(port).is_some_and(|(used, max)| {
                        let max = if max == 0 { self.maxmemory } else { max };
                        used as f64 >= FULL_SHARE * max as f64
                    })
                }
                _ => false,
            };
            let series = self
                .series
                .entry((process.name.clone(), process.incarnation))
                .or_insert_with(|| Series {
                    name: process.name.clone(),
                    incarnation: process.incarnation,
                    node: process.port.is_some(),
                    first_seen: now,
                    last_seen: now,
                    full_since: None,
                    samples: Vec::new(),
                });
            series.last_seen = now;
            series.samples.push((now, rss));
            if full && series.full_since.is_none() {
                series.full_since = Some(now);
            }
        }
        !exited.is_empty()
    }

    /// The latest RSS of every process seen in the last two seconds, in MiB.
    fn current_rss(&self, now: f64) -> BTreeMap<String, f64> {
        self.series
            .values()
            .filter(|s| now - s.last_seen < 2.0)
            .filter_map(|s| Some((s.name.clone(), mib(s.samples.last()?.1))))
            .collect()
    }
}
