//! The load: client threads sending a mix of commands through the proxy and checking every
//! reply.
//!
//! Keys are `soak:<id>`, read by every client (Zipf over the key space, so a few are hot) but
//! written only by their owner (`id % clients`). One writer per key makes the last
//! acknowledged write of a key a fact: a read that returns an older version is a stale copy,
//! and every value carries its key, version and write time so a wrong or damaged one is caught.
//! Each client also owns a few counters that only it increments.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache_wire::Response;

use super::checks::{self, CountVerdict, ErrorKind, ReadVerdict};
use super::resp::Connection;
use super::stats::Tally;
use crate::sim::zipf::{SplitMix64, Zipf};

/// Far above the proxy's own 1 s timeout: a reply this late means the proxy hung.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
const COUNTERS: usize = 8;
const FINDINGS_KEPT: usize = 100;

/// State every client and the churn share.
#[derive(Debug)]
pub struct Shared {
    origin: Instant,
    /// Milliseconds (since the origin) at which the measured load began, after the preload.
    pub load_start: AtomicU64,
    pub keys: u64,
    pub clients: u64,
    pub min_value: usize,
    pub max_value: usize,
    issued: Vec<AtomicU64>,
    acked: Vec<AtomicU64>,
    /// End of the latest churn window, `u64::MAX` while one is open (see [`checks`]).
    pub churn_until: AtomicU64,
    pub stop: AtomicBool,
    zipf: Zipf,
    pub proxy_port: u16,
    findings: Mutex<Vec<String>>,
    findings_total: AtomicU64,
}

impl Shared {
    pub fn new(keys: u64, clients: u64, value_sizes: (usize, usize), proxy_port: u16) -> Shared {
        Shared {
            origin: Instant::now(),
            load_start: AtomicU64::new(0),
            keys,
            clients,
            min_value: value_sizes.0,
            max_value: value_sizes.1,
            issued: (0..keys).map(|_| AtomicU64::new(0)).collect(),
            acked: (0..keys).map(|_| AtomicU64::new(0)).collect(),
            churn_until: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            zipf: Zipf::new(keys as usize, 0.99),
            proxy_port,
            findings: Mutex::new(Vec::new()),
            findings_total: AtomicU64::new(0),
        }
    }

    /// Milliseconds since the origin, at least 1.
    pub fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64 + 1
    }

    /// Seconds since the measured load began (negative during the preload).
    pub fn seconds(&self) -> f64 {
        (self.now_ms() as f64 - self.load_start.load(Ordering::Relaxed) as f64) / 1000.0
    }

    /// Records something that fails the run.
    pub fn finding(&self, text: String) {
        self.findings_total.fetch_add(1, Ordering::Relaxed);
        let mut findings = self.findings.lock().unwrap_or_else(|e| e.into_inner());
        if findings.len() < FINDINGS_KEPT {
            findings.push(format!("[{:7.1} s] {text}", self.seconds()));
        }
    }

    /// The first findings, and how many there were in all.
    pub fn findings(&self) -> (Vec<String>, u64) {
        let findings = self.findings.lock().unwrap_or_else(|e| e.into_inner());
        (
            findings.clone(),
            self.findings_total.load(Ordering::Relaxed),
        )
    }

    fn in_churn_now(&self) -> bool {
        checks::in_churn(self.now_ms(), self.churn_until.load(Ordering::SeqCst))
    }
}

/// One client connection and its thread's state.
#[derive(Debug)]
pub struct Client {
    id: u64,
    shared: Arc<Shared>,
    /// Where the interval's counts go; `local` is added into it every few dozen milliseconds.
    tally: Arc<Mutex<Tally>>,
    local: Tally,
    flushed: Instant,
    rng: SplitMix64,
    connection: Option<Connection>,
    /// The last good `INCR` reply of each counter and when it came.
    counters: [Option<(i64, u64)>; COUNTERS],
}

fn name(key: u64) -> Vec<u8> {
    format!("soak:{key}").into_bytes()
}

impl Client {
    pub fn new(id: u64, seed: u64, shared: Arc<Shared>, tally: Arc<Mutex<Tally>>) -> Client {
        Client {
            id,
            shared,
            tally,
            local: Tally::default(),
            flushed: Instant::now(),
            rng: SplitMix64::new(seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            connection: None,
            counters: [None; COUNTERS],
        }
    }

    /// Writes version 1 of every key this client owns, sixteen to an `MSET`.
    pub fn preload(&mut self) {
        let own: Vec<u64> = (self.id..self.shared.keys)
            .step_by(self.shared.clients as usize)
            .collect();
        for batch in own.chunks(16) {
            while !self.mset(batch) && !self.shared.stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        self.flush();
    }

    /// Sends commands until told to stop.
    pub fn run(mut self) {
        while !self.shared.stop.load(Ordering::Relaxed) {
            let pick = self.rng.next_u64() % 100;
            match pick {
                0..58 => self.get(),
                58..68 => self.mget(),
                68..82 => self.set(None),
                82..87 => {
                    let ttl = 1 + self.rng.next_u64() % 30;
                    self.set(Some(ttl));
                }
                87..90 => self.del(),
                90..92 => self.expire(),
                92..98 => self.incr(),
                _ => {
                    let count = 2 + self.rng.next_u64() % 3;
                    let keys: Vec<u64> = (0..count).map(|_| self.own_key()).collect();
                    let mut keys = keys;
                    keys.sort_unstable();
                    keys.dedup();
                    self.mset(&keys);
                }
            }
            if self.flushed.elapsed() > Duration::from_millis(50) {
                self.flush();
            }
        }
        self.flush();
    }

    fn flush(&mut self) {
        let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        tally.merge(&self.local);
        self.local.clear();
        self.flushed = Instant::now();
    }

    fn read_key(&mut self) -> u64 {
        self.shared.zipf.sample(&mut self.rng)
    }

    /// A key this client owns, Zipf-distributed like the reads.
    fn own_key(&mut self) -> u64 {
        let rank = self.read_key();
        let clients = self.shared.clients;
        let key = rank - rank % clients + self.id;
        if key >= self.shared.keys {
            key - clients
        } else {
            key
        }
    }

    /// Sends one request: the reply, or `None` after a socket failure (recorded; the
    /// connection is dropped and the next call opens a new one).
    fn call<A: AsRef<[u8]>>(&mut self, what: &str, args: &[A]) -> Option<Response> {
        let started = Instant::now();
        if self.connection.is_none() {
            match Connection::open(self.shared.proxy_port, CLIENT_TIMEOUT) {
                Ok(connection) => self.connection = Some(connection),
                Err(kind) => {
                    self.error(what, kind, None);
                    std::thread::sleep(Duration::from_millis(50));
                    return None;
                }
            }
        }
        let connection = self.connection.as_mut()?;
        let outcome = connection.call(args);
        self.local.ops += 1;
        self.local
            .record_latency(started.elapsed().as_micros() as u64);
        match outcome {
            Ok(reply) => Some(reply),
            Err(kind) => {
                self.connection = None;
                self.error(what, kind, None);
                None
            }
        }
    }

    /// Records a failed request; unless churn explains it, it is also a finding.
    fn error(&mut self, what: &str, kind: ErrorKind, message: Option<&str>) {
        let expected = kind.expected(self.shared.in_churn_now());
        self.local.record_error(kind.label(), expected);
        if !expected {
            let detail = message.map(|m| format!(" (-{m})")).unwrap_or_default();
            self.shared
                .finding(format!("{what}: {}{detail}", kind.label()));
        }
    }

    /// Handles a reply that is neither the success shape of `what` nor absent.
    fn unexpected_reply(&mut self, what: &str, reply: &Response) {
        match reply {
            Response::Error(message) => {
                self.error(what, ErrorKind::of_reply(message), Some(message))
            }
            other => {
                let mut shown = format!("{other:?}");
                shown.truncate(200);
                self.local.record_error(ErrorKind::Protocol.label(), false);
                self.shared
                    .finding(format!("{what}: unexpected reply {shown}"));
            }
        }
    }

    fn wrong(&mut self, text: String) {
        self.local.wrong += 1;
        self.shared.finding(text);
    }

    fn check_value(&mut self, what: &str, key: u64, floor: u64, reply: &Response) {
        self.local.reads += 1;
        let bytes = match reply {
            Response::Nil => {
                self.local.misses += 1;
                return;
            }
            Response::Bulk(bytes) => bytes,
            other => return self.unexpected_reply(what, other),
        };
        let shared = &self.shared;
        let stamp = match checks::verify(key, bytes, shared.min_value, shared.max_value) {
            Ok(stamp) => stamp,
            Err(why) => return self.wrong(format!("{what} soak:{key}: {why}")),
        };
        let issued = shared.issued[key as usize].load(Ordering::SeqCst);
        let churn_until = shared.churn_until.load(Ordering::SeqCst);
        match checks::judge_read(stamp, floor, issued, churn_until) {
            ReadVerdict::Fresh => {}
            ReadVerdict::StaleInChurn => self.local.stale_in_churn += 1,
            ReadVerdict::Stale => self.wrong(format!(
                "{what} soak:{key}: stale version {} (written at {:.1} s) after version {floor} was acknowledged, with no churn since",
                stamp.version,
                (stamp.written as f64 - shared.load_start.load(Ordering::Relaxed) as f64) / 1000.0
            )),
            ReadVerdict::Unwritten => self.wrong(format!(
                "{what} soak:{key}: version {} was never written (last issued {issued})",
                stamp.version
            )),
        }
    }

    fn get(&mut self) {
        let key = self.read_key();
        let floor = self.shared.acked[key as usize].load(Ordering::SeqCst);
        if let Some(reply) = self.call("GET", &[b"GET".to_vec(), name(key)]) {
            self.check_value("GET", key, floor, &reply);
        }
    }

    fn mget(&mut self) {
        let count = 2 + self.rng.next_u64() % 7;
        let keys: Vec<u64> = (0..count).map(|_| self.read_key()).collect();
        let floors: Vec<u64> = keys
            .iter()
            .map(|k| self.shared.acked[*k as usize].load(Ordering::SeqCst))
            .collect();
        let mut args = vec![b"MGET".to_vec()];
        args.extend(keys.iter().map(|k| name(*k)));
        match self.call("MGET", &args) {
            Some(Response::Array(values)) if values.len() == keys.len() => {
                for ((key, floor), value) in keys.iter().zip(floors).zip(&values) {
                    self.check_value("MGET", *key, floor, value);
                }
            }
            Some(other) => self.unexpected_reply("MGET", &other),
            None => {}
        }
    }

    fn issue(&self, key: u64) -> u64 {
        self.shared.issued[key as usize].fetch_add(1, Ordering::SeqCst) + 1
    }

    fn acknowledge(&self, key: u64, version: u64) {
        self.shared.acked[key as usize].fetch_max(version, Ordering::SeqCst);
    }

    fn stamped(&self, key: u64, version: u64) -> Vec<u8> {
        let shared = &self.shared;
        checks::value(
            key,
            version,
            shared.now_ms(),
            shared.min_value,
            shared.max_value,
        )
    }

    fn set(&mut self, ttl: Option<u64>) {
        let key = self.own_key();
        let version = self.issue(key);
        let mut args = vec![b"SET".to_vec(), name(key), self.stamped(key, version)];
        if let Some(ttl) = ttl {
            args.extend([b"EX".to_vec(), ttl.to_string().into_bytes()]);
        }
        let what = if ttl.is_some() { "SET EX" } else { "SET" };
        match self.call(what, &args) {
            Some(Response::Ok) => self.acknowledge(key, version),
            Some(other) => self.unexpected_reply(what, &other),
            None => {}
        }
    }

    /// `MSET` of own keys; true if it was acknowledged.
    fn mset(&mut self, keys: &[u64]) -> bool {
        let mut args = vec![b"MSET".to_vec()];
        let mut versions = Vec::with_capacity(keys.len());
        for key in keys {
            let version = self.issue(*key);
            versions.push(version);
            args.extend([name(*key), self.stamped(*key, version)]);
        }
        match self.call("MSET", &args) {
            Some(Response::Ok) => {
                for (key, version) in keys.iter().zip(versions) {
                    self.acknowledge(*key, version);
                }
                true
            }
            Some(other) => {
                self.unexpected_reply("MSET", &other);
                false
            }
            None => false,
        }
    }

    fn del(&mut self) {
        let key = self.own_key();
        // A delete is a version too: nothing older may be read after it.
        let version = self.issue(key);
        match self.call("DEL", &[b"DEL".to_vec(), name(key)]) {
            Some(Response::Integer(0 | 1)) => self.acknowledge(key, version),
            Some(other) => self.unexpected_reply("DEL", &other),
            None => {}
        }
    }

    fn expire(&mut self) {
        let key = self.own_key();
        let ttl = (1 + self.rng.next_u64() % 30).to_string();
        let args = [b"EXPIRE".to_vec(), name(key), ttl.into_bytes()];
        match self.call("EXPIRE", &args) {
            Some(Response::Integer(0 | 1)) | None => {}
            Some(other) => self.unexpected_reply("EXPIRE", &other),
        }
    }

    fn incr(&mut self) {
        let counter = (self.rng.next_u64() % COUNTERS as u64) as usize;
        let key = format!("soak:counter:{}:{counter}", self.id).into_bytes();
        let reply = self.call("INCR", &[b"INCR".to_vec(), key]);
        let Some(Response::Integer(n)) = reply else {
            // After a failure the increment may or may not have happened: start afresh.
            self.counters[counter] = None;
            if let Some(other) = reply {
                self.unexpected_reply("INCR", &other);
            }
            return;
        };
        let last = self.counters[counter];
        let churn_until = self.shared.churn_until.load(Ordering::SeqCst);
        match checks::judge_count(last, n, churn_until) {
            CountVerdict::Next => {}
            CountVerdict::Reset => self.local.counter_resets += 1,
            CountVerdict::JumpInChurn => self.local.counter_jumps_in_churn += 1,
            CountVerdict::Jump => self.wrong(format!(
                "INCR soak:counter:{}:{counter} answered {n} after {}, with no churn since",
                self.id,
                last.map_or(0, |(v, _)| v)
            )),
        }
        self.counters[counter] = Some((n, self.shared.now_ms()));
    }
}
