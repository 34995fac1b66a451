//! One multiplexed, pipelined connection to a node.
//!
//! A [`Connection`] is a cheap handle (clone it freely) to a task that owns the socket. Callers
//! hand it encoded requests; the task appends everything queued to one write buffer, so many
//! callers' requests leave in one `write`, and it matches replies to requests in order (RESP
//! answers in order). A caller that stops waiting (a timeout) loses only its own replies, which
//! the task still reads and drops, so the stream stays in step.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use cache_wire::Response;
use cache_wire::endpoint::Endpoint;
use cache_wire::resp::{self, Limits};
use cache_wire::transport::{Connector, Link};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::transport;

/// How to reach a node.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Sent with `AUTH` right after connecting, if set.
    pub password: Option<String>,
    /// Bound on connecting (and authenticating).
    pub connect_timeout: Duration,
    /// Bound on each call, from sending to the last reply.
    pub timeout: Duration,
    /// How to open the socket: TLS settings for `tls://` and `quic://` endpoints.
    pub connector: Connector,
}

impl Default for ConnectOptions {
    fn default() -> ConnectOptions {
        ConnectOptions {
            password: None,
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            connector: Connector::plain(),
        }
    }
}

/// Requests a connection queues before callers get [`Error::Overloaded`].
const MAX_IN_FLIGHT: usize = 64 * 1024;
const READ_BUFFER: usize = 16 * 1024;

/// Requests a caller hands to the connection task, RESP-encoded, and where their replies go.
pub(crate) struct Batch {
    pub(crate) bytes: BytesMut,
    pub(crate) count: usize,
    pub(crate) reply: oneshot::Sender<Result<Vec<Response>>>,
}

/// A handle to a connection's task.
#[derive(Debug, Clone)]
pub struct Connection {
    sender: mpsc::Sender<Batch>,
    /// Shared, so cloning a handle or waiting on a batch allocates nothing.
    name: Arc<str>,
    timeout: Duration,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Batch({} requests)", self.count)
    }
}

impl Connection {
    /// Connects to `endpoint` (TCP with `TCP_NODELAY`, TLS, a Unix socket, QUIC or UDP) and
    /// authenticates. Over UDP, where each datagram is a session of its own, the password also
    /// goes with every datagram.
    pub async fn connect(endpoint: &Endpoint, options: &ConnectOptions) -> Result<Connection> {
        let name = endpoint.to_string();
        let io_error = |source| Error::Io {
            endpoint: name.clone(),
            source,
        };
        let connecting = async {
            let link = options.connector.open(endpoint).await.map_err(io_error)?;
            let timeout = options.timeout;
            let connection = match link {
                Link::Stream(stream) => Connection::spawn(stream, name.clone(), timeout),
                Link::Quic(quic) => Connection::start(name.clone(), timeout, |receiver, name| {
                    transport::quic::drive(quic, receiver, name)
                }),
                Link::Udp(socket) => {
                    let password = options.password.clone();
                    Connection::start(name.clone(), timeout, |receiver, name| {
                        transport::udp::drive(socket, receiver, name, password, timeout)
                    })
                }
            };
            Ok::<_, Error>(connection)
        };
        let connection = tokio::time::timeout(options.connect_timeout, connecting)
            .await
            .map_err(|_| Error::Timeout(name.clone()))??;
        if let Some(password) = &options.password {
            match connection
                .call(&[b"AUTH".as_slice(), password.as_bytes()])
                .await?
            {
                Response::Ok => {}
                Response::Error(text) => return Err(Error::Server(text.into_owned())),
                other => return Err(Error::UnexpectedReply(format!("{other:?}"))),
            }
        }
        Ok(connection)
    }

    /// Runs the connection task over an established stream.
    pub fn spawn<S>(stream: S, name: String, timeout: Duration) -> Connection
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        Connection::start(name, timeout, |receiver, name| {
            drive(stream, receiver, name)
        })
    }

    /// Spawns the connection task `task` makes from the batch queue and the name.
    fn start<F>(
        name: String,
        timeout: Duration,
        task: impl FnOnce(mpsc::Receiver<Batch>, String) -> F,
    ) -> Connection
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let (sender, receiver) = mpsc::channel(1024);
        tokio::spawn(task(receiver, name.clone()));
        Connection {
            sender,
            name: name.into(),
            timeout,
        }
    }

    /// The endpoint this connection goes to.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True once the connection task has ended (the socket broke); connect again.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Sends one command and waits for its reply. An error reply is `Ok(Response::Error)`.
    pub async fn call<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<Response> {
        let mut bytes = BytesMut::new();
        resp::encode_request(args, &mut bytes);
        let mut replies = self.call_encoded(bytes, 1).await?;
        replies
            .pop()
            .ok_or_else(|| Error::Disconnected(self.name.to_string()))
    }

    /// Sends `count` requests already encoded in `bytes` and waits for their replies, in
    /// order, within the connection's timeout.
    pub async fn call_encoded(&self, bytes: BytesMut, count: usize) -> Result<Vec<Response>> {
        self.call_encoded_within(bytes, count, self.timeout).await
    }

    /// Queues `count` encoded requests and returns at once with the receiver of their replies,
    /// so a caller can send to several connections before waiting on any. Waits only while
    /// the connection's queue is full.
    pub async fn submit(&self, bytes: BytesMut, count: usize) -> Result<Replies> {
        let (reply, wait) = oneshot::channel();
        self.sender
            .send(Batch {
                bytes,
                count,
                reply,
            })
            .await
            .map_err(|_| Error::Disconnected(self.name.to_string()))?;
        Ok(Replies {
            wait,
            name: self.name.clone(),
        })
    }

    /// As [`Connection::call_encoded`] with an explicit timeout.
    pub async fn call_encoded_within(
        &self,
        bytes: BytesMut,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<Response>> {
        let (reply, wait) = oneshot::channel();
        let batch = Batch {
            bytes,
            count,
            reply,
        };
        let work = async {
            self.sender
                .send(batch)
                .await
                .map_err(|_| Error::Disconnected(self.name.to_string()))?;
            wait.await
                .map_err(|_| Error::Disconnected(self.name.to_string()))?
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| Error::Timeout(self.name.to_string()))?
    }
}

/// The replies of a [`Connection::submit`]ted batch, to await.
#[derive(Debug)]
pub struct Replies {
    wait: oneshot::Receiver<Result<Vec<Response>>>,
    name: Arc<str>,
}

impl Replies {
    /// Waits for the replies until `deadline`.
    pub async fn until(self, deadline: tokio::time::Instant) -> Result<Vec<Response>> {
        match tokio::time::timeout_at(deadline, self.wait).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::Disconnected(self.name.to_string())),
            Err(_) => Err(Error::Timeout(self.name.to_string())),
        }
    }
}

struct Pending {
    count: usize,
    replies: Vec<Response>,
    reply: oneshot::Sender<Result<Vec<Response>>>,
}

async fn drive<S>(stream: S, mut receiver: mpsc::Receiver<Batch>, name: String)
where
    S: AsyncRead + AsyncWrite,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut in_flight = 0usize;
    let mut output = BytesMut::new();
    let mut input = BytesMut::with_capacity(READ_BUFFER);
    let limits = Limits::default();
    let mut open = true;
    let failure = loop {
        if !open && pending.is_empty() {
            return;
        }
        if input.capacity() - input.len() < 4096 {
            input.reserve(READ_BUFFER);
        }
        tokio::select! {
            batch = receiver.recv(), if open => {
                let Some(batch) = batch else {
                    open = false;
                    continue;
                };
                let mut next = Some(batch);
                while let Some(batch) = next.take() {
                    if in_flight + batch.count > MAX_IN_FLIGHT {
                        let _ = batch.reply.send(Err(Error::Overloaded(name.clone())));
                    } else if batch.count == 0 {
                        let _ = batch.reply.send(Ok(Vec::new()));
                    } else {
                        in_flight += batch.count;
                        // Usually nothing is waiting to be written: take the caller's buffer
                        // instead of copying it.
                        if output.is_empty() {
                            output = batch.bytes;
                        } else {
                            output.extend_from_slice(&batch.bytes);
                        }
                        pending.push_back(Pending {
                            count: batch.count,
                            replies: Vec::with_capacity(batch.count),
                            reply: batch.reply,
                        });
                    }
                    next = receiver.try_recv().ok();
                }
            }
            written = writer.write(&output), if !output.is_empty() => {
                match written {
                    Ok(0) => break Error::Disconnected(name.clone()),
                    Ok(n) => output.advance(n),
                    Err(_) => break Error::Disconnected(name.clone()),
                }
            }
            read = reader.read_buf(&mut input) => {
                match read {
                    Ok(0) | Err(_) => break Error::Disconnected(name.clone()),
                    Ok(_) => {}
                }
                match deliver(&mut input, &limits, &mut pending, &mut in_flight, &name) {
                    Ok(()) => {}
                    Err(error) => break error,
                }
            }
        }
    };
    tracing::debug!(node = %name, error = %failure, "connection closed");
    for waiting in pending {
        let _ = waiting.reply.send(Err(Error::Disconnected(name.clone())));
    }
}

/// Decodes every complete reply in `input` and completes the batches they finish.
fn deliver(
    input: &mut BytesMut,
    limits: &Limits,
    pending: &mut VecDeque<Pending>,
    in_flight: &mut usize,
    name: &str,
) -> Result<()> {
    loop {
        let reply = resp::decode_reply(input, limits).map_err(|source| Error::Protocol {
            endpoint: name.to_owned(),
            source,
        })?;
        let Some(reply) = reply else {
            return Ok(());
        };
        let Some(front) = pending.front_mut() else {
            return Err(Error::UnexpectedReply(format!(
                "{name} sent a reply nobody asked for"
            )));
        };
        front.replies.push(reply);
        *in_flight -= 1;
        if front.replies.len() == front.count
            && let Some(done) = pending.pop_front()
        {
            // The caller may have timed out and gone; its replies are dropped.
            let _ = done.reply.send(Ok(done.replies));
        }
    }
}
