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
use cache_wire::codec::ServerCodec;
use cache_wire::datagram::{self, Received};
use cache_wire::resp::Limits;
use cache_wire::transport::{QuicConnection, udp};
use cache_wire::{Response, native};
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
    // One decoder per connection keeps the scan position of a partial frame, so a request
    // trickling in byte by byte is not rescanned from its start on every read.
    let mut decoder = ServerCodec::new(limits(node));
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut input = BytesMut::with_capacity(READ_BUFFER);
    let mut output = BytesMut::with_capacity(READ_BUFFER);
    let mut last_active = Instant::now();
    let mut idle_check = tokio::time::interval(IDLE_CHECK);
    idle_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Set once the peer closed its side or broke the protocol: answer what is owed, then close.
    let mut finishing = false;
    loop {
        if !finishing {
            finishing = tokio::select! {
                closing = drive(node, session, &mut decoder, &mut input, &mut output) => closing,
                _ = shutdown.changed() => return Ok(()),
            };
            let settled = tokio::select! {
                settled = settle(node, session) => settled,
                _ = shutdown.changed() => return Ok(()),
            };
            if let Some((wait, error)) = settled {
                output.truncate(wait.first_reply_at);
                decoder.encode(wait.first_id, &error, session.protocol, &mut output);
                finishing = true;
            }
        }
        if finishing && output.is_empty() {
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

fn limits(node: &Node) -> Limits {
    Limits {
        max_bulk_len: node.max_value_len.max(node.max_key_len) + 1024,
        ..Limits::default()
    }
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
    let limit = limits(&node).max_bulk_len.saturating_mul(2);
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
        let mut decoder = ServerCodec::new(limits(&node));
        let mut output = BytesMut::new();
        let mut closing = tokio::select! {
            closing = drive_whole(&node, &mut session, &mut decoder, &mut input, &mut output) => closing,
            _ = shutdown.changed() => break,
        };
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
        let (id, output) = match Received::read(&buf[..len], &native::Limits::default()) {
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

/// As [`drive`] for a batch that is complete (a QUIC stream): bytes left over are a request
/// cut short, answered with a protocol error.
async fn drive_whole(
    node: &Node,
    session: &mut Session,
    decoder: &mut ServerCodec,
    input: &mut BytesMut,
    output: &mut BytesMut,
) -> bool {
    let closing = drive(node, session, decoder, input, output).await;
    if !closing && !input.is_empty() {
        decoder.encode(
            None,
            &Response::Error(datagram::TRUNCATED.into()),
            session.protocol,
            output,
        );
        return true;
    }
    closing
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

/// Runs every complete request in `input`, appending the replies to `output`, and loads from
/// the origin what they miss. Returns true when the connection must close once the replies
/// are out (`QUIT` or a protocol error).
async fn drive(
    node: &Node,
    session: &mut Session,
    decoder: &mut ServerCodec,
    input: &mut BytesMut,
    output: &mut BytesMut,
) -> bool {
    loop {
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
                if session.closing {
                    return true;
                }
            }
            Ok(None) => return false,
            Err(error) => {
                // Redis answers a protocol error and closes: the stream cannot be resynced.
                decoder.encode(None, &error.to_response(), session.protocol, output);
                return true;
            }
        }
    }
}
