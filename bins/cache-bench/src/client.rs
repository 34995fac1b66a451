//! A bare client per transport and protocol: it sends a round of requests and waits for all
//! their replies, with nothing between the caller and the socket but the codecs, so a
//! comparison of transports measures the transports.
//!
//! A round is encoded straight from borrowed keys into a reused buffer: with fifty connections
//! on two cores the generator's own allocations would otherwise show up in the figures.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use cache_wire::datagram::{self, Header, Reassembly};
use cache_wire::endpoint::Endpoint;
use cache_wire::transport::{Connector, Link, QuicConnection, Stream};
use cache_wire::{Response, native, resp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

use crate::memcache;
use crate::target::Protocol;

/// How long a UDP round waits for its replies before counting the missing ones as lost.
const UDP_WAIT: Duration = Duration::from_secs(1);

/// The command a case runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Op {
    Get,
    Set,
}

impl Op {
    /// How the table and the JSON name it.
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "GET",
            Op::Set => "SET",
        }
    }
}

#[derive(Debug)]
enum Transport {
    Stream { stream: Stream, input: BytesMut },
    Quic(QuicConnection),
    Udp { socket: UdpSocket, buf: Vec<u8> },
}

/// One connection.
#[derive(Debug)]
pub struct Client {
    transport: Transport,
    protocol: Protocol,
    next_id: u64,
    output: BytesMut,
}

/// What came back from a round.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    /// Error replies, and over UDP requests whose reply never came.
    pub errors: usize,
    /// `GET`s that found nothing.
    pub misses: usize,
}

/// A reply, as far as the counts go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Done,
    Miss,
    Error,
}

impl Outcome {
    fn count(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Done => {}
            Verdict::Miss => self.misses += 1,
            Verdict::Error => self.errors += 1,
        }
    }
}

impl Client {
    pub async fn connect(
        endpoint: &Endpoint,
        connector: &Connector,
        protocol: Protocol,
    ) -> anyhow::Result<Client> {
        let transport = match connector.open(endpoint).await? {
            Link::Stream(stream) => Transport::Stream {
                stream,
                input: BytesMut::with_capacity(64 * 1024),
            },
            Link::Quic(quic) => Transport::Quic(quic),
            Link::Udp(socket) => {
                anyhow::ensure!(
                    protocol == Protocol::Native,
                    "udp:// carries the native protocol only"
                );
                let buf = vec![0; datagram::MAX_DATAGRAM];
                Transport::Udp { socket, buf }
            }
        };
        Ok(Client {
            transport,
            protocol,
            next_id: 1,
            output: BytesMut::with_capacity(64 * 1024),
        })
    }

    /// Sends one `op` per key together (`SET`s store `value`) and waits for every reply.
    pub async fn round(&mut self, op: Op, keys: &[&[u8]], value: &[u8]) -> anyhow::Result<Outcome> {
        let mut outcome = Outcome::default();
        let output = &mut self.output;
        output.clear();
        match &mut self.transport {
            Transport::Stream { stream, input } => {
                for key in keys {
                    self.next_id = encode(self.protocol, self.next_id, op, key, value, output);
                }
                stream.write_all(output).await?;
                let mut answered = 0;
                loop {
                    while answered < keys.len() {
                        let Some(verdict) = decode(self.protocol, input)? else {
                            break;
                        };
                        outcome.count(verdict);
                        answered += 1;
                    }
                    if answered == keys.len() {
                        break;
                    }
                    if stream.read_buf(input).await? == 0 {
                        anyhow::bail!("the server closed the connection");
                    }
                }
            }
            Transport::Quic(quic) => {
                for key in keys {
                    self.next_id = encode(self.protocol, self.next_id, op, key, value, output);
                }
                let mut batch = quic.open_batch().await?;
                batch.write_all(output).await?;
                let mut input = BytesMut::from(&batch.read_all(1 << 30).await?[..]);
                let mut answered = 0;
                while let Some(verdict) = decode(self.protocol, &mut input)? {
                    outcome.count(verdict);
                    answered += 1;
                }
                anyhow::ensure!(answered == keys.len(), "a QUIC reply came back short");
            }
            Transport::Udp { socket, buf } => {
                // A datagram per request, all in flight at once, as UDP clients do.
                let mut waiting = HashMap::new();
                for key in keys {
                    output.clear();
                    self.next_id = encode(Protocol::Native, self.next_id, op, key, value, output);
                    // Datagram ids are 16 bits; the round is far smaller than their range.
                    let id = (self.next_id - 1) as u16;
                    let request = datagram::request(id, output)
                        .ok_or_else(|| anyhow::anyhow!("request larger than one datagram"))?;
                    socket.send(&request).await?;
                    waiting.insert(id, None::<Reassembly>);
                }
                let deadline = tokio::time::Instant::now() + UDP_WAIT;
                while !waiting.is_empty() {
                    let Ok(received) = tokio::time::timeout_at(deadline, socket.recv(buf)).await
                    else {
                        outcome.errors += waiting.len();
                        break;
                    };
                    let Ok((header, body)) = Header::parse(&buf[..received?]) else {
                        continue;
                    };
                    let Some(slot) = waiting.get_mut(&header.id) else {
                        continue;
                    };
                    let assembly = slot.get_or_insert_with(|| Reassembly::new(header.count));
                    if let Some(mut whole) = assembly.add(header, body) {
                        waiting.remove(&header.id);
                        while let Some(reply) =
                            native::decode_reply(&mut whole, &native::Limits::default())?
                        {
                            outcome.count(verdict(&reply.response));
                        }
                    }
                }
            }
        }
        Ok(outcome)
    }

    /// Closes a QUIC connection so the server forgets it at once.
    pub async fn close(self) {
        if let Transport::Quic(quic) = &self.transport {
            quic.shutdown().await;
        }
    }
}

/// Appends one request to `output`; returns the next native id.
fn encode(
    protocol: Protocol,
    id: u64,
    op: Op,
    key: &[u8],
    value: &[u8],
    output: &mut BytesMut,
) -> u64 {
    match (protocol, op) {
        (Protocol::Resp, Op::Get) => resp::encode_request(&[&b"GET"[..], key], output),
        (Protocol::Resp, Op::Set) => resp::encode_request(&[&b"SET"[..], key, value], output),
        (Protocol::Native, Op::Get) => {
            native::encode_request(id, &[&b"GET"[..], key], output);
            return id + 1;
        }
        (Protocol::Native, Op::Set) => {
            native::encode_request(id, &[&b"SET"[..], key, value], output);
            return id + 1;
        }
        (Protocol::Memcache, Op::Get) => memcache::encode_get(key, output),
        (Protocol::Memcache, Op::Set) => memcache::encode_set(key, value, output),
    }
    id
}

fn decode(protocol: Protocol, input: &mut BytesMut) -> anyhow::Result<Option<Verdict>> {
    Ok(match protocol {
        Protocol::Resp => resp::decode_reply(input, &resp::Limits::default())?.map(|r| verdict(&r)),
        Protocol::Native => {
            native::decode_reply(input, &native::Limits::default())?.map(|r| verdict(&r.response))
        }
        Protocol::Memcache => memcache::parse_reply(input)?.map(|(reply, used)| {
            input.advance(used);
            match reply {
                memcache::Reply::Hit | memcache::Reply::Stored => Verdict::Done,
                memcache::Reply::Miss => Verdict::Miss,
                memcache::Reply::Error => Verdict::Error,
            }
        }),
    })
}

fn verdict(reply: &Response) -> Verdict {
    match reply {
        Response::Error(_) => Verdict::Error,
        Response::Nil => Verdict::Miss,
        _ => Verdict::Done,
    }
}
