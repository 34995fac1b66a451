//! What `-e` names: `[NAME=]ENDPOINT[@PROTOCOL]`, checked up front so that a protocol a
//! transport cannot carry is refused before anything is measured.

use std::fmt;

use cache_wire::endpoint::Endpoint;

/// The wire protocol requests go out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Redis's protocol, spoken by cache-node, cache-proxy and redis-server.
    Resp,
    /// The project's own framed protocol, and the only one `udp://` carries.
    Native,
    /// memcached's text protocol, over `tcp://` and `unix://` only.
    Memcache,
}

impl Protocol {
    /// How the table and the JSON name it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Resp => "RESP",
            Protocol::Native => "native",
            Protocol::Memcache => "memcache",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One thing to measure: a server reached over one endpoint in one protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The label in the table; the transport's name unless `NAME=` gave one.
    pub name: String,
    pub endpoint: Endpoint,
    pub protocol: Protocol,
}

impl Target {
    /// Parses `[NAME=]ENDPOINT[@PROTOCOL]`.
    pub fn parse(text: &str) -> anyhow::Result<Target> {
        let (name, rest) = split_name(text)?;
        let (endpoint, protocol) = match rest.rsplit_once('@') {
            Some((endpoint, suffix)) => (endpoint, Some(protocol_named(suffix)?)),
            None => (rest, None),
        };
        let endpoint: Endpoint = endpoint
            .parse()
            .map_err(|e| anyhow::anyhow!("target '{text}': {e}"))?;
        let protocol = match (&endpoint, protocol) {
            (Endpoint::Udp(_), None | Some(Protocol::Native)) => Protocol::Native,
            (Endpoint::Udp(_), Some(other)) => anyhow::bail!(
                "target '{text}': udp:// carries the native protocol only: drop the @{other}"
            ),
            (Endpoint::Tcp(_) | Endpoint::Unix(_), Some(Protocol::Memcache)) => Protocol::Memcache,
            (_, Some(Protocol::Memcache)) => anyhow::bail!(
                "target '{text}': @memcache runs over tcp:// and unix:// only (memcached \
                 serves neither QUIC nor this tool's datagram framing)"
            ),
            (_, protocol) => protocol.unwrap_or(Protocol::Resp),
        };
        let name = name.map_or_else(|| transport_name(&endpoint), str::to_owned);
        Ok(Target {
            name,
            endpoint,
            protocol,
        })
    }

    /// The transport in capitals, as the table shows it: `TCP`, `UNIX`, `QUIC`, ...
    pub fn transport(&self) -> String {
        transport_name(&self.endpoint)
    }
}

fn transport_name(endpoint: &Endpoint) -> String {
    let scheme = match endpoint {
        Endpoint::Tcp(_) => "tcp",
        Endpoint::Tls(_) => "tls",
        Endpoint::Unix(_) => "unix",
        Endpoint::Udp(_) => "udp",
        Endpoint::Quic(_) => "quic",
    };
    scheme.to_uppercase()
}

fn protocol_named(suffix: &str) -> anyhow::Result<Protocol> {
    match suffix.to_ascii_lowercase().as_str() {
        "resp" => Ok(Protocol::Resp),
        "native" => Ok(Protocol::Native),
        "memcache" | "memcached" => Ok(Protocol::Memcache),
        other => anyhow::bail!("unknown protocol '{other}': use @resp, @native or @memcache"),
    }
}

/// Splits off `NAME=`. Text before the first `=` is a name only if it cannot be part of an
/// endpoint (no `://`, no `/`), so a socket path holding `=` still parses as a path.
fn split_name(text: &str) -> anyhow::Result<(Option<&str>, &str)> {
    let Some((head, rest)) = text.split_once('=') else {
        return Ok((None, text));
    };
    if head.contains('/') {
        return Ok((None, text));
    }
    anyhow::ensure!(
        !head.is_empty(),
        "target '{text}' has an empty name: write NAME=ENDPOINT or just ENDPOINT"
    );
    anyhow::ensure!(
        head.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+')),
        "target name '{head}' may hold only letters, digits and - _ . +"
    );
    Ok((Some(head), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Target {
        Target::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn refusal(text: &str) -> String {
        match Target::parse(text) {
            Ok(target) => panic!("{text} parsed as {target:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn without_a_name_the_transport_names_the_target() {
        let target = parse("tcp://127.0.0.1:7001");
        assert_eq!(target.name, "TCP");
        assert_eq!(target.transport(), "TCP");
        assert_eq!(target.protocol, Protocol::Resp);
        assert_eq!(parse("unix:///tmp/n.sock@native").name, "UNIX");
        assert_eq!(
            parse("127.0.0.1:7001").endpoint,
            parse("tcp://127.0.0.1:7001").endpoint
        );
    }

    #[test]
    fn names_and_protocols() {
        let node = parse("cache-node=tcp://127.0.0.1:1");
        assert_eq!(node.name, "cache-node");
        assert_eq!(node.endpoint, Endpoint::Tcp("127.0.0.1:1".into()));
        assert_eq!(node.protocol, Protocol::Resp);

        let redis = parse("redis-server=tcp://127.0.0.1:2@resp");
        assert_eq!(
            (redis.name.as_str(), redis.protocol),
            ("redis-server", Protocol::Resp)
        );

        let memcached = parse("memcached=tcp://127.0.0.1:3@memcache");
        assert_eq!(memcached.name, "memcached");
        assert_eq!(memcached.transport(), "TCP");
        assert_eq!(memcached.protocol, Protocol::Memcache);

        assert_eq!(parse("n1=127.0.0.1:4@NATIVE").protocol, Protocol::Native);
        assert_eq!(
            parse("mc=unix:///tmp/mc.sock@memcache").protocol,
            Protocol::Memcache
        );
        assert_eq!(parse("u=udp://127.0.0.1:5").protocol, Protocol::Native);
        assert_eq!(parse("udp://127.0.0.1:5@native").protocol, Protocol::Native);
    }

    #[test]
    fn an_equals_sign_inside_a_path_is_not_a_name() {
        let target = parse("unix:///tmp/a=b.sock");
        assert_eq!(target.name, "UNIX");
        assert_eq!(target.endpoint, Endpoint::Unix("/tmp/a=b.sock".into()));
        let named = parse("x=unix:///tmp/a=b.sock@memcache");
        assert_eq!(named.name, "x");
        assert_eq!(named.endpoint, Endpoint::Unix("/tmp/a=b.sock".into()));
    }

    #[test]
    fn refusals() {
        assert!(refusal("mc=udp://127.0.0.1:5@memcache").contains("native protocol only"));
        assert!(refusal("udp://127.0.0.1:5@resp").contains("native protocol only"));
        assert!(refusal("quic://127.0.0.1:5@memcache").contains("tcp:// and unix:// only"));
        assert!(refusal("tls://localhost:5@memcache").contains("tcp:// and unix:// only"));
        assert!(refusal("tcp://127.0.0.1:5@http").contains("unknown protocol 'http'"));
        assert!(refusal("=tcp://127.0.0.1:5").contains("empty name"));
        assert!(refusal("a b=tcp://127.0.0.1:5").contains("may hold only"));
        assert!(refusal("a|b=tcp://127.0.0.1:5").contains("may hold only"));
        assert!(refusal("n=tcp://127.0.0.1").contains("needs a port"));
        assert!(refusal("n=ftp://127.0.0.1:5").contains("unknown endpoint scheme"));
    }
}
