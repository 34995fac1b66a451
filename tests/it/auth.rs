//! `--requirepass`: nothing but `AUTH`, `HELLO` and `QUIT` before authenticating, Redis's
//! `NOAUTH` and `WRONGPASS` texts, and both ways in (`AUTH` and `HELLO 3 AUTH`).

use redis::{Value, cmd};

use crate::support::{
    assert_error, assert_error_starts, command_line, connect, connect_url, error_text, start,
};

const NOAUTH: &str = "NOAUTH Authentication required.";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

#[test]
fn commands_need_auth_first() -> anyhow::Result<()> {
    let (node, mut con) = start(&["--requirepass", "secret"])?;
    for c in [
        cmd("PING"),
        cmd("GET").arg("k").clone(),
        cmd("SET").arg("k").arg("v").clone(),
        cmd("DBSIZE"),
        cmd("INFO"),
    ] {
        assert_error(&c, &mut con, NOAUTH)?;
    }
    assert_error(cmd("AUTH").arg("wrong"), &mut con, WRONGPASS)?;
    assert_error(cmd("AUTH").arg("default").arg("wrong"), &mut con, WRONGPASS)?;
    assert_error(
        cmd("AUTH").arg("someone").arg("secret"),
        &mut con,
        WRONGPASS,
    )?;
    assert_error(&cmd("PING"), &mut con, NOAUTH)?;

    assert_eq!(cmd("AUTH").arg("secret").query::<String>(&mut con)?, "OK");
    assert_eq!(cmd("PING").query::<String>(&mut con)?, "PONG");
    cmd("SET").arg("k").arg("v").exec(&mut con)?;
    assert_eq!(cmd("GET").arg("k").query::<String>(&mut con)?, "v");

    // AUTH with the user name; authentication belongs to the connection.
    let mut other = connect(&node)?;
    assert_error(cmd("GET").arg("k"), &mut other, NOAUTH)?;
    assert_eq!(
        cmd("AUTH")
            .arg("default")
            .arg("secret")
            .query::<String>(&mut other)?,
        "OK"
    );
    assert_eq!(cmd("GET").arg("k").query::<String>(&mut other)?, "v");

    // A password in the URL: the client library authenticates on connect.
    let url = format!("redis://:secret@{}/", node.addr);
    let mut by_url = connect_url(&url)?;
    assert_eq!(cmd("GET").arg("k").query::<String>(&mut by_url)?, "v");
    let bad_url = format!("redis://:nope@{}/", node.addr);
    assert!(
        connect_url(&bad_url).is_err(),
        "a wrong password in the URL connected"
    );
    Ok(())
}

#[test]
fn hello_with_auth() -> anyhow::Result<()> {
    let (node, mut con) = start(&["--requirepass", "secret"])?;
    assert_error_starts(
        cmd("HELLO").arg(3),
        &mut con,
        "NOAUTH HELLO must be called with the client already authenticated",
    )?;
    assert_error(
        cmd("HELLO").arg(3).arg("AUTH").arg("default").arg("bad"),
        &mut con,
        WRONGPASS,
    )?;
    assert_error(&cmd("PING"), &mut con, NOAUTH)?;

    let reply = cmd("HELLO")
        .arg(3)
        .arg("AUTH")
        .arg("default")
        .arg("secret")
        .query::<Value>(&mut con)?;
    let Value::Map(fields) = reply else {
        anyhow::bail!("HELLO 3 AUTH reply is not a map: {reply:?}")
    };
    assert!(
        fields.contains(&(Value::BulkString(b"proto".to_vec()), Value::Int(3))),
        "{fields:?}"
    );
    assert_eq!(cmd("PING").query::<String>(&mut con)?, "PONG");

    // The client library's own RESP3 handshake (HELLO 3 AUTH on connect).
    let url = format!("redis://default:secret@{}/?protocol=resp3", node.addr);
    let mut resp3 = connect_url(&url)?;
    assert!(matches!(
        cmd("CONFIG")
            .arg("GET")
            .arg("timeout")
            .query::<Value>(&mut resp3)?,
        Value::Map(_)
    ));
    let wrong = format!("redis://default:nope@{}/?protocol=resp3", node.addr);
    match connect_url(&wrong) {
        Ok(_) => anyhow::bail!("HELLO 3 AUTH with a wrong password connected"),
        Err(e) => assert!(
            e.to_string().contains("WRONGPASS") || e.to_string().contains("uthenticat"),
            "{e}"
        ),
    }
    Ok(())
}

#[test]
fn quit_works_before_auth() -> anyhow::Result<()> {
    let (_node, mut con) = start(&["--requirepass", "secret"])?;
    assert_eq!(cmd("QUIT").query::<String>(&mut con)?, "OK");
    Ok(())
}

/// Redis checks authentication before it reads a command's options or answers its `HELP`: an
/// unauthenticated client learns nothing but `NOAUTH`.
#[test]
fn option_errors_and_help_replies_need_auth_too() -> anyhow::Result<()> {
    let (_node, mut con) = start(&["--requirepass", "secret"])?;
    let mut failures = Vec::new();
    let cases = [
        cmd("SET").arg("k").arg("v").arg("EX").arg(0).clone(),
        cmd("SET").arg("k").arg("v").arg("BOGUS").clone(),
        cmd("CONFIG").arg("HELP").clone(),
        cmd("CLIENT").arg("HELP").clone(),
        cmd("CLIENT")
            .arg("SETINFO")
            .arg("LIB-NAME")
            .arg("x")
            .clone(),
        cmd("SCAN").arg("notacursor").clone(),
    ];
    for c in &cases {
        let reply = c.query::<Value>(&mut con);
        let text = match &reply {
            Ok(value) => format!("{value:?}"),
            Err(e) => error_text(e),
        };
        if text != NOAUTH {
            failures.push(format!("{} -> {text}", command_line(c)));
        }
    }
    assert!(
        failures.is_empty(),
        "answered without NOAUTH before AUTH:\n{}",
        failures.join("\n")
    );
    Ok(())
}

/// Without `requirepass` the default user has no password: Redis 7 accepts the two-argument
/// `AUTH default <anything>` and `HELLO 3 AUTH default <anything>` (only the one-argument form
/// gets the "called without any password configured" error). Clients that always send
/// credentials in `HELLO` depend on it.
#[test]
fn auth_with_a_user_name_succeeds_when_no_password_is_set() -> anyhow::Result<()> {
    let (_node, mut con) = start(&[])?;
    let auth = cmd("AUTH")
        .arg("default")
        .arg("anything")
        .query::<String>(&mut con);
    let hello = cmd("HELLO")
        .arg(3)
        .arg("AUTH")
        .arg("default")
        .arg("anything")
        .query::<Value>(&mut con);
    let stranger = cmd("AUTH").arg("someone").arg("x").query::<Value>(&mut con);
    assert!(
        matches!(auth.as_deref(), Ok("OK"))
            && matches!(hello, Ok(Value::Map(_)))
            && stranger.as_ref().is_err_and(|e| error_text(e) == WRONGPASS),
        "AUTH default anything -> {auth:?}\nHELLO 3 AUTH default anything -> {hello:?}\nAUTH someone x -> {stranger:?}"
    );
    Ok(())
}
