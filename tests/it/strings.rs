//! The string commands: `SET` and its options, the `M*` and `GET*` relatives, with Redis 7's
//! error texts. The counters are in `counters.rs`.

use redis::cmd;

use crate::support::{assert_error, start, unix_millis};

#[test]
fn set_and_get_with_conditions() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    let get =
        |con: &mut redis::Connection, key: &str| cmd("GET").arg(key).query::<Option<String>>(con);

    assert_eq!(get(&mut con, "k")?, None);
    assert_eq!(
        cmd("SET").arg("k").arg("v1").query::<String>(&mut con)?,
        "OK"
    );
    assert_eq!(get(&mut con, "k")?.as_deref(), Some("v1"));

    // NX: only if absent.
    assert_eq!(
        cmd("SET")
            .arg("k")
            .arg("v2")
            .arg("NX")
            .query::<Option<String>>(&mut con)?,
        None
    );
    assert_eq!(get(&mut con, "k")?.as_deref(), Some("v1"));
    assert_eq!(
        cmd("SET")
            .arg("fresh")
            .arg("f")
            .arg("nx")
            .query::<Option<String>>(&mut con)?
            .as_deref(),
        Some("OK")
    );

    // XX: only if present.
    assert_eq!(
        cmd("SET")
            .arg("absent")
            .arg("x")
            .arg("XX")
            .query::<Option<String>>(&mut con)?,
        None
    );
    assert_eq!(cmd("EXISTS").arg("absent").query::<i64>(&mut con)?, 0);
    assert_eq!(
        cmd("SET")
            .arg("k")
            .arg("v3")
            .arg("XX")
            .query::<Option<String>>(&mut con)?
            .as_deref(),
        Some("OK")
    );
    assert_eq!(get(&mut con, "k")?.as_deref(), Some("v3"));

    // GET: the old value (or nil) instead of OK.
    assert_eq!(
        cmd("SET")
            .arg("k")
            .arg("v4")
            .arg("GET")
            .query::<Option<String>>(&mut con)?
            .as_deref(),
        Some("v3")
    );
    assert_eq!(
        cmd("SET")
            .arg("nothing")
            .arg("n")
            .arg("GET")
            .query::<Option<String>>(&mut con)?,
        None
    );
    assert_eq!(get(&mut con, "nothing")?.as_deref(), Some("n"));
    // NX GET on an existing key: not written, old value returned.
    assert_eq!(
        cmd("SET")
            .arg("k")
            .arg("v5")
            .arg("NX")
            .arg("GET")
            .query::<Option<String>>(&mut con)?
            .as_deref(),
        Some("v4")
    );
    assert_eq!(get(&mut con, "k")?.as_deref(), Some("v4"));
    Ok(())
}

#[test]
fn set_expiry_options() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    let ttl = |con: &mut redis::Connection, key: &str| cmd("TTL").arg(key).query::<i64>(con);
    let pttl = |con: &mut redis::Connection, key: &str| cmd("PTTL").arg(key).query::<i64>(con);

    cmd("SET")
        .arg("ex")
        .arg("v")
        .arg("EX")
        .arg(100)
        .exec(&mut con)?;
    assert!((99..=100).contains(&ttl(&mut con, "ex")?));

    cmd("SET")
        .arg("px")
        .arg("v")
        .arg("PX")
        .arg(100_000)
        .exec(&mut con)?;
    let left = pttl(&mut con, "px")?;
    assert!((90_000..=100_000).contains(&left), "PTTL {left}");

    let at_seconds = unix_millis() / 1000 + 1000;
    cmd("SET")
        .arg("exat")
        .arg("v")
        .arg("EXAT")
        .arg(at_seconds)
        .exec(&mut con)?;
    assert_eq!(
        cmd("EXPIRETIME").arg("exat").query::<i64>(&mut con)?,
        at_seconds
    );

    let at_millis = unix_millis() + 1_000_000;
    cmd("SET")
        .arg("pxat")
        .arg("v")
        .arg("PXAT")
        .arg(at_millis)
        .exec(&mut con)?;
    assert_eq!(
        cmd("PEXPIRETIME").arg("pxat").query::<i64>(&mut con)?,
        at_millis
    );

    // KEEPTTL keeps it; a plain SET clears it.
    cmd("SET")
        .arg("ex")
        .arg("v2")
        .arg("KEEPTTL")
        .exec(&mut con)?;
    assert!((99..=100).contains(&ttl(&mut con, "ex")?));
    assert_eq!(cmd("GET").arg("ex").query::<String>(&mut con)?, "v2");
    cmd("SET").arg("ex").arg("v3").exec(&mut con)?;
    assert_eq!(ttl(&mut con, "ex")?, -1);

    // A time already past deletes nothing else but the key is gone at once.
    cmd("SET")
        .arg("past")
        .arg("v")
        .arg("PXAT")
        .arg(unix_millis() - 10_000)
        .exec(&mut con)?;
    assert_eq!(
        cmd("GET").arg("past").query::<Option<String>>(&mut con)?,
        None
    );
    Ok(())
}

#[test]
fn set_refuses_bad_options_with_redis_texts() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    let syntax = "ERR syntax error";
    let set = |options: &[&str]| {
        let mut c = cmd("SET");
        c.arg("k").arg("v");
        for option in options {
            c.arg(*option);
        }
        c
    };
    assert_error(&set(&["NX", "XX"]), &mut con, syntax)?;
    assert_error(&set(&["EX"]), &mut con, syntax)?;
    assert_error(&set(&["FOO"]), &mut con, syntax)?;
    assert_error(&set(&["EX", "10", "PX", "10"]), &mut con, syntax)?;
    assert_error(&set(&["KEEPTTL", "EX", "10"]), &mut con, syntax)?;
    assert_error(
        &set(&["EX", "abc"]),
        &mut con,
        "ERR value is not an integer or out of range",
    )?;
    assert_error(
        &set(&["EX", "0"]),
        &mut con,
        "ERR invalid expire time in 'set' command",
    )?;
    assert_error(
        &set(&["PX", "-5"]),
        &mut con,
        "ERR invalid expire time in 'set' command",
    )?;
    assert_error(
        &set(&["EX", "9223372036854775807"]),
        &mut con,
        "ERR invalid expire time in 'set' command",
    )?;
    // Fits as milliseconds, overflows once added to the clock.
    assert_error(
        &set(&["PX", "9223372036854775807"]),
        &mut con,
        "ERR invalid expire time in 'set' command",
    )?;
    assert_error(
        cmd("SET").arg("k"),
        &mut con,
        "ERR wrong number of arguments for 'set' command",
    )?;
    assert_error(
        cmd("SETEX").arg("k").arg(0).arg("v"),
        &mut con,
        "ERR invalid expire time in 'setex' command",
    )?;
    assert_error(
        cmd("PSETEX").arg("k").arg(-1).arg("v"),
        &mut con,
        "ERR invalid expire time in 'psetex' command",
    )?;
    // Nothing above wrote the key.
    assert_eq!(cmd("EXISTS").arg("k").query::<i64>(&mut con)?, 0);
    Ok(())
}

#[test]
fn multi_key_and_conditional_setters() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    assert_eq!(
        cmd("MSET")
            .arg("a")
            .arg("1")
            .arg("b")
            .arg("2")
            .query::<String>(&mut con)?,
        "OK"
    );
    let values: Vec<Option<String>> = cmd("MGET")
        .arg("a")
        .arg("missing")
        .arg("b")
        .query(&mut con)?;
    assert_eq!(values, [Some("1".to_owned()), None, Some("2".to_owned())]);
    assert_error(
        cmd("MSET").arg("a").arg("1").arg("b"),
        &mut con,
        "ERR wrong number of arguments for 'mset' command",
    )?;

    // The last of a key named twice wins.
    cmd("MSET")
        .arg(&["dup", "first", "dup", "second"])
        .exec(&mut con)?;
    assert_eq!(cmd("GET").arg("dup").query::<String>(&mut con)?, "second");
    assert_eq!(
        cmd("MSETNX")
            .arg(&["dup2", "first", "dup2", "second"])
            .query::<i64>(&mut con)?,
        1
    );
    assert_eq!(cmd("GET").arg("dup2").query::<String>(&mut con)?, "second");

    // MSETNX is all or nothing.
    assert_eq!(
        cmd("MSETNX")
            .arg("c")
            .arg("3")
            .arg("a")
            .arg("x")
            .query::<i64>(&mut con)?,
        0
    );
    assert_eq!(cmd("EXISTS").arg("c").query::<i64>(&mut con)?, 0);
    assert_eq!(cmd("GET").arg("a").query::<String>(&mut con)?, "1");
    assert_eq!(
        cmd("MSETNX")
            .arg("c")
            .arg("3")
            .arg("d")
            .arg("4")
            .query::<i64>(&mut con)?,
        1
    );
    assert_eq!(
        cmd("MGET")
            .arg("c")
            .arg("d")
            .query::<Vec<String>>(&mut con)?,
        ["3", "4"]
    );

    assert_eq!(
        cmd("SETNX").arg("n").arg("first").query::<i64>(&mut con)?,
        1
    );
    assert_eq!(
        cmd("SETNX").arg("n").arg("second").query::<i64>(&mut con)?,
        0
    );
    assert_eq!(cmd("GET").arg("n").query::<String>(&mut con)?, "first");

    assert_eq!(
        cmd("SETEX")
            .arg("se")
            .arg(100)
            .arg("v")
            .query::<String>(&mut con)?,
        "OK"
    );
    assert!((99..=100).contains(&cmd("TTL").arg("se").query::<i64>(&mut con)?));
    assert_eq!(
        cmd("PSETEX")
            .arg("pse")
            .arg(100_000)
            .arg("v")
            .query::<String>(&mut con)?,
        "OK"
    );
    assert!((90_000..=100_000).contains(&cmd("PTTL").arg("pse").query::<i64>(&mut con)?));
    assert_eq!(cmd("GET").arg("pse").query::<String>(&mut con)?, "v");

    // GETSET returns the old value and, like SET, clears the expiry.
    assert_eq!(
        cmd("GETSET")
            .arg("se")
            .arg("new")
            .query::<Option<String>>(&mut con)?
            .as_deref(),
        Some("v")
    );
    assert_eq!(cmd("TTL").arg("se").query::<i64>(&mut con)?, -1);
    assert_eq!(
        cmd("GETSET")
            .arg("gs-missing")
            .arg("x")
            .query::<Option<String>>(&mut con)?,
        None
    );
    assert_eq!(cmd("GET").arg("gs-missing").query::<String>(&mut con)?, "x");
    Ok(())
}

#[test]
fn getdel_and_getex() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    cmd("SET").arg("k").arg("v").exec(&mut con)?;
    assert_eq!(
        cmd("GETDEL")
            .arg("k")
            .query::<Option<String>>(&mut con)?
            .as_deref(),
        Some("v")
    );
    assert_eq!(cmd("EXISTS").arg("k").query::<i64>(&mut con)?, 0);
    assert_eq!(
        cmd("GETDEL").arg("k").query::<Option<String>>(&mut con)?,
        None
    );

    cmd("SET").arg("g").arg("v").exec(&mut con)?;
    let ttl = |con: &mut redis::Connection| cmd("TTL").arg("g").query::<i64>(con);
    assert_eq!(cmd("GETEX").arg("g").query::<String>(&mut con)?, "v");
    assert_eq!(ttl(&mut con)?, -1);
    assert_eq!(
        cmd("GETEX")
            .arg("g")
            .arg("EX")
            .arg(100)
            .query::<String>(&mut con)?,
        "v"
    );
    assert!((99..=100).contains(&ttl(&mut con)?));
    assert_eq!(
        cmd("GETEX")
            .arg("g")
            .arg("PX")
            .arg(50_000)
            .query::<String>(&mut con)?,
        "v"
    );
    assert!((49..=50).contains(&ttl(&mut con)?));
    let at_seconds = unix_millis() / 1000 + 2000;
    cmd("GETEX")
        .arg("g")
        .arg("EXAT")
        .arg(at_seconds)
        .exec(&mut con)?;
    assert_eq!(
        cmd("EXPIRETIME").arg("g").query::<i64>(&mut con)?,
        at_seconds
    );
    let at_millis = unix_millis() + 3_000_000;
    cmd("GETEX")
        .arg("g")
        .arg("PXAT")
        .arg(at_millis)
        .exec(&mut con)?;
    assert_eq!(
        cmd("PEXPIRETIME").arg("g").query::<i64>(&mut con)?,
        at_millis
    );
    assert_eq!(
        cmd("GETEX")
            .arg("g")
            .arg("PERSIST")
            .query::<String>(&mut con)?,
        "v"
    );
    assert_eq!(ttl(&mut con)?, -1);

    assert_eq!(
        cmd("GETEX")
            .arg("missing")
            .query::<Option<String>>(&mut con)?,
        None
    );
    // A time already past: the value comes back and the key is gone.
    cmd("SET").arg("short").arg("s").exec(&mut con)?;
    assert_eq!(
        cmd("GETEX")
            .arg("short")
            .arg("PXAT")
            .arg(1)
            .query::<Option<String>>(&mut con)?
            .as_deref(),
        Some("s")
    );
    assert_eq!(cmd("EXISTS").arg("short").query::<i64>(&mut con)?, 0);
    assert_error(
        cmd("GETEX").arg("g").arg("EX").arg(10).arg("PERSIST"),
        &mut con,
        "ERR syntax error",
    )?;
    assert_error(
        cmd("GETEX").arg("g").arg("EX").arg(0),
        &mut con,
        "ERR invalid expire time in 'getex' command",
    )?;
    assert_error(
        cmd("GETEX").arg("g").arg("BOGUS"),
        &mut con,
        "ERR syntax error",
    )?;
    Ok(())
}
