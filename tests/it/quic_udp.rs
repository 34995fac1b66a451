//! What is particular to QUIC (a session of many streams, kept in order) and UDP (datagram
//! limits, lost datagrams, junk), and `cache-bench` measuring every transport.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::BytesMut;
use cache_client::{ConnectOptions, Connection, Error};
use cache_tests::{ServerProcess, binary};
use cache_wire::Response;
use cache_wire::datagram::{self, Header};
use cache_wire::endpoint::Endpoint;
use cache_wire::native;
use cache_wire::transport::udp;
use tokio::net::UdpSocket;

use crate::transports::{NativeClient, bulk, connector, endpoint_of, options};

/// A node on TCP, QUIC and UDP with a development certificate in `dir`, and `extra` flags.
fn quic_and_udp_node(dir: &Path, extra: &[&str]) -> ServerProcess {
    let certs = dir.to_str().unwrap();
    let mut args = vec![
        "--listen",
        "quic://127.0.0.1:0",
        "--listen",
        "udp://127.0.0.1:0",
        "--tls-self-signed",
        certs,
    ];
    args.extend_from_slice(extra);
    ServerProcess::start(&args).unwrap()
}

/// Relays datagrams between one client and `server`, losing the replies to every other
/// request datagram (the first, the third, ...).
async fn lossy_relay(server: std::net::SocketAddr) -> std::net::SocketAddr {
    let front = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let back = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    back.connect(server).await.unwrap();
    let addr = front.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut client, mut lose, mut sent) = (None, std::collections::HashSet::new(), 0u64);
        let (mut up, mut down) = (vec![0u8; 65536], vec![0u8; 65536]);
        loop {
            tokio::select! {
                Ok((len, from)) = front.recv_from(&mut up) => {
                    client = Some(from);
                    if let Ok((header, _)) = Header::parse(&up[..len]) {
                        if sent % 2 == 0 {
                            lose.insert(header.id);
                        }
                        sent += 1;
                    }
                    let _ = back.send(&up[..len]).await;
                }
                Ok(len) = back.recv(&mut down) => {
                    let Ok((header, _)) = Header::parse(&down[..len]) else { continue };
                    if lose.contains(&header.id) {
                        continue;
                    }
                    if let Some(client) = client {
                        let _ = front.send_to(&down[..len], client).await;
                    }
                }
            }
        }
    });
    addr
}

#[tokio::test]
async fn over_udp_lost_reads_are_sent_again_and_writes_are_not() {
    let node = ServerProcess::start(&["--listen", "udp://127.0.0.1:0"]).unwrap();
    let direct = Connection::connect(&endpoint_of(&node, "tcp://"), &ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(
        direct.call(&["SET", "lossy:k", "v"]).await.unwrap(),
        Response::Ok
    );
    let server = endpoint_of(&node, "udp://")
        .host_port()
        .unwrap()
        .parse()
        .unwrap();
    let relay = Endpoint::Udp(lossy_relay(server).await.to_string());
    let options = ConnectOptions {
        timeout: Duration::from_secs(2),
        ..ConnectOptions::default()
    };
    let lossy = Connection::connect(&relay, &options).await.unwrap();
    // The first reply is lost; the read is sent again after a quarter of the timeout and the
    // second answer arrives. The third datagram's reply is lost too: a write is not resent.
    let started = std::time::Instant::now();
    assert_eq!(lossy.call(&["GET", "lossy:k"]).await.unwrap(), bulk(b"v"));
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "answered without a retry?"
    );
    // A lost write reply is a timeout, and the write ran exactly once.
    let lost = lossy.call(&["INCR", "lossy:n"]).await;
    assert!(matches!(lost, Err(Error::Timeout(_))), "{lost:?}");
    assert_eq!(direct.call(&["GET", "lossy:n"]).await.unwrap(), bulk(b"1"));
}

#[tokio::test]
async fn udp_refuses_what_does_not_fit_and_ignores_what_is_not_a_request() {
    let node = ServerProcess::start(&["--listen", "udp://127.0.0.1:0"]).unwrap();
    let udp_endpoint = endpoint_of(&node, "udp://");
    let direct = Connection::connect(&endpoint_of(&node, "tcp://"), &ConnectOptions::default())
        .await
        .unwrap();
    let huge = vec![b'z'; datagram::MAX_REPLY + 1];
    assert_eq!(
        direct
            .call(&[b"SET".as_slice(), b"fit:huge", &huge])
            .await
            .unwrap(),
        Response::Ok
    );
    let client = Connection::connect(&udp_endpoint, &ConnectOptions::default())
        .await
        .unwrap();
    // A reply over the bound is refused with a typed error, the node does not send it.
    let reply = client.call(&["GET", "fit:huge"]).await.unwrap();
    let Response::Error(text) = &reply else {
        panic!("{reply:?}")
    };
    assert_eq!(
        native::ErrorCode::of(text),
        native::ErrorCode::TooLarge,
        "{text}"
    );
    assert!(text.contains("use a stream transport"), "{text}");

    let socket = udp::connect(udp_endpoint.host_port().unwrap())
        .await
        .unwrap();
    let mut buf = vec![0u8; datagram::MAX_DATAGRAM];
    // The first part of a request sent in two datagrams: refused as a whole, with id 0.
    let mut part = BytesMut::new();
    Header {
        id: 77,
        seq: 0,
        count: 2,
    }
    .write(&mut part);
    native::encode_request(1, &["GET", "fit:huge"], &mut part);
    socket.send(&part).await.unwrap();
    let len = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let (header, body) = Header::parse(&buf[..len]).unwrap();
    assert_eq!((header.id, header.count), (77, 1));
    let reply = native::decode_reply(&mut BytesMut::from(body), &native::Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(reply.id, 0);
    assert_eq!(
        reply.response,
        Response::Error(datagram::REQUEST_TOO_LARGE.into())
    );
    // Garbage and RESP get no answer at all, and the node keeps serving.
    for junk in [
        &b"xy"[..],
        b"*1\r\n$4\r\nPING\r\n",
        &[0, 1, 0, 5, 0, 1, 0, 0],
    ] {
        socket.send(junk).await.unwrap();
    }
    let silence = tokio::time::timeout(Duration::from_millis(300), socket.recv(&mut buf)).await;
    assert!(silence.is_err(), "the node answered junk");
    assert_eq!(
        client.call(&["PING"]).await.unwrap(),
        Response::Status("PONG".into())
    );
}

#[tokio::test]
async fn a_quic_connection_is_one_session_with_many_streams() {
    let dir = tempfile::tempdir().unwrap();
    let node = quic_and_udp_node(dir.path(), &["--requirepass", "sesame"]);
    let connector = connector(&dir.path().join("cert.pem"));
    let quic = endpoint_of(&node, "quic://");
    // The password is given once, for the connection; every stream after it is authenticated.
    let with_password = ConnectOptions {
        password: Some("sesame".into()),
        ..options(&connector)
    };
    let client = Connection::connect(&quic, &with_password).await.unwrap();
    let calls = (0..200).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.call(&["INCR", "quic:n"]).await.unwrap() })
    });
    let mut seen = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        let Response::Integer(n) = call.await.unwrap() else {
            panic!("not an integer")
        };
        seen.push(n);
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=200).collect::<Vec<_>>());
    // Calls queued a few at a time leave on many streams at once; they still run in the order
    // they were sent.
    let mut waiting = Vec::new();
    for i in 0..300 {
        let mut bytes = BytesMut::new();
        cache_wire::resp::encode_request(&["APPEND", "quic:order", &format!("{i},")], &mut bytes);
        waiting.push(client.submit(bytes, 1).await.unwrap());
        if i % 10 == 9 {
            tokio::task::yield_now().await;
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for replies in waiting {
        replies.until(deadline).await.unwrap();
    }
    let expected: String = (0..300).map(|i| format!("{i},")).collect();
    let stored = client.call(&["GET", "quic:order"]).await.unwrap();
    assert_eq!(stored, bulk(expected.as_bytes()));
    // Session state set on one stream holds on the next.
    let mut native = NativeClient::connect(&quic, &connector).await;
    assert_eq!(native.call(&[b"AUTH", b"sesame"]).await, Response::Ok);
    assert_eq!(
        native.call(&[b"CLIENT", b"SETNAME", b"q1"]).await,
        Response::Ok
    );
    assert_eq!(native.call(&[b"CLIENT", b"GETNAME"]).await, bulk(b"q1"));
    // Without the password: refused, over QUIC and over UDP.
    let anonymous = Connection::connect(&quic, &options(&connector))
        .await
        .unwrap();
    let refused = anonymous.call(&["GET", "quic:n"]).await.unwrap();
    assert!(
        matches!(&refused, Response::Error(e) if e.starts_with("NOAUTH")),
        "{refused:?}"
    );
    let udp = endpoint_of(&node, "udp://");
    let anonymous = Connection::connect(&udp, &options(&connector))
        .await
        .unwrap();
    let refused = anonymous.call(&["GET", "quic:n"]).await.unwrap();
    assert!(
        matches!(&refused, Response::Error(e) if e.starts_with("NOAUTH")),
        "{refused:?}"
    );
    // Over UDP the password goes with every datagram.
    let udp_client = Connection::connect(&udp, &with_password).await.unwrap();
    assert_eq!(
        udp_client.call(&["GET", "quic:n"]).await.unwrap(),
        bulk(b"200")
    );
    assert_eq!(
        udp_client.call(&["INCR", "quic:n"]).await.unwrap(),
        Response::Integer(201)
    );
}

#[test]
fn cache_bench_measures_every_transport() {
    let dir = tempfile::tempdir().unwrap();
    let node = quic_and_udp_node(dir.path(), &[]);
    let tcp = endpoint_of(&node, "tcp://").to_string();
    let targets = [
        tcp.clone(),
        format!("{tcp}@native"),
        endpoint_of(&node, "quic://").to_string(),
        endpoint_of(&node, "udp://").to_string(),
    ];
    let mut command = Command::new(binary("cache-bench"));
    for target in &targets {
        command.args(["-e", target]);
    }
    let ca = dir.path().join("cert.pem");
    let json = dir.path().join("cases.json");
    let output = command
        .args([
            "--seconds",
            "0.1",
            "--sizes",
            "32,2000",
            "--depths",
            "4",
            "--keys",
            "100",
        ])
        .arg("--tls-ca")
        .arg(&ca)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&json).unwrap();
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    // 4 targets x 2 sizes x GET/SET, one depth.
    assert_eq!(cases.len(), 16, "{text}");
    for case in &cases {
        if case["transport"] == "UDP" && case["op"] == "SET" && case["size"] == 2000 {
            assert!(case["ops_per_sec"].is_null(), "{case}");
            assert!(case["skipped"].is_string(), "{case}");
            continue;
        }
        let ops = case["ops_per_sec"]
            .as_f64()
            .unwrap_or_else(|| panic!("{case}"));
        assert!(ops > 0.0, "{case}");
        assert_eq!(case["errors"], 0, "errors in {case}");
        assert_eq!(case["misses"], 0, "misses in {case}");
    }
}
