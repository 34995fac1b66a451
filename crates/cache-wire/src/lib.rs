//! The command model and the RESP codec of the cache.
//!
//! Everything here is sans-IO: the decoder takes bytes and returns frames plus how many bytes
//! they used, the encoder appends bytes to a buffer, and [`parse`] turns the arguments of a frame
//! into a validated [`Command`]. No function here touches a socket, a clock or a runtime.
//!
//! **Architecture invariant.** cache-wire never depends on cache-store: the command model is
//! the contract between protocols and executors, and the node's executor joins the two.

pub mod command;
pub mod response;

pub use command::Command;
pub use response::Response;
