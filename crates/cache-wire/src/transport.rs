//! Sockets for the endpoint syntax: listening on and connecting to `tcp://` and `unix://`
//! endpoints, with one stream type for both.
//!
//! This is the one module of the crate that does I/O, behind the default `transport` feature;
//! the codecs never see a socket. Servers (node, proxy) bind [`Listener`]s and accept
//! [`Stream`]s; clients [`connect`]. TCP streams have `TCP_NODELAY` set, because replies and
//! pipelined requests are written whole and Nagle would only hold them back.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::endpoint::Endpoint;

/// A connected socket of either kind.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
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
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl Stream {
    /// Detaches the socket from the runtime that accepted it, to move it to another thread's
    /// runtime (a server accepting on one thread and serving on several).
    pub fn detach(self) -> io::Result<Detached> {
        Ok(match self {
            Stream::Tcp(s) => Detached::Tcp(s.into_std()?),
            Stream::Unix(s) => Detached::Unix(s.into_std()?),
        })
    }
}

/// A socket moved between runtimes; [`Detached::attach`] it on the thread that serves it.
#[derive(Debug)]
pub enum Detached {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl Detached {
    /// Registers the socket with the current thread's runtime.
    pub fn attach(self) -> io::Result<Stream> {
        Ok(match self {
            Detached::Tcp(s) => Stream::Tcp(TcpStream::from_std(s)?),
            Detached::Unix(s) => Stream::Unix(UnixStream::from_std(s)?),
        })
    }
}

/// Connects to `endpoint`.
pub async fn connect(endpoint: &Endpoint) -> io::Result<Stream> {
    match endpoint {
        Endpoint::Tcp(addr) => {
            let stream = TcpStream::connect(addr.as_str()).await?;
            stream.set_nodelay(true)?;
            Ok(Stream::Tcp(stream))
        }
        Endpoint::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
    }
}

#[derive(Debug)]
enum Socket {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// A bound listener. A Unix listener removes its socket file when dropped.
#[derive(Debug)]
pub struct Listener {
    socket: Socket,
    socket_file: Option<PathBuf>,
}

impl Listener {
    /// Binds `endpoint`. A stale Unix socket file left by an earlier process is replaced; any
    /// other file at that path is an error rather than something to delete.
    pub async fn bind(endpoint: &Endpoint) -> io::Result<Listener> {
        let context =
            |e: io::Error| io::Error::new(e.kind(), format!("cannot listen on {endpoint}: {e}"));
        match endpoint {
            Endpoint::Tcp(addr) => Ok(Listener {
                socket: Socket::Tcp(TcpListener::bind(addr.as_str()).await.map_err(context)?),
                socket_file: None,
            }),
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
                })
            }
        }
    }

    /// The endpoint actually bound (port 0 resolved), e.g. `tcp://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        match &self.socket {
            Socket::Tcp(_) => format!("tcp://{}", self.local()),
            Socket::Unix(_) => format!("unix://{}", self.local()),
        }
    }

    /// The local address as `CLIENT LIST` shows it: `host:port`, or the socket path.
    pub fn local(&self) -> String {
        match (&self.socket, &self.socket_file) {
            (Socket::Tcp(l), _) => l.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            (Socket::Unix(_), Some(path)) => path.display().to_string(),
            (Socket::Unix(_), None) => String::new(),
        }
    }

    /// The next connection and its peer's address (`host:port`, or `<path>:0` for a Unix
    /// socket, as Redis shows it).
    pub async fn accept(&self) -> io::Result<(Stream, String)> {
        match &self.socket {
            Socket::Tcp(l) => {
                let (stream, peer) = l.accept().await?;
                // Fails only if the peer is already gone; the first read will say so.
                let _ = stream.set_nodelay(true);
                Ok((Stream::Tcp(stream), peer.to_string()))
            }
            Socket::Unix(l) => {
                let (stream, _) = l.accept().await?;
                Ok((Stream::Unix(stream), format!("{}:0", self.local())))
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(path) = &self.socket_file {
            let _ = std::fs::remove_file(path);
        }
    }
}
