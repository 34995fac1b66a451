//! What can go wrong talking to the cache.

use cache_wire::endpoint::EndpointError;
use cache_wire::resp::ReplyError;

/// A client error. A miss is never an error: it is `Ok(None)`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Connecting or reading/writing the socket failed.
    #[error("{endpoint}: {source}")]
    Io {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    /// No reply within the timeout. The command may or may not have run.
    #[error("{0}: timed out")]
    Timeout(String),
    /// The connection broke with the request in flight. The command may or may not have run.
    #[error("{0}: connection lost")]
    Disconnected(String),
    /// More requests in flight on one connection than it queues.
    #[error("{0}: too many requests in flight")]
    Overloaded(String),
    /// The server's replies could not be framed.
    #[error("{endpoint}: malformed reply: {source}")]
    Protocol {
        endpoint: String,
        #[source]
        source: ReplyError,
    },
    /// The server answered with an error reply (`ERR ...`, `NOAUTH ...`).
    #[error("server error: {0}")]
    Server(String),
    /// A reply of a shape the command does not produce.
    #[error("unexpected reply: {0}")]
    UnexpectedReply(String),
    /// A stored value is not valid CBOR for the requested type.
    #[error("cannot decode stored value: {0}")]
    Decode(String),
    /// A value could not be encoded as CBOR.
    #[error("cannot encode value: {0}")]
    Encode(String),
    /// An endpoint string that does not parse.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// A cluster with no node that can take the key.
    #[error("no cache node is available")]
    NoNode,
    /// A cluster definition the ring refuses.
    #[error(transparent)]
    Ring(#[from] cache_ring::Error),
}

impl Error {
    /// True if the error says the node could not be reached or did not answer in time, as
    /// opposed to an answer the node gave.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Error::Io { .. } | Error::Timeout(_) | Error::Disconnected(_) | Error::Overloaded(_)
        )
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;
