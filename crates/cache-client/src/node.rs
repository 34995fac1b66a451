//! A client for one node: a [`Connection`] that reconnects on the next call after it breaks.

use bytes::{Bytes, BytesMut};
use cache_wire::Response;
use cache_wire::endpoint::Endpoint;
use tokio::sync::Mutex;

use crate::commands::Commands;
use crate::connection::{ConnectOptions, Connection};
use crate::error::Result;

/// An async client of one node. Cheap to share behind an `Arc`; calls from many tasks are
/// pipelined on one connection.
#[derive(Debug)]
pub struct Client {
    endpoint: Endpoint,
    options: ConnectOptions,
    connection: Mutex<Option<Connection>>,
}

impl Client {
    /// A client of the node at `endpoint` (`tcp://host:port`, `unix:///path`, or `host:port`).
    /// Nothing is connected until the first call.
    pub fn new(endpoint: &str, options: ConnectOptions) -> Result<Client> {
        Ok(Client::with_endpoint(endpoint.parse()?, options))
    }

    /// As [`Client::new`] with a parsed endpoint.
    pub fn with_endpoint(endpoint: Endpoint, options: ConnectOptions) -> Client {
        Client {
            endpoint,
            options,
            connection: Mutex::new(None),
        }
    }

    /// The node's endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The live connection, connecting if there is none or the last one broke.
    pub async fn connection(&self) -> Result<Connection> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(connection.clone());
        }
        let connection = Connection::connect(&self.endpoint, &self.options).await?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// Sends any command; an error reply is returned as `Ok(Response::Error)`.
    pub async fn call<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<Response> {
        self.connection().await?.call(args).await
    }

    /// Sends a pipeline of commands and returns their replies in order.
    pub async fn pipeline(&self, commands: &[Vec<Bytes>]) -> Result<Vec<Response>> {
        let mut bytes = BytesMut::new();
        for args in commands {
            cache_wire::resp::encode_request(args, &mut bytes);
        }
        self.connection()
            .await?
            .call_encoded(bytes, commands.len())
            .await
    }
}

impl Commands for Client {
    async fn call_for_key(&self, _key: &[u8], args: Vec<Bytes>) -> Result<Response> {
        self.call(&args).await
    }
}
