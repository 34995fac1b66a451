//! Thread-per-core serving: each worker thread runs its own single-threaded runtime, serves
//! the clients handed to it, and drives its own connections to the nodes.
//!
//! A client's requests, the node connection they travel on and the replies all stay on one
//! thread, so a request costs no wake-up of another thread. On a small machine shared with the
//! nodes and the load generator, those cross-thread wake-ups were most of the proxy's cost
//! (see docs/benchmarks.md). The listeners accept on the main runtime and deal the sockets out
//! in turn.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::Ordering;

use cache_wire::session;
use cache_wire::transport::{Detached, Established, Incoming};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::connection;
use crate::proxy::Proxy;

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// The worker running on this thread (0 off the workers: probes, signals, accepting).
pub fn current() -> usize {
    INDEX.with(Cell::get)
}

/// What a worker is handed: a client connection, or a UDP socket to serve.
#[derive(Debug)]
pub enum Job {
    Client(Detached),
    Datagrams(std::net::UdpSocket),
}

/// The worker threads, fed sockets by [`Workers::dispatch`].
#[derive(Debug)]
pub struct Workers {
    senders: Vec<mpsc::UnboundedSender<Job>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    next: usize,
}

impl Workers {
    /// Starts `count` workers serving clients of `proxy` until `stopped` turns true.
    pub fn start(
        count: usize,
        proxy: &Arc<Proxy>,
        stopped: &watch::Receiver<bool>,
    ) -> std::io::Result<Workers> {
        let mut senders = Vec::new();
        let mut threads = Vec::new();
        for index in 0..count.max(1) {
            let (sender, receiver) = mpsc::unbounded_channel();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (proxy, stopped) = (proxy.clone(), stopped.clone());
            let thread = std::thread::Builder::new()
                .name(format!("proxy-worker-{index}"))
                .spawn(move || {
                    INDEX.with(|i| i.set(index));
                    runtime.block_on(serve(proxy, receiver, stopped));
                })?;
            senders.push(sender);
            threads.push(thread);
        }
        Ok(Workers {
            senders,
            threads,
            next: 0,
        })
    }

    /// Hands an accepted client, or a UDP socket, to the next worker in turn.
    pub fn dispatch(&mut self, client: Job) {
        let worker = self.next % self.senders.len();
        self.next = self.next.wrapping_add(1);
        // A worker only stops at shutdown, when nothing is dispatched any more.
        let _ = self.senders[worker].send(client);
    }

    /// Waits for every worker to finish its clients (they stop when `stopped` turns true).
    pub fn join(self) {
        drop(self.senders);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// Completes a client's connection (the TLS handshake, if any) and serves it, unless
/// `maxclients` are already connected.
async fn admit(proxy: Arc<Proxy>, incoming: Incoming, stopped: watch::Receiver<bool>) {
    const TOO_MANY: &[u8] = b"-ERR max number of clients reached\r\n";
    let local_peer = incoming.is_local();
    let established = match incoming.establish().await {
        Ok(established) => established,
        Err(error) => {
            tracing::debug!(%error, "client connection not established");
            return;
        }
    };
    let clients = &proxy.config.clients;
    let refusal =
        if session::protected_refusal(clients.protected_mode, &clients.requirepass, local_peer) {
            proxy.denied_connections.fetch_add(1, Ordering::Relaxed);
            Some(session::DENIED.as_bytes())
        } else if proxy.connected_clients.fetch_add(1, Ordering::Relaxed) >= clients.maxclients {
            proxy.connected_clients.fetch_sub(1, Ordering::Relaxed);
            Some(TOO_MANY)
        } else {
            None
        };
    match (established, refusal) {
        (Established::Stream(mut stream), Some(refusal)) => {
            let _ = stream.write_all(refusal).await;
        }
        (Established::Quic(quic), Some(refusal)) => quic.refuse(refusal).await,
        (Established::Stream(stream), None) => connection::serve(proxy, stream, stopped).await,
        (Established::Quic(quic), None) => connection::serve_quic(proxy, quic, stopped).await,
    }
}

async fn serve(
    proxy: Arc<Proxy>,
    mut clients: mpsc::UnboundedReceiver<Job>,
    stopped: watch::Receiver<bool>,
) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            client = clients.recv() => {
                let Some(job) = client else { break };
                match job {
                    Job::Client(client) => match client.attach() {
                        Ok(incoming) => {
                            tasks.spawn(admit(proxy.clone(), incoming, stopped.clone()));
                        }
                        Err(error) => tracing::warn!(%error, "could not take over a client socket"),
                    },
                    Job::Datagrams(socket) => match tokio::net::UdpSocket::from_std(socket) {
                        Ok(socket) => {
                            let serve = connection::serve_datagrams(proxy.clone(), socket, stopped.clone());
                            tasks.spawn(serve);
                        }
                        Err(error) => tracing::warn!(%error, "could not take over a UDP socket"),
                    },
                }
            }
            // Reap finished clients so the set does not grow with every connection ever made.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    // Shutdown: clients see `stopped` and end; give them a bounded time to write what they owe.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
}
