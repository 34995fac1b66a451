//! Tests of the RESP codec: exact bytes for the documented shapes, and properties over random
//! input (incremental decoding at every split point, no panic on garbage, encode/read-back).

mod decode;
mod encode;
mod reply_parser;
