//! The endpoint syntax used everywhere an address is given: flags, config files, the proxy.
//!
//! `tcp://127.0.0.1:7001`, `tls://cache.internal:7443`, `unix:///run/cache/n1.sock`,
//! `quic://127.0.0.1:7443`, `udp://127.0.0.1:7002`; a bare `host:port` means TCP. Parsing is pure: resolving host names, certificates and opening sockets
//! are the caller's business.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where to listen or connect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A TCP address as `host:port` (a name, an IPv4 address or a bracketed IPv6 address).
    Tcp(String),
    /// TLS over TCP, `host:port`; the host is also the name the server's certificate must carry.
    Tls(String),
    /// A Unix domain socket path.
    Unix(PathBuf),
    /// UDP datagrams, `host:port`: native frames only, each request in one datagram.
    Udp(String),
    /// QUIC, `host:port`: TLS 1.3 like `tls://`, over UDP; a stream per batch of requests.
    Quic(String),
}

/// Why an endpoint did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The scheme is not one this build knows.
    #[error(
        "unknown endpoint scheme '{0}': use tcp://, tls://, quic://, udp:// (with host:port) or unix:///path"
    )]
    UnknownScheme(String),
    /// A TCP or TLS endpoint without a valid `:port`.
    #[error("endpoint '{0}' needs a port: write it as scheme://host:port")]
    MissingPort(String),
    /// A Unix endpoint with an empty path.
    #[error("endpoint '{0}' needs a socket path: write it as unix:///path/to.sock")]
    MissingPath(String),
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Endpoint, EndpointError> {
        let (scheme, rest) = match s.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => ("tcp".to_owned(), s),
        };
        let host_port = || {
            let port = rest.rsplit_once(':').map(|(_, p)| p);
            if port.is_none_or(|p| p.parse::<u16>().is_err()) {
                return Err(EndpointError::MissingPort(s.to_owned()));
            }
            Ok(rest.to_owned())
        };
        match scheme.as_str() {
            "tcp" => Ok(Endpoint::Tcp(host_port()?)),
            "tls" => Ok(Endpoint::Tls(host_port()?)),
            "udp" => Ok(Endpoint::Udp(host_port()?)),
            "quic" => Ok(Endpoint::Quic(host_port()?)),
            "unix" if !rest.is_empty() => Ok(Endpoint::Unix(PathBuf::from(rest))),
            "unix" => Err(EndpointError::MissingPath(s.to_owned())),
            other => Err(EndpointError::UnknownScheme(other.to_owned())),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(addr) => write!(f, "tcp://{addr}"),
            Endpoint::Tls(addr) => write!(f, "tls://{addr}"),
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            Endpoint::Udp(addr) => write!(f, "udp://{addr}"),
            Endpoint::Quic(addr) => write!(f, "quic://{addr}"),
        }
    }
}

impl Endpoint {
    /// `host:port` of a network endpoint; `None` for a Unix socket.
    pub fn host_port(&self) -> Option<&str> {
        match self {
            Endpoint::Tcp(addr)
            | Endpoint::Tls(addr)
            | Endpoint::Udp(addr)
            | Endpoint::Quic(addr) => Some(addr),
            Endpoint::Unix(_) => None,
        }
    }

    /// True for a Unix socket and for a host that is a loopback address or `localhost`: an
    /// endpoint only this machine can reach. (A host name other than `localhost` counts as
    /// reachable from elsewhere; nothing is resolved here.)
    pub fn is_loopback(&self) -> bool {
        let Some(host_port) = self.host_port() else {
            return true;
        };
        let host = host_port
            .rsplit_once(':')
            .map_or(host_port, |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| crate::limits::is_loopback(&std::net::SocketAddr::new(ip, 0)))
    }

    /// True for the endpoints that carry datagrams rather than streams (`udp://`), which
    /// speak only the native protocol.
    pub fn is_datagram(&self) -> bool {
        matches!(self, Endpoint::Udp(_))
    }
}

impl serde::Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Endpoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Endpoint, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_endpoints_are_told_from_exposed_ones() {
        for local in [
            "tcp://127.0.0.1:7001",
            "tls://localhost:7443",
            "quic://[::1]:7443",
            "unix:///tmp/n.sock",
        ] {
            assert!(local.parse::<Endpoint>().unwrap().is_loopback(), "{local}");
        }
        for exposed in [
            "tcp://0.0.0.0:7001",
            "tcp://[::]:7001",
            "tls://cache.internal:7443",
        ] {
            assert!(
                !exposed.parse::<Endpoint>().unwrap().is_loopback(),
                "{exposed}"
            );
        }
    }

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(
            "tcp://127.0.0.1:7001".parse(),
            Ok(Endpoint::Tcp("127.0.0.1:7001".into()))
        );
        assert_eq!(
            "localhost:0".parse(),
            Ok(Endpoint::Tcp("localhost:0".into()))
        );
        assert_eq!(
            "tcp://[::1]:7001".parse(),
            Ok(Endpoint::Tcp("[::1]:7001".into()))
        );
        assert_eq!(
            "unix:///run/n1.sock".parse(),
            Ok(Endpoint::Unix("/run/n1.sock".into()))
        );
        assert_eq!(
            "unix:///run/n1.sock"
                .parse::<Endpoint>()
                .unwrap()
                .to_string(),
            "unix:///run/n1.sock"
        );
        assert_eq!(
            "tls://localhost:7443".parse(),
            Ok(Endpoint::Tls("localhost:7443".into()))
        );
        assert_eq!(
            "quic://127.0.0.1:7443".parse(),
            Ok(Endpoint::Quic("127.0.0.1:7443".into()))
        );
        assert_eq!(
            "UDP://[::1]:7002".parse::<Endpoint>().unwrap().to_string(),
            "udp://[::1]:7002"
        );
        assert!(matches!(
            "udp://host".parse::<Endpoint>(),
            Err(EndpointError::MissingPort(_))
        ));
        assert!(matches!(
            "tcp://host".parse::<Endpoint>(),
            Err(EndpointError::MissingPort(_))
        ));
        assert!(matches!(
            "tcp://host:99999".parse::<Endpoint>(),
            Err(EndpointError::MissingPort(_))
        ));
        assert!(matches!(
            "unix://".parse::<Endpoint>(),
            Err(EndpointError::MissingPath(_))
        ));
        assert!(matches!(
            "ftp://x:1".parse::<Endpoint>(),
            Err(EndpointError::UnknownScheme(_))
        ));
    }
}
