//! Connection and server commands: `PING`, `ECHO`, `HELLO`, `AUTH`, `QUIT`, `SELECT`, `INFO`,
//! `CONFIG`, `COMMAND`, `CLIENT`, `SAVE`, and the replies to commands the node does not know.

use std::collections::HashMap;
use std::io::{BufReader, Write};

use redis::{Value, cmd};

use crate::support::{
    assert_error, assert_error_starts, connect, info, info_field, info_number, query_error, raw,
    raw_exchange, read_reply, read_until_closed, start,
};

/// The entries of a map reply (RESP3) or of a flat key, value array (RESP2), keyed by text.
fn reply_map(value: Value) -> anyhow::Result<HashMap<String, Value>> {
    let pairs: Vec<(Value, Value)> = match value {
        Value::Map(pairs) => pairs,
        Value::Array(items) => {
            anyhow::ensure!(items.len() % 2 == 0, "odd-length key, value array");
            let mut items = items.into_iter();
            std::iter::from_fn(|| Some((items.next()?, items.next()?))).collect()
        }
        other => anyhow::bail!("not a map: {other:?}"),
    };
    pairs
        .into_iter()
        .map(|(k, v)| Ok((redis::from_redis_value::<String>(k)?, v)))
        .collect()
}

#[test]
fn ping_echo_select_and_unknown_commands() -> anyhow::Result<()> {
    let (node, mut con) = start(&[])?;
    assert_eq!(cmd("PING").query::<String>(&mut con)?, "PONG");
    assert_eq!(
        cmd("PING").arg("hi there").query::<String>(&mut con)?,
        "hi there"
    );
    assert_eq!(
        cmd("ECHO").arg("a\r\nb").query::<String>(&mut con)?,
        "a\r\nb"
    );
    assert_error(
        &cmd("ECHO"),
        &mut con,
        "ERR wrong number of arguments for 'echo' command",
    )?;
    assert_error(
        cmd("GET").arg("a").arg("b"),
        &mut con,
        "ERR wrong number of arguments for 'get' command",
    )?;

    assert_eq!(cmd("SELECT").arg(0).query::<String>(&mut con)?, "OK");
    assert_error(
        cmd("SELECT").arg(1),
        &mut con,
        "ERR DB index is out of range",
    )?;
    assert_error(
        cmd("SELECT").arg("x"),
        &mut con,
        "ERR value is not an integer or out of range",
    )?;

    // Exact bytes, trailing space included, as Redis 7 sends them.
    assert_eq!(
        raw_exchange(&node, b"*3\r\n$6\r\nFOOBAR\r\n$1\r\na\r\n$2\r\nbc\r\n")?,
        b"-ERR unknown command 'FOOBAR', with args beginning with: 'a' 'bc' \r\n"
    );
    assert_eq!(
        raw_exchange(&node, b"NOPE\r\n")?,
        b"-ERR unknown command 'NOPE', with args beginning with: \r\n"
    );
    assert_error_starts(
        &cmd("FLUSHEVERYTHING"),
        &mut con,
        "ERR unknown command 'FLUSHEVERYTHING'",
    )?;
    // The connection is still usable after all those errors.
    assert_eq!(cmd("PING").query::<String>(&mut con)?, "PONG");
    Ok(())
}

#[test]
fn hello_negotiates_resp2_and_resp3() -> anyhow::Result<()> {
    let (node, mut con) = start(&[])?;
    let hello = reply_map(cmd("HELLO").query::<Value>(&mut con)?)?;
    assert_eq!(
        hello.get("server"),
        Some(&Value::BulkString(b"redis".to_vec()))
    );
    assert_eq!(hello.get("proto"), Some(&Value::Int(2)));
    assert!(
        hello.contains_key("version") && hello.contains_key("id") && hello.contains_key("mode")
    );

    // HELLO 3 answers with a RESP3 map, and later replies are RESP3 too.
    let reply = cmd("HELLO").arg(3).query::<Value>(&mut con)?;
    assert!(
        matches!(reply, Value::Map(_)),
        "HELLO 3 reply is not a map: {reply:?}"
    );
    let hello3 = reply_map(reply)?;
    assert_eq!(hello3.get("proto"), Some(&Value::Int(3)));
    assert_eq!(
        hello3.get("id"),
        hello.get("id"),
        "same connection, same id"
    );
    assert!(matches!(
        cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory")
            .query::<Value>(&mut con)?,
        Value::Map(_)
    ));
    assert_eq!(
        cmd("GET").arg("missing").query::<Value>(&mut con)?,
        Value::Nil
    );

    let client: String = cmd("CLIENT").arg("INFO").query(&mut con)?;
    assert!(
        client.contains(" resp=3 "),
        "CLIENT INFO after HELLO 3: {client}"
    );
    assert!(
        cmd("INFO")
            .arg("server")
            .query::<String>(&mut con)?
            .contains("redis_version:")
    );

    let hello2 = reply_map(
        cmd("HELLO")
            .arg(2)
            .arg("SETNAME")
            .arg("back-to-2")
            .query::<Value>(&mut con)?,
    )?;
    assert_eq!(hello2.get("proto"), Some(&Value::Int(2)));
    assert_eq!(
        cmd("CLIENT").arg("GETNAME").query::<String>(&mut con)?,
        "back-to-2"
    );

    assert_error(
        cmd("HELLO").arg(4),
        &mut con,
        "NOPROTO unsupported protocol version",
    )?;
    assert_error(
        cmd("HELLO").arg(1),
        &mut con,
        "NOPROTO unsupported protocol version",
    )?;
    assert_error(
        cmd("HELLO").arg("x"),
        &mut con,
        "ERR Protocol version is not an integer or out of range",
    )?;
    assert_error(
        cmd("HELLO").arg(3).arg("BOGUS"),
        &mut con,
        "ERR Syntax error in HELLO option 'BOGUS'",
    )?;

    // On the wire: a RESP3 map header, then the null of RESP3.
    let mut stream = raw(&node)?;
    stream.write_all(b"HELLO 3\r\n")?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut reader, &mut line)?;
    assert_eq!(line, "%7\r\n");
    read_map_body(&mut reader, 7)?;
    // INFO is verbatim text in RESP3.
    stream.write_all(b"INFO memory\r\n")?;
    line.clear();
    std::io::BufRead::read_line(&mut reader, &mut line)?;
    assert!(line.starts_with('='), "INFO in RESP3 starts with {line:?}");
    let mut body = vec![0u8; line[1..].trim_end().parse::<usize>()? + 2];
    std::io::Read::read_exact(&mut reader, &mut body)?;
    assert!(
        body.starts_with(b"txt:# Memory"),
        "{:?}",
        String::from_utf8_lossy(&body)
    );
    Ok(())
}

/// Skips the `pairs` key, value pairs of a RESP3 map whose header was read (RESP2-shaped values
/// and nested empty arrays only, which is all `HELLO` sends).
fn read_map_body(reader: &mut impl std::io::BufRead, pairs: usize) -> anyhow::Result<()> {
    for _ in 0..pairs * 2 {
        read_reply(reader)?;
    }
    Ok(())
}

#[test]
fn auth_and_quit() -> anyhow::Result<()> {
    let (node, mut con) = start(&[])?;
    assert_error(
        cmd("AUTH").arg("whatever"),
        &mut con,
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
    )?;
    let mut stream = raw(&node)?;
    stream.write_all(b"*1\r\n$4\r\nQUIT\r\n")?;
    assert_eq!(read_until_closed(&mut stream)?, b"+OK\r\n");
    // Commands after QUIT in the same batch are not run.
    let mut stream = raw(&node)?;
    stream.write_all(b"QUIT\r\nSET after-quit 1\r\n")?;
    assert_eq!(read_until_closed(&mut stream)?, b"+OK\r\n");
    assert_eq!(cmd("EXISTS").arg("after-quit").query::<i64>(&mut con)?, 0);
    Ok(())
}

#[test]
fn info_sections_use_redis_field_names() -> anyhow::Result<()> {
    let (node, mut con) = start(&["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"])?;
    cmd("SET").arg("a").arg("1").exec(&mut con)?;
    cmd("SET")
        .arg("b")
        .arg("2")
        .arg("EX")
        .arg(100)
        .exec(&mut con)?;
    cmd("GET").arg("a").exec(&mut con)?;
    cmd("GET").arg("a").exec(&mut con)?;
    cmd("GET").arg("missing").exec(&mut con)?;

    let all = info(&mut con, "all")?;
    for header in [
        "# Server",
        "# Memory",
        "# Stats",
        "# Keyspace",
        "# Commandstats",
    ] {
        assert!(all.contains(header), "INFO all has no {header}:\n{all}");
    }
    let default: String = cmd("INFO").query(&mut con)?;
    for header in ["# Server", "# Memory", "# Stats", "# Keyspace"] {
        assert!(default.contains(header), "INFO has no {header}");
    }
    assert!(
        !default.contains("# Commandstats"),
        "commandstats is not a default section"
    );

    let server = info(&mut con, "server")?;
    let port = node
        .addr
        .rsplit_once(':')
        .map(|(_, p)| p)
        .unwrap_or_default();
    assert_eq!(info_field(&server, "tcp_port"), Some(port));
    assert!(info_field(&server, "redis_version").is_some());
    assert_eq!(
        info_field(&server, "process_id"),
        Some(node.pid().to_string().as_str())
    );
    assert!(
        !server.contains("# Memory"),
        "INFO server gave other sections too"
    );

    let memory = info(&mut con, "memory")?;
    assert_eq!(info_field(&memory, "maxmemory"), Some("67108864"));
    assert_eq!(info_field(&memory, "maxmemory_policy"), Some("allkeys-lru"));
    let used: u64 = info_field(&memory, "used_memory")
        .unwrap_or_default()
        .parse()?;
    assert!(used > 0, "used_memory is 0 with two keys");

    assert_eq!(info_number(&mut con, "stats", "keyspace_hits")?, 2);
    assert_eq!(info_number(&mut con, "stats", "keyspace_misses")?, 1);
    assert_eq!(info_number(&mut con, "stats", "evicted_keys")?, 0);
    assert!(info_field(&info(&mut con, "stats")?, "expired_keys").is_some());
    let keyspace = info(&mut con, "keyspace")?;
    let db0 = info_field(&keyspace, "db0").unwrap_or_default();
    assert!(db0.starts_with("keys=2,expires=1"), "db0:{db0}");

    let commandstats = info(&mut con, "commandstats")?;
    let get_stats = info_field(&commandstats, "cmdstat_get").unwrap_or_default();
    assert!(get_stats.starts_with("calls=3,"), "cmdstat_get:{get_stats}");
    assert!(info_field(&commandstats, "cmdstat_set").is_some_and(|s| s.starts_with("calls=2,")));
    // Per-command percentiles, and those of every command that touches keys merged (what
    // monitors show as a node's latency), which INFO's own calls do not enter.
    let latency = info(&mut con, "latencystats")?;
    let p99 = |field: &str| -> Option<f64> {
        info_field(&latency, field)?
            .split(',')
            .find_map(|kv| kv.strip_prefix("p99="))?
            .parse()
            .ok()
    };
    let data = p99("data_latency_percentiles_usec").unwrap_or_default();
    assert!(data > 0.0, "no merged data latency in:\n{latency}");
    let worst = ["get", "set"]
        .iter()
        .filter_map(|c| p99(&format!("latency_percentiles_usec_{c}")))
        .fold(0.0, f64::max);
    assert!(
        data <= worst,
        "merged p99 {data} above every data command's ({worst})"
    );
    // Section names are not case sensitive.
    assert!(info(&mut con, "MEMORY")?.contains("used_memory:"));
    Ok(())
}

#[test]
fn command_and_client_introspection() -> anyhow::Result<()> {
    let (node, mut con) = start(&[])?;
    let count: i64 = cmd("COMMAND").arg("COUNT").query(&mut con)?;
    let all: Vec<Value> = cmd("COMMAND").query(&mut con)?;
    assert_eq!(usize::try_from(count)?, all.len());
    assert!(count >= 40, "COMMAND COUNT {count}");
    let names: Vec<String> = all
        .iter()
        .filter_map(|entry| match entry {
            Value::Array(fields) => redis::from_redis_value_ref::<String>(fields.first()?).ok(),
            _ => None,
        })
        .collect();
    for name in [
        "get",
        "set",
        "scan",
        "hello",
        "config",
        "client",
        "incrbyfloat",
        "getex",
    ] {
        assert!(names.iter().any(|n| n == name), "COMMAND lacks {name}");
    }
    let info: Vec<Vec<Value>> = cmd("COMMAND").arg("INFO").arg("get").query(&mut con)?;
    assert_eq!(info[0][0], Value::BulkString(b"get".to_vec()));
    assert_eq!(info[0][1], Value::Int(2));

    assert_eq!(
        cmd("CLIENT")
            .arg("GETNAME")
            .query::<Option<String>>(&mut con)?,
        None
    );
    assert_eq!(
        cmd("CLIENT")
            .arg("SETNAME")
            .arg("tester")
            .query::<String>(&mut con)?,
        "OK"
    );
    assert_eq!(
        cmd("CLIENT").arg("GETNAME").query::<String>(&mut con)?,
        "tester"
    );
    assert_error(
        cmd("CLIENT").arg("SETNAME").arg("has space"),
        &mut con,
        "ERR Client names cannot contain spaces, newlines or special characters.",
    )?;
    let id: i64 = cmd("CLIENT").arg("ID").query(&mut con)?;
    let mut other = connect(&node)?;
    let other_id: i64 = cmd("CLIENT").arg("ID").query(&mut other)?;
    assert!(id > 0 && other_id > 0 && id != other_id);

    let list: String = cmd("CLIENT").arg("LIST").query(&mut con)?;
    let mine = list
        .lines()
        .find(|l| l.starts_with(&format!("id={id} ")))
        .unwrap_or_default();
    assert!(
        mine.contains(" name=tester "),
        "CLIENT LIST line: {mine:?}\n{list}"
    );
    assert!(mine.contains(" addr=127.0.0.1:"), "{mine}");
    assert!(
        list.lines()
            .any(|l| l.starts_with(&format!("id={other_id} "))),
        "{list}"
    );
    assert_eq!(list.lines().count(), 2, "{list}");
    Ok(())
}

#[test]
fn save_says_there_is_no_persistence() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    let text = query_error(&cmd("SAVE"), &mut con)?;
    assert!(text.starts_with("ERR "), "{text}");
    assert!(
        text.contains("persistence"),
        "SAVE error does not say why: {text}"
    );
    let text = query_error(&cmd("BGREWRITEAOF"), &mut con)?;
    assert!(text.contains("persistence"), "{text}");
    Ok(())
}

#[test]
fn raw_replies_keep_their_resp2_shapes() -> anyhow::Result<()> {
    let (node, _con) = start(&[])?;
    let mut stream = raw(&node)?;
    stream.write_all(b"SET k v\r\nGET k\r\nGET nope\r\nINCR n\r\nMGET k nope\r\n")?;
    let mut reader = BufReader::new(stream);
    assert_eq!(read_reply(&mut reader)?, b"+OK\r\n");
    assert_eq!(read_reply(&mut reader)?, b"$1\r\nv\r\n");
    assert_eq!(read_reply(&mut reader)?, b"$-1\r\n");
    assert_eq!(read_reply(&mut reader)?, b":1\r\n");
    assert_eq!(read_reply(&mut reader)?, b"*2\r\n$1\r\nv\r\n$-1\r\n");
    Ok(())
}
