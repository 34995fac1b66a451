//! The keyspace commands: deletion and existence, the `EXPIRE` family with `NX`/`XX`/`GT`/`LT`,
//! `TTL` and friends, `TYPE`, `DBSIZE`, the flushes, `SCAN`, `KEYS` and `RANDOMKEY`.

use std::collections::HashSet;

use redis::cmd;

use crate::support::{assert_error, start, unix_millis};

fn int(c: &redis::Cmd, con: &mut redis::Connection) -> anyhow::Result<i64> {
    Ok(c.query::<i64>(con)?)
}

#[test]
fn del_unlink_exists_touch() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    cmd("MSET")
        .arg(&["a", "1", "b", "2", "c", "3", "d", "4"])
        .exec(&mut con)?;
    // EXISTS counts a key named twice twice, as Redis does.
    assert_eq!(
        int(cmd("EXISTS").arg(&["a", "a", "missing", "b"]), &mut con)?,
        3
    );
    assert_eq!(int(cmd("TOUCH").arg(&["a", "missing", "c"]), &mut con)?, 2);
    assert_eq!(int(cmd("DEL").arg(&["a", "b", "missing"]), &mut con)?, 2);
    assert_eq!(int(cmd("EXISTS").arg(&["a", "b"]), &mut con)?, 0);
    assert_eq!(int(cmd("UNLINK").arg(&["c", "missing"]), &mut con)?, 1);
    assert_eq!(int(cmd("DEL").arg("missing"), &mut con)?, 0);
    // A key named twice is deleted once and counted once; TOUCH counts it twice.
    cmd("MSET").arg(&["x", "1", "y", "2"]).exec(&mut con)?;
    assert_eq!(int(cmd("TOUCH").arg(&["x", "x"]), &mut con)?, 2);
    assert_eq!(int(cmd("DEL").arg(&["x", "x"]), &mut con)?, 1);
    assert_eq!(int(cmd("UNLINK").arg(&["y", "y", "y"]), &mut con)?, 1);
    assert_eq!(int(&cmd("DBSIZE"), &mut con)?, 1);
    assert_error(
        &cmd("DEL"),
        &mut con,
        "ERR wrong number of arguments for 'del' command",
    )?;
    Ok(())
}

#[test]
fn expire_family_and_ttl_queries() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    let ttl = |con: &mut redis::Connection, key: &str| int(cmd("TTL").arg(key), con);
    cmd("SET").arg("k").arg("v").exec(&mut con)?;

    assert_eq!(ttl(&mut con, "missing")?, -2);
    assert_eq!(int(cmd("PTTL").arg("missing"), &mut con)?, -2);
    assert_eq!(int(cmd("EXPIRETIME").arg("missing"), &mut con)?, -2);
    assert_eq!(int(cmd("PEXPIRETIME").arg("missing"), &mut con)?, -2);
    assert_eq!(ttl(&mut con, "k")?, -1);
    assert_eq!(int(cmd("PTTL").arg("k"), &mut con)?, -1);
    assert_eq!(int(cmd("EXPIRETIME").arg("k"), &mut con)?, -1);
    assert_eq!(int(cmd("PEXPIRETIME").arg("k"), &mut con)?, -1);

    assert_eq!(int(cmd("EXPIRE").arg("missing").arg(100), &mut con)?, 0);
    assert_eq!(int(cmd("EXPIRE").arg("k").arg(100), &mut con)?, 1);
    assert!((99..=100).contains(&ttl(&mut con, "k")?));
    assert_eq!(int(cmd("PEXPIRE").arg("k").arg(200_000), &mut con)?, 1);
    let pttl = int(cmd("PTTL").arg("k"), &mut con)?;
    assert!((190_000..=200_000).contains(&pttl), "PTTL {pttl}");

    let at = unix_millis() / 1000 + 5000;
    assert_eq!(int(cmd("EXPIREAT").arg("k").arg(at), &mut con)?, 1);
    assert_eq!(int(cmd("EXPIRETIME").arg("k"), &mut con)?, at);
    assert_eq!(int(cmd("PEXPIRETIME").arg("k"), &mut con)?, at * 1000);
    let at_ms = unix_millis() + 6_000_000;
    assert_eq!(int(cmd("PEXPIREAT").arg("k").arg(at_ms), &mut con)?, 1);
    assert_eq!(int(cmd("PEXPIRETIME").arg("k"), &mut con)?, at_ms);
    assert_eq!(int(cmd("EXPIRETIME").arg("k"), &mut con)?, at_ms / 1000);

    // TTL rounds to the nearest second, as Redis does.
    let mut pipe = redis::pipe();
    pipe.cmd("SET")
        .arg("r1")
        .arg("v")
        .arg("PX")
        .arg(1600)
        .ignore();
    pipe.cmd("SET")
        .arg("r2")
        .arg("v")
        .arg("PX")
        .arg(1400)
        .ignore();
    pipe.cmd("TTL").arg("r1").cmd("TTL").arg("r2");
    assert_eq!(pipe.query::<(i64, i64)>(&mut con)?, (2, 1));

    assert_eq!(int(cmd("PERSIST").arg("k"), &mut con)?, 1);
    assert_eq!(ttl(&mut con, "k")?, -1);
    assert_eq!(int(cmd("PERSIST").arg("k"), &mut con)?, 0);
    assert_eq!(int(cmd("PERSIST").arg("missing"), &mut con)?, 0);

    // A time not in the future deletes the key, and the reply is still 1.
    for (name, time) in [
        ("EXPIRE", 0),
        ("PEXPIRE", -5),
        ("EXPIREAT", 1),
        ("PEXPIREAT", unix_millis() - 1000),
    ] {
        cmd("SET").arg("gone").arg("v").exec(&mut con)?;
        assert_eq!(
            int(cmd(name).arg("gone").arg(time), &mut con)?,
            1,
            "{name} {time}"
        );
        assert_eq!(
            int(cmd("EXISTS").arg("gone"), &mut con)?,
            0,
            "{name} {time} leaves the key"
        );
    }

    assert_error(
        cmd("EXPIRE").arg("k").arg("abc"),
        &mut con,
        "ERR value is not an integer or out of range",
    )?;
    assert_error(
        cmd("EXPIRE").arg("k").arg("9223372036854775807"),
        &mut con,
        "ERR invalid expire time in 'expire' command",
    )?;
    assert_error(
        cmd("PEXPIRE").arg("k").arg("9223372036854775807"),
        &mut con,
        "ERR invalid expire time in 'pexpire' command",
    )?;
    assert_eq!(ttl(&mut con, "k")?, -1, "a refused EXPIRE changed nothing");
    Ok(())
}

#[test]
fn expire_conditions() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    let expire = |con: &mut redis::Connection, key: &str, secs: i64, options: &[&str]| {
        int(cmd("EXPIRE").arg(key).arg(secs).arg(options), con)
    };
    let ttl = |con: &mut redis::Connection, key: &str| int(cmd("TTL").arg(key), con);
    cmd("SET").arg("p").arg("v").exec(&mut con)?; // persistent
    cmd("SET")
        .arg("t")
        .arg("v")
        .arg("EX")
        .arg(100)
        .exec(&mut con)?; // TTL 100

    // NX: only without an expiry.
    assert_eq!(expire(&mut con, "t", 500, &["NX"])?, 0);
    assert!(ttl(&mut con, "t")? <= 100);
    // XX: only with an expiry.
    assert_eq!(expire(&mut con, "p", 500, &["XX"])?, 0);
    assert_eq!(ttl(&mut con, "p")?, -1);
    assert_eq!(expire(&mut con, "t", 200, &["XX"])?, 1);
    assert!((199..=200).contains(&ttl(&mut con, "t")?));
    // GT: no expiry counts as infinite, so GT never applies to a persistent key.
    assert_eq!(expire(&mut con, "p", 500, &["GT"])?, 0);
    assert_eq!(ttl(&mut con, "p")?, -1);
    assert_eq!(expire(&mut con, "t", 100, &["GT"])?, 0);
    assert_eq!(expire(&mut con, "t", 300, &["GT"])?, 1);
    assert!((299..=300).contains(&ttl(&mut con, "t")?));
    // XX LT: needs an expiry and a smaller time.
    assert_eq!(expire(&mut con, "p", 500, &["XX", "LT"])?, 0);
    assert_eq!(ttl(&mut con, "p")?, -1);
    assert_eq!(expire(&mut con, "t", 250, &["LT", "XX"])?, 1);
    assert!((249..=250).contains(&ttl(&mut con, "t")?));
    // LT: a persistent key's infinite expiry is always greater.
    assert_eq!(expire(&mut con, "t", 400, &["LT"])?, 0);
    assert_eq!(expire(&mut con, "t", 150, &["LT"])?, 1);
    assert!((149..=150).contains(&ttl(&mut con, "t")?));
    assert_eq!(expire(&mut con, "p", 500, &["LT"])?, 1);
    assert!((499..=500).contains(&ttl(&mut con, "p")?));
    // NX on a key without expiry.
    cmd("SET").arg("q").arg("v").exec(&mut con)?;
    assert_eq!(expire(&mut con, "q", 600, &["NX"])?, 1);
    assert!((599..=600).contains(&ttl(&mut con, "q")?));
    // The same conditions on the other three commands.
    cmd("SET").arg("r").arg("v").exec(&mut con)?;
    assert_eq!(
        int(cmd("PEXPIRE").arg("r").arg(100_000).arg("XX"), &mut con)?,
        0
    );
    assert_eq!(
        int(cmd("PEXPIRE").arg("r").arg(100_000).arg("NX"), &mut con)?,
        1
    );
    let later = unix_millis() / 1000 + 10_000;
    assert_eq!(
        int(cmd("EXPIREAT").arg("r").arg(later).arg("GT"), &mut con)?,
        1
    );
    assert_eq!(
        int(
            cmd("PEXPIREAT").arg("r").arg(later * 1000 + 5000).arg("LT"),
            &mut con
        )?,
        0
    );
    assert_eq!(int(cmd("EXPIRETIME").arg("r"), &mut con)?, later);

    assert_error(
        cmd("EXPIRE").arg("t").arg(10).arg("NX").arg("XX"),
        &mut con,
        "ERR NX and XX, GT or LT options at the same time are not compatible",
    )?;
    assert_error(
        cmd("EXPIRE").arg("t").arg(10).arg("GT").arg("LT"),
        &mut con,
        "ERR GT and LT options at the same time are not compatible",
    )?;
    assert_error(
        cmd("EXPIRE").arg("t").arg(10).arg("FOO"),
        &mut con,
        "ERR Unsupported option FOO",
    )?;
    Ok(())
}

#[test]
fn type_dbsize_and_flushes() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    cmd("SET").arg("s").arg("v").exec(&mut con)?;
    assert_eq!(cmd("TYPE").arg("s").query::<String>(&mut con)?, "string");
    assert_eq!(
        cmd("TYPE").arg("missing").query::<String>(&mut con)?,
        "none"
    );

    cmd("MSET").arg(&["a", "1", "b", "2"]).exec(&mut con)?;
    assert_eq!(int(&cmd("DBSIZE"), &mut con)?, 3);
    let used_before = crate::support::info_number(&mut con, "memory", "used_memory")?;
    assert_eq!(cmd("FLUSHDB").query::<String>(&mut con)?, "OK");
    assert_eq!(int(&cmd("DBSIZE"), &mut con)?, 0);
    assert_eq!(cmd("GET").arg("a").query::<Option<String>>(&mut con)?, None);
    let used_after = crate::support::info_number(&mut con, "memory", "used_memory")?;
    assert!(
        used_after < used_before,
        "used_memory {used_before} -> {used_after} across FLUSHDB"
    );

    cmd("MSET").arg(&["a", "1", "b", "2"]).exec(&mut con)?;
    assert_eq!(cmd("FLUSHALL").query::<String>(&mut con)?, "OK");
    assert_eq!(int(&cmd("DBSIZE"), &mut con)?, 0);
    cmd("SET").arg("a").arg("1").exec(&mut con)?;
    assert_eq!(
        cmd("FLUSHALL").arg("ASYNC").query::<String>(&mut con)?,
        "OK"
    );
    assert_eq!(cmd("FLUSHDB").arg("SYNC").query::<String>(&mut con)?, "OK");
    assert_eq!(int(&cmd("DBSIZE"), &mut con)?, 0);
    assert_error(cmd("FLUSHALL").arg("LATER"), &mut con, "ERR syntax error")?;
    // The store still works after a flush.
    cmd("SET").arg("after").arg("v").exec(&mut con)?;
    assert_eq!(cmd("GET").arg("after").query::<String>(&mut con)?, "v");
    Ok(())
}

/// Walks a whole `SCAN` with `options`, checking that no key comes twice.
fn scan_all(con: &mut redis::Connection, options: &[&str]) -> anyhow::Result<HashSet<String>> {
    let mut seen = HashSet::new();
    let mut cursor = 0u64;
    for _ in 0..100_000 {
        let (next, keys): (u64, Vec<String>) = cmd("SCAN").arg(cursor).arg(options).query(con)?;
        for key in keys {
            assert!(seen.insert(key.clone()), "SCAN returned {key} twice");
        }
        cursor = next;
        if cursor == 0 {
            return Ok(seen);
        }
    }
    anyhow::bail!("SCAN did not come back to cursor 0")
}

#[test]
fn scan_visits_every_key_once() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    let mut pipe = redis::pipe();
    let mut users = HashSet::new();
    for i in 0..1000 {
        let key = format!("user:{i}");
        pipe.cmd("SET").arg(&key).arg(i).ignore();
        users.insert(key);
    }
    for i in 0..200 {
        pipe.cmd("SET").arg(format!("order:{i}")).arg(i).ignore();
    }
    pipe.exec(&mut con)?;

    let all = scan_all(&mut con, &[])?;
    assert_eq!(all.len(), 1200);
    assert!(users.is_subset(&all));
    assert_eq!(scan_all(&mut con, &["COUNT", "7"])?, all);
    assert_eq!(
        scan_all(&mut con, &["MATCH", "user:*", "COUNT", "100"])?,
        users
    );
    assert_eq!(scan_all(&mut con, &["MATCH", "order:1?"])?.len(), 10);
    assert_eq!(scan_all(&mut con, &["TYPE", "string"])?.len(), 1200);
    assert!(scan_all(&mut con, &["TYPE", "hash"])?.is_empty());

    // One SCAN page holds at most about COUNT keys, so small counts really paginate.
    let (next, page): (u64, Vec<String>) =
        cmd("SCAN").arg(0).arg("COUNT").arg(10).query(&mut con)?;
    assert_ne!(next, 0, "1200 keys fit in one COUNT 10 page");
    assert!(page.len() <= 20, "COUNT 10 page has {} keys", page.len());

    assert_error(cmd("SCAN").arg("abc"), &mut con, "ERR invalid cursor")?;
    assert_error(
        cmd("SCAN").arg(0).arg("COUNT").arg(0),
        &mut con,
        "ERR syntax error",
    )?;
    assert_error(
        cmd("SCAN").arg(0).arg("MATCH"),
        &mut con,
        "ERR syntax error",
    )?;
    Ok(())
}

#[test]
fn scan_under_concurrent_writes_still_returns_every_stable_key() -> anyhow::Result<()> {
    let (node, mut con) = start(&[])?;
    let mut pipe = redis::pipe();
    let mut stable = HashSet::new();
    for i in 0..2000 {
        let key = format!("stable:{i}");
        pipe.cmd("SET").arg(&key).arg(i).ignore();
        stable.insert(key);
    }
    pipe.exec(&mut con)?;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let mut other = crate::support::connect(&node)?;
        let stop = stop.clone();
        std::thread::spawn(move || -> anyhow::Result<()> {
            let mut round = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut pipe = redis::pipe();
                // Grow the tables and free slots while the walk goes on.
                for i in 0..200 {
                    pipe.cmd("SET")
                        .arg(format!("churn:{round}:{i}"))
                        .arg(i)
                        .ignore();
                }
                if round > 0 {
                    for i in 0..200 {
                        pipe.cmd("DEL")
                            .arg(format!("churn:{}:{i}", round - 1))
                            .ignore();
                    }
                }
                pipe.exec(&mut other)?;
                round += 1;
            }
            Ok(())
        })
    };
    // Keys may come twice while the keyspace changes; every stable key must come at least once.
    let mut seen = HashSet::new();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(20)
            .query(&mut con)?;
        seen.extend(keys);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn
        .join()
        .map_err(|_| anyhow::anyhow!("the churn thread panicked"))??;
    let missed: Vec<&String> = stable.iter().filter(|k| !seen.contains(*k)).collect();
    assert!(
        missed.is_empty(),
        "SCAN missed {} stable keys, e.g. {:?}",
        missed.len(),
        &missed[..missed.len().min(5)]
    );
    Ok(())
}

#[test]
fn keys_and_randomkey() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    assert_eq!(cmd("RANDOMKEY").query::<Option<String>>(&mut con)?, None);
    assert!(
        cmd("KEYS")
            .arg("*")
            .query::<Vec<String>>(&mut con)?
            .is_empty()
    );

    cmd("MSET")
        .arg(&[
            "hello", "1", "hallo", "2", "hxllo", "3", "hllo", "4", "heeeello", "5", "a*b", "6",
        ])
        .exec(&mut con)?;
    let keys = |con: &mut redis::Connection, pattern: &str| -> anyhow::Result<Vec<String>> {
        let mut found: Vec<String> = cmd("KEYS").arg(pattern).query(con)?;
        found.sort();
        Ok(found)
    };
    assert_eq!(keys(&mut con, "*")?.len(), 6);
    assert_eq!(keys(&mut con, "h?llo")?, ["hallo", "hello", "hxllo"]);
    assert_eq!(
        keys(&mut con, "h*llo")?,
        ["hallo", "heeeello", "hello", "hllo", "hxllo"]
    );
    assert_eq!(keys(&mut con, "h[ae]llo")?, ["hallo", "hello"]);
    assert_eq!(keys(&mut con, "h[^e]llo")?, ["hallo", "hxllo"]);
    assert_eq!(keys(&mut con, "h[a-b]llo")?, ["hallo"]);
    assert_eq!(keys(&mut con, "a\\*b")?, ["a*b"]);
    assert!(keys(&mut con, "nomatch*")?.is_empty());

    let all: HashSet<String> = keys(&mut con, "*")?.into_iter().collect();
    for _ in 0..20 {
        let key: String = cmd("RANDOMKEY").query(&mut con)?;
        assert!(
            all.contains(&key),
            "RANDOMKEY gave {key}, not a key of the store"
        );
    }
    Ok(())
}
