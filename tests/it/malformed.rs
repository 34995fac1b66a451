//! Broken request streams: each gets an error reply or a closed connection, never a crash or a
//! hang, and other clients go on being served. Also the inline form that telnet and
//! redis-benchmark send.

use std::io::{BufReader, Write};
use std::net::Shutdown;

use crate::support::{Rng, assert_serves, raw, read_reply, read_until_closed, start};

/// Sends `input` on a fresh connection and returns what came back before the node closed it.
fn send_and_wait_for_close(
    node: &cache_tests::NodeProcess,
    input: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let mut stream = raw(node)?;
    stream.write_all(input)?;
    read_until_closed(&mut stream)
}

#[test]
fn protocol_errors_are_answered_then_the_connection_closes() -> anyhow::Result<()> {
    let (mut node, _con) = start(&[])?;
    let cases: [(&str, &[u8], &[u8]); 5] = [
        (
            "non-numeric multibulk count",
            b"*abc\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            "negative bulk length inside a multibulk",
            b"*2\r\n$3\r\nGET\r\n$-5\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            "huge declared bulk length",
            b"*1\r\n$99999999999\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            "bulk data longer than declared",
            b"*1\r\n$3\r\nabGARBAGE\r\n",
            b"-ERR Protocol error",
        ),
        (
            "unbalanced quote in an inline command",
            b"SET \"a b\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ];
    for (what, input, expected) in cases {
        let reply = send_and_wait_for_close(&node, input)?;
        assert!(
            reply.starts_with(expected),
            "{what}: expected a reply starting {:?}, got {:?}",
            String::from_utf8_lossy(expected),
            String::from_utf8_lossy(&reply)
        );
        assert!(node.is_running(), "{what}: the node died");
        assert_serves(&node)?;
    }
    Ok(())
}

#[test]
fn requests_over_the_protocol_limits_are_refused() -> anyhow::Result<()> {
    let (mut node, _con) = start(&[])?;
    let long_inline = vec![b'a'; 70 * 1024];
    let mut long_bulk_header = b"*1\r\n$".to_vec();
    long_bulk_header.extend(std::iter::repeat_n(b'1', 70 * 1024));
    let mut long_count_header = b"*".to_vec();
    long_count_header.extend(std::iter::repeat_n(b'1', 70 * 1024));
    let cases: [(&str, Vec<u8>, &[u8]); 4] = [
        (
            "inline line over 64 KiB",
            long_inline,
            b"-ERR Protocol error: too big inline request\r\n",
        ),
        (
            "bulk length line over 64 KiB",
            long_bulk_header,
            b"-ERR Protocol error: too big bulk count string\r\n",
        ),
        (
            "multibulk count line over 64 KiB",
            long_count_header,
            b"-ERR Protocol error: too big mbulk count string\r\n",
        ),
        (
            "more than 1024 * 1024 arguments",
            b"*2000000\r\n".to_vec(),
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
    ];
    for (what, input, expected) in cases {
        let reply = send_and_wait_for_close(&node, &input)?;
        assert_eq!(
            String::from_utf8_lossy(&reply),
            String::from_utf8_lossy(expected),
            "{what}"
        );
        assert!(node.is_running(), "{what}: the node died");
    }
    assert_serves(&node)?;
    Ok(())
}

#[test]
fn requests_trickling_in_byte_by_byte_are_served() -> anyhow::Result<()> {
    let (node, _con) = start(&[])?;
    let mut stream = raw(&node)?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let requests: [(&[u8], &[u8]); 3] = [
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$7\r\nhe\r\nllo\r\n",
            b"+OK\r\n",
        ),
        (b"GET k\r\n", b"$7\r\nhe\r\nllo\r\n"),
        (b"*2\r\n$6\r\nSTRLEN\r\n$1\r\nk\r\n", b":7\r\n"),
    ];
    for (request, expected) in requests {
        for byte in request {
            stream.write_all(std::slice::from_ref(byte))?;
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        assert_eq!(
            read_reply(&mut reader)?,
            expected,
            "{:?}",
            String::from_utf8_lossy(request)
        );
    }
    Ok(())
}

#[test]
fn more_broken_frames_get_an_error_or_a_close() -> anyhow::Result<()> {
    let (mut node, _con) = start(&[])?;
    let cases: [&[u8]; 8] = [
        b"*1\r\n$3\r\nab",                          // then the client closes its side
        b"*2\r\n+GET\r\n",                          // a simple string where a bulk must be
        b"*1\r\n$abc\r\n",                          // non-numeric bulk length
        b"*-1\r\n*1\r\n$4\r\nPING\r\n*1\r\n:1\r\n", // a null array is skipped, then PING, then junk
        b"*99999999999999999999\r\n",               // count overflows
        b"*1\r\n$1\r\nx\r\r",                       // wrong terminator
        b"\"unterminated\r\n",                      // inline, quote never closed
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n",    // cut short
    ];
    for input in cases {
        let mut stream = raw(&node)?;
        stream.write_all(input)?;
        stream.shutdown(Shutdown::Write)?;
        let reply = read_until_closed(&mut stream)?;
        let shown = String::from_utf8_lossy(&reply).into_owned();
        // Whatever came back is whole replies, the last of them an error if anything went wrong.
        assert!(
            reply.is_empty() || reply.starts_with(b"-") || reply.starts_with(b"+PONG\r\n"),
            "{:?}: got {shown:?}",
            String::from_utf8_lossy(input)
        );
        assert!(
            node.is_running(),
            "{:?} killed the node",
            String::from_utf8_lossy(input)
        );
    }
    assert_serves(&node)?;
    Ok(())
}

#[test]
fn random_bytes_do_not_hurt_the_node() -> anyhow::Result<()> {
    let (mut node, _con) = start(&[])?;
    let mut rng = Rng::new(0xdead_beef);
    for round in 0..30 {
        let len = 1 + (rng.next_u64() % 8192) as usize;
        let mut input = rng.bytes(len);
        // Half the rounds look like the start of RESP, so the parser goes deeper.
        if round % 2 == 0 {
            input.splice(0..0, b"*3\r\n$".iter().copied());
        }
        let mut stream = raw(&node)?;
        // The node may close while we still write; that is fine.
        let _ = stream.write_all(&input);
        let _ = stream.shutdown(Shutdown::Write);
        let _ = read_until_closed(&mut stream)?;
        assert!(node.is_running(), "round {round} killed the node");
    }
    assert_serves(&node)?;
    Ok(())
}

#[test]
fn inline_commands_like_redis_benchmark() -> anyhow::Result<()> {
    let (node, _con) = start(&[])?;
    let mut stream = raw(&node)?;
    stream.write_all(b"PING\r\n")?;
    let mut reader = BufReader::new(stream.try_clone()?);
    assert_eq!(read_reply(&mut reader)?, b"+PONG\r\n");
    stream.write_all(b"SET k v\r\n")?;
    assert_eq!(read_reply(&mut reader)?, b"+OK\r\n");
    stream.write_all(b"GET k\r\n")?;
    assert_eq!(read_reply(&mut reader)?, b"$1\r\nv\r\n");
    // A bare \n ends a line too, quotes group words, and blank lines are skipped.
    stream.write_all(b"\r\n\r\nSET \"two words\" 'it s'\nGET \"two words\"\r\n")?;
    assert_eq!(read_reply(&mut reader)?, b"+OK\r\n");
    assert_eq!(read_reply(&mut reader)?, b"$4\r\nit s\r\n");
    // Inline and multibulk requests mix on one connection, pipelined.
    stream.write_all(b"INCR c\r\n*2\r\n$4\r\nINCR\r\n$1\r\nc\r\nINCR c\r\n")?;
    assert_eq!(read_reply(&mut reader)?, b":1\r\n");
    assert_eq!(read_reply(&mut reader)?, b":2\r\n");
    assert_eq!(read_reply(&mut reader)?, b":3\r\n");
    // Escapes in double quotes.
    stream.write_all(b"SET esc \"a\\x41\\n\"\r\nSTRLEN esc\r\n")?;
    assert_eq!(read_reply(&mut reader)?, b"+OK\r\n");
    assert_eq!(read_reply(&mut reader)?, b":3\r\n");
    Ok(())
}
