//! The error replies of argument parsing, in Redis 7's exact words.
//!
//! They are public so an executor that finds the same problem (an expiry that overflows once
//! added to its clock, a `CONFIG SET` value that is not a number) answers with the same text.

use std::borrow::Cow;

use bytes::Bytes;

use crate::Response;

/// `ERR syntax error`.
pub fn syntax_error() -> Response {
    Response::Error(Cow::Borrowed("ERR syntax error"))
}

/// `ERR value is not an integer or out of range`.
pub fn not_an_integer() -> Response {
    Response::Error(Cow::Borrowed("ERR value is not an integer or out of range"))
}

/// `ERR value is not a valid float`.
pub fn not_a_float() -> Response {
    Response::Error(Cow::Borrowed("ERR value is not a valid float"))
}

/// `ERR wrong number of arguments for '<name>' command`, with the lower-case (full) name, such
/// as `get` or `config|get`.
pub fn wrong_arity(name: &str) -> Response {
    Response::Error(Cow::Owned(format!(
        "ERR wrong number of arguments for '{name}' command"
    )))
}

/// `ERR invalid expire time in '<name>' command`, with the name of the command as invoked.
pub fn invalid_expire_time(name: &str) -> Response {
    Response::Error(Cow::Owned(format!(
        "ERR invalid expire time in '{name}' command"
    )))
}

/// `ERR unknown subcommand '<sub>'. Try <COMMAND> HELP.`
pub fn unknown_subcommand(command: &str, sub: &[u8]) -> Response {
    let mut text = b"ERR unknown subcommand '".to_vec();
    text.extend_from_slice(c_bytes(sub, 128));
    text.extend_from_slice(b"'. Try ");
    text.extend_from_slice(command.to_ascii_uppercase().as_bytes());
    text.extend_from_slice(b" HELP.");
    error_from_bytes(text)
}

/// `ERR unknown command '<name>', with args beginning with: '<a>' '<b>' `, built as Redis builds
/// it: the name cut at 128 bytes, then quoted arguments while the list is under 128 bytes, the
/// last one cut to fit.
pub fn unknown_command(args: &[Bytes]) -> Response {
    let mut text = b"ERR unknown command '".to_vec();
    text.extend_from_slice(args.first().map_or(&[][..], |name| c_bytes(name, 128)));
    text.extend_from_slice(b"', with args beginning with: ");
    let mut list = Vec::new();
    for arg in args.iter().skip(1) {
        if list.len() >= 128 {
            break;
        }
        // The room left is measured before the opening quote, as Redis's format does.
        let cut = c_bytes(arg, 128 - list.len());
        list.push(b'\'');
        list.extend_from_slice(cut);
        list.extend_from_slice(b"' ");
    }
    text.extend_from_slice(&list);
    error_from_bytes(text)
}

/// `bytes` as C's `%.<max>s` reads them: up to the first NUL, at most `max` bytes.
pub(crate) fn c_bytes(bytes: &[u8], max: usize) -> &[u8] {
    let end = bytes
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(bytes.len())
        .min(max);
    &bytes[..end]
}

/// An error reply from raw bytes: line breaks become spaces, as Redis makes them so that the
/// reply stays one line, and bytes that are not UTF-8 become U+FFFD.
pub(crate) fn error_from_bytes(mut text: Vec<u8>) -> Response {
    for b in &mut text {
        if *b == b'\r' || *b == b'\n' {
            *b = b' ';
        }
    }
    let text = match String::from_utf8(text) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    Response::Error(Cow::Owned(text))
}
