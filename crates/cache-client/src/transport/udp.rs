//! The connection task over UDP.
//!
//! Callers hand over RESP-encoded batches like on any connection; here each request is
//! re-encoded as a native frame and packed with its neighbours into datagrams of at most
//! [`datagram::MAX_DATAGRAM`] bytes. A request too large for one datagram is answered at once
//! with a `too_large` error, without being sent. Replies are put back together from their
//! datagrams and matched to requests by frame id.
//!
//! A datagram of reads only (commands flagged `readonly`) is sent again when no reply comes
//! within a quarter of the call timeout, up to three times; any other datagram is sent once,
//! since a write might run twice, and its callers get a timeout if its reply is lost. With a
//! password, every datagram starts with an `AUTH`, because each datagram is a session of its
//! own on the server.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cache_wire::Response;
use cache_wire::datagram::{self, Header, Reassembly, retry_safe};
use cache_wire::native;
use cache_wire::resp;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::connection::Batch;
use crate::error::{Error, Result};

/// The frame id of the `AUTH` in front of each datagram; request frames count from 1.
const AUTH_ID: u64 = u64::MAX;
/// Sends of a read-only datagram after the first.
const RETRIES: u32 = 3;

/// A caller's batch, waiting for the replies of all its datagrams.
struct Waiting {
    replies: Vec<Option<Response>>,
    missing: usize,
    reply: oneshot::Sender<Result<Vec<Response>>>,
}

/// One datagram sent and not yet answered.
struct Flight {
    batch: u64,
    /// Index in the batch of the datagram's first request, how many it carries, and the frame
    /// id of the first (the others follow it). Frame ids are never reused on a connection, so
    /// a late reply to another datagram can never fill this one's requests.
    first: usize,
    count: usize,
    first_frame: u64,
    datagram: BytesMut,
    retries: u32,
    deadline: Instant,
    assembly: Option<Reassembly>,
}

struct Driver {
    socket: UdpSocket,
    name: String,
    auth: Option<BytesMut>,
    attempt: Duration,
    timeout: Duration,
    waiting: HashMap<u64, Waiting>,
    flights: HashMap<u16, Flight>,
    next_batch: u64,
    next_id: u16,
    next_frame: u64,
}

/// Datagrams in flight on one connection at most; a batch past that is refused as overloaded
/// (the 16-bit datagram ids must not run out).
const MAX_FLIGHTS: usize = 8192;

pub(crate) async fn drive(
    socket: UdpSocket,
    mut receiver: mpsc::Receiver<Batch>,
    name: String,
    password: Option<String>,
    timeout: Duration,
) {
    let auth = password.map(|password| {
        let mut frame = BytesMut::new();
        native::encode_request(
            AUTH_ID,
            &[b"AUTH".as_slice(), password.as_bytes()],
            &mut frame,
        );
        frame
    });
    let mut driver = Driver {
        socket,
        name,
        auth,
        attempt: (timeout / 4).max(Duration::from_millis(20)),
        timeout,
        waiting: HashMap::new(),
        flights: HashMap::new(),
        next_batch: 0,
        next_id: 0,
        next_frame: 1,
    };
    let mut buf = vec![0u8; datagram::MAX_DATAGRAM];
    let mut open = true;
    let failure = loop {
        if !open && driver.flights.is_empty() {
            return;
        }
        let next = driver.flights.values().map(|f| f.deadline).min();
        tokio::select! {
            batch = receiver.recv(), if open => match batch {
                Some(batch) => {
                    if let Err(error) = driver.send(batch).await {
                        break error;
                    }
                }
                None => open = false,
            },
            received = driver.socket.recv(&mut buf) => match received {
                Ok(len) => driver.received(&buf[..len]),
                // A connected UDP socket hears of an unreachable port: no server is there.
                Err(error) => {
                    tracing::debug!(node = %driver.name, %error, "UDP receive failed");
                    break Error::Disconnected(driver.name.clone());
                }
            },
            _ = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                if let Err(error) = driver.expire().await {
                    break error;
                }
            }
        }
    };
    for (_, waiting) in driver.waiting.drain() {
        let _ = waiting
            .reply
            .send(Err(failure_copy(&failure, &driver.name)));
    }
}

fn failure_copy(error: &Error, name: &str) -> Error {
    match error {
        Error::Timeout(_) => Error::Timeout(name.to_owned()),
        _ => Error::Disconnected(name.to_owned()),
    }
}

impl Driver {
    /// Packs a caller's batch into datagrams and sends them.
    async fn send(&mut self, batch: Batch) -> Result<()> {
        let requests = match decode_requests(batch.bytes, batch.count) {
            Some(requests) => requests,
            None => {
                let message = "requests handed to the UDP connection are not valid RESP";
                let _ = batch
                    .reply
                    .send(Err(Error::UnexpectedReply(message.into())));
                return Ok(());
            }
        };
        let key = self.next_batch;
        self.next_batch += 1;
        let mut waiting = Waiting {
            replies: vec![None; requests.len()],
            missing: requests.len(),
            reply: batch.reply,
        };
        let overhead = self.auth.as_ref().map_or(0, BytesMut::len);
        let mut payload = BytesMut::new();
        let (mut first, mut first_frame, mut count, mut reads_only) = (0, 0, 0, true);
        let mut frame = BytesMut::new();
        let mut packed = Vec::new();
        for (i, args) in requests.iter().enumerate() {
            let frame_id = self.next_frame;
            self.next_frame += 1;
            frame.clear();
            native::encode_request(frame_id, args, &mut frame);
            if count > 0 && overhead + payload.len() + frame.len() > datagram::MAX_PAYLOAD {
                let full = std::mem::take(&mut payload);
                packed.push((first, first_frame, count, reads_only, full));
                (count, reads_only) = (0, true);
            }
            if overhead + frame.len() > datagram::MAX_PAYLOAD {
                waiting.replies[i] = Some(Response::Error(too_large(frame.len()).into()));
                waiting.missing -= 1;
                continue;
            }
            if count == 0 {
                (first, first_frame) = (i, frame_id);
            }
            payload.extend_from_slice(&frame);
            count += 1;
            reads_only &= retry_safe(args);
        }
        if count > 0 {
            packed.push((first, first_frame, count, reads_only, payload));
        }
        if self.flights.len() + packed.len() > MAX_FLIGHTS {
            let _ = waiting
                .reply
                .send(Err(Error::Overloaded(self.name.clone())));
            return Ok(());
        }
        if waiting.missing == 0 {
            let replies = waiting.replies.into_iter().flatten().collect();
            let _ = waiting.reply.send(Ok(replies));
            return Ok(());
        }
        self.waiting.insert(key, waiting);
        for (first, first_frame, count, reads_only, payload) in packed {
            let id = self.free_id();
            let mut body = BytesMut::with_capacity(overhead + payload.len());
            if let Some(auth) = &self.auth {
                body.extend_from_slice(auth);
            }
            body.extend_from_slice(&payload);
            let Some(datagram) = datagram::request(id, &body) else {
                continue;
            };
            self.transmit(&datagram).await?;
            let (retries, wait) = if reads_only {
                (RETRIES, self.attempt)
            } else {
                (0, self.timeout)
            };
            self.flights.insert(
                id,
                Flight {
                    batch: key,
                    first,
                    count,
                    first_frame,
                    datagram,
                    retries,
                    deadline: Instant::now() + wait,
                    assembly: None,
                },
            );
        }
        Ok(())
    }

    /// A datagram id not in flight (there are at most [`MAX_FLIGHTS`], so one is free).
    fn free_id(&mut self) -> u16 {
        loop {
            self.next_id = self.next_id.wrapping_add(1);
            if !self.flights.contains_key(&self.next_id) {
                return self.next_id;
            }
        }
    }

    async fn transmit(&self, datagram: &[u8]) -> Result<()> {
        self.socket
            .send(datagram)
            .await
            .map(drop)
            .map_err(|source| Error::Io {
                endpoint: self.name.clone(),
                source,
            })
    }

    /// Takes in one reply datagram.
    fn received(&mut self, bytes: &[u8]) {
        let Ok((header, body)) = Header::parse(bytes) else {
            return;
        };
        let Some(flight) = self.flights.get_mut(&header.id) else {
            // A late answer to a datagram already answered or given up on.
            return;
        };
        let assembly = flight
            .assembly
            .get_or_insert_with(|| Reassembly::new(header.count));
        let Some(mut whole) = assembly.add(header, body) else {
            return;
        };
        let mut replies: Vec<Option<Response>> = vec![None; flight.count];
        let limits = native::Limits::default();
        loop {
            match native::decode_reply(&mut whole, &limits) {
                Ok(Some(reply)) if reply.id == 0 => {
                    // An answer to the whole datagram (it was refused as a whole).
                    for slot in replies.iter_mut().filter(|r| r.is_none()) {
                        *slot = Some(reply.response.clone());
                    }
                }
                Ok(Some(reply)) => {
                    let index = reply.id.wrapping_sub(flight.first_frame);
                    if let Some(slot) = usize::try_from(index).ok().and_then(|i| replies.get_mut(i))
                    {
                        *slot = Some(reply.response);
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::debug!(node = %self.name, %error, "malformed UDP reply");
                    break;
                }
            }
        }
        if replies.iter().any(Option::is_none) {
            // Not this datagram's reply (parts of a stale one mixed in): wait for the real one.
            flight.assembly = None;
            return;
        }
        let Some(flight) = self.flights.remove(&header.id) else {
            return;
        };
        let Some(waiting) = self.waiting.get_mut(&flight.batch) else {
            return;
        };
        for (offset, reply) in replies.into_iter().flatten().enumerate() {
            if let Some(slot) = waiting.replies.get_mut(flight.first + offset) {
                if slot.is_none() {
                    waiting.missing -= 1;
                }
                *slot = Some(reply);
            }
        }
        if waiting.missing == 0
            && let Some(done) = self.waiting.remove(&flight.batch)
        {
            let replies = done.replies.into_iter().flatten().collect();
            let _ = done.reply.send(Ok(replies));
        }
    }

    /// Sends read-only datagrams again, and gives up on the others, once their time is up.
    async fn expire(&mut self) -> Result<()> {
        let now = Instant::now();
        let due: Vec<u16> = self
            .flights
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            let Some(mut flight) = self.flights.remove(&id) else {
                continue;
            };
            if flight.retries > 0 {
                // Sent again under a new datagram id, so parts of a late reply to the first
                // send cannot mix with the reply to this one.
                flight.retries -= 1;
                flight.deadline = now + self.attempt;
                flight.assembly = None;
                let fresh = self.free_id();
                flight.datagram[..2].copy_from_slice(&fresh.to_be_bytes());
                self.transmit(&flight.datagram).await?;
                self.flights.insert(fresh, flight);
                continue;
            }
            let batch = flight.batch;
            // The batch fails as a whole; its other datagrams' replies are then dropped.
            self.flights.retain(|_, f| f.batch != batch);
            if let Some(waiting) = self.waiting.remove(&batch) {
                let _ = waiting.reply.send(Err(Error::Timeout(self.name.clone())));
            }
        }
        Ok(())
    }
}

fn too_large(frame_len: usize) -> String {
    format!(
        "ERR request too large for one UDP datagram ({frame_len} bytes, at most {}): use a \
         stream transport (tcp://, tls://, quic:// or unix://)",
        datagram::MAX_PAYLOAD
    )
}

/// The `count` requests RESP-encoded in `bytes`.
fn decode_requests(mut bytes: BytesMut, count: usize) -> Option<Vec<Vec<Bytes>>> {
    let mut decoder = resp::Decoder::new(resp::Limits {
        max_bulk_len: usize::MAX / 2,
        ..resp::Limits::default()
    });
    let mut requests = Vec::with_capacity(count);
    while let Ok(Some(args)) = decoder.decode(&mut bytes) {
        requests.push(args);
    }
    (requests.len() == count && bytes.is_empty()).then_some(requests)
}
