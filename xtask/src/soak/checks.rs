//! The soak's verdicts, free of I/O: what kind an error is and whether churn explains it, how a
//! value is stamped and checked, and what a read or an `INCR` reply says about consistency.
//!
//! Times are milliseconds since the run's origin, always at least 1; `churn_until` is the end
//! of the latest churn window (0 before the first one, `u64::MAX` while one is open).

use std::io;

/// The kind of a failed request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The proxy's `-ERR cache node … is unavailable, try again`: a write (or `INCR`, `EXPIRE`)
    /// whose node failed or timed out. The proxy documents it for requests in flight to a node
    /// that fails, until the node is marked down.
    Unavailable,
    /// Any other error reply, by its first words (`ERR value is not`, `OOM command not`, ...).
    Reply(String),
    /// No reply within the client's read timeout, which is well over the proxy's own timeout:
    /// the proxy hung.
    Timeout,
    /// The proxy reset the connection.
    Reset,
    /// The proxy refused a new connection.
    Refused,
    /// The proxy closed the connection.
    Closed,
    /// Bytes that are not RESP, or a reply of the wrong shape for the command.
    Protocol,
    /// Another socket error, by its kind.
    Io(String),
}

impl ErrorKind {
    /// The kind of an error reply's text.
    pub fn of_reply(message: &str) -> ErrorKind {
        if message.contains("is unavailable, try again") {
            return ErrorKind::Unavailable;
        }
        let words: Vec<&str> = message.split_whitespace().take(4).collect();
        ErrorKind::Reply(words.join(" "))
    }

    /// The kind of a socket error.
    pub fn of_io(error: &io::Error) -> ErrorKind {
        match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ErrorKind::Timeout,
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => ErrorKind::Reset,
            io::ErrorKind::ConnectionRefused => ErrorKind::Refused,
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionAborted => ErrorKind::Closed,
            kind => ErrorKind::Io(format!("{kind:?}")),
        }
    }

    /// How the report names it.
    pub fn label(&self) -> String {
        match self {
            ErrorKind::Unavailable => "unavailable".to_owned(),
            ErrorKind::Reply(words) => format!("reply: {words}"),
            ErrorKind::Timeout => "client timeout".to_owned(),
            ErrorKind::Reset => "connection reset".to_owned(),
            ErrorKind::Refused => "connection refused".to_owned(),
            ErrorKind::Closed => "connection closed".to_owned(),
            ErrorKind::Protocol => "protocol".to_owned(),
            ErrorKind::Io(kind) => format!("io: {kind}"),
        }
    }

    /// Whether churn explains the error. Only the proxy's documented unavailable reply is ever
    /// expected, and only inside a churn window: the proxy itself is never disturbed, so a
    /// broken connection, a hang or any other error reply is a fault whenever it happens.
    pub fn expected(&self, in_churn: bool) -> bool {
        *self == ErrorKind::Unavailable && in_churn
    }
}

/// Whether time `at` falls in a churn window.
pub fn in_churn(at: u64, churn_until: u64) -> bool {
    at <= churn_until
}

/// The size of the value written as `version` of `key`: log-uniform in `min..=max`, so most
/// values are small and a few are large, and the same on every run and at every check.
pub fn value_size(key: u64, version: u64, min: usize, max: usize) -> usize {
    let max = max.max(min);
    let unit = (mix(key, version) >> 11) as f64 / (1u64 << 53) as f64;
    let size = (min as f64) * ((max as f64) / (min as f64)).powf(unit);
    (size as usize).clamp(min, max)
}

fn mix(key: u64, version: u64) -> u64 {
    let mut z = key
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(version.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn filler(key: u64, version: u64) -> u8 {
    b'a' + (mix(version, key) % 26) as u8
}

/// Shortest value that holds any stamp.
pub const MIN_VALUE: usize = 64;

/// The value of `version` of `key`, written at `written`: `key|version|written|` and then one
/// filler byte (a function of key and version) up to its size.
pub fn value(key: u64, version: u64, written: u64, min: usize, max: usize) -> Vec<u8> {
    let size = value_size(key, version, min.max(MIN_VALUE), max);
    let mut bytes = format!("{key}|{version}|{written}|").into_bytes();
    bytes.resize(size.max(bytes.len()), filler(key, version));
    bytes
}

/// What a value says about its writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub version: u64,
    pub written: u64,
}

/// Checks that `bytes` is a value [`value`] made for `key`; the error says what is wrong.
pub fn verify(key: u64, bytes: &[u8], min: usize, max: usize) -> Result<Stamp, String> {
    let mut fields = bytes.splitn(4, |b| *b == b'|');
    let mut number = |what: &str| -> Result<u64, String> {
        fields
            .next()
            .and_then(|f| std::str::from_utf8(f).ok())
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("no {what} in the value's stamp"))
    };
    let stamped = number("key")?;
    if stamped != key {
        return Err(format!("the value of key {key} belongs to key {stamped}"));
    }
    let version = number("version")?;
    let written = number("write time")?;
    let rest = fields.next().unwrap_or_default();
    let want = value_size(key, version, min.max(MIN_VALUE), max);
    let header = bytes.len() - rest.len();
    if bytes.len() != want.max(header) {
        return Err(format!(
            "version {version} of key {key} is {} bytes, written as {}",
            bytes.len(),
            want.max(header)
        ));
    }
    let fill = filler(key, version);
    if let Some(at) = rest.iter().position(|b| *b != fill) {
        return Err(format!(
            "version {version} of key {key} is corrupt at byte {}",
            header + at
        ));
    }
    Ok(Stamp { version, written })
}

/// What a read value says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadVerdict {
    /// The latest acknowledged version, or one written after the read began.
    Fresh,
    /// Older than a write acknowledged before the read began, but a churn window overlaps the
    /// time since the old value was written: a stale copy left on a node by a membership or
    /// health change (docs/operations.md, "Stale copies").
    StaleInChurn,
    /// Older than an acknowledged write, with no churn since the old value was written.
    Stale,
    /// A version that was never written.
    Unwritten,
}

/// Judges a read of `stamp` given the key's last acknowledged write version when the read
/// began (`floor`; a delete counts) and the last version issued when it ended.
pub fn judge_read(stamp: Stamp, floor: u64, issued: u64, churn_until: u64) -> ReadVerdict {
    if stamp.version > issued {
        ReadVerdict::Unwritten
    } else if stamp.version >= floor {
        ReadVerdict::Fresh
    } else if in_churn(stamp.written, churn_until) {
        ReadVerdict::StaleInChurn
    } else {
        ReadVerdict::Stale
    }
}

/// What an `INCR` reply says of a counter only this client increments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountVerdict {
    /// One more than the last reply (or the first reply, or the first after a failed `INCR`).
    Next,
    /// 1: the counter was lost (evicted, or its node failed) and started again.
    Reset,
    /// Neither, with churn since the last good reply (a stale copy of the counter).
    JumpInChurn,
    /// Neither, with no churn to explain it.
    Jump,
}

/// Judges `INCR` reply `n` against the last good reply `last` (value, time), if known.
pub fn judge_count(last: Option<(i64, u64)>, n: i64, churn_until: u64) -> CountVerdict {
    match last {
        None if n >= 1 => CountVerdict::Next,
        Some((previous, _)) if n == previous + 1 => CountVerdict::Next,
        _ if n == 1 => CountVerdict::Reset,
        Some((_, at)) if churn_until >= at => CountVerdict::JumpInChurn,
        _ => CountVerdict::Jump,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_replies_are_classified_by_their_first_words() {
        let unavailable = "ERR cache node 127.0.0.1:7001 is unavailable, try again";
        assert_eq!(ErrorKind::of_reply(unavailable), ErrorKind::Unavailable);
        assert_eq!(
            ErrorKind::of_reply("ERR value is not an integer or out of range"),
            ErrorKind::Reply("ERR value is not".to_owned())
        );
        assert_eq!(
            ErrorKind::of_reply("OOM command not allowed").label(),
            "reply: OOM command not allowed"
        );
    }

    #[test]
    fn socket_errors_are_classified_by_kind() {
        let of = |kind| ErrorKind::of_io(&io::Error::from(kind));
        assert_eq!(of(io::ErrorKind::WouldBlock), ErrorKind::Timeout);
        assert_eq!(of(io::ErrorKind::ConnectionReset), ErrorKind::Reset);
        assert_eq!(of(io::ErrorKind::ConnectionRefused), ErrorKind::Refused);
        assert_eq!(of(io::ErrorKind::UnexpectedEof), ErrorKind::Closed);
        assert_eq!(
            of(io::ErrorKind::PermissionDenied),
            ErrorKind::Io("PermissionDenied".into())
        );
    }

    #[test]
    fn only_unavailable_in_churn_is_expected() {
        assert!(ErrorKind::Unavailable.expected(true));
        assert!(!ErrorKind::Unavailable.expected(false));
        for kind in [
            ErrorKind::Timeout,
            ErrorKind::Reset,
            ErrorKind::Refused,
            ErrorKind::Closed,
            ErrorKind::Protocol,
            ErrorKind::Reply("OOM".into()),
        ] {
            assert!(!kind.expected(true), "{kind:?}");
        }
        assert!(in_churn(5, u64::MAX));
        assert!(in_churn(5, 5));
        assert!(!in_churn(6, 5));
        assert!(!in_churn(1, 0), "before the first window nothing is churn");
    }

    #[test]
    fn values_round_trip_and_damage_is_caught() {
        for key in [0u64, 7, 123_456] {
            for version in 1..50 {
                let bytes = value(key, version, 99, 64, 4096);
                assert!((64..=4096).contains(&bytes.len()));
                assert_eq!(
                    verify(key, &bytes, 64, 4096),
                    Ok(Stamp {
                        version,
                        written: 99
                    })
                );
            }
        }
        let good = value(5, 3, 10, 64, 4096);
        assert!(
            verify(6, &good, 64, 4096)
                .unwrap_err()
                .contains("belongs to key 5")
        );
        let mut cut = good.clone();
        cut.pop();
        assert!(verify(5, &cut, 64, 4096).unwrap_err().contains("bytes"));
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(
            verify(5, &flipped, 64, 4096)
                .unwrap_err()
                .contains("corrupt")
        );
        assert!(verify(5, b"hello", 64, 4096).is_err());
    }

    #[test]
    fn sizes_spread_over_the_range() {
        let sizes: Vec<usize> = (0..10_000).map(|k| value_size(k, 1, 64, 16_384)).collect();
        let small = sizes.iter().filter(|s| **s < 1024).count();
        let large = sizes.iter().filter(|s| **s >= 8192).count();
        // Log-uniform: half the draws below the geometric middle (1 KiB), an eighth in the top octave.
        assert!((4500..5500).contains(&small), "{small}");
        assert!((1000..1500).contains(&large), "{large}");
    }

    #[test]
    fn reads_are_judged_against_acknowledged_writes_and_churn() {
        let stamp = |version, written| Stamp { version, written };
        assert_eq!(judge_read(stamp(5, 100), 5, 5, 0), ReadVerdict::Fresh);
        assert_eq!(judge_read(stamp(6, 100), 5, 6, 0), ReadVerdict::Fresh);
        assert_eq!(judge_read(stamp(7, 100), 5, 6, 0), ReadVerdict::Unwritten);
        // Older than the floor: explained only by churn after the old value was written.
        assert_eq!(judge_read(stamp(4, 100), 5, 5, 0), ReadVerdict::Stale);
        assert_eq!(judge_read(stamp(4, 100), 5, 5, 99), ReadVerdict::Stale);
        assert_eq!(
            judge_read(stamp(4, 100), 5, 5, 150),
            ReadVerdict::StaleInChurn
        );
        assert_eq!(
            judge_read(stamp(4, 100), 5, 5, u64::MAX),
            ReadVerdict::StaleInChurn
        );
    }

    #[test]
    fn counters_must_count_up() {
        assert_eq!(judge_count(None, 1, 0), CountVerdict::Next);
        assert_eq!(judge_count(None, 17, 0), CountVerdict::Next);
        assert_eq!(judge_count(Some((4, 10)), 5, 0), CountVerdict::Next);
        assert_eq!(judge_count(Some((4, 10)), 1, 0), CountVerdict::Reset);
        assert_eq!(judge_count(Some((4, 10)), 9, 0), CountVerdict::Jump);
        assert_eq!(judge_count(Some((4, 10)), 3, 9), CountVerdict::Jump);
        assert_eq!(judge_count(Some((4, 10)), 3, 10), CountVerdict::JumpInChurn);
        assert_eq!(judge_count(None, 0, 0), CountVerdict::Jump);
    }
}
