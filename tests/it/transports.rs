//! The same commands over every transport and both protocols, against a node and through
//! proxies whose own node connections run over TLS, QUIC and UDP, and `cache-cli` over each
//! of them. What is particular to QUIC and UDP is in `quic_udp`.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cache_client::{ConnectOptions, Connection};
use cache_tests::{ServerProcess, binary};
use cache_wire::Response;
use cache_wire::endpoint::Endpoint;
use cache_wire::native;
use cache_wire::transport::{ClientTls, Connector, Link, udp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A native-protocol client that pipelines requests and matches replies by id, over a byte
/// stream, one QUIC stream per pipeline, or one datagram per pipeline.
pub(crate) struct NativeClient {
    link: Link,
    input: BytesMut,
    next_id: u64,
}

impl NativeClient {
    pub(crate) async fn connect(endpoint: &Endpoint, connector: &Connector) -> NativeClient {
        NativeClient {
            link: connector.open(endpoint).await.expect("connects"),
            input: BytesMut::new(),
            next_id: 1000,
        }
    }

    /// Sends every request at once with the given ids, and returns the replies by id.
    async fn pipeline(&mut self, requests: &[(u64, Vec<&[u8]>)]) -> HashMap<u64, Response> {
        let mut out = BytesMut::new();
        for (id, args) in requests {
            native::encode_request(*id, args, &mut out);
        }
        let mut replies = HashMap::new();
        let collect = |input: &mut BytesMut, replies: &mut HashMap<u64, Response>| {
            while let Some(reply) = native::decode_reply(input, &native::Limits::default()).unwrap()
            {
                assert!(
                    replies.insert(reply.id, reply.response).is_none(),
                    "two replies to request {}",
                    reply.id
                );
            }
        };
        match &mut self.link {
            Link::Stream(stream) => {
                stream.write_all(&out).await.unwrap();
                while replies.len() < requests.len() {
                    collect(&mut self.input, &mut replies);
                    if replies.len() == requests.len() {
                        break;
                    }
                    let read = tokio::time::timeout(
                        Duration::from_secs(5),
                        stream.read_buf(&mut self.input),
                    )
                    .await
                    .expect("replies within 5 s")
                    .unwrap();
                    assert!(read > 0, "server closed the connection");
                }
            }
            Link::Quic(quic) => {
                let mut batch = quic.open_batch().await.unwrap();
                batch.write_all(&out).await.unwrap();
                let mut input = BytesMut::from(&batch.read_all(1 << 30).await.unwrap()[..]);
                collect(&mut input, &mut replies);
            }
            Link::Udp(socket) => {
                let wait = Duration::from_secs(2);
                let mut datagram_id = self.next_id as u16;
                match udp::exchange(socket, &mut datagram_id, &out, wait, 0).await {
                    Ok(mut input) => collect(&mut input, &mut replies),
                    // Refused before sending: the answer to every request of the datagram.
                    Err(error) if error.kind() == std::io::ErrorKind::InvalidInput => {
                        for (id, _) in requests {
                            replies.insert(*id, Response::Error(format!("ERR {error}").into()));
                        }
                    }
                    Err(error) => panic!("{error}"),
                }
            }
        }
        replies
    }

    pub(crate) async fn call(&mut self, args: &[&[u8]]) -> Response {
        self.next_id += 1;
        let id = self.next_id;
        let mut replies = self.pipeline(&[(id, args.to_vec())]).await;
        replies.remove(&id).expect("a reply with the request's id")
    }
}

enum Client {
    Resp(Connection),
    Native(NativeClient),
}

impl Client {
    async fn call(&mut self, args: &[&[u8]]) -> Response {
        match self {
            Client::Resp(c) => c.call(args).await.expect("a reply"),
            Client::Native(c) => c.call(args).await,
        }
    }
}

pub(crate) fn bulk(bytes: &[u8]) -> Response {
    Response::Bulk(Bytes::copy_from_slice(bytes))
}

/// The commands every transport and protocol must carry the same way. `datagrams`: the path
/// includes UDP, where a request must fit one datagram and a reply 64 KiB.
async fn command_suite(client: &mut Client, prefix: &str, datagrams: bool) {
    let key = |name: &str| format!("{prefix}:{name}").into_bytes();
    let (k, a, b, n) = (key("k"), key("a"), key("b"), key("n"));
    assert_eq!(client.call(&[b"SET", &k, b"v"]).await, Response::Ok);
    assert_eq!(client.call(&[b"GET", &k]).await, bulk(b"v"));
    assert_eq!(client.call(&[b"GET", &key("missing")]).await, Response::Nil);
    let binary = b"\r\n\0\xff*1\r\n$3\r\n";
    assert_eq!(client.call(&[b"SET", &k, binary]).await, Response::Ok);
    assert_eq!(client.call(&[b"GET", &k]).await, bulk(binary));
    let large = vec![b'x'; 200 * 1024];
    if datagrams {
        let refused = client.call(&[b"SET", &k, &large]).await;
        assert!(
            matches!(&refused, Response::Error(e) if e.contains("too large for one UDP datagram")),
            "{refused:?}"
        );
        // A value that fits a request comes back split over several reply datagrams.
        let fits = vec![b'y'; 1300];
        assert_eq!(client.call(&[b"SET", &k, &fits]).await, Response::Ok);
        assert_eq!(
            client.call(&[b"APPEND", &k, &fits]).await,
            Response::Integer(2600)
        );
        assert_eq!(
            client.call(&[b"APPEND", &k, &fits]).await,
            Response::Integer(3900)
        );
        assert_eq!(client.call(&[b"GET", &k]).await, bulk(&[b'y'; 3900]));
    } else {
        assert_eq!(client.call(&[b"SET", &k, &large]).await, Response::Ok);
        assert_eq!(client.call(&[b"GET", &k]).await, bulk(&large));
    }
    assert_eq!(client.call(&[b"INCR", &n]).await, Response::Integer(1));
    assert_eq!(
        client.call(&[b"INCRBY", &n, b"-5"]).await,
        Response::Integer(-4)
    );
    let not_a_number = client.call(&[b"INCR", &k]).await;
    assert_eq!(
        not_a_number,
        Response::err("value is not an integer or out of range")
    );
    assert_eq!(
        client.call(&[b"MSET", &a, b"1", &b, b"2"]).await,
        Response::Ok
    );
    assert_eq!(
        client.call(&[b"MGET", &a, &b, &key("nope")]).await,
        Response::Array(vec![bulk(b"1"), bulk(b"2"), Response::Nil])
    );
    assert_eq!(
        client.call(&[b"EXPIRE", &a, b"100"]).await,
        Response::Integer(1)
    );
    assert!(
        matches!(client.call(&[b"TTL", &a]).await, Response::Integer(t) if (1..=100).contains(&t))
    );
    assert_eq!(
        client.call(&[b"EXISTS", &a, &b, &key("nope")]).await,
        Response::Integer(2)
    );
    assert_eq!(client.call(&[b"DEL", &a, &b]).await, Response::Integer(2));
    let unknown = client.call(&[b"NOSUCHCOMMAND", b"x"]).await;
    assert!(
        matches!(&unknown, Response::Error(text) if text.starts_with("ERR unknown command")),
        "{unknown:?}"
    );
    assert_eq!(
        native::ErrorCode::of(match &unknown {
            Response::Error(text) => text,
            _ => unreachable!(),
        }),
        native::ErrorCode::UnknownCommand
    );
}

struct Cluster {
    _dir: tempfile::TempDir,
    node: ServerProcess,
    /// Proxies reaching the node over TLS, QUIC and UDP.
    proxy: ServerProcess,
    proxy_over_quic: ServerProcess,
    proxy_over_udp: ServerProcess,
    ca: std::path::PathBuf,
}

pub(crate) fn endpoint_of(server: &ServerProcess, scheme: &str) -> Endpoint {
    server
        .endpoints
        .iter()
        .find(|e| e.starts_with(scheme))
        .unwrap_or_else(|| panic!("no {scheme} endpoint in {:?}", server.endpoints))
        .parse()
        .unwrap()
}

const SCHEMES: [&str; 5] = ["tcp://", "tls://", "unix://", "quic://", "udp://"];

/// A node on every transport, and proxies on every transport that reach the node over TLS,
/// QUIC and UDP. All use the development certificate in one directory.
fn start() -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let certs_arg = certs.to_str().unwrap().to_owned();
    let socket = |name: &str| format!("unix://{}", dir.path().join(name).display());
    let node_sock = socket("node.sock");
    let every = |sock: &str| {
        [
            "--listen",
            "tls://127.0.0.1:0",
            "--listen",
            "quic://127.0.0.1:0",
            "--listen",
            "udp://127.0.0.1:0",
            "--listen",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain([
            sock.to_owned(),
            "--tls-self-signed".into(),
            certs_arg.clone(),
        ])
        .collect::<Vec<String>>()
    };
    let node_args = every(&node_sock);
    let node_args: Vec<&str> = node_args.iter().map(String::as_str).collect();
    let node = ServerProcess::start(&node_args).unwrap();
    let ca = certs.join("cert.pem");
    let proxy_to = |scheme: &str, sock: &str| {
        let mut args = every(sock);
        args.extend([
            "--node".to_owned(),
            endpoint_of(&node, scheme).to_string(),
            "--node-tls-ca".to_owned(),
            ca.to_str().unwrap().to_owned(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ServerProcess::proxy(&args).unwrap()
    };
    let proxy = proxy_to("tls://", &socket("proxy.sock"));
    let proxy_over_quic = proxy_to("quic://", &socket("proxy-quic.sock"));
    let proxy_over_udp = proxy_to("udp://", &socket("proxy-udp.sock"));
    Cluster {
        _dir: dir,
        node,
        proxy,
        proxy_over_quic,
        proxy_over_udp,
        ca,
    }
}

pub(crate) fn connector(ca: &Path) -> Connector {
    Connector::with_tls(ClientTls::new(ca, None).unwrap())
}

pub(crate) fn options(connector: &Connector) -> ConnectOptions {
    ConnectOptions {
        connector: connector.clone(),
        timeout: Duration::from_secs(5),
        ..ConnectOptions::default()
    }
}

#[tokio::test]
async fn every_command_works_over_every_transport_and_protocol() {
    let cluster = start();
    let connector = connector(&cluster.ca);
    let servers = [
        ("node", &cluster.node, false),
        ("proxy", &cluster.proxy, false),
        ("proxy-quic", &cluster.proxy_over_quic, false),
        ("proxy-udp", &cluster.proxy_over_udp, true),
    ];
    for (server_name, server, behind_udp) in servers {
        for scheme in SCHEMES {
            let endpoint = endpoint_of(server, scheme);
            let datagrams = behind_udp || scheme == "udp://";
            // The Rust client speaks RESP, or native frames over UDP.
            let resp = Connection::connect(&endpoint, &options(&connector))
                .await
                .unwrap();
            let prefix = format!("{server_name}:{scheme}client");
            command_suite(&mut Client::Resp(resp), &prefix, datagrams).await;
            let native = NativeClient::connect(&endpoint, &connector).await;
            let prefix = format!("{server_name}:{scheme}native");
            command_suite(&mut Client::Native(native), &prefix, datagrams).await;
        }
    }
}

#[tokio::test]
async fn native_replies_carry_their_request_ids() {
    let cluster = start();
    let connector = connector(&cluster.ca);
    let servers = [&cluster.node, &cluster.proxy];
    for endpoint in servers
        .iter()
        .flat_map(|s| SCHEMES.map(|scheme| endpoint_of(s, scheme)))
    {
        let mut client = NativeClient::connect(&endpoint, &connector).await;
        // Ids in no particular order, repeated keys, a request that fails among them.
        let replies = client
            .pipeline(&[
                (90, vec![b"SET".as_slice(), b"ids:k", b"1"]),
                (3, vec![b"INCR".as_slice(), b"ids:k"]),
                (u64::MAX, vec![b"GET".as_slice(), b"ids:k"]),
                (0, vec![b"GET".as_slice()]),
            ])
            .await;
        assert_eq!(replies[&90], Response::Ok);
        assert_eq!(replies[&3], Response::Integer(2));
        assert_eq!(replies[&u64::MAX], bulk(b"2"));
        assert!(replies[&0].is_error());
    }
}

#[tokio::test]
async fn a_tls_endpoint_refuses_a_client_that_does_not_trust_it() {
    let cluster = start();
    // A certificate from another directory is not the node's.
    let other = tempfile::tempdir().unwrap();
    cache_wire::transport::ServerTls::self_signed(other.path()).unwrap();
    let stranger = connector(&other.path().join("cert.pem"));
    let endpoint = endpoint_of(&cluster.node, "tls://");
    assert!(stranger.connect(&endpoint).await.is_err());
    // QUIC checks the certificate the same way.
    let quic = endpoint_of(&cluster.node, "quic://");
    assert!(stranger.open(&quic).await.is_err());
    assert!(connector(&cluster.ca).open(&quic).await.is_ok());
    // Plain text to a TLS port gets no reply, and the node keeps serving others.
    let mut plain = tokio::net::TcpStream::connect(endpoint.host_port().unwrap())
        .await
        .unwrap();
    plain.write_all(b"PING\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), plain.read(&mut buf)).await;
    assert!(!matches!(read, Ok(Ok(n)) if buf[..n].starts_with(b"+PONG")));
    let mut good = NativeClient::connect(&endpoint, &connector(&cluster.ca)).await;
    assert_eq!(good.call(&[b"PING"]).await, Response::Status("PONG".into()));
}

fn cli(args: &[&str]) -> (bool, String) {
    let output = Command::new(binary("cache-cli"))
        .args(args)
        .output()
        .expect("cache-cli runs");
    let stdout = String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code().is_some_and(|c| c < 2),
        "cache-cli failed: {stderr}"
    );
    (output.status.success(), stdout)
}

#[test]
fn cache_cli_works_over_every_transport() {
    let cluster = start();
    let ca = cluster.ca.to_str().unwrap();
    for server in [&cluster.node, &cluster.proxy] {
        for scheme in SCHEMES {
            let endpoint = endpoint_of(server, scheme).to_string();
            for native in [false, true] {
                let mut base = vec!["-e", endpoint.as_str(), "--tls-ca", ca];
                if native {
                    base.push("--native");
                }
                let run = |extra: &[&str]| {
                    let mut args = base.clone();
                    args.extend_from_slice(extra);
                    cli(&args)
                };
                assert_eq!(run(&["set", "cli:k", "hello world"]), (true, "OK".into()));
                assert_eq!(run(&["get", "cli:k"]), (true, "\"hello world\"".into()));
                assert_eq!(
                    run(&["mget", "cli:k", "cli:none"]),
                    (true, "1) \"hello world\"\n2) (nil)".into())
                );
                assert_eq!(
                    run(&["incr", "cli:k"]),
                    (
                        false,
                        "(error) ERR value is not an integer or out of range".into()
                    )
                );
                assert_eq!(
                    run(&["--raw", "get", "cli:k"]),
                    (true, "hello world".into())
                );
            }
        }
    }
    let proxy = endpoint_of(&cluster.proxy, "tcp://").to_string();
    let (ok, nodes) = cli(&["-e", &proxy, "nodes"]);
    assert!(ok && nodes.contains("up"), "{nodes}");
    let node = endpoint_of(&cluster.node, "tcp://").to_string();
    assert_eq!(
        cli(&["-e", &node, "policy", "allkeys-lru"]),
        (true, "OK".into())
    );
    assert_eq!(
        cli(&["-e", &node, "config", "get", "maxmemory-policy"]),
        (true, "1) \"maxmemory-policy\"\n2) \"allkeys-lru\"".into())
    );
}
