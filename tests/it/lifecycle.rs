//! Listeners and shutdown: a Unix socket next to TCP, and a clean exit on SIGTERM even with
//! clients connected.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use cache_tests::NodeProcess;
use redis::cmd;

use crate::support::{REPLY_TIMEOUT, connect, raw, unique_socket_path};

#[test]
fn a_unix_socket_serves_alongside_tcp() -> anyhow::Result<()> {
    let path = unique_socket_path("unix");
    let endpoint = format!("unix://{path}");
    let node = NodeProcess::start(&["--listen", &endpoint])?;
    assert!(
        node.endpoints.contains(&endpoint),
        "endpoints {:?}",
        node.endpoints
    );
    assert!(!node.addr.is_empty(), "the TCP listener is gone");

    let stream = UnixStream::connect(&path)?;
    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    writer.write_all(b"*1\r\n$4\r\nPING\r\n")?;
    reader.read_line(&mut line)?;
    assert_eq!(line, "+PONG\r\n");

    // Same store over both listeners.
    writer.write_all(b"*3\r\n$3\r\nSET\r\n$4\r\nfrom\r\n$4\r\nunix\r\n")?;
    line.clear();
    reader.read_line(&mut line)?;
    assert_eq!(line, "+OK\r\n");
    let mut tcp = connect(&node)?;
    assert_eq!(cmd("GET").arg("from").query::<String>(&mut tcp)?, "unix");

    // The redis crate speaks over the socket too.
    let mut by_socket = redis::Client::open(format!("redis+unix://{path}"))?.get_connection()?;
    assert_eq!(
        cmd("GET").arg("from").query::<String>(&mut by_socket)?,
        "unix"
    );
    drop(by_socket);
    drop(writer);
    drop(reader);

    assert!(node.terminate()?, "cache-node did not exit cleanly");
    assert!(
        !Path::new(&path).exists(),
        "the socket file {path} was left behind"
    );
    Ok(())
}

#[test]
fn sigterm_exits_cleanly() -> anyhow::Result<()> {
    let node = NodeProcess::start(&[])?;
    let mut con = connect(&node)?;
    cmd("SET").arg("k").arg("v").exec(&mut con)?;
    drop(con);
    assert!(
        node.terminate()?,
        "cache-node exited with an error after SIGTERM"
    );
    Ok(())
}

#[test]
fn sigterm_with_clients_connected_exits_cleanly_and_closes_them() -> anyhow::Result<()> {
    let node = NodeProcess::start(&[])?;
    let mut idle = connect(&node)?;
    assert_eq!(cmd("PING").query::<String>(&mut idle)?, "PONG");
    let mut silent = raw(&node)?;
    silent.write_all(b"PING\r\n")?;
    let mut reader = BufReader::new(silent.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    assert_eq!(line, "+PONG\r\n");
    // Half a request in flight.
    silent.write_all(b"*2\r\n$3\r\nGET\r\n")?;

    let started = Instant::now();
    assert!(
        node.terminate()?,
        "cache-node exited with an error after SIGTERM"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
    line.clear();
    assert_eq!(
        reader.read_line(&mut line).unwrap_or(0),
        0,
        "the connection stayed open: {line:?}"
    );
    assert!(
        cmd("PING").query::<String>(&mut idle).is_err(),
        "a client was still served after shutdown"
    );
    Ok(())
}
