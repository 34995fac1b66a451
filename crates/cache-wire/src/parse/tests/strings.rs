//! String commands: `SET` options, the expiry forms, counters.

use super::{b, err, err_args, ok};
use crate::command::{Command, Expiry, GetExpiry, SetCondition};

fn set(
    condition: Option<SetCondition>,
    get: bool,
    expiry: Option<Expiry>,
    keep_ttl: bool,
) -> Command {
    Command::Set {
        key: b("k"),
        value: b("v"),
        condition,
        get,
        expiry,
        keep_ttl,
    }
}

#[test]
fn set_options() {
    use SetCondition::*;
    assert_eq!(ok("SET k v"), set(None, false, None, false));
    assert_eq!(ok("set k v nx"), set(Some(IfAbsent), false, None, false));
    assert_eq!(ok("set k v XX"), set(Some(IfPresent), false, None, false));
    assert_eq!(ok("set k v nx nx"), set(Some(IfAbsent), false, None, false));
    // GET with NX is allowed since Redis 7.0.
    assert_eq!(ok("set k v nx get"), set(Some(IfAbsent), true, None, false));
    assert_eq!(
        ok("set k v get xx"),
        set(Some(IfPresent), true, None, false)
    );
    assert_eq!(ok("set k v keepttl"), set(None, false, None, true));
    assert_eq!(
        ok("set k v ex 10"),
        set(None, false, Some(Expiry::In(10_000)), false)
    );
    assert_eq!(
        ok("set k v px 10"),
        set(None, false, Some(Expiry::In(10)), false)
    );
    assert_eq!(
        ok("set k v exat 10"),
        set(None, false, Some(Expiry::At(10_000)), false)
    );
    assert_eq!(
        ok("set k v pxat 10"),
        set(None, false, Some(Expiry::At(10)), false)
    );
    // The same unit twice: the last wins, as in Redis.
    assert_eq!(
        ok("set k v ex 10 ex 20"),
        set(None, false, Some(Expiry::In(20_000)), false)
    );
    assert_eq!(
        ok("set k v EX 1 NX GET"),
        set(Some(IfAbsent), true, Some(Expiry::In(1000)), false)
    );
}

#[test]
fn set_option_conflicts_are_syntax_errors() {
    for line in [
        "set k v nx xx",
        "set k v xx nx",
        "set k v ex 1 px 1",
        "set k v px 1 exat 1",
        "set k v exat 1 pxat 1",
        "set k v ex 1 keepttl",
        "set k v keepttl ex 1",
        "set k v ex",
        "set k v persist",
        "set k v foo",
        // A bad option is reported before a bad number.
        "set k v ex abc foo",
    ] {
        assert_eq!(err(line), "ERR syntax error", "{line}");
    }
}

#[test]
fn set_expiry_values() {
    assert_eq!(
        err("set k v ex abc"),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err("set k v ex 1.5"),
        "ERR value is not an integer or out of range"
    );
    for line in [
        "set k v ex 0",
        "set k v ex -1",
        "set k v px 0",
        "set k v pxat -5",
        "set k v ex 9223372036854776",
    ] {
        assert_eq!(
            err(line),
            "ERR invalid expire time in 'set' command",
            "{line}"
        );
    }
    assert_eq!(
        ok("set k v ex 9223372036854775"),
        set(
            None,
            false,
            Some(Expiry::In(9_223_372_036_854_775_000)),
            false
        )
    );
    assert_eq!(
        err("setex k 0 v"),
        "ERR invalid expire time in 'setex' command"
    );
    assert_eq!(
        err("setex k 9223372036854776 v"),
        "ERR invalid expire time in 'setex' command"
    );
    assert_eq!(
        err("psetex k -1 v"),
        "ERR invalid expire time in 'psetex' command"
    );
    assert_eq!(
        err("setex k x v"),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err("getex k ex 0"),
        "ERR invalid expire time in 'getex' command"
    );
}

#[test]
fn setex_psetex_getset_setnx() {
    assert_eq!(
        ok("setex k 5 v"),
        set(None, false, Some(Expiry::In(5000)), false)
    );
    assert_eq!(
        ok("psetex k 5 v"),
        set(None, false, Some(Expiry::In(5)), false)
    );
    assert_eq!(ok("getset k v"), set(None, true, None, false));
    assert_eq!(
        ok("setnx k v"),
        Command::SetNx {
            key: b("k"),
            value: b("v")
        }
    );
}

#[test]
fn getex_options() {
    let getex = |expiry| Command::GetEx {
        key: b("k"),
        expiry,
    };
    assert_eq!(ok("getex k"), getex(None));
    assert_eq!(ok("getex k persist"), getex(Some(GetExpiry::Persist)));
    assert_eq!(
        ok("getex k EX 2"),
        getex(Some(GetExpiry::Set(Expiry::In(2000))))
    );
    assert_eq!(
        ok("getex k pxat 2"),
        getex(Some(GetExpiry::Set(Expiry::At(2))))
    );
    for line in [
        "getex k persist ex 1",
        "getex k ex 1 persist",
        "getex k ex 1 px 1",
        "getex k nx",
        "getex k keepttl",
        "getex k get",
        "getex k ex",
    ] {
        assert_eq!(err(line), "ERR syntax error", "{line}");
    }
}

#[test]
fn counters() {
    let incr = |delta| Command::IncrBy { key: b("k"), delta };
    assert_eq!(ok("incr k"), incr(1));
    assert_eq!(ok("decr k"), incr(-1));
    assert_eq!(ok("incrby k -5"), incr(-5));
    assert_eq!(ok("decrby k 5"), incr(-5));
    assert_eq!(ok("decrby k 9223372036854775807"), incr(-i64::MAX));
    assert_eq!(ok("incrby k -9223372036854775808"), incr(i64::MIN));
    assert_eq!(
        err("decrby k -9223372036854775808"),
        "ERR decrement would overflow"
    );
    for bad in [
        "+1",
        " 1",
        "1 ",
        "",
        "01",
        "-0",
        "1.0",
        "9223372036854775808",
        "x",
    ] {
        assert_eq!(
            err_args(&[b("incrby"), b("k"), b(bad)]),
            "ERR value is not an integer or out of range",
            "{bad:?}"
        );
    }
}

#[test]
fn incrbyfloat() {
    assert_eq!(
        ok("incrbyfloat k 1.5"),
        Command::IncrByFloat {
            key: b("k"),
            delta: 1.5
        }
    );
    assert_eq!(
        ok("incrbyfloat k -2e3"),
        Command::IncrByFloat {
            key: b("k"),
            delta: -2000.0
        }
    );
    for bad in ["nan", "abc", "1.5x", "1e400", "", " 1", "1 "] {
        assert_eq!(
            err_args(&[b("incrbyfloat"), b("k"), b(bad)]),
            "ERR value is not a valid float",
            "{bad:?}"
        );
    }
    assert_eq!(
        err("incrbyfloat k inf"),
        "ERR increment would produce NaN or Infinity"
    );
    assert_eq!(
        err("incrbyfloat k -infinity"),
        "ERR increment would produce NaN or Infinity"
    );
}

#[test]
fn multi_key_strings() {
    assert_eq!(
        ok("mget a b"),
        Command::MGet {
            keys: vec![b("a"), b("b")]
        }
    );
    assert_eq!(
        ok("mset a 1 b 2"),
        Command::MSet {
            pairs: vec![(b("a"), b("1")), (b("b"), b("2"))]
        }
    );
    assert_eq!(
        ok("msetnx a 1"),
        Command::MSetNx {
            pairs: vec![(b("a"), b("1"))]
        }
    );
    assert_eq!(
        ok("append k v"),
        Command::Append {
            key: b("k"),
            value: b("v")
        }
    );
    assert_eq!(ok("strlen k"), Command::StrLen { key: b("k") });
    assert_eq!(ok("getdel k"), Command::GetDel { key: b("k") });
}
