//! Deep pipelines answered in order, and values that are not text: bytes that look like RESP
//! framing, NUL bytes, binary keys, and a value of several MiB.

use redis::{Value, cmd};

use crate::support::{Rng, start};

#[test]
fn ten_thousand_commands_in_one_pipeline_answer_in_order() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    // Every INCR's reply says where it stood in the pipeline.
    let mut pipe = redis::pipe();
    for _ in 0..10_000 {
        pipe.cmd("INCR").arg("counter");
    }
    let replies: Vec<i64> = pipe.query(&mut con)?;
    assert_eq!(replies.len(), 10_000);
    for (i, n) in replies.iter().enumerate() {
        assert_eq!(*n, i as i64 + 1, "reply {i} out of order");
    }

    // A mix of reply shapes: each GET reads the SET just before it.
    let mut pipe = redis::pipe();
    for i in 0..5_000 {
        pipe.cmd("SET")
            .arg(format!("p:{i}"))
            .arg(format!("value-{i}"));
        pipe.cmd("GET").arg(format!("p:{i}"));
    }
    let replies: Vec<Value> = pipe.query(&mut con)?;
    assert_eq!(replies.len(), 10_000);
    for (i, pair) in replies.chunks_exact(2).enumerate() {
        assert_eq!(pair[0], Value::Okay, "SET reply {i}");
        assert_eq!(
            pair[1],
            Value::BulkString(format!("value-{i}").into_bytes()),
            "GET reply {i}"
        );
    }
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut con)?, 5_001);
    Ok(())
}

/// The `redis` crate writes a whole pipeline before it reads a reply, as many clients do. When
/// both the requests and the replies are larger than the socket buffers, the node must keep
/// reading while its replies wait to be written (Redis buffers them), or both sides block.
#[test]
fn a_pipeline_larger_than_the_socket_buffers_both_ways_completes() -> anyhow::Result<()> {
    let (node, mut con) = start(&[])?;
    // Redis answers this in a fraction of a second; a few seconds is plenty.
    con.set_write_timeout(Some(std::time::Duration::from_secs(5)))?;
    con.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let value = vec![b'q'; 8 * 1024];
    let mut pipe = redis::pipe();
    for i in 0..3_000 {
        pipe.cmd("SET")
            .arg(format!("wide:{i}"))
            .arg(&value)
            .ignore();
        pipe.cmd("GET").arg(format!("wide:{i}"));
    }
    // About 24 MiB each way.
    let replies: Vec<Vec<u8>> = pipe.query(&mut con).map_err(|e| {
        anyhow::anyhow!(
            "a 24 MiB-each-way pipeline did not complete ({e}): the node stops reading while its replies wait to be written"
        )
    })?;
    assert_eq!(replies.len(), 3_000);
    assert!(replies.iter().all(|r| *r == value));
    crate::support::assert_serves(&node)?;
    Ok(())
}

#[test]
fn pipelined_errors_stay_in_their_place() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    pipe.cmd("SET").arg("a").arg("x");
    pipe.cmd("INCR").arg("a");
    pipe.cmd("NOSUCHCOMMAND");
    pipe.cmd("GET").arg("a");
    let replies: Vec<Value> = pipe.query(&mut con)?;
    assert_eq!(replies.len(), 4);
    assert_eq!(replies[0], Value::Okay);
    assert!(
        matches!(replies[1], Value::ServerError(_)),
        "{:?}",
        replies[1]
    );
    assert!(
        matches!(replies[2], Value::ServerError(_)),
        "{:?}",
        replies[2]
    );
    assert_eq!(replies[3], Value::BulkString(b"x".to_vec()));
    Ok(())
}

#[test]
fn binary_keys_and_values_round_trip() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    let key: &[u8] = b"bin\0key\r\n*1\r\n$3";
    let mut value: Vec<u8> = (0..=255u8).collect();
    value.extend_from_slice(b"\r\n\0\r\n$-1\r\n*2\r\n\0");
    cmd("SET").arg(key).arg(&value).exec(&mut con)?;
    assert_eq!(cmd("GET").arg(key).query::<Vec<u8>>(&mut con)?, value);
    assert_eq!(
        cmd("STRLEN").arg(key).query::<usize>(&mut con)?,
        value.len()
    );
    // A key that differs only after the NUL is another key.
    assert_eq!(
        cmd("GET")
            .arg(&b"bin\0other"[..])
            .query::<Option<Vec<u8>>>(&mut con)?,
        None
    );
    assert_eq!(
        cmd("GET")
            .arg(&b"bin"[..])
            .query::<Option<Vec<u8>>>(&mut con)?,
        None
    );

    cmd("APPEND").arg(key).arg(&b"\0\r\n"[..]).exec(&mut con)?;
    value.extend_from_slice(b"\0\r\n");
    let got: Vec<Option<Vec<u8>>> = cmd("MGET").arg(key).arg(&b"\0"[..]).query(&mut con)?;
    assert_eq!(got, [Some(value.clone()), None]);

    let keys: Vec<Vec<u8>> = cmd("KEYS").arg("bin*").query(&mut con)?;
    assert_eq!(keys, [key.to_vec()]);
    let (_, scanned): (u64, Vec<Vec<u8>>) =
        cmd("SCAN").arg(0).arg("COUNT").arg(1000).query(&mut con)?;
    assert_eq!(scanned, [key.to_vec()]);

    // Empty key and empty value are values like any other.
    cmd("SET").arg("").arg("").exec(&mut con)?;
    assert_eq!(
        cmd("GET").arg("").query::<Option<Vec<u8>>>(&mut con)?,
        Some(Vec::new())
    );
    assert_eq!(cmd("EXISTS").arg("").query::<i64>(&mut con)?, 1);
    Ok(())
}

#[test]
fn a_five_mib_value_round_trips() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    let mut rng = Rng::new(0x5eed_0005);
    let mut value = rng.bytes(5 << 20);
    // Make sure framing bytes are in there, not just by chance.
    value[1000..1004].copy_from_slice(b"\r\n\0$");
    cmd("SET").arg("big").arg(&value).exec(&mut con)?;
    assert_eq!(cmd("STRLEN").arg("big").query::<usize>(&mut con)?, 5 << 20);
    let got: Vec<u8> = cmd("GET").arg("big").query(&mut con)?;
    assert!(
        got == value,
        "the 5 MiB value came back different ({} bytes)",
        got.len()
    );
    // A second big one in the same pipeline as small commands.
    let other = rng.bytes(3 << 20);
    let mut pipe = redis::pipe();
    pipe.cmd("SET").arg("big2").arg(&other).ignore();
    pipe.cmd("PING");
    pipe.cmd("GET").arg("big2");
    let (pong, got): (String, Vec<u8>) = pipe.query(&mut con)?;
    assert_eq!(pong, "PONG");
    assert!(got == other, "the 3 MiB value came back different");
    Ok(())
}
