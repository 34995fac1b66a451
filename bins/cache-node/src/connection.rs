//! One client connection: read bytes, decode every complete request (RESP or native, told
//! apart by the first byte), execute them, and answer the whole batch with one write.
//!
//! This is the only module that touches a client socket. Pipelined requests that arrive
//! together are answered together, in order, with a single `write_all`. A QUIC connection
//! ([`serve_quic`]) is one session whose streams are batches; a UDP socket
//! ([`serve_datagrams`]) answers each datagram as a batch of its own, with a fresh session.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use cache_wire::Response;
use cache_wire::codec::ServerCodec;
use cache_wire::datagram::{self, Received};
use cache_wire::transport::{QuicConnection, linger_close, udp};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use crate::execute::{execute, gate};
use crate::node::{DurableWait, Node, Session};

const READ_BUFFER: usize = 16 * 1024;
/// How often an idle connection checks the (changeable) idle timeout.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Serves one client until it leaves, breaks the protocol, idles out or the node shuts down.
pub async fn serve<S>(
    node: Arc<Node>,
    stream: S,
    addr: String,
    local_addr: String,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let client = node.register(addr, local_addr);
    let id = client.id;
    let mut session = Session::new(&node, client);
    if let Err(error) = run(&node, &mut session, stream, &mut shutdown).await {
        tracing::debug!(client = id, %error, "connection closed with an error");
    }
    node.unregister(id);
}

async fn run<S>(
    node: &Node,
    session: &mut Session,
    stream: S,
    shutdown: &mut watch::Receiver<bool>,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limits = node.limits;
    // One decoder per connection keeps the scan position of a partial frame, so a request
    // trickling in byte by byte is not rescanned from its start on every read.
    let mut decoder = ServerCodec::for_client(&limits);
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut input = BytesMut::with_capacity(READ_BUFFER);
    let mut output = BytesMut::with_capacity(READ_BUFFER);
    let mut last_active = Instant::now();
    let mut idle_check = tokio::time::interval(IDLE_CHECK);
    idle_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Set once the peer closed its side or broke the protocol: answer what is owed, then close.
    let mut finishing = false;
    let mut peer_closed = false;
    loop {
        // A round runs only while few replies wait (see cache_wire::limits): a client that
        // reads slowly holds up its own requests instead of growing our buffers.
        if !finishing && limits.may_run(0, output.len()) {
            let stop = tokio::select! {
                stop = drive(node, session, &mut decoder, &mut input, &mut output, true) => stop,
                _ = shutdown.changed() => return Ok(()),
            };
            let settled = tokio::select! {
                settled = settle(node, session) => settled,
                _ = shutdown.changed() => return Ok(()),
            };
            finishing = stop == Stop::Close;
            if let Some((wait, error)) = settled {
                output.truncate(wait.first_reply_at);
                decoder.encode(wait.first_id, &error, session.protocol, &mut output);
                finishing = true;
            } else if stop == Stop::Overflow {
                return Err(over_output_limit(node, session, output.len()));
            }
        }
        // Requests waiting to run (a client writing without reading) are bounded.
        if !finishing && let Err(error) = limits.check_input(input.len()) {
            node.stats
                .query_limit_disconnections
                .fetch_add(1, Ordering::Relaxed);
            decoder.encode(None, &error.to_response(), session.protocol, &mut output);
            finishing = true;
        }
        session
            .client
            .query_buffer
            .store(input.len(), Ordering::Relaxed);
        session
            .client
            .output_buffer
            .store(output.len(), Ordering::Relaxed);
        if finishing && output.is_empty() {
            if !peer_closed {
                tokio::select! {
                    _ = linger_close(&mut reader, &mut writer) => {}
                    _ = shutdown.changed() => {}
                }
            }
            return Ok(());
        }
        if input.capacity() - input.len() < 4096 {
            input.reserve(READ_BUFFER);
        }
        // Reading and writing proceed together: a client that sends a whole pipeline before
        // reading any reply fills its socket while the replies fill ours, and waiting for either
        // side alone would deadlock.
        tokio::select! {
            read = reader.read_buf(&mut input), if !finishing => {
                let read = read?;
                if read == 0 {
                    finishing = true;
                    peer_closed = true;
                }
                last_active = Instant::now();
                session.client.last_active_ms.store(node.uptime_ms(), Ordering::Relaxed);
                node.stats.net_input_bytes.fetch_add(read as u64, Ordering::Relaxed);
            }
            written = writer.write(&output), if !output.is_empty() => {
                let written = written?;
                if written == 0 {
                    return Ok(());
                }
                output.advance(written);
                // A client taking its replies is not idle, even if it sends nothing.
                last_active = Instant::now();
                node.stats.net_output_bytes.fetch_add(written as u64, Ordering::Relaxed);
            }
            _ = idle_check.tick() => {
                let timeout = node.params.read().timeout;
                if timeout > 0 && last_active.elapsed() >= Duration::from_secs(timeout) {
                    return Ok(());
                }
            }
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

/// Counts and logs a client closed for replies over the output buffer limit, and returns the
/// error that ends its connection.
fn over_output_limit(node: &Node, session: &Session, pending: usize) -> std::io::Error {
    node.stats
        .output_limit_disconnections
        .fetch_add(1, Ordering::Relaxed);
    tracing::warn!(
        client = session.client.id,
        addr = %session.client.addr,
        pending,
        limit = node.limits.output_buffer_limit,
        "client closed: its replies outgrew limits.output_buffer_limit"
    );
    std::io::Error::other("replies over the output buffer limit")
}

/// Serves one QUIC connection: a session whose streams each carry one batch, answered in the
/// order they were opened.
pub async fn serve_quic(
    node: Arc<Node>,
    connection: QuicConnection,
    local_addr: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let client = node.register(connection.peer(), local_addr);
    let id = client.id;
    let mut session = Session::new(&node, client);
    let limit = node.limits.max_request();
    let mut idle_check = tokio::time::interval(IDLE_CHECK);
    idle_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_active = Instant::now();
    loop {
        let batch = tokio::select! {
            batch = connection.accept_batch() => batch,
            _ = idle_check.tick() => {
                let timeout = node.params.read().timeout;
                if timeout > 0 && last_active.elapsed() >= Duration::from_secs(timeout) {
                    break;
                }
                continue;
            }
            _ = shutdown.changed() => break,
        };
        let mut batch = match batch {
            Ok(Some(batch)) => batch,
            Ok(None) => break,
            Err(error) => {
                tracing::debug!(client = id, %error, "QUIC connection closed with an error");
                break;
            }
        };
        let request = tokio::select! {
            read = batch.read_all(limit) => read,
            _ = shutdown.changed() => break,
        };
        let mut input = match request {
            Ok(bytes) => BytesMut::from(&bytes[..]),
            Err(error) => {
                tracing::debug!(client = id, %error, "QUIC stream failed");
                continue;
            }
        };
        last_active = Instant::now();
        session
            .client
            .last_active_ms
            .store(node.uptime_ms(), Ordering::Relaxed);
        node.stats
            .net_input_bytes
            .fetch_add(input.len() as u64, Ordering::Relaxed);
        // A fresh decoder per stream: each stream says its own protocol with its first byte.
        let mut decoder = ServerCodec::for_client(&node.limits);
        let mut output = BytesMut::new();
        let stop = tokio::select! {
            stop = drive_whole(&node, &mut session, &mut decoder, &mut input, &mut output) => stop,
            _ = shutdown.changed() => break,
        };
        if stop == Stop::Overflow {
            let error = over_output_limit(&node, &session, output.len());
            tracing::debug!(client = id, %error, "QUIC connection closed");
            break;
        }
        let mut closing = stop == Stop::Close;
        let settled = tokio::select! {
            settled = settle(&node, &mut session) => settled,
            _ = shutdown.changed() => break,
        };
        if let Some((wait, error)) = settled {
            output.truncate(wait.first_reply_at);
            decoder.encode(wait.first_id, &error, session.protocol, &mut output);
            closing = true;
        }
        node.stats
            .net_output_bytes
            .fetch_add(output.len() as u64, Ordering::Relaxed);
        // A client that does not read its replies must not hold up shutdown.
        tokio::select! {
            written = batch.write_all(&output) => {
                if let Err(error) = written {
                    tracing::debug!(client = id, %error, "QUIC reply not delivered");
                }
            }
            _ = shutdown.changed() => break,
        }
        if closing {
            batch.delivered().await;
            break;
        }
    }
    connection.close();
    node.unregister(id);
}

/// Serves a UDP socket: each datagram is a batch of native requests run in a session of its
/// own (an `AUTH` must come first in the same datagram when the node has a password), and
/// its replies go back split into datagrams. The socket shows in `CLIENT LIST` as one client.
pub async fn serve_datagrams(
    node: Arc<Node>,
    socket: UdpSocket,
    local_addr: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let client = node.register(format!("udp://{local_addr}"), local_addr);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let (len, peer) = tokio::select! {
            received = udp::receive(&socket, &mut buf) => received,
            _ = shutdown.changed() => break,
        };
        node.stats
            .net_input_bytes
            .fetch_add(len as u64, Ordering::Relaxed);
        if cache_wire::session::protected_refusal(
            node.protected_mode,
            &node.params.read().requirepass,
            cache_wire::limits::is_loopback(&peer),
        ) {
            // Not answered: a reply to a datagram from elsewhere could be aimed at a third
            // party by a forged source address.
            node.stats
                .denied_connections
                .fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let (id, output) = match Received::read(&buf[..len], &node.limits.native()) {
            Received::Ignore => continue,
            Received::TooLarge { id } => (id, datagram::refusal()),
            Received::Requests {
                id,
                requests,
                broken,
            } => {
                client
                    .last_active_ms
                    .store(node.uptime_ms(), Ordering::Relaxed);
                let mut session = Session::new(&node, client.clone());
                let mut replies: Vec<(u64, Response)> = Vec::with_capacity(requests.len());
                for (id, args) in requests {
                    let reply = tokio::select! {
                        reply = answer(&node, &mut session, &args) => reply,
                        _ = shutdown.changed() => return node.unregister(client.id),
                    };
                    hold_for_durability(&mut session, replies.len(), Some(id));
                    replies.push((id, reply));
                }
                let settled = tokio::select! {
                    settled = settle(&node, &mut session) => settled,
                    _ = shutdown.changed() => break,
                };
                if let Some((wait, error)) = settled {
                    replies.truncate(wait.first_reply_at);
                    replies.push((wait.first_id.unwrap_or(0), error));
                }
                replies.extend(broken.map(|error| (0, error)));
                let mut output = BytesMut::new();
                datagram::encode_replies(&replies, &mut output);
                (id, output)
            }
        };
        for part in datagram::split(id, &output) {
            match socket.send_to(&part, peer).await {
                Ok(sent) => {
                    node.stats
                        .net_output_bytes
                        .fetch_add(sent as u64, Ordering::Relaxed);
                }
                Err(error) => {
                    tracing::debug!(%peer, %error, "UDP send failed");
                    break;
                }
            }
        }
    }
    node.unregister(client.id);
}

/// As [`drive`] for a batch that is complete (a QUIC stream), run whole: bytes left over are a
/// request cut short, answered with a protocol error.
async fn drive_whole(
    node: &Node,
    session: &mut Session,
    decoder: &mut ServerCodec,
    input: &mut BytesMut,
    output: &mut BytesMut,
) -> Stop {
    let stop = drive(node, session, decoder, input, output, false).await;
    if stop == Stop::Incomplete && !input.is_empty() {
        decoder.encode(
            None,
            &Response::Error(datagram::TRUNCATED.into()),
            session.protocol,
            output,
        );
        return Stop::Close;
    }
    stop
}

/// What running a request came to.
enum Ran {
    Reply(Response),
    /// It missed keys the origin must load; run it again once they are.
    Load(Vec<Bytes>),
}

/// Runs one request through the session's gate, the parser and the executor.
fn run_one(node: &Node, session: &mut Session, args: &[Bytes]) -> Ran {
    if let Some(refused) = gate(session, args) {
        return Ran::Reply(refused);
    }
    match cache_wire::parse::parse(args) {
        Ok((id, command)) => {
            session
                .client
                .last_command
                .store(id.index(), Ordering::Relaxed);
            let started = Instant::now();
            let _ = cache_persist::take_mark();
            let reply = execute(node, session, id, command);
            if !session.origin_wanted.is_empty() {
                return Ran::Load(std::mem::take(&mut session.origin_wanted));
            }
            session.origin_loaded.clear();
            if let Some(offset) = cache_persist::take_mark()
                && node.fsync_always()
            {
                session.must_persist = Some(session.must_persist.unwrap_or(0).max(offset));
            }
            node.stats.record(id, started.elapsed(), reply.is_error());
            Ran::Reply(reply)
        }
        Err(reply) => Ran::Reply(reply),
    }
}

/// Times a request may miss again after its keys were loaded (they can be evicted or
/// deleted in between) before it is answered with an error.
const LOAD_ROUNDS: usize = 3;

/// Runs one request to its reply, loading from the origin what it misses.
async fn answer(node: &Node, session: &mut Session, args: &[Bytes]) -> Response {
    let mut keys = match run_one(node, session, args) {
        Ran::Reply(reply) => return reply,
        Ran::Load(keys) => keys,
    };
    for _ in 0..LOAD_ROUNDS {
        load(node, session, keys).await;
        keys = match run_one(node, session, args) {
            Ran::Reply(reply) => return reply,
            Ran::Load(keys) => keys,
        };
    }
    session.origin_loaded.clear();
    Response::Error(
        "ERR origin: the loaded keys were removed before they could be read; try again".into(),
    )
}

/// Loads `keys` from the node's origin, side by side, into the session for the request's
/// next run.
async fn load(node: &Node, session: &mut Session, keys: Vec<Bytes>) {
    let Some(reader) = node.origin.get() else {
        return;
    };
    let loads: Vec<_> = keys
        .into_iter()
        .map(|key| (key.clone(), reader.start(key)))
        .collect();
    for (key, loading) in loads {
        let loaded = loading.wait().await;
        session.origin_loaded.insert(key, loaded);
    }
}

/// Notes that the reply about to be added at `reply_at` must wait for the log, if the request
/// just run asked for that.
fn hold_for_durability(session: &mut Session, reply_at: usize, id: Option<u64>) {
    let Some(offset) = session.must_persist.take() else {
        return;
    };
    let wait = session.durable.get_or_insert(DurableWait {
        offset,
        first_reply_at: reply_at,
        first_id: id,
    });
    wait.offset = wait.offset.max(offset);
}

/// Waits until the log is durable as far as the batch's replies need (`appendfsync always`,
/// `SAVE`). If it cannot be made durable, returns where the first held reply starts and the
/// error to answer in its place: the connection then closes, since the replies after it would
/// claim writes that are not durable.
async fn settle(node: &Node, session: &mut Session) -> Option<(DurableWait, Response)> {
    let wait = session.durable.take()?;
    let persistence = node.persistence.get()?;
    let failure = persistence.log().wait_durable(wait.offset).await.err()?;
    Some((
        wait,
        Response::Error(
            format!("IOERR the write is applied in memory but not durable: {failure}").into(),
        ),
    ))
}

/// Why [`drive`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The round is over (pipeline depth, or replies piling up): write, then go on.
    Round,
    /// The next request is not complete yet: read more.
    Incomplete,
    /// `QUIT` or a protocol error: write the replies, then close.
    Close,
    /// The replies outgrew the output buffer limit: close now.
    Overflow,
}

/// Runs the complete requests in `input`, appending the replies to `output`, and loads from
/// the origin what they miss. With `in_rounds`, stops when the round is over (the pipeline
/// depth, or replies piling up; see `cache_wire::limits`); without, runs all of them.
async fn drive(
    node: &Node,
    session: &mut Session,
    decoder: &mut ServerCodec,
    input: &mut BytesMut,
    output: &mut BytesMut,
    in_rounds: bool,
) -> Stop {
    let limits = node.limits;
    let mut ran = 0;
    while !in_rounds || limits.may_run(ran, output.len()) {
        match decoder.decode(input) {
            Ok(Some(incoming)) => {
                let reply = match run_one(node, session, &incoming.args) {
                    Ran::Reply(reply) => reply,
                    Ran::Load(keys) => {
                        load(node, session, keys).await;
                        answer(node, session, &incoming.args).await
                    }
                };
                hold_for_durability(session, output.len(), incoming.id);
                decoder.encode(incoming.id, &reply, session.protocol, output);
                ran += 1;
                if limits.output_exceeded(output.len()) {
                    return Stop::Overflow;
                }
                if session.closing {
                    return Stop::Close;
                }
            }
            Ok(None) => return Stop::Incomplete,
            Err(error) => {
                // Redis answers a protocol error and closes: the stream cannot be resynced.
                if error == cache_wire::ProtocolError::TooBigRequest {
                    node.stats
                        .query_limit_disconnections
                        .fetch_add(1, Ordering::Relaxed);
                }
                decoder.encode(None, &error.to_response(), session.protocol, output);
                return Stop::Close;
            }
        }
    }
    Stop::Round
}
