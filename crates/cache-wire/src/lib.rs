//! The command model and the codecs of the cache: RESP and the native CBOR protocol.
//!
//! Everything here is sans-IO: the decoder takes bytes and returns frames, the encoder appends
//! bytes to a buffer, and [`parse`] turns the arguments of a frame into a validated [`Command`].
//! No function here touches a socket, a clock or a runtime, except in [`transport`] (the
//! default `transport` feature), which binds and connects the endpoints and nothing more.
//!
//! A request goes `BytesMut` → [`resp::Decoder::decode`] → `Vec<Bytes>` → [`parse()`] →
//! ([`parse::CommandId`], [`Command`]) → the executor → [`Response`] → [`resp::encode`].
//! Input from the network never panics any of these steps: a broken stream is a
//! [`ProtocolError`], a bad command an error [`Response`].
//!
//! **Architecture invariant.** cache-wire never depends on cache-store: the command model is
//! the contract between protocols and executors, and the node's executor joins the two.

pub mod codec;
pub mod command;
pub mod datagram;
pub mod endpoint;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod limits;
pub mod native;
pub mod parse;
pub mod resp;
pub mod response;
pub mod session;
#[cfg(feature = "transport")]
pub mod transport;

pub use command::Command;
pub use error::ProtocolError;
pub use parse::parse;
pub use response::Response;
