//! A blocking RESP connection with timeouts: one request, one reply. The soak's clients are
//! plain threads, so a hang shows up as a client timeout instead of a stuck task.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::BytesMut;
use cache_wire::Response;
use cache_wire::resp::{Limits, decode_reply, encode_request};

use super::checks::ErrorKind;

#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    input: BytesMut,
    output: BytesMut,
    limits: Limits,
}

impl Connection {
    /// Connects to `127.0.0.1:port`; every read and write gives up after `timeout`.
    pub fn open(port: u16, timeout: Duration) -> Result<Connection, ErrorKind> {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let stream =
            TcpStream::connect_timeout(&address, timeout).map_err(|e| ErrorKind::of_io(&e))?;
        let setup = stream
            .set_read_timeout(Some(timeout))
            .and_then(|()| stream.set_write_timeout(Some(timeout)))
            .and_then(|()| stream.set_nodelay(true));
        setup.map_err(|e| ErrorKind::of_io(&e))?;
        Ok(Connection {
            stream,
            input: BytesMut::with_capacity(64 * 1024),
            output: BytesMut::with_capacity(64 * 1024),
            limits: Limits::default(),
        })
    }

    /// Sends one request and reads its reply. After an error the connection is out of step
    /// and must be dropped.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Response, ErrorKind> {
        self.output.clear();
        encode_request(args, &mut self.output);
        self.stream
            .write_all(&self.output)
            .map_err(|e| ErrorKind::of_io(&e))?;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(reply) =
                decode_reply(&mut self.input, &self.limits).map_err(|_| ErrorKind::Protocol)?
            {
                return Ok(reply);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ErrorKind::Closed),
                Ok(n) => self.input.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ErrorKind::of_io(&e)),
            }
        }
    }
}

/// The text of a bulk or verbatim reply.
pub fn text(reply: &Response) -> Option<String> {
    match reply {
        Response::Bulk(b) | Response::Verbatim(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Response::Status(s) => Some(s.to_string()),
        _ => None,
    }
}
