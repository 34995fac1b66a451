//! Keyspace commands: the `EXPIRE` family with Redis 7's conditions, `SCAN`, flushes.

use super::{b, err, ok};
use crate::command::{Command, ExpireCondition, Expiry};

fn expire(expiry: Expiry, condition: Option<ExpireCondition>) -> Command {
    Command::Expire {
        key: b("k"),
        expiry,
        condition,
    }
}

#[test]
fn expire_units_and_bases() {
    assert_eq!(ok("expire k 10"), expire(Expiry::In(10_000), None));
    assert_eq!(ok("pexpire k 10"), expire(Expiry::In(10), None));
    assert_eq!(ok("expireat k 10"), expire(Expiry::At(10_000), None));
    assert_eq!(ok("pexpireat k 10"), expire(Expiry::At(10), None));
    // Zero and negative times are valid: the key goes away.
    assert_eq!(ok("expire k -1"), expire(Expiry::In(-1000), None));
    assert_eq!(ok("pexpireat k 0"), expire(Expiry::At(0), None));
    assert_eq!(
        err("expire k x"),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err("expire k 9223372036854776"),
        "ERR invalid expire time in 'expire' command"
    );
    assert_eq!(
        err("expire k -9223372036854776"),
        "ERR invalid expire time in 'expire' command"
    );
    assert_eq!(
        err("expireat k 9223372036854776"),
        "ERR invalid expire time in 'expireat' command"
    );
    assert_eq!(
        ok("pexpire k 9223372036854775807"),
        expire(Expiry::In(i64::MAX), None)
    );
}

#[test]
fn expire_conditions() {
    use ExpireCondition::*;
    assert_eq!(ok("expire k 1 nx"), expire(Expiry::In(1000), Some(IfNone)));
    assert_eq!(ok("expire k 1 XX"), expire(Expiry::In(1000), Some(IfSome)));
    assert_eq!(
        ok("expire k 1 gt"),
        expire(Expiry::In(1000), Some(IfGreater))
    );
    assert_eq!(ok("expire k 1 lt"), expire(Expiry::In(1000), Some(IfLess)));
    assert_eq!(
        ok("expire k 1 xx gt"),
        expire(Expiry::In(1000), Some(IfGreater))
    );
    assert_eq!(
        ok("expire k 1 lt xx"),
        expire(Expiry::In(1000), Some(IfSomeAndLess))
    );
    assert_eq!(
        ok("expire k 1 nx nx"),
        expire(Expiry::In(1000), Some(IfNone))
    );
    for line in [
        "expire k 1 nx xx",
        "expire k 1 nx gt",
        "expire k 1 lt nx",
        "pexpireat k 1 xx nx",
    ] {
        assert_eq!(
            err(line),
            "ERR NX and XX, GT or LT options at the same time are not compatible",
            "{line}"
        );
    }
    assert_eq!(
        err("expire k 1 gt lt"),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(
        err("expire k 1 xx gt lt"),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(err("expire k 1 foo"), "ERR Unsupported option foo");
    // Options are read before the time.
    assert_eq!(err("expire k x foo"), "ERR Unsupported option foo");
    assert_eq!(
        err("expire k x nx gt"),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
}

#[test]
fn key_queries() {
    assert_eq!(
        ok("ttl k"),
        Command::Ttl {
            key: b("k"),
            millis: false
        }
    );
    assert_eq!(
        ok("pttl k"),
        Command::Ttl {
            key: b("k"),
            millis: true
        }
    );
    assert_eq!(
        ok("expiretime k"),
        Command::ExpireTime {
            key: b("k"),
            millis: false
        }
    );
    assert_eq!(
        ok("pexpiretime k"),
        Command::ExpireTime {
            key: b("k"),
            millis: true
        }
    );
    assert_eq!(ok("persist k"), Command::Persist { key: b("k") });
    assert_eq!(ok("type k"), Command::Type { key: b("k") });
    assert_eq!(
        ok("exists a a"),
        Command::Exists {
            keys: vec![b("a"), b("a")]
        }
    );
    assert_eq!(ok("touch a"), Command::Touch { keys: vec![b("a")] });
    assert_eq!(
        ok("del a b"),
        Command::Del {
            keys: vec![b("a"), b("b")]
        }
    );
    assert_eq!(
        ok("keys user:*"),
        Command::Keys {
            pattern: b("user:*")
        }
    );
    assert_eq!(ok("randomkey"), Command::RandomKey);
    assert_eq!(ok("dbsize"), Command::DbSize);
}

#[test]
fn flushes() {
    for line in ["flushall", "flushdb", "FLUSHALL ASYNC", "flushdb sync"] {
        assert_eq!(ok(line), Command::FlushAll, "{line}");
    }
    assert_eq!(err("flushall later"), "ERR syntax error");
    assert_eq!(err("flushdb async sync"), "ERR syntax error");
}

#[test]
fn scan_options() {
    let scan = |cursor, pattern: Option<&str>, count, type_filter: Option<&str>| Command::Scan {
        cursor,
        pattern: pattern.map(b),
        count,
        type_filter: type_filter.map(b),
    };
    assert_eq!(ok("scan 0"), scan(0, None, 10, None));
    assert_eq!(
        ok("scan 17 match a* count 100 type string"),
        scan(17, Some("a*"), 100, Some("string"))
    );
    assert_eq!(ok("scan 0 MATCH *"), scan(0, None, 10, None));
    assert_eq!(ok("scan 0 match a match b"), scan(0, Some("b"), 10, None));
    assert_eq!(
        ok("scan 18446744073709551615"),
        scan(u64::MAX, None, 10, None)
    );
    for bad in ["x", "1x", "18446744073709551616", "-"] {
        assert_eq!(err(&format!("scan {bad}")), "ERR invalid cursor", "{bad}");
    }
    assert_eq!(err("scan 0 count 0"), "ERR syntax error");
    assert_eq!(err("scan 0 count -1"), "ERR syntax error");
    assert_eq!(
        err("scan 0 count x"),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(err("scan 0 count"), "ERR syntax error");
    assert_eq!(err("scan 0 foo bar"), "ERR syntax error");
    assert_eq!(err("scan x count 0"), "ERR invalid cursor");
}
