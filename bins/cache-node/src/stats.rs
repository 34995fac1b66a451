//! Server statistics: per-command calls, failures and latency, and traffic counters.
//!
//! Every worker thread records into its own slot (a std `Mutex` that, in practice, only that
//! thread takes), so the hot path pays an uncontended lock and no shared cache line; `INFO`
//! walks the slots and adds them up. A lock is never held across an `.await`.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use cache_wire::parse::CommandId;
use hdrhistogram::Histogram;

const SLOTS: usize = 16;

/// Counters of one command.
#[derive(Debug, Clone)]
pub struct CommandStats {
    /// Times called.
    pub calls: u64,
    /// Calls answered with an error.
    pub failed: u64,
    /// Total execution time in nanoseconds.
    pub nanos: u64,
    /// Execution time in nanoseconds.
    pub latency: Histogram<u64>,
}

impl CommandStats {
    fn new() -> CommandStats {
        CommandStats {
            calls: 0,
            failed: 0,
            nanos: 0,
            // 1 ns to 60 s with 2 significant figures: about 10 KiB a command.
            latency: Histogram::new_with_bounds(1, 60_000_000_000, 2)
                .expect("static histogram bounds are valid"),
        }
    }

    fn add(&mut self, other: &CommandStats) {
        self.calls += other.calls;
        self.failed += other.failed;
        self.nanos += other.nanos;
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
    }
}

#[derive(Debug, Default)]
struct Slot {
    commands: Vec<Option<CommandStats>>,
    /// Commands recorded in this slot.
    total: u64,
}

/// The node's statistics.
#[derive(Debug)]
pub struct Stats {
    slots: Box<[Mutex<Slot>]>,
    /// Connections accepted since start.
    pub connections_received: AtomicU64,
    /// Connections refused because of `maxclients`.
    pub rejected_connections: AtomicU64,
    /// Connections refused by protected mode.
    pub denied_connections: AtomicU64,
    /// Connections closed for a request over `limits.query_buffer_limit`.
    pub query_limit_disconnections: AtomicU64,
    /// Connections closed for replies over `limits.output_buffer_limit`.
    pub output_limit_disconnections: AtomicU64,
    /// Connections open now.
    pub connected_clients: AtomicUsize,
    /// Bytes read from clients.
    pub net_input_bytes: AtomicU64,
    /// Bytes written to clients.
    pub net_output_bytes: AtomicU64,
    /// Operations per second over the last sampling period.
    pub ops_per_sec: AtomicU64,
}

static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MY_SLOT: Cell<usize> = Cell::new(NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS);
}

impl Default for Stats {
    fn default() -> Stats {
        Stats::new()
    }
}

impl Stats {
    /// Empty statistics.
    pub fn new() -> Stats {
        Stats {
            slots: (0..SLOTS).map(|_| Mutex::new(Slot::default())).collect(),
            connections_received: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            denied_connections: AtomicU64::new(0),
            query_limit_disconnections: AtomicU64::new(0),
            output_limit_disconnections: AtomicU64::new(0),
            connected_clients: AtomicUsize::new(0),
            net_input_bytes: AtomicU64::new(0),
            net_output_bytes: AtomicU64::new(0),
            ops_per_sec: AtomicU64::new(0),
        }
    }

    fn lock(slot: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
        // A panic while holding a stats lock leaves counters, not invariants: keep going.
        slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records one execution of `command`.
    pub fn record(&self, command: CommandId, elapsed: Duration, failed: bool) {
        let index = command.index();
        let mut slot = Stats::lock(&self.slots[MY_SLOT.with(Cell::get)]);
        if slot.commands.len() <= index {
            slot.commands.resize_with(CommandId::COUNT, || None);
        }
        let nanos = elapsed.as_nanos().min(u128::from(u64::MAX)) as u64;
        let stats = slot.commands[index].get_or_insert_with(CommandStats::new);
        stats.calls += 1;
        stats.failed += u64::from(failed);
        stats.nanos += nanos;
        // Values past the histogram's range are clamped, never lost.
        stats.latency.saturating_record(nanos.max(1));
        slot.total += 1;
    }

    /// The sum over all threads, for each command that was called.
    pub fn commands(&self) -> Vec<(CommandId, CommandStats)> {
        let mut total: Vec<Option<CommandStats>> = vec![None; CommandId::COUNT];
        for slot in self.slots.iter() {
            let slot = Stats::lock(slot);
            for (i, stats) in slot.commands.iter().enumerate() {
                if let Some(stats) = stats {
                    total[i].get_or_insert_with(CommandStats::new).add(stats);
                }
            }
        }
        total
            .into_iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (CommandId::from_index(i), s)))
            .collect()
    }

    /// Commands executed since start (or the last reset).
    pub fn total_commands(&self) -> u64 {
        self.slots.iter().map(|slot| Stats::lock(slot).total).sum()
    }

    /// Zeroes the command statistics (`CONFIG RESETSTAT`).
    pub fn reset(&self) {
        for slot in self.slots.iter() {
            *Stats::lock(slot) = Slot::default();
        }
        for counter in [
            &self.connections_received,
            &self.rejected_connections,
            &self.denied_connections,
            &self.query_limit_disconnections,
            &self.output_limit_disconnections,
            &self.net_input_bytes,
            &self.net_output_bytes,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}
