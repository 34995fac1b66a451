//! One client of the proxy: decode its requests, route each batch, and answer in order.
//!
//! Reading and writing proceed together while replies are pending, so a client that sends a
//! long pipeline before reading is not deadlocked against the proxy. Each
//! batch of requests that arrived together is routed as one [`Plan`]; requests that need every
//! node (`INFO`, `DBSIZE`, `FLUSHALL`, `PROXY`) run on their own, in order, between plans.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use cache_wire::codec::ServerCodec;
use cache_wire::command::Command;
use cache_wire::datagram::{self, Received};
use cache_wire::resp::Protocol;
use cache_wire::transport::{QuicConnection, linger_close, udp};
use cache_wire::{Response, session};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use crate::admin;
use crate::plan::{Merge, Plan};
use crate::proxy::Proxy;

const READ_BUFFER: usize = 16 * 1024;

/// What a client connection remembers.
#[derive(Debug)]
pub struct Session {
    pub id: u64,
    pub authenticated: bool,
    pub protocol: Protocol,
    pub name: Option<Bytes>,
    pub closing: bool,
}

impl Session {
    fn new(proxy: &Proxy) -> Session {
        Session {
            id: proxy.next_client_id.fetch_add(1, Ordering::Relaxed),
            authenticated: proxy.config.clients.requirepass.is_empty(),
            protocol: Protocol::Resp2,
            name: None,
            closing: false,
        }
    }
}

/// Serves one client until it leaves, idles out, outgrows a limit or the proxy shuts down.
pub async fn serve<S>(proxy: Arc<Proxy>, stream: S, mut shutdown: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let limits = proxy.config.limits;
    let mut session = Session::new(&proxy);
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut decoder = ServerCodec::for_client(&limits);
    let mut input = BytesMut::with_capacity(READ_BUFFER);
    let mut output = BytesMut::new();
    let mut idle = IdleTimer::new(proxy.config.clients.timeout);
    // `eof`: the client closed its side (answer what it sent, then close); `closing`: QUIT or a
    // protocol error (answer up to it, then close).
    let (mut eof, mut closing) = (false, false);
    loop {
        // A new batch starts only once the last one's replies are written, so a client that
        // does not read cannot make the proxy buffer replies without bound.
        if !closing && output.is_empty() && !input.is_empty() {
            closing = answer(&proxy, &mut session, &mut decoder, &mut input, &mut output).await;
            if limits.output_exceeded(output.len()) {
                over_output_limit(&proxy, &session, output.len());
                break;
            }
        }
        // Requests waiting to run (a client writing without reading) are bounded.
        if !closing && let Err(error) = limits.check_input(input.len()) {
            proxy
                .query_limit_disconnections
                .fetch_add(1, Ordering::Relaxed);
            decoder.encode(None, &error.to_response(), session.protocol, &mut output);
            closing = true;
        }
        if (eof || closing) && output.is_empty() {
            if !eof {
                tokio::select! {
                    _ = linger_close(&mut reader, &mut writer) => {}
                    _ = shutdown.changed() => {}
                }
            }
            break;
        }
        if input.capacity() - input.len() < 4096 {
            input.reserve(READ_BUFFER);
        }
        // Read and write together: a client sending a long pipeline before reading any reply
        // must not deadlock against our writes.
        tokio::select! {
            read = reader.read_buf(&mut input), if !eof && !closing => {
                if matches!(read, Ok(0) | Err(_)) {
                    eof = true;
                }
                idle.active();
            }
            written = writer.write(&output), if !output.is_empty() => {
                match written {
                    Ok(0) | Err(_) => break,
                    Ok(n) => { let _ = output.split_to(n); }
                }
                idle.active();
            }
            _ = idle.tick() => {
                if idle.expired() {
                    break;
                }
            }
            _ = shutdown.changed() => break,
        }
    }
    proxy.connected_clients.fetch_sub(1, Ordering::Relaxed);
}

/// Counts and logs a client closed for replies over the output buffer limit.
fn over_output_limit(proxy: &Proxy, session: &Session, pending: usize) {
    proxy
        .output_limit_disconnections
        .fetch_add(1, Ordering::Relaxed);
    tracing::warn!(
        client = session.id,
        pending,
        limit = proxy.config.limits.output_buffer_limit,
        "client closed: its replies outgrew limits.output_buffer_limit"
    );
}

/// The idle timeout of one client: a tick to check it, and when it last sent or took bytes.
struct IdleTimer {
    timeout: Option<Duration>,
    last_active: Instant,
    check: tokio::time::Interval,
}

impl IdleTimer {
    fn new(seconds: u64) -> IdleTimer {
        let mut check = tokio::time::interval(Duration::from_secs(1));
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        IdleTimer {
            timeout: (seconds > 0).then(|| Duration::from_secs(seconds)),
            last_active: Instant::now(),
            check,
        }
    }

    fn active(&mut self) {
        self.last_active = Instant::now();
    }

    /// Completes at the next check; never when there is no timeout.
    async fn tick(&mut self) {
        match self.timeout {
            Some(_) => {
                self.check.tick().await;
            }
            None => std::future::pending().await,
        }
    }

    fn expired(&self) -> bool {
        self.timeout
            .is_some_and(|timeout| self.last_active.elapsed() >= timeout)
    }
}

/// Serves one QUIC client: a session whose streams each carry a batch, answered in the order
/// they were opened.
pub async fn serve_quic(
    proxy: Arc<Proxy>,
    connection: QuicConnection,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut session = Session::new(&proxy);
    let mut idle = IdleTimer::new(proxy.config.clients.timeout);
    loop {
        let batch = tokio::select! {
            batch = connection.accept_batch() => batch,
            _ = idle.tick() => {
                if idle.expired() {
                    break;
                }
                continue;
            }
            _ = shutdown.changed() => break,
        };
        idle.active();
        let Ok(Some(mut batch)) = batch else { break };
        let request = tokio::select! {
            read = batch.read_all(proxy.config.limits.max_request()) => read,
            _ = shutdown.changed() => break,
        };
        let Ok(request) = request else { continue };
        let mut input = BytesMut::from(&request[..]);
        // Each stream says its own protocol with its first byte.
        let mut decoder = ServerCodec::for_client(&proxy.config.limits);
        let mut output = BytesMut::new();
        let mut closing = false;
        let mut overflow = false;
        while !input.is_empty() && !closing {
            let before = input.len();
            closing = answer(&proxy, &mut session, &mut decoder, &mut input, &mut output).await;
            if proxy.config.limits.output_exceeded(output.len()) {
                over_output_limit(&proxy, &session, output.len());
                overflow = true;
                break;
            }
            if !closing && input.len() == before {
                // The stream ended inside a request.
                let cut = Response::Error(datagram::TRUNCATED.into());
                decoder.encode(None, &cut, session.protocol, &mut output);
                closing = true;
            }
        }
        if overflow {
            break;
        }
        // A client that does not read its replies must not hold up shutdown.
        tokio::select! {
            _ = batch.write_all(&output) => {}
            _ = shutdown.changed() => break,
        }
        if closing {
            batch.delivered().await;
            break;
        }
    }
    connection.close();
    proxy.connected_clients.fetch_sub(1, Ordering::Relaxed);
}

/// Datagrams routed at once on one UDP socket; more arriving meanwhile are dropped, as a full
/// socket buffer would drop them, rather than queued without bound.
const MAX_DATAGRAMS_IN_FLIGHT: usize = 4096;

/// Serves a UDP socket: each datagram is a batch of native requests in a session of its own,
/// routed like any batch; its replies go back split into datagrams.
pub async fn serve_datagrams(
    proxy: Arc<Proxy>,
    socket: UdpSocket,
    mut shutdown: watch::Receiver<bool>,
) {
    let socket = Arc::new(socket);
    let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_DATAGRAMS_IN_FLIGHT));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let (len, peer) = tokio::select! {
            received = udp::receive(&socket, &mut buf) => received,
            _ = shutdown.changed() => break,
        };
        let clients = &proxy.config.clients;
        let local_peer = cache_wire::limits::is_loopback(&peer);
        if session::protected_refusal(clients.protected_mode, &clients.requirepass, local_peer) {
            // Not answered: a reply to a datagram from elsewhere could be aimed at a third
            // party by a forged source address.
            proxy.denied_connections.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let limits = proxy.config.limits.native();
        let (id, requests, broken) = match Received::read(&buf[..len], &limits) {
            Received::Ignore => continue,
            Received::TooLarge { id } => {
                send_reply(&socket, peer, id, &datagram::refusal()).await;
                continue;
            }
            Received::Requests {
                id,
                requests,
                broken,
            } => (id, requests, broken),
        };
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "too many datagrams in flight: dropped one");
            continue;
        };
        let (proxy, socket) = (proxy.clone(), socket.clone());
        // Each datagram is routed on its own task, so a slow node holds up only its own.
        tokio::spawn(async move {
            let _permit = permit;
            let mut session = Session::new(&proxy);
            let (ids, frames): (Vec<u64>, Vec<Vec<Bytes>>) = requests.into_iter().unzip();
            let mut replies = Vec::with_capacity(frames.len());
            process(&proxy, &mut session, frames, &mut replies).await;
            let mut answered: Vec<(u64, Response)> = ids.into_iter().zip(replies).collect();
            if let Some(error) = broken {
                answered.push((0, error));
            }
            let mut output = BytesMut::new();
            datagram::encode_replies(&answered, &mut output);
            send_reply(&socket, peer, id, &output).await;
        });
    }
}

async fn send_reply(socket: &UdpSocket, peer: std::net::SocketAddr, id: u16, payload: &[u8]) {
    for part in datagram::split(id, payload) {
        if let Err(error) = socket.send_to(&part, peer).await {
            tracing::debug!(%peer, %error, "UDP send failed");
            return;
        }
    }
}

/// Decodes every complete request in `input`, runs them as one batch and encodes the replies
/// into `output`. Returns true when the connection must close after writing them.
async fn answer(
    proxy: &Arc<Proxy>,
    session: &mut Session,
    decoder: &mut ServerCodec,
    input: &mut BytesMut,
    output: &mut BytesMut,
) -> bool {
    let mut frames = Vec::new();
    let mut ids = Vec::new();
    let mut broken = None;
    // A bounded batch: the rest stays in `input` for the next round, so a huge pipeline is
    // routed in pieces that each fit a node connection's queue and the timeout.
    while frames.len() < proxy.config.limits.max_pipeline {
        match decoder.decode(input) {
            Ok(Some(incoming)) => {
                // Native requests all carry ids; RESP ones none, and then nothing is stored.
                if let Some(id) = incoming.id {
                    ids.push(id);
                }
                frames.push(incoming.args);
            }
            Ok(None) => break,
            Err(error) => {
                if error == cache_wire::ProtocolError::TooBigRequest {
                    proxy
                        .query_limit_disconnections
                        .fetch_add(1, Ordering::Relaxed);
                }
                broken = Some(error.to_response());
                break;
            }
        }
    }
    if frames.is_empty() && broken.is_none() {
        return false;
    }
    let mut replies = Vec::with_capacity(frames.len());
    process(proxy, session, frames, &mut replies).await;
    if let Some(error) = broken {
        replies.push(error);
        session.closing = true;
    }
    // Replies past the requests (the protocol error) answer no request: id 0.
    for (i, reply) in replies.iter().enumerate() {
        let id = ids.get(i).copied();
        decoder.encode(id, reply, session.protocol, output);
    }
    session.closing
}

/// Routes and runs one batch of requests, appending a reply for each.
async fn process(
    proxy: &Arc<Proxy>,
    session: &mut Session,
    frames: Vec<Vec<Bytes>>,
    replies: &mut Vec<Response>,
) {
    let timeout = proxy.config.backend.timeout();
    let mut plan = Plan::new(proxy.cluster.topology());
    for args in frames {
        if session.closing {
            break;
        }
        proxy.commands.fetch_add(1, Ordering::Relaxed);
        if let Some(refused) = session::gate(session.authenticated, &args) {
            plan.ready(refused);
            continue;
        }
        if args
            .first()
            .is_some_and(|n| n.eq_ignore_ascii_case(b"PROXY"))
        {
            if !session.authenticated {
                plan.ready(Response::Error(session::NOAUTH.into()));
                continue;
            }
            plan = flush(proxy, plan, session.id, timeout, replies).await;
            replies.push(admin::proxy_command(proxy, &args[1..]));
            continue;
        }
        let (id, command) = match cache_wire::parse::parse(&args) {
            Ok(parsed) => parsed,
            Err(reply) => {
                plan.ready(reply);
                continue;
            }
        };
        match command {
            Command::MGet { .. } => plan.split(&args[0], &args[1..], 1, Merge::Values),
            Command::Del { .. } => plan.split(&args[0], &args[1..], 1, Merge::SumWrite),
            Command::Exists { .. } | Command::Touch { .. } => {
                plan.split(&args[0], &args[1..], 1, Merge::Sum)
            }
            Command::MSet { .. } => plan.split(&args[0], &args[1..], 2, Merge::AllOk),
            Command::MSetNx { .. } => {
                let keys: Vec<&Bytes> = args[1..].iter().step_by(2).collect();
                match plan.single_node(&keys) {
                    Some(_) => plan.forward(args, 1),
                    None => plan.ready(Response::err(
                        "MSETNX keys live on different nodes; the proxy cannot make it atomic",
                    )),
                }
            }
            Command::Info { .. }
            | Command::DbSize
            | Command::FlushAll
            | Command::Save
            | Command::BgRewriteAof => {
                plan = flush(proxy, plan, session.id, timeout, replies).await;
                replies.push(admin::fan_out(proxy, command).await);
            }
            Command::Keys { .. } | Command::Scan { .. } | Command::RandomKey => {
                plan.ready(Response::err(&format!(
                    "{} is not supported through the proxy; ask a node directly",
                    id.name().to_ascii_uppercase()
                )))
            }
            local @ (Command::Ping { .. }
            | Command::Echo { .. }
            | Command::Quit
            | Command::Select { .. }
            | Command::Auth { .. }
            | Command::Hello { .. }
            | Command::Command(_)
            | Command::Client(_)
            | Command::Config(_)) => plan.ready(admin::local(proxy, session, local)),
            _ if id.spec().first_key == 1 => plan.forward(args, 1),
            _ => plan.ready(Response::err("command not supported by the proxy")),
        }
    }
    flush(proxy, plan, session.id, timeout, replies).await;
}

/// Runs `plan` if it has anything and returns a fresh one on the newest topology.
async fn flush(
    proxy: &Arc<Proxy>,
    plan: Plan,
    client: u64,
    timeout: std::time::Duration,
    replies: &mut Vec<Response>,
) -> Plan {
    if !plan.is_empty() {
        plan.run(client, timeout, replies).await;
    }
    Plan::new(proxy.cluster.topology())
}
