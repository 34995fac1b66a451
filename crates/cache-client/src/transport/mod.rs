//! Connection tasks for the transports that are not a single byte stream: QUIC (a stream per
//! batch) and UDP (datagrams). Byte streams are driven in [`crate::connection`].

pub(crate) mod quic;
pub(crate) mod udp;
