//! UDP sockets for `udp://` endpoints; the framing is in [`crate::datagram`].

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use tokio::net::UdpSocket;

use crate::datagram::{self, Header, Reassembly};
use crate::endpoint::Endpoint;

/// Binds a server socket on a `udp://` endpoint.
pub async fn bind(endpoint: &Endpoint) -> io::Result<UdpSocket> {
    let context =
        |e: io::Error| io::Error::new(e.kind(), format!("cannot listen on {endpoint}: {e}"));
    let Endpoint::Udp(addr) = endpoint else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{endpoint} is not a udp:// endpoint"),
        ));
    };
    UdpSocket::bind(addr.as_str()).await.map_err(context)
}

/// The endpoint a server socket is bound to, e.g. `udp://127.0.0.1:7002`.
pub fn endpoint(socket: &UdpSocket) -> String {
    let local = socket.local_addr().map(|a| a.to_string());
    format!("udp://{}", local.unwrap_or_default())
}

/// A server's next datagram and its sender. Errors a UDP socket reports about earlier sends
/// (ICMP port unreachable from a client that went away) say nothing about this socket and are
/// skipped.
pub async fn receive(socket: &UdpSocket, buf: &mut [u8]) -> (usize, std::net::SocketAddr) {
    loop {
        match socket.recv_from(buf).await {
            Ok(received) => return received,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
                ) => {}
            // Anything else may repeat at once: do not spin on it.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// A client socket on an ephemeral port, connected to `host_port` so it hears only from it.
pub async fn connect(host_port: &str) -> io::Result<UdpSocket> {
    let addr = super::quic::resolve(host_port).await?;
    let local = if addr.is_ipv6() {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(addr).await?;
    Ok(socket)
}

/// Sends one request datagram on a connected socket and waits for its whole reply, sending
/// again after each `wait` without one, `retries` times. Each send takes the next datagram id
/// from `next_id`, and only the reply to the latest send is taken, so parts of a late reply to
/// an earlier send never mix in. For one request at a time; a pipelining client keeps its own
/// table of requests in flight.
pub async fn exchange(
    socket: &UdpSocket,
    next_id: &mut u16,
    payload: &[u8],
    wait: Duration,
    retries: u32,
) -> io::Result<BytesMut> {
    let mut request = datagram::request(0, payload).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "request too large for one UDP datagram ({} bytes, at most {}): use a stream \
                 transport (tcp://, tls://, quic:// or unix://)",
                payload.len(),
                datagram::MAX_PAYLOAD
            ),
        )
    })?;
    let mut buf = vec![0u8; datagram::MAX_DATAGRAM];
    for _ in 0..=retries {
        *next_id = next_id.wrapping_add(1);
        let id = *next_id;
        request[..2].copy_from_slice(&id.to_be_bytes());
        socket.send(&request).await?;
        let mut assembly: Option<Reassembly> = None;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let received = match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                Ok(received) => received?,
                Err(_) => break,
            };
            let Ok((header, body)) = Header::parse(&buf[..received]) else {
                continue;
            };
            if header.id != id {
                continue;
            }
            let assembly = assembly.get_or_insert_with(|| Reassembly::new(header.count));
            if let Some(whole) = assembly.add(header, body) {
                return Ok(whole);
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "no reply over UDP after {} attempt(s) of {} ms",
            retries + 1,
            wait.as_millis()
        ),
    ))
}
