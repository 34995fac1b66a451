//! Connection and server commands: `HELLO`, `AUTH`, `SELECT`, `INFO`, and the containers
//! `CONFIG`, `CLIENT` and `COMMAND` with their subcommands.
//!
//! A container's subcommand has its own arity, named `container|sub` in the error text as in
//! Redis 7 (`ERR wrong number of arguments for 'config|get' command`). The `HELP` subcommands
//! and `CLIENT SETINFO` need nothing from the executor, so their reply comes back ready, on the
//! `Err` side of [`crate::parse::parse`], like an error.

use std::borrow::Cow;

use bytes::Bytes;

use super::errors::{
    c_bytes, error_from_bytes, not_an_integer, syntax_error, unknown_subcommand, wrong_arity,
};
use super::number::parse_i64;
use crate::Response;
use crate::command::{ClientCommand, Command, CommandQuery, ConfigCommand};

/// `HELLO [protover [AUTH username password] [SETNAME name]]`. Whether the version is one the
/// server speaks (`NOPROTO`) is for the executor to say.
pub(crate) fn hello(args: &[Bytes]) -> Result<Command, Response> {
    let (protocol, mut options) = match args.split_first() {
        None => (None, args),
        Some((version, options)) => {
            let version = parse_i64(version).ok_or(Response::Error(Cow::Borrowed(
                "ERR Protocol version is not an integer or out of range",
            )))?;
            (Some(version), options)
        }
    };
    let mut auth = None;
    let mut name = None;
    loop {
        match options {
            [] => break,
            [option, user, password, rest @ ..] if option.eq_ignore_ascii_case(b"auth") => {
                auth = Some((user.clone(), password.clone()));
                options = rest;
            }
            [option, value, rest @ ..] if option.eq_ignore_ascii_case(b"setname") => {
                name = Some(client_name(value)?);
                options = rest;
            }
            [option, ..] => {
                let mut text = b"ERR Syntax error in HELLO option '".to_vec();
                text.extend_from_slice(c_bytes(option, usize::MAX));
                text.push(b'\'');
                return Err(error_from_bytes(text));
            }
        }
    }
    Ok(Command::Hello {
        protocol,
        auth,
        name,
    })
}

/// `AUTH password` or `AUTH username password`.
pub(crate) fn auth(args: &[Bytes]) -> Result<Command, Response> {
    match args {
        [password] => Ok(Command::Auth {
            username: None,
            password: password.clone(),
        }),
        [username, password] => Ok(Command::Auth {
            username: Some(username.clone()),
            password: password.clone(),
        }),
        _ => Err(syntax_error()),
    }
}

/// `SELECT db`: any 32-bit index parses; which exist is the executor's business.
pub(crate) fn select(db: &Bytes) -> Result<Command, Response> {
    let db = parse_i64(db).ok_or_else(not_an_integer)?;
    if i32::try_from(db).is_err() {
        return Err(Response::Error(Cow::Borrowed(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        )));
    }
    Ok(Command::Select { db })
}

/// `INFO [section ...]`, with the sections lower-cased.
pub(crate) fn info(sections: &[Bytes]) -> Command {
    Command::Info {
        sections: sections
            .iter()
            .map(|s| Bytes::from(s.to_ascii_lowercase()))
            .collect(),
    }
}

/// `CONFIG GET pattern [pattern ...]`, `CONFIG SET name value [name value ...]`,
/// `CONFIG RESETSTAT`, `CONFIG HELP`.
pub(crate) fn config(sub: &Bytes, args: &[Bytes]) -> Result<Command, Response> {
    let is = |name: &[u8]| sub.eq_ignore_ascii_case(name);
    let config = if is(b"get") {
        if args.is_empty() {
            return Err(wrong_arity("config|get"));
        }
        ConfigCommand::Get(args.to_vec())
    } else if is(b"set") {
        if args.len() < 2 || !args.len().is_multiple_of(2) {
            return Err(wrong_arity("config|set"));
        }
        ConfigCommand::Set(
            args.chunks_exact(2)
                .map(|pair| (pair[0].clone(), pair[1].clone()))
                .collect(),
        )
    } else if is(b"resetstat") {
        no_arguments(args, "config|resetstat")?;
        ConfigCommand::ResetStat
    } else if is(b"help") {
        no_arguments(args, "config|help")?;
        return Err(help(&[
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "HELP",
            "    Print this help.",
        ]));
    } else {
        return Err(unknown_subcommand("config", sub));
    };
    Ok(Command::Config(config))
}

/// `CLIENT SETNAME|GETNAME|ID|LIST|INFO|SETINFO|HELP`.
pub(crate) fn client(sub: &Bytes, args: &[Bytes]) -> Result<Command, Response> {
    let is = |name: &[u8]| sub.eq_ignore_ascii_case(name);
    let client = if is(b"setname") {
        match args {
            [name] => ClientCommand::SetName(client_name(name)?),
            _ => return Err(wrong_arity("client|setname")),
        }
    } else if is(b"getname") {
        no_arguments(args, "client|getname")?;
        ClientCommand::GetName
    } else if is(b"id") {
        no_arguments(args, "client|id")?;
        ClientCommand::Id
    } else if is(b"info") {
        no_arguments(args, "client|info")?;
        ClientCommand::Info
    } else if is(b"list") {
        // Redis's TYPE and ID filters are not supported; Redis too calls a stray word a syntax error.
        if !args.is_empty() {
            return Err(syntax_error());
        }
        ClientCommand::List
    } else if is(b"setinfo") {
        return Err(set_info(args));
    } else if is(b"help") {
        no_arguments(args, "client|help")?;
        return Err(help(&[
            "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "LIST",
            "    Return information about client connections.",
            "SETINFO <option> <value>",
            "    Accepted for client libraries (LIB-NAME, LIB-VER); not stored.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "HELP",
            "    Print this help.",
        ]));
    } else {
        return Err(unknown_subcommand("client", sub));
    };
    Ok(Command::Client(client))
}

/// `CLIENT SETINFO LIB-NAME|LIB-VER value`, which client libraries send on connecting. It is
/// validated as Redis 7.2 does and answered `OK`; the value is not kept.
fn set_info(args: &[Bytes]) -> Response {
    let [attribute, value] = args else {
        return wrong_arity("client|setinfo");
    };
    if !attribute.eq_ignore_ascii_case(b"lib-name") && !attribute.eq_ignore_ascii_case(b"lib-ver") {
        let mut text = b"ERR Unrecognized option '".to_vec();
        text.extend_from_slice(c_bytes(attribute, usize::MAX));
        text.push(b'\'');
        return error_from_bytes(text);
    }
    if !value.iter().all(|&b| (b'!'..=b'~').contains(&b)) {
        let mut text = b"ERR ".to_vec();
        text.extend_from_slice(c_bytes(attribute, usize::MAX));
        text.extend_from_slice(b" cannot contain spaces, newlines or special characters.");
        return error_from_bytes(text);
    }
    Response::Ok
}

/// `COMMAND`, `COMMAND COUNT`, `COMMAND INFO [name ...]`, `COMMAND DOCS [name ...]`,
/// `COMMAND HELP`.
pub(crate) fn command(args: &[Bytes]) -> Result<Command, Response> {
    let Some((sub, args)) = args.split_first() else {
        return Ok(Command::Command(CommandQuery::All));
    };
    let is = |name: &[u8]| sub.eq_ignore_ascii_case(name);
    let query = if is(b"count") {
        no_arguments(args, "command|count")?;
        CommandQuery::Count
    } else if is(b"info") {
        CommandQuery::Info(args.to_vec())
    } else if is(b"docs") {
        CommandQuery::Docs(args.to_vec())
    } else if is(b"help") {
        no_arguments(args, "command|help")?;
        return Err(help(&[
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all commands.",
            "COUNT",
            "    Return the total number of commands in this server.",
            "INFO [<command-name> ...]",
            "    Return details about the given commands, or all of them.",
            "DOCS [<command-name> ...]",
            "    Return documentation about commands (an empty map here).",
            "HELP",
            "    Print this help.",
        ]));
    } else {
        return Err(unknown_subcommand("command", sub));
    };
    Ok(Command::Command(query))
}

/// A client name as Redis accepts it: printable ASCII without spaces, or empty to clear it.
fn client_name(name: &Bytes) -> Result<Bytes, Response> {
    if name.iter().all(|&b| (b'!'..=b'~').contains(&b)) {
        Ok(name.clone())
    } else {
        Err(Response::Error(Cow::Borrowed(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        )))
    }
}

fn no_arguments(args: &[Bytes], full_name: &str) -> Result<(), Response> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(wrong_arity(full_name))
    }
}

/// A `HELP` reply: one status line per line of text, as Redis sends it.
fn help(lines: &[&'static str]) -> Response {
    Response::Array(
        lines
            .iter()
            .map(|&line| Response::Status(Cow::Borrowed(line)))
            .collect(),
    )
}
