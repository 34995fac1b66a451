//! `APPEND`, `STRLEN` and the counters: `INCR`, `DECR`, `INCRBY`, `DECRBY`, `INCRBYFLOAT`, with
//! Redis 7's overflow and not-a-number texts.

use redis::cmd;

use crate::support::{assert_error, start};

#[test]
fn append_and_strlen() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    assert_eq!(cmd("STRLEN").arg("s").query::<i64>(&mut con)?, 0);
    assert_eq!(cmd("APPEND").arg("s").arg("ab").query::<i64>(&mut con)?, 2);
    assert_eq!(cmd("APPEND").arg("s").arg("cde").query::<i64>(&mut con)?, 5);
    assert_eq!(cmd("GET").arg("s").query::<String>(&mut con)?, "abcde");
    assert_eq!(cmd("STRLEN").arg("s").query::<i64>(&mut con)?, 5);
    // APPEND keeps the expiry of the key.
    cmd("EXPIRE").arg("s").arg(100).exec(&mut con)?;
    cmd("APPEND").arg("s").arg("f").exec(&mut con)?;
    assert!(cmd("TTL").arg("s").query::<i64>(&mut con)? > 0);
    Ok(())
}

#[test]
fn integer_counters() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    let mut run = |name: &str, args: &[&str]| {
        let mut c = cmd(name);
        c.arg("n");
        for a in args {
            c.arg(*a);
        }
        c.query::<i64>(&mut con)
    };
    assert_eq!(run("INCR", &[])?, 1);
    assert_eq!(run("INCR", &[])?, 2);
    assert_eq!(run("DECR", &[])?, 1);
    assert_eq!(run("INCRBY", &["10"])?, 11);
    assert_eq!(run("DECRBY", &["5"])?, 6);
    assert_eq!(run("INCRBY", &["-7"])?, -1);
    assert_eq!(run("DECRBY", &["-3"])?, 2);
    assert_eq!(cmd("GET").arg("n").query::<String>(&mut con)?, "2");
    assert_eq!(cmd("DECR").arg("fresh").query::<i64>(&mut con)?, -1);
    // Counting keeps the key's expiry.
    cmd("SET")
        .arg("ttl")
        .arg(5)
        .arg("EX")
        .arg(100)
        .exec(&mut con)?;
    assert_eq!(cmd("INCRBY").arg("ttl").arg(5).query::<i64>(&mut con)?, 10);
    assert!(
        cmd("TTL").arg("ttl").query::<i64>(&mut con)? > 0,
        "INCRBY dropped the TTL"
    );

    let overflow = "ERR increment or decrement would overflow";
    cmd("SET").arg("max").arg(i64::MAX).exec(&mut con)?;
    assert_error(cmd("INCR").arg("max"), &mut con, overflow)?;
    assert_error(cmd("INCRBY").arg("max").arg(1), &mut con, overflow)?;
    assert_eq!(cmd("GET").arg("max").query::<i64>(&mut con)?, i64::MAX);
    cmd("SET").arg("min").arg(i64::MIN).exec(&mut con)?;
    assert_error(cmd("DECR").arg("min"), &mut con, overflow)?;
    assert_error(cmd("DECRBY").arg("min").arg(1), &mut con, overflow)?;
    // -i64::MIN does not exist, whatever the key holds.
    assert_error(
        cmd("DECRBY").arg("n").arg(i64::MIN),
        &mut con,
        "ERR decrement would overflow",
    )?;

    let not_integer = "ERR value is not an integer or out of range";
    cmd("SET").arg("text").arg("abc").exec(&mut con)?;
    assert_error(cmd("INCR").arg("text"), &mut con, not_integer)?;
    cmd("SET").arg("spaced").arg(" 1").exec(&mut con)?;
    assert_error(cmd("INCR").arg("spaced"), &mut con, not_integer)?;
    assert_error(cmd("INCRBY").arg("n").arg("1.5"), &mut con, not_integer)?;
    assert_error(
        cmd("INCRBY").arg("n").arg("99999999999999999999"),
        &mut con,
        not_integer,
    )?;
    assert_eq!(cmd("GET").arg("text").query::<String>(&mut con)?, "abc");
    Ok(())
}

#[test]
fn float_counter() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    let incr = |con: &mut redis::Connection, key: &str, by: &str| {
        cmd("INCRBYFLOAT").arg(key).arg(by).query::<String>(con)
    };
    assert_eq!(incr(&mut con, "f", "1.5")?, "1.5");
    assert_eq!(incr(&mut con, "f", "10.5")?, "12");
    assert_eq!(incr(&mut con, "f", "-12")?, "0");
    cmd("SET").arg("e").arg("5.0e3").exec(&mut con)?;
    assert_eq!(incr(&mut con, "e", "2.0e2")?, "5200");
    assert_eq!(cmd("GET").arg("e").query::<String>(&mut con)?, "5200");
    cmd("SET").arg("i").arg(10).exec(&mut con)?;
    assert_eq!(incr(&mut con, "i", "0.1")?, "10.1");
    cmd("EXPIRE").arg("i").arg(100).exec(&mut con)?;
    assert_eq!(incr(&mut con, "i", "0.9")?, "11");
    assert!(
        cmd("TTL").arg("i").query::<i64>(&mut con)? > 0,
        "INCRBYFLOAT dropped the TTL"
    );

    cmd("SET").arg("text").arg("abc").exec(&mut con)?;
    assert_error(
        cmd("INCRBYFLOAT").arg("text").arg("1"),
        &mut con,
        "ERR value is not a valid float",
    )?;
    assert_error(
        cmd("INCRBYFLOAT").arg("f").arg("abc"),
        &mut con,
        "ERR value is not a valid float",
    )?;
    // An infinite increment makes any sum infinite: Redis's reply for that. (A finite sum past
    // f64::MAX is not checked: Redis adds in long double, so 1.7e308 + 1.7e308 is a number there.)
    assert_error(
        cmd("INCRBYFLOAT").arg("f").arg("inf"),
        &mut con,
        "ERR increment would produce NaN or Infinity",
    )?;
    assert_eq!(cmd("GET").arg("f").query::<String>(&mut con)?, "0");
    Ok(())
}
