//! memcached's text protocol, as much of it as a `GET`/`SET` load needs. Sans-IO: requests are
//! encoded into a buffer and replies are parsed from a slice, returning the reply and the bytes it
//! took, or `None` while the reply is still incomplete (it may arrive split over many reads, or
//! several replies may arrive in one).

use bytes::{BufMut, BytesMut};

/// The longest reply line accepted before the peer is declared broken; memcached's own lines
/// (`VALUE <key> <flags> <bytes> [<cas>]`, error texts) stay far below it.
const MAX_LINE: usize = 2048;

/// The largest value accepted in a `VALUE` line.
const MAX_VALUE: usize = 1 << 30;

/// One reply, reduced to what the load generator counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// A `get` that found its key (one or more `VALUE` blocks, then `END`).
    Hit,
    /// A `get` answered with a bare `END`.
    Miss,
    /// `STORED`.
    Stored,
    /// Any other line: `ERROR`, `CLIENT_ERROR ...`, `SERVER_ERROR ...`, `NOT_STORED`, ...
    Error,
}

/// Why the reply stream cannot be followed any further; the connection is unusable after one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// A line longer than any memcached sends.
    #[error("memcache reply line longer than {MAX_LINE} bytes")]
    LineTooLong,
    /// A `VALUE` line whose byte count is missing, not a number or absurdly large.
    #[error("malformed memcache VALUE line")]
    BadValueLine,
    /// A value block not followed by `\r\n`.
    #[error("memcache value not terminated by CRLF")]
    BadValueEnd,
    /// Something other than `VALUE` or `END` in the middle of a `get` reply.
    #[error("unexpected line inside a memcache get reply")]
    UnexpectedLine,
}

/// Appends `get <key>\r\n`.
pub fn encode_get(key: &[u8], out: &mut BytesMut) {
    out.reserve(key.len() + 6);
    out.put_slice(b"get ");
    out.put_slice(key);
    out.put_slice(b"\r\n");
}

/// Appends `set <key> 0 0 <bytes>\r\n<value>\r\n` (no flags, no expiry).
pub fn encode_set(key: &[u8], value: &[u8], out: &mut BytesMut) {
    let mut length = itoa::Buffer::new();
    let length = length.format(value.len());
    out.reserve(key.len() + length.len() + value.len() + 14);
    out.put_slice(b"set ");
    out.put_slice(key);
    out.put_slice(b" 0 0 ");
    out.put_slice(length.as_bytes());
    out.put_slice(b"\r\n");
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

/// Parses the first reply in `input`: `Ok(Some((reply, consumed)))`, or `Ok(None)` when more
/// bytes are needed.
pub fn parse_reply(input: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
    let Some((line, mut at)) = line_at(input, 0)? else {
        return Ok(None);
    };
    match line {
        b"STORED" => return Ok(Some((Reply::Stored, at))),
        b"END" => return Ok(Some((Reply::Miss, at))),
        _ if !line.starts_with(b"VALUE ") => return Ok(Some((Reply::Error, at))),
        _ => {}
    }
    let mut line = line;
    loop {
        if line == b"END" {
            return Ok(Some((Reply::Hit, at)));
        }
        if !line.starts_with(b"VALUE ") {
            return Err(ReplyError::UnexpectedLine);
        }
        let data_end = at
            .checked_add(value_length(line)?)
            .ok_or(ReplyError::BadValueLine)?;
        let Some(block_end) = data_end.checked_add(2).filter(|&end| end <= input.len()) else {
            return Ok(None);
        };
        if &input[data_end..block_end] != b"\r\n" {
            return Err(ReplyError::BadValueEnd);
        }
        let Some((next, next_at)) = line_at(input, block_end)? else {
            return Ok(None);
        };
        (line, at) = (next, next_at);
    }
}

/// The line starting at `start` without its `\r\n`, and where the next one starts.
fn line_at(input: &[u8], start: usize) -> Result<Option<(&[u8], usize)>, ReplyError> {
    let rest = &input[start..];
    let window = &rest[..rest.len().min(MAX_LINE + 2)];
    match window.windows(2).position(|pair| pair == b"\r\n") {
        Some(end) => Ok(Some((&rest[..end], start + end + 2))),
        None if window.len() >= MAX_LINE + 2 => Err(ReplyError::LineTooLong),
        None => Ok(None),
    }
}

/// The `<bytes>` field of `VALUE <key> <flags> <bytes> [<cas>]`.
fn value_length(line: &[u8]) -> Result<usize, ReplyError> {
    let field = line
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty())
        .nth(3)
        .ok_or(ReplyError::BadValueLine)?;
    std::str::from_utf8(field)
        .ok()
        .and_then(|f| f.parse::<usize>().ok())
        .filter(|&n| n <= MAX_VALUE)
        .ok_or(ReplyError::BadValueLine)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses every complete reply in `input`, as the client does after each read.
    fn drain(input: &mut Vec<u8>) -> Result<Vec<Reply>, ReplyError> {
        let mut replies = Vec::new();
        while let Some((reply, used)) = parse_reply(input)? {
            replies.push(reply);
            input.drain(..used);
        }
        Ok(replies)
    }

    #[test]
    fn encodes_requests() {
        let mut out = BytesMut::new();
        encode_get(b"bench:00000001", &mut out);
        encode_set(b"k", b"hello", &mut out);
        encode_set(b"empty", b"", &mut out);
        assert_eq!(
            &out[..],
            b"get bench:00000001\r\nset k 0 0 5\r\nhello\r\nset empty 0 0 0\r\n\r\n"
        );
    }

    #[test]
    fn hit_miss_and_stored() {
        let hit = b"VALUE k 0 5\r\nhello\r\nEND\r\n";
        assert_eq!(parse_reply(hit), Ok(Some((Reply::Hit, hit.len()))));
        assert_eq!(parse_reply(b"END\r\n"), Ok(Some((Reply::Miss, 5))));
        assert_eq!(
            parse_reply(b"STORED\r\nEND\r\n"),
            Ok(Some((Reply::Stored, 8)))
        );
        let with_cas = b"VALUE k 7 2 99\r\nhi\r\nEND\r\n";
        assert_eq!(
            parse_reply(with_cas),
            Ok(Some((Reply::Hit, with_cas.len())))
        );
        let several = b"VALUE a 0 1\r\nx\r\nVALUE b 0 2\r\nyz\r\nEND\r\n";
        assert_eq!(parse_reply(several), Ok(Some((Reply::Hit, several.len()))));
    }

    #[test]
    fn a_value_may_hold_what_looks_like_protocol() {
        let tricky = b"VALUE k 0 13\r\nEND\r\nSTORED\r\n\r\nEND\r\n";
        assert_eq!(parse_reply(tricky), Ok(Some((Reply::Hit, tricky.len()))));
    }

    #[test]
    fn error_lines_are_one_reply_each() {
        let mut input = b"ERROR\r\nCLIENT_ERROR bad data chunk\r\nSERVER_ERROR out of memory \
            storing object\r\nNOT_STORED\r\nSTORED\r\n"
            .to_vec();
        let replies = drain(&mut input).unwrap();
        assert_eq!(
            replies,
            [
                Reply::Error,
                Reply::Error,
                Reply::Error,
                Reply::Error,
                Reply::Stored
            ]
        );
        assert!(input.is_empty());
    }

    #[test]
    fn pipelined_replies_split_at_every_byte() {
        let stream: &[u8] = b"VALUE bench:1 0 4\r\nv\r\nv\r\nEND\r\nEND\r\nSTORED\r\n\
            SERVER_ERROR object too large for cache\r\nVALUE bench:2 0 0\r\n\r\nEND\r\n";
        let expected = [
            Reply::Hit,
            Reply::Miss,
            Reply::Stored,
            Reply::Error,
            Reply::Hit,
        ];
        for cut in 0..=stream.len() {
            for second_cut in cut..=stream.len() {
                let mut input = Vec::new();
                let mut replies = Vec::new();
                for piece in [
                    &stream[..cut],
                    &stream[cut..second_cut],
                    &stream[second_cut..],
                ] {
                    input.extend_from_slice(piece);
                    replies.extend(drain(&mut input).unwrap());
                }
                assert_eq!(replies, expected, "split at {cut} and {second_cut}");
                assert!(input.is_empty());
            }
        }
    }

    #[test]
    fn incomplete_replies_wait_for_more() {
        for partial in [
            &b""[..],
            b"STOR",
            b"STORED\r",
            b"VALUE k 0 5",
            b"VALUE k 0 5\r\nhel",
            b"VALUE k 0 5\r\nhello",
            b"VALUE k 0 5\r\nhello\r\n",
            b"VALUE k 0 5\r\nhello\r\nEN",
        ] {
            assert_eq!(parse_reply(partial), Ok(None), "{partial:?}");
        }
    }

    #[test]
    fn broken_streams_are_errors_not_panics() {
        assert_eq!(parse_reply(b"VALUE k 0\r\n"), Err(ReplyError::BadValueLine));
        assert_eq!(
            parse_reply(b"VALUE k 0 x\r\n"),
            Err(ReplyError::BadValueLine)
        );
        assert_eq!(
            parse_reply(b"VALUE k 0 99999999999999999999999\r\n"),
            Err(ReplyError::BadValueLine)
        );
        assert_eq!(
            parse_reply(b"VALUE k 0 2\r\nabcd\r\nEND\r\n"),
            Err(ReplyError::BadValueEnd)
        );
        assert_eq!(
            parse_reply(b"VALUE k 0 1\r\na\r\nSTORED\r\n"),
            Err(ReplyError::UnexpectedLine)
        );
        let long = vec![b'x'; MAX_LINE + 10];
        assert_eq!(parse_reply(&long), Err(ReplyError::LineTooLong));
        let mut long_value_line = b"VALUE ".to_vec();
        long_value_line.extend(vec![b'k'; MAX_LINE]);
        assert_eq!(parse_reply(&long_value_line), Err(ReplyError::LineTooLong));
    }
}
