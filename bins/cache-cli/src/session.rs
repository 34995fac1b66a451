//! One connection to a server, speaking RESP or the native protocol, one request at a time,
//! over a byte stream, QUIC (a stream per request) or UDP (a datagram per request).

use std::time::Duration;

use bytes::BytesMut;
use cache_wire::Response;
use cache_wire::datagram;
use cache_wire::endpoint::Endpoint;
use cache_wire::transport::{Connector, Link, QuicConnection, Stream, udp};
use cache_wire::{native, resp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

/// Which protocol requests go out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Resp,
    Native,
}

/// How long to wait for a UDP reply before sending a read again, and how often.
const UDP_WAIT: Duration = Duration::from_millis(500);
const UDP_RETRIES: u32 = 3;
/// A write over UDP is sent once and waited for this long.
const UDP_WRITE_WAIT: Duration = Duration::from_secs(2);
/// The frame id of the `AUTH` sent in front of each UDP request.
const AUTH_ID: u64 = u64::MAX;

#[derive(Debug)]
enum Transport {
    Stream {
        stream: Stream,
        input: BytesMut,
    },
    Quic(QuicConnection),
    /// Each datagram is a session of its own: the password travels with every request.
    Udp {
        socket: UdpSocket,
        auth: Option<BytesMut>,
        next_id: u16,
    },
}

/// A connected session.
#[derive(Debug)]
pub struct Session {
    transport: Transport,
    protocol: Protocol,
    next_id: u64,
}

impl Session {
    /// Connects and, given a password, authenticates. UDP speaks only the native protocol.
    pub async fn connect(
        endpoint: &Endpoint,
        connector: &Connector,
        protocol: Protocol,
        password: Option<&str>,
    ) -> anyhow::Result<Session> {
        let link = connector
            .open(endpoint)
            .await
            .map_err(|e| anyhow::anyhow!("could not connect to {endpoint}: {e}"))?;
        let (transport, protocol) = match link {
            Link::Stream(stream) => {
                let input = BytesMut::with_capacity(16 * 1024);
                (Transport::Stream { stream, input }, protocol)
            }
            Link::Quic(quic) => (Transport::Quic(quic), protocol),
            Link::Udp(socket) => {
                let auth = password.map(|password| {
                    let mut frame = BytesMut::new();
                    native::encode_request(AUTH_ID, &["AUTH", password], &mut frame);
                    frame
                });
                (
                    Transport::Udp {
                        socket,
                        auth,
                        next_id: 0,
                    },
                    Protocol::Native,
                )
            }
        };
        let mut session = Session {
            transport,
            protocol,
            next_id: 1,
        };
        if let Some(password) = password {
            let reply = session.call(&["AUTH", password]).await?;
            if reply.is_error() {
                anyhow::bail!("AUTH failed: {}", crate::format::raw(&reply));
            }
        }
        Ok(session)
    }

    /// Ends the session: a QUIC connection is closed so the server forgets it at once.
    pub async fn close(self) {
        if let Transport::Quic(quic) = &self.transport {
            quic.shutdown().await;
        }
    }

    /// Sends one command and waits for its reply.
    pub async fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> anyhow::Result<Response> {
        let mut out = BytesMut::new();
        let id = self.next_id;
        self.next_id += 1;
        match self.protocol {
            Protocol::Resp => resp::encode_request(args, &mut out),
            Protocol::Native => native::encode_request(id, args, &mut out),
        }
        let mut input = match &mut self.transport {
            Transport::Stream { stream, input } => {
                stream.write_all(&out).await?;
                loop {
                    if let Some(reply) = decode(self.protocol, input, id)? {
                        return Ok(reply);
                    }
                    if stream.read_buf(input).await? == 0 {
                        anyhow::bail!("the server closed the connection");
                    }
                }
            }
            Transport::Quic(quic) => {
                let mut batch = quic.open_batch().await?;
                batch.write_all(&out).await?;
                BytesMut::from(&batch.read_all(1 << 30).await?[..])
            }
            Transport::Udp {
                socket,
                auth,
                next_id,
            } => {
                let mut payload = auth.clone().unwrap_or_default();
                payload.extend_from_slice(&out);
                let (wait, retries) = if datagram::retry_safe(args) {
                    (UDP_WAIT, UDP_RETRIES)
                } else {
                    (UDP_WRITE_WAIT, 0)
                };
                let reply = udp::exchange(socket, next_id, &payload, wait, retries).await?;
                // The AUTH's own reply comes first; a failed AUTH is the answer to show.
                let mut reply = reply;
                if auth.is_some() {
                    let limits = native::Limits::default();
                    if let Some(auth) = native::decode_reply(&mut reply, &limits)?
                        && auth.response.is_error()
                    {
                        return Ok(auth.response);
                    }
                }
                reply
            }
        };
        decode(self.protocol, &mut input, id)?
            .ok_or_else(|| anyhow::anyhow!("the server's reply ended early"))
    }
}

/// The reply to request `id` at the front of `input`, once it is all there.
fn decode(protocol: Protocol, input: &mut BytesMut, id: u64) -> anyhow::Result<Option<Response>> {
    match protocol {
        Protocol::Resp => Ok(resp::decode_reply(input, &resp::Limits::default())?),
        Protocol::Native => {
            let Some(reply) = native::decode_reply(input, &native::Limits::default())? else {
                return Ok(None);
            };
            // One request at a time: a reply to another id is a broken server.
            anyhow::ensure!(
                reply.id == id || reply.id == 0,
                "reply to request {} while waiting for {id}",
                reply.id
            );
            Ok(Some(reply.response))
        }
    }
}
