//! Running one case: connect every connection, warm up, then let each connection keep its
//! round of requests in flight over one shared time window.
//!
//! A round counts when its last reply arrives inside the window, whichever connection sent it;
//! rounds cut by either edge of the window balance out, and every connection stops at the same
//! instant, so ops/s is the sum over connections divided by the window's length.
//!
//! Each case gets a runtime of its own, built for its number of connections: one connection runs
//! on a current-thread runtime (no cross-thread wake-ups in its latency), more spread over a
//! multi-thread runtime with `threads` workers, since one thread cannot keep fifty sockets busy
//! against a fast server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use cache_wire::transport::Connector;
use hdrhistogram::Histogram;
use tokio::task::JoinSet;

use crate::client::{Client, Op};
use crate::target::Target;
use crate::workload::{KeyPicker, Keyspace};

/// The largest latency recorded, in µs; slower rounds count as this.
const MAX_LATENCY_US: u64 = 60_000_000;

/// What a case loads.
#[derive(Debug, Clone)]
pub struct Case {
    pub target: Target,
    pub op: Op,
    /// Requests in flight per connection.
    pub depth: usize,
    pub connections: usize,
    /// Length of the measured window.
    pub seconds: f64,
}

/// The figures of one case.
#[derive(Debug, Clone)]
pub struct Measured {
    pub ops_per_sec: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub errors: u64,
    pub misses: u64,
}

/// The keys and value shared by every connection of a run.
#[derive(Debug, Clone)]
pub struct Data {
    pub keys: Arc<Keyspace>,
    pub value: Arc<[u8]>,
}

/// What one connection saw inside the window.
#[derive(Debug)]
struct Tally {
    latency: Histogram<u64>,
    ops: u64,
    errors: u64,
    misses: u64,
}

/// The instants every connection shares.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

/// Runs `case` and returns its figures.
pub fn measure(
    case: &Case,
    connector: &Connector,
    data: &Data,
    threads: usize,
) -> anyhow::Result<Measured> {
    runtime(case.connections, threads)?.block_on(measure_on_runtime(case, connector, data))
}

/// Writes every key with `data.value` over `target`, sixteen at a time.
pub fn preload(target: &Target, connector: &Connector, data: &Data) -> anyhow::Result<()> {
    runtime(1, 1)?.block_on(async {
        let mut client = Client::connect(&target.endpoint, connector, target.protocol)
            .await
            .with_context(|| format!("connecting to {} to preload", target.endpoint))?;
        let indices: Vec<usize> = (0..data.keys.len()).collect();
        for chunk in indices.chunks(16) {
            let keys: Vec<&[u8]> = chunk.iter().map(|&i| data.keys.key(i)).collect();
            let outcome = client.round(Op::Set, &keys, &data.value).await?;
            anyhow::ensure!(
                outcome.errors == 0,
                "preloading {} failed: the server answered SET with an error",
                target.endpoint
            );
        }
        client.close().await;
        Ok(())
    })
}

fn runtime(connections: usize, threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = if connections <= 1 || threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads.min(connections));
        builder
    };
    Ok(builder.enable_all().build()?)
}

async fn measure_on_runtime(
    case: &Case,
    connector: &Connector,
    data: &Data,
) -> anyhow::Result<Measured> {
    let target = &case.target;
    let mut connecting = JoinSet::new();
    for _ in 0..case.connections.max(1) {
        let (endpoint, connector, protocol) =
            (target.endpoint.clone(), connector.clone(), target.protocol);
        connecting.spawn(async move { Client::connect(&endpoint, &connector, protocol).await });
    }
    let mut clients = Vec::with_capacity(case.connections);
    while let Some(connected) = connecting.join_next().await {
        clients.push(connected?.with_context(|| format!("connecting to {}", target.endpoint))?);
    }

    let start = Instant::now() + Duration::from_secs_f64(case.seconds / 10.0);
    let length = Duration::from_secs_f64(case.seconds);
    let window = Window {
        start,
        end: start + length,
    };
    let mut running = JoinSet::new();
    for (number, client) in clients.into_iter().enumerate() {
        let picker = KeyPicker::new(&data.keys, number);
        running.spawn(drive(
            client,
            data.clone(),
            picker,
            case.op,
            case.depth.max(1),
            window,
        ));
    }
    let mut total = Tally::new()?;
    while let Some(finished) = running.join_next().await {
        total.merge(&finished??)?;
    }
    Ok(Measured {
        ops_per_sec: total.ops as f64 / length.as_secs_f64(),
        p50_us: total.latency.value_at_quantile(0.50),
        p99_us: total.latency.value_at_quantile(0.99),
        p999_us: total.latency.value_at_quantile(0.999),
        errors: total.errors,
        misses: total.misses,
    })
}

/// One connection's loop: rounds back to back until the window closes.
async fn drive(
    mut client: Client,
    data: Data,
    mut picker: KeyPicker,
    op: Op,
    depth: usize,
    window: Window,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::new()?;
    let mut keys: Vec<&[u8]> = Vec::with_capacity(depth);
    loop {
        keys.clear();
        keys.extend((0..depth).map(|_| data.keys.key(picker.pick())));
        let sent = Instant::now();
        let outcome = client.round(op, &keys, &data.value).await?;
        let done = Instant::now();
        if done >= window.end {
            break;
        }
        if done >= window.start {
            let micros = done.duration_since(sent).as_micros() as u64;
            tally
                .latency
                .saturating_record_n(micros.max(1), depth as u64);
            tally.ops += depth as u64;
            tally.errors += outcome.errors as u64;
            tally.misses += outcome.misses as u64;
        }
    }
    client.close().await;
    Ok(tally)
}

impl Tally {
    fn new() -> anyhow::Result<Tally> {
        Ok(Tally {
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)?,
            ops: 0,
            errors: 0,
            misses: 0,
        })
    }

    fn merge(&mut self, other: &Tally) -> anyhow::Result<()> {
        self.latency.add(&other.latency)?;
        self.ops += other.ops;
        self.errors += other.errors;
        self.misses += other.misses;
        Ok(())
    }
}
