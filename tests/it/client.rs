//! The Rust client against real nodes: one node, and a cluster with a node killed. Also the
//! node's admin port.

use std::io::{Read, Write};
use std::time::Duration;

use cache_client::{Client, ClusterClient, ClusterOptions, Commands, ConnectOptions};
use cache_tests::NodeProcess;

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Product {
    id: u64,
    name: String,
    tags: Vec<String>,
    price_cents: i64,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn typed_values_counters_ttls_and_misses_on_one_node() {
    let node = NodeProcess::start(&[]).unwrap();
    runtime().block_on(async {
        let cache = Client::new(&node.endpoints[0], ConnectOptions::default()).unwrap();
        let product = Product {
            id: 7,
            name: "lamp".into(),
            tags: vec!["home".into(), "light".into()],
            price_cents: 1999,
        };
        cache.set_as("product:7", &product, None).await.unwrap();
        let back: Option<Product> = cache.get_as("product:7").await.unwrap();
        assert_eq!(back, Some(product));
        let missing: Option<Product> = cache.get_as("product:8").await.unwrap();
        assert_eq!(missing, None, "a miss is Ok(None), not an error");
        // A value that is not CBOR of the type is an error, not a miss.
        cache.set("product:9", "not cbor", None).await.unwrap();
        assert!(cache.get_as::<Product>("product:9").await.is_err());

        assert_eq!(cache.incr_by("hits", 5).await.unwrap(), 5);
        assert_eq!(cache.incr_by("hits", -2).await.unwrap(), 3);
        cache
            .set("session", "x", Some(Duration::from_secs(60)))
            .await
            .unwrap();
        let ttl = cache.ttl("session").await.unwrap().flatten().unwrap();
        assert!(ttl > Duration::from_secs(50) && ttl <= Duration::from_secs(60));
        assert_eq!(cache.ttl("nothing").await.unwrap(), None);
        assert!(cache.del("session").await.unwrap());
        assert!(!cache.del("session").await.unwrap());

        // Many tasks share the one pipelined connection.
        let cache = std::sync::Arc::new(cache);
        let tasks: Vec<_> = (0..32)
            .map(|t| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    for i in 0..50 {
                        let key = format!("t{t}:{i}");
                        cache.set(&key, &key, None).await.unwrap();
                        assert_eq!(
                            cache.get(&key).await.unwrap().as_deref(),
                            Some(key.as_bytes())
                        );
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

#[test]
fn an_unreachable_node_is_an_error_within_the_timeout() {
    let node = NodeProcess::start(&[]).unwrap();
    let addr = node.endpoints[0].clone();
    node.kill();
    runtime().block_on(async {
        let options = ConnectOptions {
            timeout: Duration::from_millis(300),
            connect_timeout: Duration::from_millis(300),
            ..ConnectOptions::default()
        };
        let cache = Client::new(&addr, options).unwrap();
        let started = std::time::Instant::now();
        let error = cache.get("k").await.unwrap_err();
        assert!(error.is_unavailable(), "{error}");
        assert!(started.elapsed() < Duration::from_secs(1));
    });
}

#[test]
fn cluster_client_routes_like_the_ring_and_turns_a_dead_node_into_misses() {
    let mut nodes: Vec<NodeProcess> = (0..3).map(|_| NodeProcess::start(&[]).unwrap()).collect();
    let endpoints: Vec<String> = nodes.iter().map(|n| n.endpoints[0].clone()).collect();
    runtime().block_on(async {
        let refs: Vec<&str> = endpoints.iter().map(String::as_str).collect();
        let mut options = ClusterOptions::default();
        options.connect.timeout = Duration::from_millis(500);
        let cluster = ClusterClient::connect(&refs, options).await.unwrap();
        assert!(
            cluster.nodes().iter().all(|(_, up)| *up),
            "{:?}",
            cluster.nodes()
        );
        for i in 0..300 {
            cluster
                .set(format!("k{i}"), i.to_string(), None)
                .await
                .unwrap();
        }
        // The keys landed where the ring says, on every node.
        let ring = cache_ring::Ring::new(
            cache_ring::Algorithm::Maglev,
            nodes
                .iter()
                .map(|n| cache_ring::Member::new(n.addr.clone()))
                .collect(),
        )
        .unwrap();
        for (index, node) in nodes.iter().enumerate() {
            let direct = Client::new(&node.endpoints[0], ConnectOptions::default()).unwrap();
            for i in (0..300).filter(|i| ring.node_for(format!("k{i}").as_bytes()) == Some(index)) {
                assert!(direct.get(format!("k{i}")).await.unwrap().is_some());
            }
        }
        nodes.remove(0).kill();
        let mut misses = 0;
        for i in 0..300 {
            match cluster.get(format!("k{i}")).await {
                Ok(Some(_)) => {}
                Ok(None) => misses += 1,
                Err(error) => panic!("read failed instead of missing: {error}"),
            }
        }
        assert!(misses > 0);
        let detected = async {
            while cluster.nodes()[0].1 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), detected)
            .await
            .expect("node marked down");
        // Remapped: the dead node's keys can be written again.
        cluster.set("k0", "again", None).await.unwrap();
        assert_eq!(
            cluster.get("k0").await.unwrap().as_deref(),
            Some(&b"again"[..])
        );
    });
}

fn http_get(url: &str, path: &str) -> String {
    let addr = url.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn the_admin_port_serves_health_and_metrics() {
    let node = NodeProcess::start(&["--admin", "127.0.0.1:0", "--maxmemory", "10mb"]).unwrap();
    let url = node
        .admin_url()
        .expect("admin url on the ready line")
        .to_owned();
    let health = http_get(&url, "/health");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(
        health.contains("\"status\":\"ok\"") && health.contains("\"maxmemory\":10485760"),
        "{health}"
    );
    let client = redis::Client::open(node.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let info: String = redis::cmd("INFO").arg("server").query(&mut conn).unwrap();
    let run_id = info
        .lines()
        .find_map(|l| l.strip_prefix("run_id:"))
        .unwrap()
        .trim();
    assert!(
        health.contains(&format!("\"generation\":\"{run_id}\"")),
        "{health}"
    );
    let _: () = redis::cmd("SET")
        .arg("a")
        .arg("1")
        .query(&mut conn)
        .unwrap();
    let _: Option<String> = redis::cmd("GET").arg("a").query(&mut conn).unwrap();
    let metrics = http_get(&url, "/metrics");
    assert!(metrics.contains("cache_keyspace_hits_total 1"), "{metrics}");
    assert!(metrics.contains("cache_keys 1"), "{metrics}");
    assert!(http_get(&url, "/nothing").starts_with("HTTP/1.1 404"));
}
