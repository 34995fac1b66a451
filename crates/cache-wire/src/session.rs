//! The connection-level commands every RESP server here answers the same way: the `AUTH`
//! decision, `HELLO`'s checks and reply, and the `NOAUTH` gate. Shared by the node and the proxy
//! so a client cannot tell them apart on these.

use std::borrow::Cow;

use bytes::Bytes;

use crate::Response;
use crate::parse::CommandId;
use crate::resp::Protocol;

/// The Redis version reported to clients (`INFO`, `HELLO`); commands and replies follow it.
pub const REDIS_COMPAT_VERSION: &str = "7.2.0";

/// Sent for anything but `AUTH`/`HELLO`/`QUIT` before authenticating.
pub const NOAUTH: &str = "NOAUTH Authentication required.";

/// Sent, before closing, to a client from another machine when protected mode is on and no
/// password is set.
pub const DENIED: &str = "-DENIED protected mode is on and no password is set, so only clients on \
this machine (loopback or a Unix socket) are served. Set a password (requirepass) and AUTH with it, \
or, on a trusted network only, start with --protected-mode no.\r\n";

/// Whether a new connection must be refused with [`DENIED`]: protected mode is on, no password
/// is set, and the peer is not on this machine.
pub fn protected_refusal(protected_mode: bool, requirepass: &str, local: bool) -> bool {
    protected_mode && requirepass.is_empty() && !local
}

/// What to warn about at start for a server listening on `endpoints`: `None` when every one
/// is on this machine or a password is set.
pub fn exposure_warning(
    endpoints: &[crate::endpoint::Endpoint],
    requirepass: &str,
    protected_mode: bool,
) -> Option<&'static str> {
    if !requirepass.is_empty() || endpoints.iter().all(|e| e.is_loopback()) {
        return None;
    }
    Some(if protected_mode {
        "protected mode: no password is set, so clients from other machines will be refused; \
         set requirepass, or --protected-mode no on a trusted network"
    } else {
        "no password and protected mode off: anyone who can reach this server can read, change \
         and flush the cache"
    })
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// Refuses a request from a client that has not authenticated, in Redis's order: an unknown
/// command or a wrong argument count is reported first (`None` here, so the parser reports
/// it), then `NOAUTH` for anything but the commands flagged `no_auth`.
pub fn gate(authenticated: bool, args: &[Bytes]) -> Option<Response> {
    if authenticated {
        return None;
    }
    let id = args.first().and_then(|name| CommandId::lookup(name))?;
    if !id.spec().accepts(args.len()) || id.spec().has_flag("no_auth") {
        return None;
    }
    Some(Response::Error(Cow::Borrowed(NOAUTH)))
}

/// Decides an `AUTH [username] password` against `required` (empty = no password): `Ok` on
/// success, or the error reply Redis gives.
pub fn authenticate(required: &str, username: Option<&[u8]>, password: &[u8]) -> Response {
    let user_ok = username.is_none_or(|u| u == b"default");
    if required.is_empty() {
        // As in Redis: with no password the default user takes any password, but the
        // one-argument form is almost surely a configuration mistake worth pointing out.
        return match username {
            None => Response::err(
                "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            ),
            Some(_) if user_ok => Response::Ok,
            Some(_) => Response::Error(Cow::Borrowed(WRONGPASS)),
        };
    }
    if user_ok && constant_time_eq(password, required.as_bytes()) {
        Response::Ok
    } else {
        Response::Error(Cow::Borrowed(WRONGPASS))
    }
}

/// Compares without an early exit, so timing does not reveal how much of a password matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, &x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

/// The protocol a `HELLO` asks for: `Ok(None)` keeps the current one.
pub fn hello_protocol(version: Option<i64>) -> Result<Option<Protocol>, Response> {
    match version {
        None => Ok(None),
        Some(2) => Ok(Some(Protocol::Resp2)),
        Some(3) => Ok(Some(Protocol::Resp3)),
        Some(_) => Err(Response::Error(Cow::Borrowed(
            "NOPROTO unsupported protocol version",
        ))),
    }
}

/// `HELLO` from a client that is still not authenticated after its `AUTH` part.
pub fn hello_noauth() -> Response {
    Response::Error(Cow::Borrowed(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
    ))
}

/// The `HELLO` reply: who the server is and what the connection now speaks.
pub fn hello_reply(protocol: Protocol, client_id: u64) -> Response {
    let field = |k: &'static str| Response::Bulk(Bytes::from_static(k.as_bytes()));
    let proto = if protocol == Protocol::Resp3 { 3 } else { 2 };
    Response::Map(vec![
        (field("server"), field("redis")),
        (field("version"), field(REDIS_COMPAT_VERSION)),
        (field("proto"), Response::Integer(proto)),
        (field("id"), Response::Integer(client_id as i64)),
        (field("mode"), field("standalone")),
        (field("role"), field("master")),
        (field("modules"), Response::Array(Vec::new())),
    ])
}

/// A server's `run_id`: 40 random hex digits, new for every process start (from the OS-seeded
/// hasher state, so no extra dependency for an id).
pub fn run_id() -> String {
    use std::hash::BuildHasher;
    let state = std::collections::hash_map::RandomState::new();
    let mut out = String::with_capacity(48);
    let mut i = 0u64;
    while out.len() < 40 {
        out.push_str(&format!("{:016x}", state.hash_one(i)));
        i += 1;
    }
    out.truncate(40);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_mode_refuses_only_remote_clients_of_a_server_without_a_password() {
        assert!(protected_refusal(true, "", false));
        assert!(!protected_refusal(true, "", true));
        assert!(!protected_refusal(true, "secret", false));
        assert!(!protected_refusal(false, "", false));
        assert!(DENIED.starts_with("-DENIED ") && DENIED.ends_with("\r\n"));
        assert_eq!(DENIED.matches("\r\n").count(), 1);
    }

    #[test]
    fn only_exposed_servers_without_a_password_are_warned_about() {
        let local: Vec<crate::endpoint::Endpoint> = vec!["tcp://127.0.0.1:1".parse().unwrap()];
        let exposed: Vec<crate::endpoint::Endpoint> = vec![
            "tcp://127.0.0.1:1".parse().unwrap(),
            "tcp://0.0.0.0:2".parse().unwrap(),
        ];
        assert_eq!(exposure_warning(&local, "", true), None);
        assert_eq!(exposure_warning(&exposed, "pw", false), None);
        assert!(
            exposure_warning(&exposed, "", true)
                .unwrap()
                .contains("refused")
        );
        assert!(
            exposure_warning(&exposed, "", false)
                .unwrap()
                .contains("anyone")
        );
    }
}
