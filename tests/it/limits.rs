//! The `[limits]` table and the connection limits, each driven past its bound on a real node
//! and a real proxy: what the client sees, that the server keeps serving everyone else, and
//! that nothing is buffered beyond the bound.

use std::io::{BufReader, Write};
use std::time::{Duration, Instant};

use cache_tests::ServerProcess;
use redis::cmd;

use crate::support::{
    assert_serves, connect, info, info_field, raw, read_reply, read_until_closed, start,
};

/// A RESP request for `args`.
fn request(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend(format!("${}\r\n", arg.len()).bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn info_count(con: &mut redis::Connection, name: &str) -> anyhow::Result<u64> {
    let text = info(con, "stats")?;
    let value = info_field(&text, name).ok_or_else(|| anyhow::anyhow!("no {name} in INFO"))?;
    Ok(value.parse()?)
}

/// A node (or proxy) with a 1 MiB value at `big`.
fn with_big_value(server: &ServerProcess) -> anyhow::Result<redis::Connection> {
    let mut con = connect(server)?;
    cmd("SET")
        .arg("big")
        .arg(vec![b'v'; 1 << 20])
        .exec(&mut con)?;
    Ok(con)
}

#[test]
fn replies_over_the_output_limit_close_the_connection_and_nothing_else() -> anyhow::Result<()> {
    let node = ServerProcess::start(&["--output-buffer-limit", "4mb"])?;
    let mut con = with_big_value(&node)?;

    // One MGET whose reply (6 MiB) is over the limit: the connection closes without it.
    let mut stream = raw(&node)?;
    stream.write_all(&request(&[
        b"MGET", b"big", b"big", b"big", b"big", b"big", b"big",
    ]))?;
    let received = read_until_closed(&mut stream)?;
    assert!(
        received.len() < 6 << 20,
        "{} bytes of the reply arrived",
        received.len()
    );
    assert_eq!(
        info_count(&mut con, "client_output_buffer_limit_disconnections")?,
        1
    );

    // The same bytes as a pipeline of GETs, read as they come, are served: replies are
    // written between rounds, so they never pile up to the limit.
    let mut stream = raw(&node)?;
    let get = request(&[b"GET", b"big"]);
    stream.write_all(&get.repeat(50))?;
    let mut reader = BufReader::new(stream);
    for i in 0..50 {
        let reply = read_reply(&mut reader)?;
        assert_eq!(reply.len(), (1 << 20) + 12, "reply {i}");
    }
    assert_eq!(
        info_count(&mut con, "client_output_buffer_limit_disconnections")?,
        1
    );
    assert_serves(&node)?;
    Ok(())
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .ok_or_else(|| anyhow::anyhow!("no VmRSS"))?;
    Ok(line.trim().trim_end_matches("kB").trim().parse()?)
}

/// The `omem` and `qbuf` of the one other client in `CLIENT LIST`.
fn other_client_buffers(con: &mut redis::Connection) -> anyhow::Result<(u64, u64)> {
    let list: String = cmd("CLIENT").arg("LIST").query(con)?;
    let line = list
        .lines()
        .find(|l| !l.contains("cmd=client"))
        .ok_or_else(|| anyhow::anyhow!("no other client in {list}"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let value = line
            .split(' ')
            .find_map(|f| f.strip_prefix(name))
            .ok_or_else(|| anyhow::anyhow!("no {name} in {line}"))?;
        Ok(value.parse()?)
    };
    Ok((field("omem=")?, field("qbuf=")?))
}

#[test]
fn a_client_that_stops_reading_is_held_to_bounded_buffers_then_served() -> anyhow::Result<()> {
    let node = ServerProcess::start(&["--max-pipeline", "4"])?;
    let mut con = with_big_value(&node)?;
    // 200 MiB of replies asked for, none read for a while.
    let mut stream = raw(&node)?;
    let get = request(&[b"GET", b"big"]);
    stream.write_all(&get.repeat(200))?;
    std::thread::sleep(Duration::from_millis(500));
    let (omem, qbuf) = other_client_buffers(&mut con)?;
    // At most a round of replies waits (the socket's own buffers hold a few more).
    assert!(omem <= 4 << 20, "omem={omem}");
    assert!(qbuf <= 200 * get.len() as u64, "qbuf={qbuf}");
    let rss = rss_kib(node.pid())?;
    assert!(rss < 64 * 1024, "the node holds {rss} KiB");
    // Reading now, every reply arrives, in order and whole.
    let mut reader = BufReader::new(stream);
    for i in 0..200 {
        let reply = read_reply(&mut reader)?;
        assert_eq!(reply.len(), (1 << 20) + 12, "reply {i}");
    }
    Ok(())
}

#[test]
fn a_request_over_the_query_buffer_limit_is_refused() -> anyhow::Result<()> {
    let node = ServerProcess::start(&[
        "--query-buffer-limit",
        "1mb",
        "--max-bulk-len",
        "512kb",
        "--max-value-len",
        "512kb",
        "--max-key-len",
        "1kb",
    ])?;
    let mut con = connect(&node)?;
    // Each value is under the bulk limit; together they are over the request limit.
    let value = vec![b'x'; 400 * 1024];
    let mset = request(&[b"MSET", b"a", &value, b"b", &value, b"c", &value]);
    let mut stream = raw(&node)?;
    stream.write_all(&mset)?;
    let reply = read_until_closed(&mut stream)?;
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "-ERR Protocol error: request larger than the query buffer limit\r\n"
    );
    assert_eq!(
        info_count(&mut con, "client_query_buffer_limit_disconnections")?,
        1
    );
    let exists: i64 = cmd("EXISTS").arg("a").query(&mut con)?;
    assert_eq!(exists, 0, "nothing of the refused MSET was applied");

    // Small requests sent without reading the replies, until those waiting to run exceed the
    // limit: the connection closes (after the replies already made).
    cmd("SET")
        .arg("big")
        .arg(vec![b'v'; 500 * 1024])
        .exec(&mut con)?;
    let stream = raw(&node)?;
    let mut writer = stream.try_clone()?;
    let sender = std::thread::spawn(move || {
        let get = request(&[b"GET", b"big"]);
        // 4 MiB of GETs; the node closes part way, so the write may fail.
        let _ = writer.write_all(&get.repeat(4 * 1024 * 1024 / get.len()));
    });
    std::thread::sleep(Duration::from_millis(500));
    let mut reader = stream;
    let received = read_until_closed(&mut reader)?;
    let _ = sender.join();
    let tail = String::from_utf8_lossy(&received[received.len().saturating_sub(200)..]);
    assert!(
        tail.ends_with(
            "-ERR Protocol error: requests waiting to run exceed the query buffer limit\r\n"
        ),
        "{tail}"
    );
    assert_eq!(
        info_count(&mut con, "client_query_buffer_limit_disconnections")?,
        2
    );

    // One bulk over its own limit.
    let mut stream = raw(&node)?;
    stream.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$600000\r\n")?;
    let reply = read_until_closed(&mut stream)?;
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "-ERR Protocol error: invalid bulk length\r\n"
    );
    assert_serves(&node)?;
    Ok(())
}

#[test]
fn keys_and_values_over_their_limits_get_an_error_and_the_connection_stays() -> anyhow::Result<()> {
    let (node, mut con) = start(&["--max-key-len", "16", "--max-value-len", "1kb"])?;
    let long_key = "k".repeat(17);
    let error = cmd("SET")
        .arg(&long_key)
        .arg("v")
        .query::<()>(&mut con)
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("key is longer than the limit of 16 bytes"),
        "{error}"
    );
    let error = cmd("SET")
        .arg("k")
        .arg(vec![b'v'; 1025])
        .query::<()>(&mut con)
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("value is longer than the limit of 1024 bytes"),
        "{error}"
    );
    cmd("SET").arg("k").arg(vec![b'v'; 1000]).exec(&mut con)?;
    let error = cmd("APPEND")
        .arg("k")
        .arg(vec![b'v'; 100])
        .query::<i64>(&mut con)
        .unwrap_err();
    assert!(
        error.to_string().contains("exceeds maximum allowed size"),
        "{error}"
    );
    let len: i64 = cmd("STRLEN").arg("k").query(&mut con)?;
    assert_eq!(len, 1000, "the refused APPEND changed nothing");
    assert_serves(&node)?;
    Ok(())
}

#[test]
fn argument_count_and_inline_length_limits_are_the_configured_ones() -> anyhow::Result<()> {
    // No client library here: its hello on connect has more arguments than the limit.
    let node = ServerProcess::start(&["--max-multibulk-len", "3", "--max-inline-len", "100"])?;
    let mut stream = raw(&node)?;
    stream.write_all(&request(&[b"MSET", b"a", b"1", b"b", b"2"]))?;
    assert_eq!(
        String::from_utf8_lossy(&read_until_closed(&mut stream)?),
        "-ERR Protocol error: invalid multibulk length\r\n"
    );
    let mut stream = raw(&node)?;
    let mut inline = b"SET k ".to_vec();
    inline.extend(vec![b'x'; 200]);
    stream.write_all(&inline)?;
    assert_eq!(
        String::from_utf8_lossy(&read_until_closed(&mut stream)?),
        "-ERR Protocol error: too big inline request\r\n"
    );
    // Within the limits, both forms work.
    let mut stream = raw(&node)?;
    stream.write_all(b"SET k v\r\n")?;
    stream.write_all(&request(&[b"GET", b"k"]))?;
    let mut reader = BufReader::new(stream);
    assert_eq!(read_reply(&mut reader)?, b"+OK\r\n");
    assert_eq!(read_reply(&mut reader)?, b"$1\r\nv\r\n");
    Ok(())
}

#[test]
fn idle_clients_are_closed_after_the_timeout_and_busy_ones_are_not() -> anyhow::Result<()> {
    let (node, _con) = start(&["--timeout", "1"])?;
    let mut idle = raw(&node)?;
    let started = Instant::now();
    read_until_closed(&mut idle)?;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
    // A client that keeps sending stays.
    let mut busy = connect(&node)?;
    for _ in 0..12 {
        std::thread::sleep(Duration::from_millis(250));
        let pong: String = cmd("PING").query(&mut busy)?;
        assert_eq!(pong, "PONG");
    }
    Ok(())
}

#[test]
fn bad_limit_settings_stop_the_start_with_a_message() -> anyhow::Result<()> {
    for (args, expected) in [
        (
            &["--max-value-len", "2mb", "--max-bulk-len", "1mb"][..],
            "max_value_len",
        ),
        (&["--max-pipeline", "0"][..], "max_pipeline"),
        (
            &["--query-buffer-limit", "1kb", "--max-bulk-len", "1mb"][..],
            "query_buffer_limit",
        ),
    ] {
        let output = std::process::Command::new(cache_tests::binary("cache-node"))
            .args(["--listen", "tcp://127.0.0.1:0"])
            .args(args)
            .output()?;
        assert!(!output.status.success(), "{args:?} started");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    Ok(())
}

#[test]
fn protected_mode_serves_local_clients_and_says_so() -> anyhow::Result<()> {
    // Clients from other machines cannot be made here (tests stay on loopback); the refusal
    // itself is covered by cache-wire's unit tests of the decision and the peer check.
    let (_node, mut con) = start(&[])?;
    let pong: String = cmd("PING").query(&mut con)?;
    assert_eq!(pong, "PONG");
    let mode: Vec<String> = cmd("CONFIG")
        .arg("GET")
        .arg("protected-mode")
        .query(&mut con)?;
    assert_eq!(mode, ["protected-mode", "yes"]);
    assert_eq!(info_count(&mut con, "denied_connections")?, 0);
    let (_open, mut con) = start(&["--protected-mode", "no"])?;
    let mode: Vec<String> = cmd("CONFIG")
        .arg("GET")
        .arg("protected-mode")
        .query(&mut con)?;
    assert_eq!(mode, ["protected-mode", "no"]);
    Ok(())
}

/// A proxy in front of one node, with `args`.
fn proxy_with(args: &[&str]) -> anyhow::Result<(ServerProcess, ServerProcess)> {
    let node = ServerProcess::start(&[])?;
    let endpoint = format!("tcp://{}", node.addr);
    let mut all = vec!["--node", endpoint.as_str()];
    all.extend_from_slice(args);
    let proxy = ServerProcess::proxy(&all)?;
    Ok((node, proxy))
}

#[test]
fn the_proxy_holds_clients_to_the_same_limits() -> anyhow::Result<()> {
    let (_node, proxy) = proxy_with(&[
        "--output-buffer-limit",
        "4mb",
        "--query-buffer-limit",
        "1mb",
        "--max-bulk-len",
        "512kb",
        "--timeout",
        "1",
    ])?;
    let mut con = connect(&proxy)?;
    cmd("SET")
        .arg("big")
        .arg(vec![b'v'; 400 * 1024])
        .exec(&mut con)?;

    // Replies over the output limit.
    let mut stream = raw(&proxy)?;
    let many_bigs: Vec<&[u8]> = std::iter::once(&b"MGET"[..])
        .chain(std::iter::repeat_n(&b"big"[..], 12))
        .collect();
    stream.write_all(&request(&many_bigs))?;
    let received = read_until_closed(&mut stream)?;
    assert!(received.len() < 12 * 400 * 1024, "{} bytes", received.len());

    // A request over the query buffer limit.
    let value = vec![b'x'; 400 * 1024];
    let mut stream = raw(&proxy)?;
    stream.write_all(&request(&[
        b"MSET", b"a", &value, b"b", &value, b"c", &value,
    ]))?;
    assert_eq!(
        String::from_utf8_lossy(&read_until_closed(&mut stream)?),
        "-ERR Protocol error: request larger than the query buffer limit\r\n"
    );

    // An idle client.
    let mut idle = raw(&proxy)?;
    let started = Instant::now();
    read_until_closed(&mut idle)?;
    assert!(started.elapsed() < Duration::from_secs(5));

    let mut con = connect(&proxy)?;
    let text: String = cmd("INFO").query(&mut con)?;
    assert_eq!(
        info_field(&text, "client_output_buffer_limit_disconnections"),
        Some("1")
    );
    assert_eq!(
        info_field(&text, "client_query_buffer_limit_disconnections"),
        Some("1")
    );
    let got: Vec<u8> = cmd("GET").arg("big").query(&mut con)?;
    assert_eq!(got.len(), 400 * 1024);
    Ok(())
}

#[test]
fn the_proxy_runs_long_pipelines_in_rounds_of_max_pipeline() -> anyhow::Result<()> {
    let (_node, proxy) = proxy_with(&["--max-pipeline", "8"])?;
    let mut stream = raw(&proxy)?;
    let mut pipeline = Vec::new();
    for i in 0..500 {
        let key = format!("k{i}");
        pipeline.extend(request(&[b"SET", key.as_bytes(), key.as_bytes()]));
        pipeline.extend(request(&[b"GET", key.as_bytes()]));
    }
    stream.write_all(&pipeline)?;
    let mut reader = BufReader::new(stream);
    for i in 0..500 {
        assert_eq!(read_reply(&mut reader)?, b"+OK\r\n", "SET {i}");
        let key = format!("k{i}");
        let expected = format!("${}\r\n{key}\r\n", key.len());
        assert_eq!(read_reply(&mut reader)?, expected.as_bytes(), "GET {i}");
    }
    Ok(())
}
