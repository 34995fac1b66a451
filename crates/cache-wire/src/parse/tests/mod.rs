//! Tests of argument parsing: every error text and option combination the brief of this crate
//! promises, command by command.

mod keys;
mod server;
mod strings;

use bytes::Bytes;

use super::{CommandId, parse};
use crate::Response;
use crate::command::Command;

/// The arguments of a command line, split on spaces (no quoting: tests use plain words).
fn args(line: &str) -> Vec<Bytes> {
    line.split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

/// The command `line` parses to.
fn ok(line: &str) -> Command {
    match parse(&args(line)) {
        Ok((_, command)) => command,
        Err(reply) => panic!("{line:?} failed: {reply:?}"),
    }
}

/// The error text `line` is refused with.
fn err(line: &str) -> String {
    err_args(&args(line))
}

fn err_args(args: &[Bytes]) -> String {
    match parse(args) {
        Err(Response::Error(text)) => text.into_owned(),
        other => panic!("{args:?} did not fail: {other:?}"),
    }
}

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

#[test]
fn unknown_commands_quote_their_arguments_like_redis() {
    assert_eq!(
        err("foo"),
        "ERR unknown command 'foo', with args beginning with: "
    );
    assert_eq!(
        err("foo a b"),
        "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
    );
    assert_eq!(
        err_args(&[]),
        "ERR unknown command '', with args beginning with: "
    );
    // The name is cut at 128 bytes; the argument list stops once it reaches 128 bytes, the
    // last argument cut to the room left before its opening quote.
    let long = "x".repeat(200);
    let text = err(&format!("{long} {long} y"));
    let list = format!("'{}' ", "x".repeat(128));
    assert_eq!(
        text,
        format!(
            "ERR unknown command '{}', with args beginning with: {list}",
            "x".repeat(128)
        )
    );
    let text = err(&format!("foo {} {long} z", "a".repeat(100)));
    assert_eq!(
        text,
        format!(
            "ERR unknown command 'foo', with args beginning with: '{}' '{}' ",
            "a".repeat(100),
            "x".repeat(25)
        )
    );
    // Line breaks cannot reach the reply; bytes after a NUL are not shown.
    assert_eq!(
        err_args(&[b("fo\r\no"), b("a\0b")]),
        "ERR unknown command 'fo  o', with args beginning with: 'a' "
    );
}

#[test]
fn wrong_arity_names_the_command_in_lower_case() {
    assert_eq!(
        err("GET"),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        err("get a b"),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        err("SET k"),
        "ERR wrong number of arguments for 'set' command"
    );
    assert_eq!(
        err("ping a b"),
        "ERR wrong number of arguments for 'ping' command"
    );
    assert_eq!(
        err("mset a b c"),
        "ERR wrong number of arguments for 'mset' command"
    );
    assert_eq!(
        err("msetnx a"),
        "ERR wrong number of arguments for 'msetnx' command"
    );
    assert_eq!(
        err("dbsize x"),
        "ERR wrong number of arguments for 'dbsize' command"
    );
}

#[test]
fn names_are_case_insensitive_and_aliases_keep_their_id() {
    let (id, command) = parse(&args("UnLiNk a b")).unwrap();
    assert_eq!(id, CommandId::UNLINK);
    assert_eq!(id.name(), "unlink");
    assert_eq!(
        command,
        Command::Del {
            keys: vec![b("a"), b("b")]
        }
    );
}

/// Every command in the table parses from a minimal valid invocation, so no table entry and
/// dispatch arm disagree.
#[test]
fn every_command_has_a_minimal_valid_form() {
    let minimal = |id: CommandId| -> &'static str {
        match id.name() {
            "set" | "setnx" | "getset" | "append" | "mset" | "msetnx" => "k v",
            "setex" | "psetex" => "k 10 v",
            "incrby" | "decrby" | "incrbyfloat" | "expire" | "pexpire" | "expireat"
            | "pexpireat" => "k 1",
            "scan" => "0",
            "keys" => "*",
            "echo" => "hi",
            "auth" => "pw",
            "select" => "0",
            "config" => "resetstat",
            "client" => "id",
            "dbsize" | "flushdb" | "flushall" | "randomkey" | "ping" | "hello" | "quit"
            | "info" | "command" | "save" | "bgrewriteaof" => "",
            _ => "k",
        }
    };
    for id in CommandId::all() {
        let line = format!("{} {}", id.name(), minimal(id));
        let parsed = parse(&args(&line));
        assert!(
            matches!(parsed, Ok((got, _)) if got == id),
            "{line}: {parsed:?}"
        );
    }
}
