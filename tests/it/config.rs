//! `CONFIG GET` and `CONFIG SET` of the parameters a running node can change (`maxmemory`,
//! `maxmemory-policy`, `timeout`, `requirepass`, `maxclients`), and `CONFIG RESETSTAT`.

use std::collections::HashMap;
use std::io::{BufReader, Write};

use redis::cmd;

use crate::support::{
    assert_error, assert_error_starts, connect, info, info_field, info_number, raw, read_reply,
    read_until_closed, start,
};

#[test]
fn config_get_and_set() -> anyhow::Result<()> {
    let (node, mut con) = start(&[])?;
    let get = |con: &mut redis::Connection, pattern: &str| {
        cmd("CONFIG")
            .arg("GET")
            .arg(pattern)
            .query::<HashMap<String, String>>(con)
    };
    let set = |con: &mut redis::Connection, name: &str, value: &str| {
        cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query::<String>(con)
    };
    assert_eq!(
        get(&mut con, "maxmemory")?,
        HashMap::from([("maxmemory".to_owned(), "0".to_owned())])
    );
    assert_eq!(set(&mut con, "maxmemory", "10mb")?, "OK");
    assert_eq!(get(&mut con, "maxmemory")?["maxmemory"], "10485760");
    assert_eq!(set(&mut con, "maxmemory", "5000000")?, "OK");
    assert_eq!(get(&mut con, "maxmemory")?["maxmemory"], "5000000");
    assert_eq!(info_number(&mut con, "memory", "maxmemory")?, 5_000_000);

    for policy in ["allkeys-lru", "allkeys-lfu", "noeviction", "w-tinylfu"] {
        assert_eq!(set(&mut con, "maxmemory-policy", policy)?, "OK");
        assert_eq!(
            get(&mut con, "maxmemory-policy")?["maxmemory-policy"],
            policy
        );
        let memory = info(&mut con, "memory")?;
        assert_eq!(info_field(&memory, "maxmemory_policy"), Some(policy));
    }
    assert_error_starts(
        cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory-policy")
            .arg("random-guess"),
        &mut con,
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy')",
    )?;
    assert_error_starts(
        cmd("CONFIG").arg("SET").arg("maxmemory").arg("lots"),
        &mut con,
        "ERR CONFIG SET failed",
    )?;
    assert_eq!(
        get(&mut con, "maxmemory-policy")?["maxmemory-policy"],
        "w-tinylfu",
        "a refused SET changed it"
    );

    assert_eq!(set(&mut con, "timeout", "300")?, "OK");
    assert_eq!(get(&mut con, "timeout")?["timeout"], "300");
    assert_error_starts(
        cmd("CONFIG").arg("SET").arg("timeout").arg("soon"),
        &mut con,
        "ERR CONFIG SET failed",
    )?;
    assert_eq!(set(&mut con, "timeout", "0")?, "OK");

    assert_eq!(
        get(&mut con, "MAXMEMORY")?.len(),
        1,
        "parameter names are not case sensitive"
    );
    let several = get(&mut con, "maxmemory*")?;
    assert!(
        several.contains_key("maxmemory") && several.contains_key("maxmemory-policy"),
        "{several:?}"
    );
    assert!(get(&mut con, "*")?.len() >= 5);
    assert!(get(&mut con, "no-such-parameter")?.is_empty());
    assert_error(
        cmd("CONFIG").arg("SET").arg("no-such-parameter").arg("1"),
        &mut con,
        "ERR Unknown option or number of arguments for CONFIG SET - 'no-such-parameter'",
    )?;
    assert_error(
        cmd("CONFIG").arg("GET"),
        &mut con,
        "ERR wrong number of arguments for 'config|get' command",
    )?;
    assert_error(
        cmd("CONFIG").arg("FROB"),
        &mut con,
        "ERR unknown subcommand 'FROB'. Try CONFIG HELP.",
    )?;

    // requirepass applies to connections made after it is set; this one stays in.
    assert_eq!(set(&mut con, "requirepass", "s3cret")?, "OK");
    assert_eq!(get(&mut con, "requirepass")?["requirepass"], "s3cret");
    let mut late = connect(&node)?;
    assert_error_starts(&cmd("DBSIZE"), &mut late, "NOAUTH")?;
    assert_eq!(cmd("AUTH").arg("s3cret").query::<String>(&mut late)?, "OK");
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut late)?, 0);
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut con)?, 0);
    // An empty password turns authentication off again for new connections.
    assert_eq!(set(&mut con, "requirepass", "")?, "OK");
    let mut open = connect(&node)?;
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut open)?, 0);
    Ok(())
}

#[test]
fn config_maxclients_and_resetstat() -> anyhow::Result<()> {
    let (node, mut con) = start(&[])?;
    cmd("CONFIG")
        .arg("SET")
        .arg("maxclients")
        .arg("2")
        .exec(&mut con)?;
    let mut second = connect(&node)?;
    assert_eq!(cmd("PING").query::<String>(&mut second)?, "PONG");
    let mut third = raw(&node)?;
    assert_eq!(
        read_until_closed(&mut third)?,
        b"-ERR max number of clients reached\r\n"
    );
    assert!(info_number(&mut con, "stats", "rejected_connections")? >= 1);
    drop(second);
    // The freed place can be taken again (the node notices the close asynchronously).
    crate::support::eventually(std::time::Duration::from_secs(5), || {
        Ok(connect(&node)
            .ok()
            .and_then(|mut c| cmd("PING").query::<String>(&mut c).ok()))
    })?;

    cmd("SET").arg("k").arg("v").exec(&mut con)?;
    cmd("GET").arg("k").exec(&mut con)?;
    cmd("GET").arg("nope").exec(&mut con)?;
    assert_eq!(info_number(&mut con, "stats", "keyspace_hits")?, 1);
    assert_eq!(
        cmd("CONFIG").arg("RESETSTAT").query::<String>(&mut con)?,
        "OK"
    );
    assert_eq!(info_number(&mut con, "stats", "keyspace_hits")?, 0);
    assert_eq!(info_number(&mut con, "stats", "keyspace_misses")?, 0);
    let commandstats = info(&mut con, "commandstats")?;
    assert!(
        info_field(&commandstats, "cmdstat_get").is_none(),
        "{commandstats}"
    );
    // RESETSTAT clears counters, not data.
    assert_eq!(cmd("GET").arg("k").query::<String>(&mut con)?, "v");
    Ok(())
}

#[test]
fn config_timeout_closes_idle_connections() -> anyhow::Result<()> {
    let (node, mut con) = start(&[])?;
    cmd("CONFIG")
        .arg("SET")
        .arg("timeout")
        .arg("1")
        .exec(&mut con)?;
    let mut idle = raw(&node)?;
    idle.write_all(b"PING\r\n")?;
    // The node closes it after about a second of silence; the read timeout is the deadline.
    assert_eq!(read_until_closed(&mut idle)?, b"+PONG\r\n");
    Ok(())
}

/// Redis checks every client against `timeout` periodically, so lowering it closes connections
/// that were already idle when it changed.
#[test]
fn config_timeout_applies_to_connections_already_idle() -> anyhow::Result<()> {
    let (node, mut con) = start(&[])?;
    let mut idle = raw(&node)?;
    idle.write_all(b"PING\r\n")?;
    let mut reader = BufReader::new(idle.try_clone()?);
    assert_eq!(read_reply(&mut reader)?, b"+PONG\r\n");
    cmd("CONFIG")
        .arg("SET")
        .arg("timeout")
        .arg("1")
        .exec(&mut con)?;
    idle.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let closed = read_until_closed(&mut idle);
    assert!(
        closed.is_ok(),
        "a connection idle since before CONFIG SET timeout 1 was still open 5 s later"
    );
    Ok(())
}
