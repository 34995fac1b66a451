//! One client connection: read bytes, decode every complete request (RESP or native, told
//! apart by the first byte), execute them, and answer the whole batch with one write.
//!
//! This is the only module that touches a client socket. Pipelined requests that arrive
//! together are answered together, in order, with a single `write_all`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use cache_wire::codec::ServerCodec;
use cache_wire::resp::Limits;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use crate::execute::{execute, gate};
use crate::node::{Node, Session};

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
    let mut decoder = ServerCodec::new(Limits {
        max_bulk_len: node.max_value_len.max(node.max_key_len) + 1024,
        ..Limits::default()
    });
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
            finishing = process(node, session, &mut decoder, &mut input, &mut output);
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

/// Runs every complete request in `input`, appending the replies to `output`. Returns true
/// when the connection must close once the replies are out (`QUIT` or a protocol error).
fn process(
    node: &Node,
    session: &mut Session,
    decoder: &mut ServerCodec,
    input: &mut BytesMut,
    output: &mut BytesMut,
) -> bool {
    loop {
        match decoder.decode(input) {
            Ok(Some(incoming)) => {
                let args = incoming.args;
                let reply = match gate(session, &args) {
                    Some(refused) => refused,
                    None => match cache_wire::parse::parse(&args) {
                        Ok((id, command)) => {
                            session
                                .client
                                .last_command
                                .store(id.index(), Ordering::Relaxed);
                            let started = Instant::now();
                            let reply = execute(node, session, id, command);
                            node.stats.record(id, started.elapsed(), reply.is_error());
                            reply
                        }
                        Err(reply) => reply,
                    },
                };
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
