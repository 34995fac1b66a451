//! One connection to a server, speaking RESP or the native protocol, one request at a time.

use bytes::BytesMut;
use cache_wire::Response;
use cache_wire::endpoint::Endpoint;
use cache_wire::transport::{Connector, Stream};
use cache_wire::{native, resp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Which protocol requests go out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Resp,
    Native,
}

/// A connected session.
#[derive(Debug)]
pub struct Session {
    stream: Stream,
    protocol: Protocol,
    input: BytesMut,
    next_id: u64,
}

impl Session {
    pub async fn connect(
        endpoint: &Endpoint,
        connector: &Connector,
        protocol: Protocol,
    ) -> anyhow::Result<Session> {
        let stream = connector
            .connect(endpoint)
            .await
            .map_err(|e| anyhow::anyhow!("could not connect to {endpoint}: {e}"))?;
        Ok(Session {
            stream,
            protocol,
            input: BytesMut::with_capacity(16 * 1024),
            next_id: 1,
        })
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
        self.stream.write_all(&out).await?;
        loop {
            match self.protocol {
                Protocol::Resp => {
                    if let Some(reply) =
                        resp::decode_reply(&mut self.input, &resp::Limits::default())?
                    {
                        return Ok(reply);
                    }
                }
                Protocol::Native => {
                    if let Some(reply) =
                        native::decode_reply(&mut self.input, &native::Limits::default())?
                    {
                        // One request at a time: a reply to another id is a broken server.
                        anyhow::ensure!(
                            reply.id == id || reply.id == 0,
                            "reply to request {} while waiting for {id}",
                            reply.id
                        );
                        return Ok(reply.response);
                    }
                }
            }
            if self.stream.read_buf(&mut self.input).await? == 0 {
                anyhow::bail!("the server closed the connection");
            }
        }
    }
}
