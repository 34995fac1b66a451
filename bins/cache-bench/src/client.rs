//! A bare client per transport and protocol: it sends a round of requests and waits for all
//! their replies, with nothing between the caller and the socket but the codecs, so a
//! comparison of transports measures the transports.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cache_wire::datagram::{self, Header, Reassembly};
use cache_wire::endpoint::Endpoint;
use cache_wire::transport::{Connector, Link, QuicConnection, Stream};
use cache_wire::{Response, native, resp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

/// How long a UDP round waits for its replies before counting the missing ones as lost.
const UDP_WAIT: Duration = Duration::from_secs(1);

/// The wire protocol requests go out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Resp,
    Native,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Resp => "RESP",
            Protocol::Native => "native",
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
    /// `GET`s answered with nil.
    pub misses: usize,
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

    /// Sends `requests` together and waits for every reply.
    pub async fn round(&mut self, requests: &[Vec<Bytes>]) -> anyhow::Result<Outcome> {
        let mut outcome = Outcome::default();
        let output = &mut self.output;
        output.clear();
        match &mut self.transport {
            Transport::Stream { stream, input } => {
                self.next_id = encode(self.protocol, self.next_id, requests, output);
                stream.write_all(output).await?;
                let mut answered = 0;
                while answered < requests.len() {
                    while let Some(reply) = decode(self.protocol, input)? {
                        tally(&reply, &mut outcome);
                        answered += 1;
                    }
                    if answered < requests.len() && stream.read_buf(input).await? == 0 {
                        anyhow::bail!("the server closed the connection");
                    }
                }
            }
            Transport::Quic(quic) => {
                self.next_id = encode(self.protocol, self.next_id, requests, output);
                let mut batch = quic.open_batch().await?;
                batch.write_all(output).await?;
                let mut input = BytesMut::from(&batch.read_all(1 << 30).await?[..]);
                let mut answered = 0;
                while let Some(reply) = decode(self.protocol, &mut input)? {
                    tally(&reply, &mut outcome);
                    answered += 1;
                }
                anyhow::ensure!(answered == requests.len(), "a QUIC reply came back short");
            }
            Transport::Udp { socket, buf } => {
                // A datagram per request, all in flight at once, as UDP clients do.
                let mut waiting = HashMap::new();
                for args in requests {
                    output.clear();
                    native::encode_request(self.next_id, args, output);
                    let id = self.next_id as u16;
                    self.next_id += 1;
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
                            tally(&reply.response, &mut outcome);
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

/// Encodes `requests` into `output`; returns the next native id.
fn encode(protocol: Protocol, mut id: u64, requests: &[Vec<Bytes>], output: &mut BytesMut) -> u64 {
    for args in requests {
        match protocol {
            Protocol::Resp => resp::encode_request(args, output),
            Protocol::Native => {
                native::encode_request(id, args, output);
                id += 1;
            }
        }
    }
    id
}

fn decode(protocol: Protocol, input: &mut BytesMut) -> anyhow::Result<Option<Response>> {
    Ok(match protocol {
        Protocol::Resp => resp::decode_reply(input, &resp::Limits::default())?,
        Protocol::Native => {
            native::decode_reply(input, &native::Limits::default())?.map(|r| r.response)
        }
    })
}

fn tally(reply: &Response, outcome: &mut Outcome) {
    match reply {
        Response::Error(_) => outcome.errors += 1,
        Response::Nil => outcome.misses += 1,
        _ => {}
    }
}
