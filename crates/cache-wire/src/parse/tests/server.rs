//! Connection and server commands, and the `COMMAND` replies built from the table.

use std::borrow::Cow;

use super::{args, b, err, ok};
use crate::Response;
use crate::command::{ClientCommand, Command, CommandQuery, ConfigCommand};
use crate::parse::{CommandId, command_reply, parse};

#[test]
fn ping_echo_quit() {
    assert_eq!(ok("ping"), Command::Ping { message: None });
    assert_eq!(
        ok("ping hi"),
        Command::Ping {
            message: Some(b("hi"))
        }
    );
    assert_eq!(ok("echo hi"), Command::Echo { message: b("hi") });
    assert_eq!(ok("quit"), Command::Quit);
    assert_eq!(ok("quit now please"), Command::Quit);
    assert_eq!(
        err("echo"),
        "ERR wrong number of arguments for 'echo' command"
    );
}

#[test]
fn hello() {
    let hello = |protocol, auth: Option<(&str, &str)>, name: Option<&str>| Command::Hello {
        protocol,
        auth: auth.map(|(u, p)| (b(u), b(p))),
        name: name.map(b),
    };
    assert_eq!(ok("hello"), hello(None, None, None));
    assert_eq!(ok("hello 3"), hello(Some(3), None, None));
    // Unsupported versions are the executor's NOPROTO.
    assert_eq!(ok("hello 4"), hello(Some(4), None, None));
    assert_eq!(
        ok("hello 3 AUTH u p SETNAME n"),
        hello(Some(3), Some(("u", "p")), Some("n"))
    );
    assert_eq!(
        ok("hello 2 setname n auth u p"),
        hello(Some(2), Some(("u", "p")), Some("n"))
    );
    assert_eq!(
        err("hello x"),
        "ERR Protocol version is not an integer or out of range"
    );
    assert_eq!(
        err("hello 3 auth u"),
        "ERR Syntax error in HELLO option 'auth'"
    );
    assert_eq!(
        err("hello 3 setname"),
        "ERR Syntax error in HELLO option 'setname'"
    );
    assert_eq!(err("hello 3 foo"), "ERR Syntax error in HELLO option 'foo'");
    assert_eq!(
        super::err_args(&[b("hello"), b("3"), b("setname"), b("a b")]),
        "ERR Client names cannot contain spaces, newlines or special characters."
    );
}

#[test]
fn auth_and_select() {
    assert_eq!(
        ok("auth pw"),
        Command::Auth {
            username: None,
            password: b("pw")
        }
    );
    assert_eq!(
        ok("auth u pw"),
        Command::Auth {
            username: Some(b("u")),
            password: b("pw")
        }
    );
    assert_eq!(err("auth a b c"), "ERR syntax error");
    assert_eq!(
        err("auth"),
        "ERR wrong number of arguments for 'auth' command"
    );
    assert_eq!(ok("select 0"), Command::Select { db: 0 });
    assert_eq!(ok("select 5"), Command::Select { db: 5 });
    assert_eq!(
        err("select x"),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err("select 2147483648"),
        "ERR value is out of range, value must between -2147483648 and 2147483647"
    );
}

#[test]
fn info_sections_are_lower_cased() {
    assert_eq!(ok("info"), Command::Info { sections: vec![] });
    assert_eq!(
        ok("INFO Memory STATS"),
        Command::Info {
            sections: vec![b("memory"), b("stats")]
        }
    );
}

#[test]
fn config_subcommands() {
    assert_eq!(
        ok("config get maxmemory *policy"),
        Command::Config(ConfigCommand::Get(vec![b("maxmemory"), b("*policy")]))
    );
    assert_eq!(
        ok("CONFIG SET maxmemory 1mb timeout 5"),
        Command::Config(ConfigCommand::Set(vec![
            (b("maxmemory"), b("1mb")),
            (b("timeout"), b("5"))
        ]))
    );
    assert_eq!(
        ok("config resetstat"),
        Command::Config(ConfigCommand::ResetStat)
    );
    assert_eq!(
        err("config"),
        "ERR wrong number of arguments for 'config' command"
    );
    assert_eq!(
        err("config get"),
        "ERR wrong number of arguments for 'config|get' command"
    );
    assert_eq!(
        err("config set a"),
        "ERR wrong number of arguments for 'config|set' command"
    );
    assert_eq!(
        err("config set a b c"),
        "ERR wrong number of arguments for 'config|set' command"
    );
    assert_eq!(
        err("config resetstat x"),
        "ERR wrong number of arguments for 'config|resetstat' command"
    );
    assert_eq!(
        err("config x"),
        "ERR unknown subcommand 'x'. Try CONFIG HELP."
    );
    assert_eq!(
        err("Config Rewrite"),
        "ERR unknown subcommand 'Rewrite'. Try CONFIG HELP."
    );
    assert!(matches!(parse(&args("config help")), Err(Response::Array(lines)) if lines.len() > 2));
}

#[test]
fn client_subcommands() {
    assert_eq!(
        ok("client setname conn-1"),
        Command::Client(ClientCommand::SetName(b("conn-1")))
    );
    // An empty name clears the name.
    assert_eq!(
        parse(&[b("client"), b("setname"), b("")]).unwrap().1,
        Command::Client(ClientCommand::SetName(b("")))
    );
    assert_eq!(
        ok("client getname"),
        Command::Client(ClientCommand::GetName)
    );
    assert_eq!(ok("CLIENT ID"), Command::Client(ClientCommand::Id));
    assert_eq!(ok("client list"), Command::Client(ClientCommand::List));
    assert_eq!(ok("client info"), Command::Client(ClientCommand::Info));
    for bad in ["a b", "a\nb", "caf\u{e9}"] {
        assert_eq!(
            super::err_args(&[b("client"), b("setname"), b(bad)]),
            "ERR Client names cannot contain spaces, newlines or special characters.",
            "{bad:?}"
        );
    }
    assert_eq!(
        err("client setname"),
        "ERR wrong number of arguments for 'client|setname' command"
    );
    assert_eq!(
        err("client id x"),
        "ERR wrong number of arguments for 'client|id' command"
    );
    assert_eq!(err("client list type normal"), "ERR syntax error");
    assert_eq!(
        err("client kill x"),
        "ERR unknown subcommand 'kill'. Try CLIENT HELP."
    );
    assert_eq!(
        err("client"),
        "ERR wrong number of arguments for 'client' command"
    );
}

#[test]
fn client_setinfo_is_answered_without_the_executor() {
    assert_eq!(
        parse(&args("client setinfo lib-name redis-py")),
        Err(Response::Ok)
    );
    assert_eq!(
        parse(&args("CLIENT SETINFO LIB-VER 5.0.1")),
        Err(Response::Ok)
    );
    assert_eq!(err("client setinfo foo x"), "ERR Unrecognized option 'foo'");
    assert_eq!(
        super::err_args(&[b("client"), b("setinfo"), b("lib-name"), b("a b")]),
        "ERR lib-name cannot contain spaces, newlines or special characters."
    );
    assert_eq!(
        err("client setinfo lib-name"),
        "ERR wrong number of arguments for 'client|setinfo' command"
    );
}

#[test]
fn command_subcommands() {
    assert_eq!(ok("command"), Command::Command(CommandQuery::All));
    assert_eq!(ok("command count"), Command::Command(CommandQuery::Count));
    assert_eq!(
        ok("command info get set"),
        Command::Command(CommandQuery::Info(vec![b("get"), b("set")]))
    );
    assert_eq!(
        ok("command docs"),
        Command::Command(CommandQuery::Docs(vec![]))
    );
    assert_eq!(
        err("command count x"),
        "ERR wrong number of arguments for 'command|count' command"
    );
    assert_eq!(
        err("command foo"),
        "ERR unknown subcommand 'foo'. Try COMMAND HELP."
    );
}

#[test]
fn command_replies_have_redis_shape() {
    let status = |s: &'static str| Response::Status(Cow::Borrowed(s));
    assert_eq!(
        command_reply(&CommandQuery::Count),
        Response::Integer(CommandId::COUNT as i64)
    );
    let Response::Array(info) =
        command_reply(&CommandQuery::Info(vec![b("GET"), b("nope"), b("mset")]))
    else {
        panic!("an array");
    };
    assert_eq!(
        info[0],
        Response::Array(vec![
            Response::bulk(b"get"),
            Response::Integer(2),
            Response::Array(vec![status("readonly"), status("fast")]),
            Response::Integer(1),
            Response::Integer(1),
            Response::Integer(1),
            Response::Array(vec![status("@read"), status("@string"), status("@fast")]),
        ])
    );
    assert_eq!(info[1], Response::Nil);
    let Response::Array(mset) = &info[2] else {
        panic!("an array")
    };
    assert_eq!(
        mset[1..6],
        [
            Response::Integer(-3),
            Response::Array(vec![status("write"), status("denyoom")]),
            Response::Integer(1),
            Response::Integer(-1),
            Response::Integer(2),
        ]
    );
    let Response::Array(all) = command_reply(&CommandQuery::All) else {
        panic!("an array")
    };
    assert_eq!(all.len(), CommandId::COUNT);
    assert_eq!(
        command_reply(&CommandQuery::Info(vec![])),
        Response::Array(all)
    );
    assert_eq!(
        command_reply(&CommandQuery::Docs(vec![])),
        Response::Map(vec![])
    );
}

#[test]
fn admin_commands() {
    assert_eq!(ok("save"), Command::Save);
    assert_eq!(ok("bgrewriteaof"), Command::BgRewriteAof);
    assert!(CommandId::SAVE.spec().has_flag("admin"));
}
