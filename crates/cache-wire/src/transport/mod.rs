//! Sockets for the endpoint syntax: listening on and connecting to `tcp://`, `tls://`,
//! `unix://`, `quic://` and `udp://` endpoints.
//!
//! The three byte-stream transports share one [`Stream`] type. A QUIC connection is a
//! [`QuicConnection`] of many streams, one per batch ([`quic`]); UDP is a plain socket carrying
//! [`crate::datagram`]s ([`udp`]).
//!
//! This is the one module of the crate that does I/O, behind the default `transport` feature;
//! the codecs never see a socket. Servers (node, proxy) bind [`Listener`]s and accept
//! [`Incoming`] connections, which they [`Incoming::establish`] (the TLS handshake, if any) on the
//! task that serves them, so a slow handshake never holds up the accept loop. Clients connect
//! with a [`Connector`]. TCP streams have `TCP_NODELAY` set, because replies and pipelined
//! requests are written whole and Nagle would only hold them back.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::endpoint::Endpoint;

pub mod quic;
pub mod tls;
pub mod udp;

pub use quic::{QuicBatch, QuicConnection};
pub use tls::{ClientTls, ClientTlsSettings, ServerTls, ServerTlsSettings};

/// Longest a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected socket of any kind.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// An accepted connection whose handshake (TLS or QUIC), if any, has not run yet.
pub struct Incoming {
    pending: Pending,
}

enum Pending {
    Stream {
        stream: Stream,
        tls: Option<tokio_rustls::TlsAcceptor>,
    },
    Quic(Box<quinn::Incoming>),
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.pending {
            Pending::Stream { stream, tls } => f
                .debug_struct("Incoming")
                .field("stream", stream)
                .field("tls", &tls.is_some())
                .finish(),
            Pending::Quic(incoming) => f
                .debug_struct("Incoming")
                .field("quic", &incoming.remote_address())
                .finish(),
        }
    }
}

impl std::fmt::Debug for Detached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Detached")
    }
}

/// A connection ready to serve: a byte stream, or a QUIC connection of many streams.
#[derive(Debug)]
pub enum Established {
    Stream(Stream),
    Quic(QuicConnection),
}

impl Incoming {
    /// Whether the peer is on this machine: a Unix socket, or a loopback address. Protected
    /// mode serves only these when no password is set.
    pub fn is_local(&self) -> bool {
        match &self.pending {
            Pending::Stream {
                stream: Stream::Unix(_),
                ..
            } => true,
            Pending::Stream {
                stream: Stream::Tcp(s),
                ..
            } => s
                .peer_addr()
                .is_ok_and(|addr| crate::limits::is_loopback(&addr)),
            Pending::Stream { .. } => false,
            Pending::Quic(incoming) => crate::limits::is_loopback(&incoming.remote_address()),
        }
    }

    /// Completes the connection: the TLS or QUIC handshake, bounded by [`HANDSHAKE_TIMEOUT`].
    pub async fn establish(self) -> io::Result<Established> {
        let (stream, acceptor) = match self.pending {
            Pending::Quic(incoming) => {
                return Ok(Established::Quic(quic::accept(*incoming).await?));
            }
            Pending::Stream {
                stream,
                tls: Some(acceptor),
            } => (stream, acceptor),
            Pending::Stream { stream, tls: None } => return Ok(Established::Stream(stream)),
        };
        let Stream::Tcp(tcp) = stream else {
            return Ok(Established::Stream(stream));
        };
        let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        Ok(Established::Stream(Stream::Tls(Box::new(handshake.into()))))
    }

    /// Detaches the socket from the runtime that accepted it, to move it to another thread's
    /// runtime (a server accepting on one thread and serving on several). A QUIC connection
    /// is driven by the runtime that establishes it; its packets still pass through the
    /// listener's endpoint, on the runtime that bound it.
    pub fn detach(self) -> io::Result<Detached> {
        let (stream, tls) = match self.pending {
            Pending::Quic(incoming) => {
                return Ok(Detached {
                    socket: DetachedSocket::Quic(incoming),
                    tls: None,
                });
            }
            Pending::Stream { stream, tls } => (stream, tls),
        };
        let socket = match stream {
            Stream::Tcp(s) => DetachedSocket::Tcp(s.into_std()?),
            Stream::Unix(s) => DetachedSocket::Unix(s.into_std()?),
            Stream::Tls(_) => {
                return Err(io::Error::other(
                    "a TLS stream cannot move between runtimes",
                ));
            }
        };
        Ok(Detached { socket, tls })
    }
}

/// A connection moved between runtimes; [`Detached::attach`] it on the thread that serves it.
pub struct Detached {
    socket: DetachedSocket,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

enum DetachedSocket {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
    Quic(Box<quinn::Incoming>),
}

impl Detached {
    /// Registers the socket with the current thread's runtime; establish it next.
    pub fn attach(self) -> io::Result<Incoming> {
        let stream = match self.socket {
            DetachedSocket::Tcp(s) => Stream::Tcp(TcpStream::from_std(s)?),
            DetachedSocket::Unix(s) => Stream::Unix(UnixStream::from_std(s)?),
            DetachedSocket::Quic(incoming) => {
                return Ok(Incoming {
                    pending: Pending::Quic(incoming),
                });
            }
        };
        Ok(Incoming {
            pending: Pending::Stream {
                stream,
                tls: self.tls,
            },
        })
    }
}

/// What [`Connector::open`] opens: a byte stream, a QUIC connection or a UDP socket.
#[derive(Debug)]
pub enum Link {
    Stream(Stream),
    Quic(QuicConnection),
    /// A UDP socket connected to the server (it only hears from that address).
    Udp(tokio::net::UdpSocket),
}

/// Opens connections to endpoints, with the TLS settings `tls://` and `quic://` endpoints need.
#[derive(Debug, Clone, Default)]
pub struct Connector {
    /// Trust and identity for `tls://` and `quic://` endpoints; `None` refuses them with an error saying so.
    pub tls: Option<ClientTls>,
}

impl Connector {
    /// A connector with the TLS settings given (if any).
    pub fn from_settings(settings: &ClientTlsSettings) -> io::Result<Connector> {
        Ok(Connector {
            tls: settings.load()?,
        })
    }

    /// A connector for `tcp://` and `unix://` only.
    pub fn plain() -> Connector {
        Connector::default()
    }

    /// A connector that also reaches `tls://` endpoints with `tls`.
    pub fn with_tls(tls: ClientTls) -> Connector {
        Connector { tls: Some(tls) }
    }

    /// Connects to `endpoint`, whatever its transport.
    pub async fn open(&self, endpoint: &Endpoint) -> io::Result<Link> {
        match endpoint {
            Endpoint::Quic(addr) => Ok(Link::Quic(
                quic::connect(addr, self.trust(endpoint)?).await?,
            )),
            Endpoint::Udp(addr) => Ok(Link::Udp(udp::connect(addr).await?)),
            _ => Ok(Link::Stream(self.connect(endpoint).await?)),
        }
    }

    /// Connects to a byte-stream endpoint (`tcp://`, `tls://`, `unix://`); see
    /// [`Connector::open`] for the others.
    pub async fn connect(&self, endpoint: &Endpoint) -> io::Result<Stream> {
        match endpoint {
            Endpoint::Tcp(addr) => Ok(Stream::Tcp(tcp(addr).await?)),
            Endpoint::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
            Endpoint::Tls(addr) => {
                let tls = self.trust(endpoint)?;
                let name = tls::server_name(addr)?;
                let stream = tcp(addr).await?;
                let stream = tls.connector().connect(name, stream).await?;
                Ok(Stream::Tls(Box::new(stream.into())))
            }
            Endpoint::Quic(_) | Endpoint::Udp(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{endpoint} is not a byte stream"),
            )),
        }
    }

    fn trust(&self, endpoint: &Endpoint) -> io::Result<&ClientTls> {
        self.tls.as_ref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{endpoint} needs a CA to trust: give --tls-ca FILE (the server's \
                     certificate or the CA that signed it)"
                ),
            )
        })
    }
}

async fn tcp(addr: &str) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// How long a server keeps reading (and discarding) from a client it is closing on.
pub const LINGER: Duration = Duration::from_secs(1);

/// Closes a connection the server chose to end (a protocol error, a limit): sends FIN, then
/// reads and discards what the client is still sending, for at most [`LINGER`]. Closing with
/// unread input would send a reset, and the reset can destroy the error reply the client has
/// not read yet.
pub async fn linger_close<R, W>(reader: &mut R, writer: &mut W)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if writer.shutdown().await.is_err() {
        return;
    }
    let mut scratch = vec![0u8; 64 * 1024];
    let _ = tokio::time::timeout(LINGER, async {
        while matches!(reader.read(&mut scratch).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// Connects to a `tcp://` or `unix://` endpoint (see [`Connector`] for `tls://`).
pub async fn connect(endpoint: &Endpoint) -> io::Result<Stream> {
    Connector::plain().connect(endpoint).await
}

#[derive(Debug)]
enum Socket {
    Tcp(TcpListener),
    Unix(UnixListener),
    Quic(quinn::Endpoint),
}

/// Everything a server listens on: a [`Listener`] for each stream endpoint (`tcp://`,
/// `tls://`, `unix://`, `quic://`) and a socket for each `udp://` endpoint.
#[derive(Debug, Default)]
pub struct Bound {
    pub listeners: Vec<Listener>,
    pub datagrams: Vec<tokio::net::UdpSocket>,
}

impl Bound {
    /// Binds every endpoint; `tls://` and `quic://` need `tls`.
    pub async fn bind(endpoints: &[Endpoint], tls: Option<&ServerTls>) -> io::Result<Bound> {
        let mut bound = Bound::default();
        for endpoint in endpoints {
            match endpoint {
                Endpoint::Udp(_) => bound.datagrams.push(udp::bind(endpoint).await?),
                _ => bound.listeners.push(Listener::bind(endpoint, tls).await?),
            }
        }
        Ok(bound)
    }

    /// The endpoints actually bound (port 0 resolved), e.g. `tcp://127.0.0.1:40123`.
    pub fn endpoints(&self) -> Vec<String> {
        let udp = self.datagrams.iter().map(udp::endpoint);
        self.listeners
            .iter()
            .map(Listener::endpoint)
            .chain(udp)
            .collect()
    }
}

/// A bound listener. A Unix listener removes its socket file when dropped.
pub struct Listener {
    socket: Socket,
    socket_file: Option<PathBuf>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.endpoint())
    }
}

impl Listener {
    /// Binds `endpoint`; `tls://` and `quic://` endpoints need `tls`, and `udp://` is bound
    /// with [`udp::bind`] instead. A stale Unix socket file left by an
    /// earlier process is replaced; any other file at that path is an error rather than
    /// something to delete.
    pub async fn bind(endpoint: &Endpoint, tls: Option<&ServerTls>) -> io::Result<Listener> {
        let context =
            |e: io::Error| io::Error::new(e.kind(), format!("cannot listen on {endpoint}: {e}"));
        match endpoint {
            Endpoint::Tcp(addr) => Ok(Listener {
                socket: Socket::Tcp(TcpListener::bind(addr.as_str()).await.map_err(context)?),
                socket_file: None,
                tls: None,
            }),
            Endpoint::Tls(_) | Endpoint::Quic(_) if tls.is_none() => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot listen on {endpoint}: give --tls-cert FILE and --tls-key FILE \
                     (or --tls-self-signed DIR for development)"
                ),
            )),
            Endpoint::Quic(addr) => {
                let tls = tls.ok_or_else(|| io::Error::other("no TLS settings"))?;
                let addr = quic::resolve(addr).await.map_err(context)?;
                Ok(Listener {
                    socket: Socket::Quic(quic::server(addr, tls).map_err(context)?),
                    socket_file: None,
                    tls: None,
                })
            }
            Endpoint::Udp(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{endpoint} is a datagram endpoint: bind it with transport::udp::bind"),
            )),
            Endpoint::Tls(addr) => {
                let tls = tls.ok_or_else(|| io::Error::other("no TLS settings"))?;
                Ok(Listener {
                    socket: Socket::Tcp(TcpListener::bind(addr.as_str()).await.map_err(context)?),
                    socket_file: None,
                    tls: Some(tls.acceptor()),
                })
            }
            Endpoint::Unix(path) => {
                use std::os::unix::fs::FileTypeExt;
                match std::fs::symlink_metadata(path) {
                    Ok(meta) if meta.file_type().is_socket() => {
                        std::fs::remove_file(path).map_err(context)?
                    }
                    Ok(_) => {
                        return Err(io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            format!(
                                "{} exists and is not a socket: refusing to replace it",
                                path.display()
                            ),
                        ));
                    }
                    Err(_) => {}
                }
                Ok(Listener {
                    socket: Socket::Unix(UnixListener::bind(path).map_err(context)?),
                    socket_file: Some(path.clone()),
                    tls: None,
                })
            }
        }
    }

    /// The endpoint actually bound (port 0 resolved), e.g. `tcp://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        match &self.socket {
            Socket::Tcp(_) if self.tls.is_some() => format!("tls://{}", self.local()),
            Socket::Tcp(_) => format!("tcp://{}", self.local()),
            Socket::Unix(_) => format!("unix://{}", self.local()),
            Socket::Quic(_) => format!("quic://{}", self.local()),
        }
    }

    /// The local address as `CLIENT LIST` shows it: `host:port`, or the socket path.
    pub fn local(&self) -> String {
        match (&self.socket, &self.socket_file) {
            (Socket::Tcp(l), _) => l.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            (Socket::Quic(e), _) => e.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            (Socket::Unix(_), Some(path)) => path.display().to_string(),
            (Socket::Unix(_), None) => String::new(),
        }
    }

    /// The next connection and its peer's address (`host:port`, or `<path>:0` for a Unix
    /// socket, as Redis shows it).
    pub async fn accept(&self) -> io::Result<(Incoming, String)> {
        let (pending, peer) = match &self.socket {
            Socket::Tcp(l) => {
                let (stream, peer) = l.accept().await?;
                // Fails only if the peer is already gone; the first read will say so.
                let _ = stream.set_nodelay(true);
                let stream = Stream::Tcp(stream);
                let tls = self.tls.clone();
                (Pending::Stream { stream, tls }, peer.to_string())
            }
            Socket::Unix(l) => {
                let (stream, _) = l.accept().await?;
                let stream = Stream::Unix(stream);
                let peer = format!("{}:0", self.local());
                (Pending::Stream { stream, tls: None }, peer)
            }
            Socket::Quic(endpoint) => {
                let incoming = endpoint
                    .accept()
                    .await
                    .ok_or_else(|| io::Error::other("the QUIC endpoint is closed"))?;
                let peer = incoming.remote_address().to_string();
                (Pending::Quic(Box::new(incoming)), peer)
            }
        };
        Ok((Incoming { pending }, peer))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Socket::Quic(endpoint) = &self.socket {
            endpoint.close(quinn::VarInt::from_u32(0), b"shutdown");
        }
        if let Some(path) = &self.socket_file {
            let _ = std::fs::remove_file(path);
        }
    }
}
