//! Runs one case: a fixed number of workers, each in a closed loop (one request outstanding)
//! until the time is up, every answer checked and its latency recorded.
//!
//! Direct ways run on OS threads (a file read or an SQLite query blocks); cache ways run as
//! tokio tasks with one connection each. Both start together behind a barrier after their
//! setup (opening SQLite, connecting), so setup is not measured. Only answers that pass the
//! check count as operations; misses, errors and wrong values are counted apart.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cache_client::{Client, ConnectOptions};
use cache_wire::Response;
use hdrhistogram::Histogram;

use super::rng::Rng;

/// Checks an answer for item `index`: cheap checks always, every byte when `full`.
pub type Check = dyn Fn(u64, &[u8], bool) -> Result<(), String> + Send + Sync;

/// Every how many answers a worker checks one completely (the first always).
const FULL_CHECK_EVERY: u64 = 16;

/// Which items the workers ask for.
#[derive(Debug, Clone)]
pub enum Order {
    /// Uniformly at random among `0..n`, repeats allowed.
    Uniform(u64),
    /// Each item once, in a shuffled order shared by the workers: first reads only.
    Once(Arc<Shuffled>),
}

#[derive(Debug)]
pub struct Shuffled {
    items: Vec<u64>,
    next: AtomicUsize,
}

impl Order {
    /// Items `0..n`, each once, shuffled with `seed`.
    pub fn once(n: u64, seed: u64) -> Order {
        let mut items: Vec<u64> = (0..n).collect();
        Rng::new(seed).shuffle(&mut items);
        Order::Once(Arc::new(Shuffled {
            items,
            next: AtomicUsize::new(0),
        }))
    }

    /// The next item for a worker; `None` once every item of a [`Order::Once`] was handed out.
    fn next(&self, rng: &mut Rng) -> Option<u64> {
        match self {
            Order::Uniform(n) => Some(rng.below(*n)),
            Order::Once(shuffled) => {
                let at = shuffled.next.fetch_add(1, Ordering::Relaxed);
                shuffled.items.get(at).copied()
            }
        }
    }
}

/// How a case runs.
#[derive(Debug, Clone)]
pub struct Plan {
    pub workers: usize,
    pub seconds: f64,
    /// Seeds each worker's random choices.
    pub seed: u64,
    pub order: Order,
}

/// What a case measured.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Answers that passed the check.
    pub ops: u64,
    /// From the first worker's start to the last worker's end.
    pub elapsed: Duration,
    /// Latency of the checked answers, in nanoseconds.
    pub latency: Histogram<u64>,
    /// Nothing found (nil from the cache, no row, no file).
    pub misses: u64,
    /// Requests that failed (I/O, SQLite or an error reply).
    pub errors: u64,
    /// Answers with the wrong value.
    pub wrong: u64,
    /// The first error or wrong value, to show.
    pub problem: Option<String>,
    /// An [`Order::Once`] ran out of items before the time was up.
    pub exhausted: bool,
}

impl Measured {
    fn new() -> Measured {
        Measured {
            ops: 0,
            elapsed: Duration::ZERO,
            // 1 ns to 1000 s at 3 significant digits: constant, valid bounds.
            latency: Histogram::new_with_bounds(1, 1_000_000_000_000, 3)
                .expect("valid histogram bounds"),
            misses: 0,
            errors: 0,
            wrong: 0,
            problem: None,
            exhausted: false,
        }
    }

    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at `quantile`, in microseconds.
    pub fn micros(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn answer(&mut self, index: u64, value: &[u8], latency: Duration, check: &Check) {
        let full = (self.ops + self.wrong).is_multiple_of(FULL_CHECK_EVERY);
        match check(index, value, full) {
            Ok(()) => {
                self.ops += 1;
                self.latency.saturating_record(latency.as_nanos() as u64);
            }
            Err(why) => {
                self.wrong += 1;
                self.problem.get_or_insert(why);
            }
        }
    }

    fn error(&mut self, error: String) {
        self.errors += 1;
        self.problem.get_or_insert(error);
    }

    /// Adds up the workers' tallies; `spans` are their (start, end) times.
    fn merge(tallies: Vec<Measured>, spans: &[(Instant, Instant)]) -> anyhow::Result<Measured> {
        let mut total = Measured::new();
        for tally in tallies {
            total.ops += tally.ops;
            total.misses += tally.misses;
            total.errors += tally.errors;
            total.wrong += tally.wrong;
            total.exhausted |= tally.exhausted;
            if total.problem.is_none() {
                total.problem = tally.problem;
            }
            total
                .latency
                .add(&tally.latency)
                .map_err(|e| anyhow::anyhow!("cannot merge latencies: {e:?}"))?;
        }
        let start = spans.iter().map(|s| s.0).min();
        let end = spans.iter().map(|s| s.1).max();
        if let (Some(start), Some(end)) = (start, end) {
            total.elapsed = end - start;
        }
        Ok(total)
    }
}

/// Runs a direct way on `plan.workers` threads: each opens its state with `open` (an SQLite
/// connection, say), then calls `fetch(state, index)` until the time is up.
pub fn on_threads<S>(
    plan: &Plan,
    open: impl Fn() -> anyhow::Result<S> + Sync,
    fetch: impl Fn(&mut S, u64) -> anyhow::Result<Option<Vec<u8>>> + Sync,
    check: &Check,
) -> anyhow::Result<Measured> {
    let barrier = std::sync::Barrier::new(plan.workers);
    let results: Vec<anyhow::Result<(Measured, (Instant, Instant))>> =
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..plan.workers)
                .map(|worker| {
                    let (open, fetch, barrier) = (&open, &fetch, &barrier);
                    scope.spawn(move || {
                        let state = open();
                        // Every thread reaches the barrier, even one that failed to open.
                        barrier.wait();
                        let mut state = state?;
                        let mut rng = Rng::for_item(plan.seed, 0, worker as u64);
                        let mut tally = Measured::new();
                        let start = Instant::now();
                        let deadline = start + Duration::from_secs_f64(plan.seconds);
                        while Instant::now() < deadline {
                            let Some(index) = plan.order.next(&mut rng) else {
                                tally.exhausted = true;
                                break;
                            };
                            let started = Instant::now();
                            let result = fetch(&mut state, index);
                            let latency = started.elapsed();
                            match result {
                                Ok(Some(value)) => tally.answer(index, &value, latency, check),
                                Ok(None) => tally.misses += 1,
                                Err(error) => tally.error(format!("{error:#}")),
                            }
                        }
                        Ok((tally, (start, Instant::now())))
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a worker thread panicked")))
                })
                .collect()
        });
    collect(results)
}

/// Runs a cache way: `plan.workers` tasks, each with its own connection to `port`, sending
/// `GET key(index)` until the time is up.
pub fn on_tasks(
    runtime: &tokio::runtime::Runtime,
    plan: &Plan,
    port: u16,
    key: Arc<dyn Fn(u64) -> String + Send + Sync>,
    check: Arc<Check>,
) -> anyhow::Result<Measured> {
    let barrier = Arc::new(tokio::sync::Barrier::new(plan.workers));
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let results = runtime.block_on(async {
        let mut tasks = Vec::new();
        for worker in 0..plan.workers {
            let (plan, barrier, key, check) =
                (plan.clone(), barrier.clone(), key.clone(), check.clone());
            let client = Client::new(&endpoint, options());
            tasks.push(tokio::spawn(async move {
                let connected = match client {
                    Ok(client) => client.call(&["PING"]).await.map(|_| client),
                    Err(e) => Err(e),
                };
                barrier.wait().await;
                let client = connected.context("cannot connect to the cache")?;
                let mut rng = Rng::for_item(plan.seed, 0, worker as u64);
                let mut tally = Measured::new();
                let start = Instant::now();
                let deadline = start + Duration::from_secs_f64(plan.seconds);
                while Instant::now() < deadline {
                    let Some(index) = plan.order.next(&mut rng) else {
                        tally.exhausted = true;
                        break;
                    };
                    let key = key(index);
                    let started = Instant::now();
                    let reply = client.call(&[&b"GET"[..], key.as_bytes()]).await;
                    let latency = started.elapsed();
                    match reply {
                        Ok(Response::Bulk(value)) => tally.answer(index, &value, latency, &*check),
                        Ok(Response::Nil) => tally.misses += 1,
                        Ok(other) => tally.error(format!("GET {key}: {other:?}")),
                        Err(error) => tally.error(format!("GET {key}: {error}")),
                    }
                }
                Ok((tally, (start, Instant::now())))
            }));
        }
        let mut results = Vec::new();
        for task in tasks {
            results.push(
                task.await
                    .unwrap_or_else(|e| Err(anyhow::anyhow!("a worker task failed: {e}"))),
            );
        }
        results
    });
    collect(results)
}

/// Connections of the suite: generous timeouts, so a slow debug build is measured, not failed.
pub fn options() -> ConnectOptions {
    ConnectOptions {
        connect_timeout: Duration::from_secs(5),
        timeout: Duration::from_secs(30),
        ..ConnectOptions::default()
    }
}

fn collect(
    results: Vec<anyhow::Result<(Measured, (Instant, Instant))>>,
) -> anyhow::Result<Measured> {
    let mut tallies = Vec::new();
    let mut spans = Vec::new();
    for result in results {
        let (tally, span) = result?;
        tallies.push(tally);
        spans.push(span);
    }
    Measured::merge(tallies, &spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_hands_out_every_item_exactly_once() {
        let order = Order::once(100, 1);
        let mut rng = Rng::new(0);
        let mut seen: Vec<u64> = std::iter::from_fn(|| order.next(&mut rng)).collect();
        assert_eq!(seen.len(), 100);
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn threads_count_good_answers_apart_from_misses_errors_and_wrong_values() {
        let plan = Plan {
            workers: 3,
            seconds: 5.0,
            seed: 1,
            order: Order::once(400, 2),
        };
        let check = |index: u64, value: &[u8], _full: bool| {
            if value == index.to_string().as_bytes() {
                Ok(())
            } else {
                Err(format!("{index}: wrong"))
            }
        };
        let measured = on_threads(
            &plan,
            || Ok(()),
            |_, index| match index % 4 {
                0 => Ok(None),
                1 => Err(anyhow::anyhow!("broken")),
                2 => Ok(Some(b"x".to_vec())),
                _ => Ok(Some(index.to_string().into_bytes())),
            },
            &check,
        )
        .unwrap();
        assert!(measured.exhausted);
        assert_eq!(
            (
                measured.ops,
                measured.misses,
                measured.errors,
                measured.wrong
            ),
            (100, 100, 100, 100)
        );
        assert_eq!(measured.latency.len(), 100);
        assert!(measured.problem.is_some());
        assert!(measured.ops_per_sec() > 0.0);
    }
}
