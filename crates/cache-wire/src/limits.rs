//! What one client may ask of a server and how much the server buffers for it: the `[limits]`
//! table of the node's and the proxy's config. Both servers enforce it the same way, through
//! the questions below, so a client meets the same bounds whichever it talks to.
//!
//! The model, per connection:
//! - a request is bounded while it is read: bulk length, argument count, inline line length
//!   ([`resp::Limits`]), and its whole size ([`ClientLimits::query_buffer_limit`]);
//! - requests run in rounds of at most [`ClientLimits::max_pipeline`], and a new round starts
//!   only while less than [`FLUSH_AT`] bytes of replies wait to be written, so a client that reads
//!   slowly slows its own requests down instead of growing the reply buffer;
//! - requests keep being read meanwhile (many clients write a whole pipeline before reading any
//!   reply, and must not deadlock), up to [`ClientLimits::query_buffer_limit`] of them waiting
//!   to run; past that the connection closes;
//! - replies that outgrow [`ClientLimits::output_buffer_limit`] anyway (one huge `MGET`) close the
//!   connection, as does an idle timeout (the `[clients]` table) for a client that neither sends
//!   nor reads.

use serde::Deserialize;

use crate::error::ProtocolError;
use crate::{native, resp};

/// A round of requests starts only while fewer reply bytes than this wait to be written.
pub const FLUSH_AT: usize = 64 * 1024;

/// The `[limits]` table: bounds on one client's requests and buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientLimits {
    /// Longest bulk argument (a key or a value), in bytes; a longer one is a protocol error
    /// and closes the connection. Like Redis's `proto-max-bulk-len`.
    #[serde(deserialize_with = "deserialize_size")]
    pub max_bulk_len: u64,
    /// Most arguments in one request, command name included.
    pub max_multibulk_len: usize,
    /// Longest inline command line (and `*`/`$` header line), in bytes.
    #[serde(deserialize_with = "deserialize_size")]
    pub max_inline_len: u64,
    /// Largest request as a whole, in bytes (all of an `MSET`'s values together); a longer one
    /// is a protocol error and closes the connection. Like Redis's `client-query-buffer-limit`.
    #[serde(deserialize_with = "deserialize_size")]
    pub query_buffer_limit: u64,
    /// Replies waiting for one client past this many bytes close its connection; 0 = no limit.
    #[serde(deserialize_with = "deserialize_size")]
    pub output_buffer_limit: u64,
    /// Most pipelined requests run in one round before their replies are written; the rest
    /// wait, read but not run.
    pub max_pipeline: usize,
}

impl Default for ClientLimits {
    fn default() -> ClientLimits {
        ClientLimits {
            max_bulk_len: 64 * 1024 * 1024 + 64 * 1024,
            max_multibulk_len: 1024 * 1024,
            max_inline_len: 64 * 1024,
            query_buffer_limit: 1024 * 1024 * 1024,
            output_buffer_limit: 256 * 1024 * 1024,
            max_pipeline: 1024,
        }
    }
}

impl ClientLimits {
    /// A description of the first inconsistent setting, if any.
    pub fn check(&self) -> Result<(), String> {
        if self.max_pipeline == 0 {
            return Err("limits.max_pipeline must be at least 1".into());
        }
        if self.max_multibulk_len == 0 {
            return Err("limits.max_multibulk_len must be at least 1".into());
        }
        if self.max_inline_len < 16 {
            return Err("limits.max_inline_len must be at least 16 bytes".into());
        }
        if self.query_buffer_limit < self.max_bulk_len {
            return Err(format!(
                "limits.query_buffer_limit ({}) is below limits.max_bulk_len ({}): a request \
                 carrying the longest argument could not be read",
                self.query_buffer_limit, self.max_bulk_len
            ));
        }
        Ok(())
    }

    /// The RESP decoder's bounds.
    pub fn resp(&self) -> resp::Limits {
        resp::Limits {
            max_bulk_len: to_usize(self.max_bulk_len),
            max_multibulk_len: self.max_multibulk_len,
            max_inline_len: to_usize(self.max_inline_len),
            max_request_len: to_usize(self.query_buffer_limit),
        }
    }

    /// The native decoder's bounds: a frame is a whole request.
    pub fn native(&self) -> native::Limits {
        native::Limits {
            max_frame: to_usize(self.query_buffer_limit),
            max_args: self.max_multibulk_len,
        }
    }

    /// The largest request, in bytes.
    pub fn max_request(&self) -> usize {
        to_usize(self.query_buffer_limit)
    }

    /// Whether another request may run in this round: `ran` have run since the last write,
    /// and `pending` reply bytes wait.
    pub fn may_run(&self, ran: usize, pending: usize) -> bool {
        ran < self.max_pipeline && pending < FLUSH_AT
    }

    /// An error when the requests read but not yet run (`input` bytes, the one being read
    /// included) exceed the query buffer limit.
    pub fn check_input(&self, input: usize) -> Result<(), ProtocolError> {
        if input as u64 > self.query_buffer_limit {
            return Err(ProtocolError::QueryBufferFull);
        }
        Ok(())
    }

    /// Whether `pending` reply bytes exceed the output buffer limit.
    pub fn output_exceeded(&self, pending: usize) -> bool {
        self.output_buffer_limit > 0 && pending as u64 > self.output_buffer_limit
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Parses a size: a byte count, or a number with `kb`, `mb` or `gb` (powers of 1024) or `k`,
/// `m` or `g` (powers of 1000), as Redis's config does.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let not_a_size =
        || format!("'{text}' is not a size: use a byte count or a number with kb, mb or gb");
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return Err(not_a_size()),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(not_a_size)
}

/// Deserializes a size written as a number of bytes or as text for [`parse_size`].
pub fn deserialize_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Number(u64),
        Text(String),
    }
    match Size::deserialize(d)? {
        Size::Number(n) => Ok(n),
        Size::Text(t) => parse_size(&t).map_err(serde::de::Error::custom),
    }
}

/// Parses `yes`/`no` (or `true`/`false`, `on`/`off`) as Redis's config does.
pub fn parse_yes_no(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" => Ok(true),
        "no" | "false" | "off" => Ok(false),
        _ => Err(format!("'{text}' is not yes or no")),
    }
}

/// The `[limits]` table as command-line flags, each overriding the file's field.
#[cfg(feature = "cli")]
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Limits (the [limits] table)")]
pub struct LimitFlags {
    /// Longest key or value (bulk argument), e.g. 64mb; longer is a protocol error [default: 64mb+64kb].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_bulk_len: Option<u64>,
    /// Most arguments in one request [default: 1048576].
    #[arg(long, value_name = "N")]
    pub max_multibulk_len: Option<usize>,
    /// Longest inline command line [default: 64kb].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_inline_len: Option<u64>,
    /// Largest request as a whole [default: 1gb].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub query_buffer_limit: Option<u64>,
    /// Close a client whose unread replies exceed this, 0 = no limit [default: 256mb].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub output_buffer_limit: Option<u64>,
    /// Most pipelined requests run before their replies are written [default: 1024].
    #[arg(long, value_name = "N")]
    pub max_pipeline: Option<usize>,
}

#[cfg(feature = "cli")]
impl LimitFlags {
    /// Overrides `limits` with the flags given.
    pub fn apply(&self, limits: &mut ClientLimits) {
        let l = limits;
        l.max_bulk_len = self.max_bulk_len.unwrap_or(l.max_bulk_len);
        l.max_multibulk_len = self.max_multibulk_len.unwrap_or(l.max_multibulk_len);
        l.max_inline_len = self.max_inline_len.unwrap_or(l.max_inline_len);
        l.query_buffer_limit = self.query_buffer_limit.unwrap_or(l.query_buffer_limit);
        l.output_buffer_limit = self.output_buffer_limit.unwrap_or(l.output_buffer_limit);
        l.max_pipeline = self.max_pipeline.unwrap_or(l.max_pipeline);
    }
}

/// Whether a peer at `addr` is on this machine's loopback (IPv4 `127.0.0.0/8`, IPv6 `::1`, or
/// either mapped into IPv6): what protected mode lets in without a password.
pub fn is_loopback(addr: &std::net::SocketAddr) -> bool {
    match addr.ip() {
        std::net::IpAddr::V4(ip) => ip.is_loopback(),
        std::net::IpAddr::V6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_and_without_units() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64kb"), Ok(64 * 1024));
        assert_eq!(parse_size("2GB"), Ok(2 << 30));
        assert_eq!(parse_size("5m"), Ok(5_000_000));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("99999999999999gb").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn the_defaults_are_consistent_and_bad_settings_are_named() {
        assert_eq!(ClientLimits::default().check(), Ok(()));
        let zero_pipeline = ClientLimits {
            max_pipeline: 0,
            ..ClientLimits::default()
        };
        assert!(zero_pipeline.check().unwrap_err().contains("max_pipeline"));
        let small_query = ClientLimits {
            query_buffer_limit: 1024,
            ..ClientLimits::default()
        };
        assert!(
            small_query
                .check()
                .unwrap_err()
                .contains("query_buffer_limit")
        );
    }

    #[test]
    fn rounds_stop_at_the_pipeline_depth_or_when_replies_pile_up() {
        let limits = ClientLimits {
            max_pipeline: 4,
            ..ClientLimits::default()
        };
        assert!(limits.may_run(3, 0));
        assert!(!limits.may_run(4, 0));
        assert!(limits.may_run(0, FLUSH_AT - 1));
        assert!(!limits.may_run(0, FLUSH_AT));
    }

    #[test]
    fn input_and_output_limits() {
        let limits = ClientLimits {
            query_buffer_limit: 1000,
            max_bulk_len: 500,
            output_buffer_limit: 2000,
            ..ClientLimits::default()
        };
        assert!(limits.check_input(1000).is_ok());
        assert_eq!(
            limits.check_input(1001),
            Err(ProtocolError::QueryBufferFull)
        );
        assert!(!limits.output_exceeded(2000));
        assert!(limits.output_exceeded(2001));
        let unlimited = ClientLimits {
            output_buffer_limit: 0,
            ..limits
        };
        assert!(!unlimited.output_exceeded(usize::MAX));
    }

    #[test]
    fn the_table_reads_sizes_as_text_or_numbers() {
        #[derive(Deserialize)]
        struct File {
            limits: ClientLimits,
        }
        let file: File = toml::from_str(
            "[limits]\nmax_bulk_len = \"1mb\"\nmax_pipeline = 16\noutput_buffer_limit = 0\nquery_buffer_limit = 4194304",
        )
        .unwrap();
        assert_eq!(file.limits.max_bulk_len, 1 << 20);
        assert_eq!(file.limits.max_pipeline, 16);
        assert_eq!(file.limits.output_buffer_limit, 0);
        assert_eq!(file.limits.query_buffer_limit, 4 << 20);
        assert_eq!(
            file.limits.max_multibulk_len,
            ClientLimits::default().max_multibulk_len
        );
    }

    #[test]
    fn loopback_peers_are_told_from_others() {
        let local = [
            "127.0.0.1:1",
            "127.9.9.9:1",
            "[::1]:1",
            "[::ffff:127.0.0.1]:1",
        ];
        for addr in local {
            assert!(is_loopback(&addr.parse().unwrap()), "{addr}");
        }
        let remote = [
            "10.0.0.1:1",
            "0.0.0.0:1",
            "[::]:1",
            "[fe80::1]:1",
            "[::ffff:8.8.8.8]:1",
        ];
        for addr in remote {
            assert!(!is_loopback(&addr.parse().unwrap()), "{addr}");
        }
    }
}
