//! QUIC (quinn): one QUIC connection is one client session, and every bidirectional stream
//! carries one batch of requests.
//!
//! The client opens a stream, writes its requests (RESP or native, the first byte tells),
//! and finishes its side; the server reads to the end, answers every request in order on the
//! same stream and finishes. A connection's streams are answered one after another in the
//! order they were opened, so requests on one connection run in the order they were sent, and
//! session state (`AUTH`, `HELLO`, `CLIENT SETNAME`) belongs to the connection. A client can
//! have many streams in flight, so batches pipeline; since they are answered in order, a
//! stream the server is still waiting on holds up the ones behind it, as on TCP. TLS 1.3 with
//! ALPN [`ALPN`]; 0-RTT is never accepted (a replayed write could run twice).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::tls::{self, ClientTls, ServerTls};

/// The ALPN protocol id both sides require.
pub const ALPN: &[u8] = b"cache/1";
/// A connection with no traffic for this long is closed (clients send keep-alives).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Streams a peer may have open at once.
const MAX_STREAMS: u32 = 1024;
/// Bytes a peer may send ahead of what is read, per stream and per connection.
const STREAM_WINDOW: u32 = 4 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;

fn transport_config(keep_alive: bool) -> Arc<quinn::TransportConfig> {
    let mut config = quinn::TransportConfig::default();
    config.max_concurrent_bidi_streams(quinn::VarInt::from_u32(MAX_STREAMS));
    config.max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
    config.max_idle_timeout(quinn::IdleTimeout::try_from(IDLE_TIMEOUT).ok());
    // What a peer may have in flight unread: a stream is read whole before the next, so this
    // bounds what the streams waiting behind it can make the server buffer.
    config.stream_receive_window(quinn::VarInt::from_u32(STREAM_WINDOW));
    config.receive_window(quinn::VarInt::from_u32(CONNECTION_WINDOW));
    if keep_alive {
        config.keep_alive_interval(Some(KEEP_ALIVE));
    }
    Arc::new(config)
}

fn quic_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("QUIC: {e}"))
}

/// Resolves `host:port` to its first address.
pub(crate) async fn resolve(host_port: &str) -> io::Result<SocketAddr> {
    tokio::net::lookup_host(host_port)
        .await?
        .next()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host_port} resolves to no address"),
            )
        })
}

/// A QUIC server endpoint on `addr`.
pub(crate) fn server(addr: SocketAddr, tls: &ServerTls) -> io::Result<quinn::Endpoint> {
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls.config_with_alpn(&[ALPN]))
        .map_err(quic_error)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport_config(false));
    quinn::Endpoint::server(config, addr)
}

/// Connects to the QUIC endpoint `host_port` trusting `tls`.
pub(crate) async fn connect(host_port: &str, tls: &ClientTls) -> io::Result<QuicConnection> {
    let name = tls::server_name(host_port)?;
    let addr = resolve(host_port).await?;
    let local: SocketAddr = if addr.is_ipv6() {
        "[::]:0".parse().map_err(quic_error)?
    } else {
        "0.0.0.0:0".parse().map_err(quic_error)?
    };
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls.config_with_alpn(&[ALPN]))
        .map_err(quic_error)?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport_config(true));
    let endpoint = quinn::Endpoint::client(local)?;
    let connection = endpoint
        .connect_with(config, addr, &name.to_str())
        .map_err(quic_error)?
        .await
        .map_err(quic_error)?;
    Ok(QuicConnection {
        connection,
        endpoint: Some(endpoint),
    })
}

/// Completes a server-side handshake, bounded by [`super::HANDSHAKE_TIMEOUT`].
pub(crate) async fn accept(incoming: quinn::Incoming) -> io::Result<QuicConnection> {
    let connecting = incoming.accept().map_err(quic_error)?;
    let connection = tokio::time::timeout(super::HANDSHAKE_TIMEOUT, connecting)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "QUIC handshake timed out"))?
        .map_err(quic_error)?;
    Ok(QuicConnection {
        connection,
        endpoint: None,
    })
}

/// An established QUIC connection, either side.
#[derive(Debug, Clone)]
pub struct QuicConnection {
    connection: quinn::Connection,
    /// A client's own endpoint (its UDP socket), kept as long as the connection.
    endpoint: Option<quinn::Endpoint>,
}

impl QuicConnection {
    /// The peer's address, `host:port`.
    pub fn peer(&self) -> String {
        self.connection.remote_address().to_string()
    }

    /// Server side: the next batch the client opened, or `None` once the client closed the
    /// connection.
    pub async fn accept_batch(&self) -> io::Result<Option<QuicBatch>> {
        match self.connection.accept_bi().await {
            Ok((send, recv)) => Ok(Some(QuicBatch { send, recv })),
            Err(
                quinn::ConnectionError::ApplicationClosed(_)
                | quinn::ConnectionError::LocallyClosed
                | quinn::ConnectionError::TimedOut,
            ) => Ok(None),
            Err(e) => Err(quic_error(e)),
        }
    }

    /// Client side: a stream for the next batch. Batches are answered in the order their
    /// streams were opened.
    pub async fn open_batch(&self) -> io::Result<QuicBatch> {
        let (send, recv) = self.connection.open_bi().await.map_err(quic_error)?;
        Ok(QuicBatch { send, recv })
    }

    /// True once the connection is gone (closed by either side or timed out).
    pub fn is_closed(&self) -> bool {
        self.connection.close_reason().is_some()
    }

    /// Completes when the connection is gone.
    pub async fn closed(&self) {
        self.connection.closed().await;
    }

    /// Refuses a connection (too many clients): answers `message` on the client's first stream,
    /// if it opens one within the handshake timeout, and closes.
    pub async fn refuse(&self, message: &[u8]) {
        let first = tokio::time::timeout(super::HANDSHAKE_TIMEOUT, self.accept_batch()).await;
        if let Ok(Ok(Some(mut batch))) = first
            && batch.write_all(message).await.is_ok()
        {
            batch.delivered().await;
        }
        self.close();
    }

    /// Closes the connection and, on the client side, waits (briefly) until the server has
    /// heard, so it forgets the session at once instead of at the idle timeout.
    pub async fn shutdown(&self) {
        self.close();
        if let Some(endpoint) = &self.endpoint {
            let _ = tokio::time::timeout(Duration::from_millis(250), endpoint.wait_idle()).await;
        }
    }

    /// Closes the connection; streams still open are reset.
    pub fn close(&self) {
        self.connection.close(quinn::VarInt::from_u32(0), b"bye");
    }
}

/// One stream: a batch of requests one way, their replies the other.
#[derive(Debug)]
pub struct QuicBatch {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
}

impl QuicBatch {
    /// Reads until the peer finishes its side; more than `limit` bytes is an error.
    pub async fn read_all(&mut self, limit: usize) -> io::Result<Vec<u8>> {
        self.recv.read_to_end(limit).await.map_err(|e| match e {
            quinn::ReadToEndError::TooLong => io::Error::new(
                io::ErrorKind::InvalidData,
                format!("batch larger than {limit} bytes"),
            ),
            other => quic_error(other),
        })
    }

    /// Writes `bytes` and finishes this side of the stream.
    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.send.write_all(bytes).await.map_err(quic_error)?;
        self.send.finish().map_err(quic_error)
    }

    /// Waits (up to a second) until the peer has everything written, so closing the
    /// connection next does not discard the last reply (a `QUIT`'s `OK`, a refusal).
    pub async fn delivered(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.send.stopped()).await;
    }
}
