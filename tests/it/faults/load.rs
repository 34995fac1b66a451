//! Load clients that read and write through the proxy while a fault runs, checking every
//! reply against what they wrote.

use super::*;

/// What load clients saw.
#[derive(Debug, Default)]
pub(super) struct Seen {
    pub(super) requests: u64,
    pub(super) hits: u64,
    pub(super) misses: u64,
    pub(super) unavailable: u64,
    /// Slowest request on a key the faulty node owns, and on any other key.
    pub(super) slowest_faulty: Duration,
    pub(super) slowest_other: Duration,
    /// Replies outside the documented set.
    pub(super) unexpected: Vec<String>,
}

impl Seen {
    fn took(&mut self, took: Duration, faulty: bool) {
        self.requests += 1;
        let slowest = if faulty {
            &mut self.slowest_faulty
        } else {
            &mut self.slowest_other
        };
        *slowest = (*slowest).max(took);
    }

    fn merge(&mut self, other: Seen) {
        self.requests += other.requests;
        self.hits += other.hits;
        self.misses += other.misses;
        self.unavailable += other.unavailable;
        self.slowest_faulty = self.slowest_faulty.max(other.slowest_faulty);
        self.slowest_other = self.slowest_other.max(other.slowest_other);
        self.unexpected.extend(other.unexpected);
    }

    /// Only documented replies; the faulty node's keys within the timeout plus the margin;
    /// every other key within the timeout.
    pub(super) fn check(&self, what: &str) -> anyhow::Result<()> {
        eprintln!(
            "{what}: {} requests, {} hits, {} misses, {} unavailable; slowest on the faulty node's keys {:?}, on the others' {:?}",
            self.requests,
            self.hits,
            self.misses,
            self.unavailable,
            self.slowest_faulty,
            self.slowest_other
        );
        ensure!(
            self.unexpected.is_empty(),
            "{what}: replies outside the documented set: {:?}",
            &self.unexpected[..self.unexpected.len().min(10)]
        );
        ensure!(
            self.slowest_faulty < TIMEOUT + MARGIN,
            "{what}: a request to the faulty node took {:?}",
            self.slowest_faulty
        );
        ensure!(
            self.slowest_other < TIMEOUT,
            "{what}: a request to a healthy node took {:?}, as long as the timeout",
            self.slowest_other
        );
        Ok(())
    }
}

/// Clients reading and writing through the proxy until finished (or dropped), each on its own
/// keys, checking every reply against what it wrote.
pub(super) struct Load {
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
    threads: Vec<JoinHandle<Seen>>,
}

const LOAD_KEYS: usize = 40;

impl Load {
    pub(super) fn start(cluster: &Cluster, clients: usize) -> anyhow::Result<Load> {
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        for client in 0..clients {
            let keys: Vec<(String, bool)> = (0..LOAD_KEYS)
                .map(|i| {
                    let key = format!("load:{client}:{i}");
                    let faulty = cluster.owner(&key)? == 0;
                    Ok((key, faulty))
                })
                .collect::<anyhow::Result<_>>()?;
            let con = cluster.client()?;
            let (stop, requests) = (stop.clone(), requests.clone());
            let url = cluster.proxy.url();
            threads.push(std::thread::spawn(move || {
                load_client(con, &url, &keys, &stop, &requests)
            }));
        }
        let load = Load {
            stop,
            requests,
            threads,
        };
        load.progress(200)?;
        Ok(load)
    }

    /// Waits until the clients made `count` more requests.
    pub(super) fn progress(&self, count: u64) -> anyhow::Result<()> {
        let until = self.requests.load(Ordering::Relaxed) + count;
        eventually(Duration::from_secs(20), || {
            Ok((self.requests.load(Ordering::Relaxed) >= until).then_some(()))
        })
        .context("the load clients stopped making progress")
    }

    pub(super) fn finish(mut self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        let mut seen = Seen::default();
        for thread in self.threads.drain(..) {
            match thread.join() {
                Ok(one) => seen.merge(one),
                Err(_) => seen.unexpected.push("a load client panicked".into()),
            }
        }
        seen
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One load client: `GET` then `SET` of each of its keys in turn. A `GET` may answer a miss,
/// the value of the last acknowledged `SET`, or that of a later `SET` that failed (it may have
/// run); a `SET` may answer `OK` or the unavailable error. Anything else is unexpected.
fn load_client(
    mut con: redis::Connection,
    url: &str,
    keys: &[(String, bool)],
    stop: &AtomicBool,
    requests: &AtomicU64,
) -> Seen {
    let mut seen = Seen::default();
    // Per key: the last acknowledged value, and the values written since whose SET failed.
    let mut written: HashMap<&str, (Option<String>, Vec<String>)> = HashMap::new();
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let (key, faulty) = &keys[n % keys.len()];
        let state = written.entry(key).or_default();
        let (reply, took) = timed(|| redis::cmd("GET").arg(key).query::<Option<String>>(&mut con));
        seen.took(took, *faulty);
        let mut broken = false;
        match reply {
            Ok(None) => seen.misses += 1,
            Ok(Some(v)) if state.0.as_ref() == Some(&v) || state.1.contains(&v) => seen.hits += 1,
            Ok(Some(v)) => seen.unexpected.push(format!(
                "GET {key} = {v:?}, but the last acknowledged value is {:?} and the unacknowledged since {:?}",
                state.0, state.1
            )),
            Err(e) => {
                broken = e.is_io_error();
                seen.unexpected
                    .push(format!("GET {key}: {} after {took:?}", error_text(&e)));
            }
        }
        let value = format!("{n}");
        let (reply, took) = timed(|| redis::cmd("SET").arg(key).arg(&value).query::<()>(&mut con));
        seen.took(took, *faulty);
        match reply {
            Ok(()) => *state = (Some(value), Vec::new()),
            Err(e) if is_unavailable(&error_text(&e)) => {
                seen.unavailable += 1;
                state.1.push(value);
            }
            Err(e) => {
                broken |= e.is_io_error();
                seen.unexpected
                    .push(format!("SET {key}: {} after {took:?}", error_text(&e)));
            }
        }
        if broken {
            match connect_url(url) {
                Ok(fresh) => con = fresh,
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        requests.fetch_add(2, Ordering::Relaxed);
        n += 1;
    }
    seen
}
