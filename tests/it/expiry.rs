//! Keys with a time to live disappear: when read after their time (lazy expiry), and without
//! anyone reading them, by the node's background cycle (active expiry).

use std::time::Duration;

use redis::{Value, cmd};

use crate::support::{eventually, info_number, start};

#[test]
fn a_key_set_with_px_is_gone_after_it_expires() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    // One batch, so nothing can expire between the SET and the reads.
    let mut pipe = redis::pipe();
    pipe.cmd("SET").arg("short").arg("lived").arg("PX").arg(100);
    pipe.cmd("PTTL").arg("short");
    pipe.cmd("GET").arg("short");
    let (ok, pttl, value): (String, i64, Option<String>) = pipe.query(&mut con)?;
    assert_eq!(ok, "OK");
    assert!(
        (1..=100).contains(&pttl),
        "PTTL right after SET PX 100 is {pttl}"
    );
    assert_eq!(value.as_deref(), Some("lived"));

    eventually(Duration::from_secs(3), || {
        Ok(cmd("GET")
            .arg("short")
            .query::<Option<String>>(&mut con)?
            .is_none()
            .then_some(()))
    })?;
    assert_eq!(cmd("TTL").arg("short").query::<i64>(&mut con)?, -2);
    assert_eq!(cmd("EXISTS").arg("short").query::<i64>(&mut con)?, 0);
    // Rewriting it without an expiry makes it stay.
    cmd("SET").arg("short").arg("again").exec(&mut con)?;
    assert_eq!(cmd("TTL").arg("short").query::<i64>(&mut con)?, -1);
    Ok(())
}

#[test]
fn expired_keys_are_invisible_to_every_read() -> anyhow::Result<()> {
    // hz 1: the background cycle is unlikely to remove them first; reads must hide them anyway.
    let (_node, mut con) = start(&["--hz", "1"])?;
    cmd("SET")
        .arg("k")
        .arg("v")
        .arg("PX")
        .arg(50)
        .exec(&mut con)?;
    cmd("SET").arg("stays").arg("v").exec(&mut con)?;
    eventually(Duration::from_secs(3), || {
        Ok((cmd("PTTL").arg("k").query::<i64>(&mut con)? == -2).then_some(()))
    })?;
    let mut pipe = redis::pipe();
    pipe.cmd("MGET").arg("k").arg("stays");
    pipe.cmd("STRLEN").arg("k");
    pipe.cmd("KEYS").arg("*");
    pipe.cmd("SET").arg("k").arg("new").arg("NX");
    let (mget, strlen, keys, nx): (Vec<Option<String>>, i64, Vec<String>, Value) =
        pipe.query(&mut con)?;
    assert_eq!(mget, [None, Some("v".to_owned())]);
    assert_eq!(strlen, 0);
    assert_eq!(keys, ["stays"]);
    assert_eq!(nx, Value::Okay, "SET NX refused on an expired key");
    Ok(())
}

#[test]
fn active_expiry_removes_keys_nobody_reads() -> anyhow::Result<()> {
    let (_node, mut con) = start(&["--hz", "10"])?;
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.cmd("SET")
            .arg(format!("temp:{i}"))
            .arg("v")
            .arg("PX")
            .arg(100)
            .ignore();
    }
    for i in 0..20 {
        pipe.cmd("SET").arg(format!("keep:{i}")).arg("v").ignore();
    }
    pipe.exec(&mut con)?;
    // Only DBSIZE and INFO from now on: they count keys without touching them.
    let items = eventually(Duration::from_secs(5), || {
        let items: i64 = cmd("DBSIZE").query(&mut con)?;
        Ok((items == 20).then_some(items))
    });
    let left: i64 = cmd("DBSIZE").query(&mut con)?;
    assert!(
        items.is_ok(),
        "DBSIZE still {left} five seconds after 500 keys expired"
    );
    assert!(info_number(&mut con, "stats", "expired_keys")? >= 500);
    let keyspace: String = cmd("INFO").arg("keyspace").query(&mut con)?;
    assert!(keyspace.contains("db0:keys=20,expires=0"), "{keyspace}");
    Ok(())
}
