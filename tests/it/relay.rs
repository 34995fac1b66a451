//! A fault-injecting TCP relay for the fault tests: it listens on a free loopback port and
//! forwards every connection to a node, and the test switches faults on and off while it runs:
//! reply latency (a slow node), a stall (a hung node, or a partition that drops packets: the
//! connections stay open and nothing moves), cutting every open connection, and refusing new
//! ones. Its threads stop, and its sockets close, when it is dropped.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a blocked thread looks at the faults and the stop flag.
const TICK: Duration = Duration::from_millis(5);

/// The faults in force, read by every relay thread.
#[derive(Debug, Default)]
struct Faults {
    /// Added to every chunk of the node's replies, in milliseconds.
    latency_ms: AtomicU64,
    /// Nothing is forwarded in either direction; the connections stay open.
    stalled: AtomicBool,
    /// New connections are closed at once.
    refusing: AtomicBool,
    /// The relay is being dropped.
    stopping: AtomicBool,
}

/// A relay in front of one node.
#[derive(Debug)]
pub struct Relay {
    /// Where clients connect: `127.0.0.1:port`.
    pub addr: String,
    faults: Arc<Faults>,
    /// Both sockets of every connection, to cut them.
    open: Arc<Mutex<Vec<TcpStream>>>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl Relay {
    /// Starts relaying a free loopback port to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> anyhow::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?.to_string();
        let faults = Arc::new(Faults::default());
        let open = Arc::new(Mutex::new(Vec::new()));
        let threads = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (faults, open, threads) = (faults.clone(), open.clone(), threads.clone());
            let upstream = upstream.to_owned();
            std::thread::Builder::new()
                .name("relay-accept".into())
                .spawn(move || accept_loop(&listener, &upstream, &faults, &open, &threads))?
        };
        Ok(Relay {
            addr,
            faults,
            open,
            threads,
            acceptor: Some(acceptor),
        })
    }

    /// Delays every chunk of the node's replies by `latency` (zero: none).
    pub fn set_latency(&self, latency: Duration) {
        self.faults
            .latency_ms
            .store(latency.as_millis() as u64, Ordering::Relaxed);
    }

    /// Stops (or resumes) forwarding in both directions without closing anything: what a hung
    /// node, or a link that drops every packet, looks like from the proxy.
    pub fn set_stalled(&self, stalled: bool) {
        self.faults.stalled.store(stalled, Ordering::Relaxed);
    }

    /// Closes new connections at once (or accepts them again).
    pub fn set_refusing(&self, refusing: bool) {
        self.faults.refusing.store(refusing, Ordering::Relaxed);
    }

    /// Closes every open connection, both sides.
    pub fn cut(&self) {
        for stream in lock(&self.open).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.faults.stopping.store(true, Ordering::Relaxed);
        self.cut();
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        // The acceptor has stopped, so no thread is added after this.
        let threads = std::mem::take(&mut *lock(&self.threads));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// Locks `mutex`; a relay thread that panicked holding it left nothing half-done.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn accept_loop(
    listener: &TcpListener,
    upstream: &str,
    faults: &Arc<Faults>,
    open: &Arc<Mutex<Vec<TcpStream>>>,
    threads: &Arc<Mutex<Vec<JoinHandle<()>>>>,
) {
    while !faults.stopping.load(Ordering::Relaxed) {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(TICK);
                continue;
            }
            Err(_) => continue,
        };
        if faults.refusing.load(Ordering::Relaxed) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(node) = TcpStream::connect(upstream) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let pumps = [(&client, &node, false), (&node, &client, true)].map(|(from, to, replies)| {
            let from = from.try_clone()?;
            let to = to.try_clone()?;
            from.set_nonblocking(false)?;
            from.set_read_timeout(Some(TICK))?;
            let faults = faults.clone();
            std::thread::Builder::new()
                .name("relay-pump".into())
                .spawn(move || pump(from, to, &faults, replies))
        });
        let mut threads = lock(threads);
        let mut started = true;
        for pump in pumps {
            match pump {
                Ok(thread) => threads.push(thread),
                Err(_) => started = false,
            }
        }
        if started {
            lock(open).extend([client, node]);
        } else {
            // Without both pumps the connection is useless: close it.
            let _ = client.shutdown(Shutdown::Both);
            let _ = node.shutdown(Shutdown::Both);
        }
        // Reap the pumps of connections that ended, so a long test does not pile them up.
        threads.retain(|t| !t.is_finished());
    }
}

/// Copies `from` to `to` until either side closes or the relay stops, applying the faults;
/// `replies` is the node-to-client direction, the one latency applies to.
fn pump(mut from: TcpStream, mut to: TcpStream, faults: &Faults, replies: bool) {
    let mut buf = vec![0u8; 64 * 1024];
    let stopping = || faults.stopping.load(Ordering::Relaxed);
    'chunks: while !stopping() {
        if faults.stalled.load(Ordering::Relaxed) {
            std::thread::sleep(TICK);
            continue;
        }
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => break,
        };
        let read_at = Instant::now();
        // Hold the chunk until its latency (as it is now: lowering it releases the chunk) has
        // passed and the link is not stalled.
        loop {
            if stopping() {
                break 'chunks;
            }
            let latency = if replies {
                Duration::from_millis(faults.latency_ms.load(Ordering::Relaxed))
            } else {
                Duration::ZERO
            };
            if read_at.elapsed() >= latency && !faults.stalled.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(TICK);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
