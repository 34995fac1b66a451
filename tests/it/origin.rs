//! Read-through origins through the real binary: a directory of files and an SQLite table;
//! misses load once, are cached, and origin failures are errors.

use anyhow::Context;
use cache_tests::NodeProcess;

use crate::support::{connect, info, info_field, query_error};

fn origin_number(con: &mut redis::Connection, name: &str) -> anyhow::Result<u64> {
    let text = info(con, "origin")?;
    info_field(&text, name)
        .with_context(|| format!("no {name} in {text}"))?
        .parse()
        .context("a number")
}

#[test]
fn a_directory_origin_serves_files_by_relative_path() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("files");
    std::fs::create_dir_all(root.join("img"))?;
    let image: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(root.join("img/logo.png"), &image)?;
    std::fs::write(root.join("readme.txt"), b"hello")?;
    std::fs::write(dir.path().join("outside"), b"secret")?;
    let node = NodeProcess::start(&["--origin", &format!("dir:{}", root.display())])?;
    let mut con = connect(&node)?;

    let got: Vec<u8> = redis::cmd("GET").arg("img/logo.png").query(&mut con)?;
    assert_eq!(got, image);
    let got: Vec<u8> = redis::cmd("GET").arg("img/logo.png").query(&mut con)?;
    assert_eq!(got, image);
    assert_eq!(
        origin_number(&mut con, "origin_loads")?,
        1,
        "the second GET is a hit"
    );
    assert_eq!(
        redis::cmd("STRLEN")
            .arg("img/logo.png")
            .query::<usize>(&mut con)?,
        image.len(),
        "the loaded value is cached"
    );

    let missing: Option<Vec<u8>> = redis::cmd("GET").arg("img/none.png").query(&mut con)?;
    assert_eq!(missing, None, "a file that does not exist is a miss");
    let values: Vec<Option<String>> = redis::cmd("MGET")
        .arg("readme.txt")
        .arg("nope")
        .arg("readme.txt")
        .query(&mut con)?;
    assert_eq!(
        values,
        vec![Some("hello".to_owned()), None, Some("hello".to_owned())]
    );

    for key in ["../outside", "img/../../outside", "/etc/hostname"] {
        let error = query_error(redis::cmd("GET").arg(key), &mut con)?;
        assert!(
            error.starts_with("ERR origin: key refused"),
            "{key}: {error}"
        );
    }
    assert!(origin_number(&mut con, "origin_errors")? >= 3);

    // A write wins over the origin and is not overwritten by it.
    redis::cmd("SET")
        .arg("readme.txt")
        .arg("mine")
        .query::<()>(&mut con)?;
    let got: String = redis::cmd("GET").arg("readme.txt").query(&mut con)?;
    assert_eq!(got, "mine");
    // A deleted key is read again from the origin.
    redis::cmd("DEL").arg("readme.txt").query::<()>(&mut con)?;
    let got: String = redis::cmd("GET").arg("readme.txt").query(&mut con)?;
    assert_eq!(got, "hello");
    Ok(())
}

#[test]
fn concurrent_misses_on_one_key_load_it_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("shop.db");
    let sqlite = rusqlite::Connection::open(&db)?;
    sqlite.execute_batch(
        "CREATE TABLE products (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
         INSERT INTO products SELECT i, json_object('id', i, 'name', 'product ' || i) FROM n;",
    )?;
    drop(sqlite);
    let node = NodeProcess::start(&[
        "--origin",
        &format!("sqlite:{}", db.display()),
        "--origin-table",
        "products",
        "--origin-key-column",
        "id",
        "--origin-value-column",
        "body",
        "--origin-ttl",
        "60",
    ])?;
    let mut con = connect(&node)?;
    let got: String = redis::cmd("GET").arg("42").query(&mut con)?;
    assert_eq!(got, r#"{"id":42,"name":"product 42"}"#);
    let ttl: i64 = redis::cmd("TTL").arg("42").query(&mut con)?;
    assert!(
        (1..=60).contains(&ttl),
        "loaded values get --origin-ttl: {ttl}"
    );
    let missing: Option<String> = redis::cmd("GET").arg("5000").query(&mut con)?;
    assert_eq!(missing, None);

    // Many clients miss the same keys at once, pipelined, over and over.
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let url = node.url();
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut con = crate::support::connect_url(&url)?;
                let mut pipe = redis::pipe();
                for id in 100..200 {
                    pipe.cmd("GET").arg(id);
                }
                let values: Vec<String> = pipe.query(&mut con)?;
                for (id, value) in (100..200).zip(values) {
                    assert_eq!(value, format!(r#"{{"id":{id},"name":"product {id}"}}"#));
                }
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("a client panicked"))??;
    }
    let loads = origin_number(&mut con, "origin_loads")?;
    assert_eq!(
        loads,
        2 + 100,
        "each key is loaded once, however many clients missed it"
    );

    // The table going away is an error, not a miss.
    rusqlite::Connection::open(&db)?.execute_batch("DROP TABLE products")?;
    let error = query_error(redis::cmd("GET").arg("7"), &mut con)?;
    assert!(error.starts_with("ERR origin:"), "{error}");
    // Cached values are still served.
    let got: String = redis::cmd("GET").arg("150").query(&mut con)?;
    assert!(got.contains("product 150"));
    Ok(())
}

/// Runs `cache-node` with `args`, expecting it to refuse to start; returns what it printed.
fn refused(args: &[&str]) -> anyhow::Result<String> {
    let output = std::process::Command::new(cache_tests::binary("cache-node"))
        .args(["--listen", "tcp://127.0.0.1:0"])
        .args(args)
        .output()?;
    anyhow::ensure!(!output.status.success(), "cache-node {args:?} started");
    Ok(String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_bad_origin_stops_start_up_with_a_clear_message() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let absent = dir.path().join("absent");
    let stderr = refused(&["--origin", &format!("dir:{}", absent.display())])?;
    assert!(stderr.contains("cannot open origin dir:"), "{stderr}");
    let stderr = refused(&["--origin", "ftp:somewhere"])?;
    assert!(stderr.contains("unknown origin kind"), "{stderr}");
    let db = dir.path().join("empty.db");
    rusqlite::Connection::open(&db)?.execute_batch("CREATE TABLE t (k TEXT, v BLOB)")?;
    let stderr = refused(&["--origin", &format!("sqlite:{}", db.display())])?;
    assert!(stderr.contains("no such table: cache"), "{stderr}");
    Ok(())
}
