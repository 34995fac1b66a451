//! Replies to `COMMAND`, built from the command table.
//!
//! Each command is described in the shape Redis 6 introduced and every client library reads:
//! `[name, arity, [flags...], first key, last key, step, [ACL categories...]]`, flags and
//! categories as status strings. (Redis 7 appends tips, key specifications and subcommands;
//! clients accept the 7-element form, and we have no key specifications to offer.)

use std::borrow::Cow;

use bytes::Bytes;

use super::table::CommandId;
use crate::Response;
use crate::command::CommandQuery;

/// The reply to a `COMMAND` query. The same value serves RESP2 and RESP3.
pub fn command_reply(query: &CommandQuery) -> Response {
    match query {
        CommandQuery::All => Response::Array(CommandId::all().map(command_info).collect()),
        CommandQuery::Count => Response::Integer(CommandId::COUNT as i64),
        // `COMMAND INFO` with no names describes every command, as in Redis 7.
        CommandQuery::Info(names) if names.is_empty() => {
            Response::Array(CommandId::all().map(command_info).collect())
        }
        CommandQuery::Info(names) => Response::Array(
            names
                .iter()
                .map(|name| CommandId::lookup(name).map_or(Response::Nil, command_info))
                .collect(),
        ),
        CommandQuery::Docs(_) => Response::Map(Vec::new()),
    }
}

/// The description of one command, as in `COMMAND INFO`.
pub fn command_info(id: CommandId) -> Response {
    let spec = id.spec();
    let statuses = |words: &'static [&'static str]| {
        Response::Array(
            words
                .iter()
                .map(|&w| Response::Status(Cow::Borrowed(w)))
                .collect(),
        )
    };
    Response::Array(vec![
        Response::Bulk(Bytes::from_static(spec.name.as_bytes())),
        Response::Integer(i64::from(spec.arity)),
        statuses(spec.flags),
        Response::Integer(i64::from(spec.first_key)),
        Response::Integer(i64::from(spec.last_key)),
        Response::Integer(i64::from(spec.step)),
        statuses(spec.categories),
    ])
}
