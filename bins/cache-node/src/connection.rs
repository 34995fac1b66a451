//! One client connection: read bytes, decode every complete request, execute them, and answer
//! the whole batch with one write.
//!
//! This is the only module that touches a client socket. Pipelined requests that arrive
//! together are answered together, in order, with a single `write_all`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use cache_wire::Response;
use cache_wire::resp::{self, Decoder, Limits};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use crate::execute::execute;
use crate::node::{Node, Session};

const READ_BUFFER: usize = 16 * 1024;

/// Serves one client until it leaves, breaks the protocol, idles out or the node shuts down.
pub async fn serve<S>(
    node: Arc<Node>,
    mut stream: S,
    addr: String,
    local_addr: String,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let client = node.register(addr, local_addr);
    let id = client.id;
    let mut session = Session::new(&node, client);
    if let Err(error) = run(&node, &mut session, &mut stream, &mut shutdown).await {
        tracing::debug!(client = id, %error, "connection closed with an error");
    }
    node.unregister(id);
}

async fn run<S>(
    node: &Node,
    session: &mut Session,
    stream: &mut S,
    shutdown: &mut watch::Receiver<bool>,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // One decoder per connection keeps the scan position of a partial frame, so a request
    // trickling in byte by byte is not rescanned from its start on every read.
    let mut decoder = Decoder::new(Limits {
        max_bulk_len: node.max_value_len.max(node.max_key_len) + 1024,
        ..Limits::default()
    });
    let mut input = BytesMut::with_capacity(READ_BUFFER);
    let mut output = BytesMut::with_capacity(READ_BUFFER);
    loop {
        let mut broken = false;
        loop {
            match decoder.decode(&mut input) {
                Ok(Some(args)) => {
                    let reply = match cache_wire::parse::parse(&args) {
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
                    };
                    resp::encode(&reply, session.protocol, &mut output);
                    if session.closing {
                        break;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    // Redis answers a protocol error and closes: the stream cannot be resynced.
                    let text = format!("ERR {error}");
                    resp::encode(&Response::Error(text.into()), session.protocol, &mut output);
                    broken = true;
                    break;
                }
            }
        }
        if !output.is_empty() {
            stream.write_all(&output).await?;
            node.stats
                .net_output_bytes
                .fetch_add(output.len() as u64, Ordering::Relaxed);
            output.clear();
        }
        if broken || session.closing {
            return Ok(());
        }
        session
            .client
            .last_active_ms
            .store(node.uptime_ms(), Ordering::Relaxed);
        let timeout = node.params.read().timeout;
        if input.capacity() - input.len() < 4096 {
            input.reserve(READ_BUFFER);
        }
        let read = tokio::select! {
            read = stream.read_buf(&mut input) => read?,
            () = idle(timeout) => return Ok(()),
            _ = shutdown.changed() => return Ok(()),
        };
        if read == 0 {
            return Ok(());
        }
        node.stats
            .net_input_bytes
            .fetch_add(read as u64, Ordering::Relaxed);
    }
}

/// Completes after `secs` seconds, or never when `secs` is 0.
async fn idle(secs: u64) {
    if secs == 0 {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
}
