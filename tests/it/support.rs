//! Shared helpers for the end-to-end tests: connecting, reading error texts and INFO fields,
//! speaking raw RESP over a socket, and waiting on a condition with a deadline instead of a
//! fixed sleep.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cache_tests::NodeProcess;

/// How long any single reply may take before a test calls the node stuck.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A node started with `args`, and one connection to it.
pub fn start(args: &[&str]) -> anyhow::Result<(NodeProcess, redis::Connection)> {
    let node = NodeProcess::start(args)?;
    let con = connect(&node)?;
    Ok((node, con))
}

/// A new connection to `node`, with read and write timeouts so a stuck node fails the test.
pub fn connect(node: &NodeProcess) -> anyhow::Result<redis::Connection> {
    connect_url(&node.url())
}

/// A new connection to `url`, with timeouts.
pub fn connect_url(url: &str) -> anyhow::Result<redis::Connection> {
    let con = redis::Client::open(url)?.get_connection()?;
    con.set_read_timeout(Some(REPLY_TIMEOUT))?;
    con.set_write_timeout(Some(REPLY_TIMEOUT))?;
    Ok(con)
}

/// The error text a server sent, as it was on the wire: `CODE detail`.
pub fn error_text(error: &redis::RedisError) -> String {
    match (error.code(), error.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_owned(),
        _ => error.to_string(),
    }
}

/// Runs `cmd`, which must fail with a server error; returns the error's text.
pub fn query_error(cmd: &redis::Cmd, con: &mut redis::Connection) -> anyhow::Result<String> {
    match cmd.query::<redis::Value>(con) {
        Ok(value) => bail!(
            "expected an error reply to {:?}, got {value:?}",
            command_line(cmd)
        ),
        Err(error) => Ok(error_text(&error)),
    }
}

/// Asserts that `cmd` fails with exactly `expected`.
pub fn assert_error(
    cmd: &redis::Cmd,
    con: &mut redis::Connection,
    expected: &str,
) -> anyhow::Result<()> {
    let text = query_error(cmd, con)?;
    assert_eq!(text, expected, "error reply to {:?}", command_line(cmd));
    Ok(())
}

/// Asserts that `cmd` fails with an error that starts with `prefix`.
pub fn assert_error_starts(
    cmd: &redis::Cmd,
    con: &mut redis::Connection,
    prefix: &str,
) -> anyhow::Result<()> {
    let text = query_error(cmd, con)?;
    assert!(
        text.starts_with(prefix),
        "error reply to {:?} is {text:?}, expected it to start with {prefix:?}",
        command_line(cmd)
    );
    Ok(())
}

/// The arguments of `cmd`, readable, for failure messages.
pub fn command_line(cmd: &redis::Cmd) -> String {
    cmd.args_iter()
        .map(|arg| match arg {
            redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            _ => "<cursor>".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `INFO` text of `section`.
pub fn info(con: &mut redis::Connection, section: &str) -> anyhow::Result<String> {
    Ok(redis::cmd("INFO").arg(section).query::<String>(con)?)
}

/// One `name:value` field of an `INFO` text.
pub fn info_field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim_end)
}

/// One numeric field of `INFO section`.
pub fn info_number(con: &mut redis::Connection, section: &str, name: &str) -> anyhow::Result<u64> {
    let text = info(con, section)?;
    let value = info_field(&text, name)
        .with_context(|| format!("INFO {section} has no {name}:\n{text}"))?;
    value
        .parse()
        .with_context(|| format!("INFO field {name} is not a number: {value:?}"))
}

/// Calls `check` until it returns `Some`, or fails after `deadline`. Polls every 20 ms.
pub fn eventually<T>(
    deadline: Duration,
    mut check: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let until = Instant::now() + deadline;
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if Instant::now() >= until {
            bail!("condition not met within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A raw TCP connection to `node`, with timeouts.
pub fn raw(node: &NodeProcess) -> anyhow::Result<TcpStream> {
    let stream = TcpStream::connect(&node.addr)?;
    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
    stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
    Ok(stream)
}

/// Reads one RESP2 reply from `reader` and returns its bytes exactly as sent. Handles the
/// shapes the tests need: simple strings, errors, integers, bulk strings and (nested) arrays.
pub fn read_reply(reader: &mut impl BufRead) -> anyhow::Result<Vec<u8>> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        bail!("the connection closed before a reply");
    }
    if !line.ends_with(b"\r\n") {
        bail!(
            "reply line not terminated: {:?}",
            String::from_utf8_lossy(&line)
        );
    }
    let header = std::str::from_utf8(&line[1..line.len() - 2])
        .unwrap_or_default()
        .to_owned();
    match line[0] {
        b'+' | b'-' | b':' => {}
        b'$' => {
            let len: i64 = header.parse().context("bulk length")?;
            if len >= 0 {
                let mut data = vec![0; usize::try_from(len)? + 2];
                reader.read_exact(&mut data)?;
                line.extend_from_slice(&data);
            }
        }
        b'*' => {
            let count: i64 = header.parse().context("array length")?;
            for _ in 0..count.max(0) {
                line.extend(read_reply(reader)?);
            }
        }
        other => bail!("unexpected reply type byte {other:?}"),
    }
    Ok(line)
}

/// Sends `request` on a fresh raw connection and returns the first reply.
pub fn raw_exchange(node: &NodeProcess, request: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut stream = raw(node)?;
    stream.write_all(request)?;
    read_reply(&mut BufReader::new(stream))
}

/// Reads until the peer closes. `Ok` with what arrived if it closed (an orderly close or a
/// reset), `Err` if it kept the connection open past the read timeout.
pub fn read_until_closed(stream: &mut TcpStream) -> anyhow::Result<Vec<u8>> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(received),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(received),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                bail!(
                    "the node kept the connection open for {REPLY_TIMEOUT:?}; received so far: {:?}",
                    String::from_utf8_lossy(&received)
                )
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Asserts that `node` still serves a new client.
pub fn assert_serves(node: &NodeProcess) -> anyhow::Result<()> {
    let mut con = connect(node)?;
    let pong: String = redis::cmd("PING").query(&mut con)?;
    assert_eq!(pong, "PONG");
    Ok(())
}

/// A small deterministic pseudo-random generator (xorshift64*), so failures reproduce.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// A path for a Unix socket that no other test (or test run) uses.
pub fn unique_socket_path(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("/tmp/cache-tests-{tag}-{}-{nanos}.sock", std::process::id())
}

/// Milliseconds since the Unix epoch, by this machine's clock (the node's clock too).
pub fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
