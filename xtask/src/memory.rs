//! `cargo xtask memory`: resident bytes per item after loading the same keys into cache-node,
//! redis-server and memcached (each when installed), measured in one run.
//!
//! Each server starts on a free loopback port; its RSS is read from `/proc/<pid>/statm` before
//! and after loading N keys with pipelined writes, and the difference divided by N is the figure.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::util::{Process, build_release, installed, start_node, start_redis, wait_for_port};

/// Options of `cargo xtask memory`.
#[derive(Debug, clap::Args)]
pub struct MemoryArgs {
    /// Keys to load.
    #[arg(long, default_value_t = 1_000_000)]
    keys: usize,
    /// Key length in bytes (at least 8).
    #[arg(long, default_value_t = 16)]
    key_len: usize,
    /// Value length in bytes.
    #[arg(long, default_value_t = 32)]
    value_len: usize,
    /// Use the cache-node binary already in target/release instead of building it.
    #[arg(long)]
    no_build: bool,
}

struct Server {
    name: &'static str,
    process: Process,
    port: u16,
    protocol: Protocol,
}

#[derive(Clone, Copy, PartialEq)]
enum Protocol {
    Resp,
    Memcache,
}

/// Runs the measurement and prints a Markdown table.
pub fn run(args: &MemoryArgs) -> anyhow::Result<()> {
    if args.key_len < 8 {
        bail!("--key-len must be at least 8 to hold a distinct key for every item");
    }
    if !args.no_build {
        build_release(&["cache-node"])?;
    }
    let mut rows = Vec::new();
    let candidates: [(&str, &str); 3] = [
        ("cache-node", ""),
        ("redis-server", "redis-server"),
        ("memcached", "memcached"),
    ];
    for (name, program) in candidates {
        if !program.is_empty() && !installed(program) {
            eprintln!("{name}: not installed, skipped");
            continue;
        }
        let (port, process, protocol) = match name {
            "cache-node" => {
                let (port, node) = start_node(&[])?;
                (port, node, Protocol::Resp)
            }
            "redis-server" => {
                let (port, redis) = start_redis()?;
                (port, redis, Protocol::Resp)
            }
            _ => {
                let (port, memcached) = crate::util::start_memcached(4096)?;
                (port, memcached, Protocol::Memcache)
            }
        };
        let server = Server {
            name,
            process,
            port,
            protocol,
        };
        let mut stream = wait_for_port(server.port)?;
        let before = rss(server.process.0.id())?;
        let started = Instant::now();
        load(&mut stream, server.protocol, args)?;
        let elapsed = started.elapsed();
        std::thread::sleep(Duration::from_millis(200));
        let after = rss(server.process.0.id())?;
        let per_item = (after.saturating_sub(before)) as f64 / args.keys as f64;
        eprintln!(
            "{}: loaded {} keys in {:.2?}",
            server.name, args.keys, elapsed
        );
        rows.push((server.name, before, after, per_item));
    }
    println!("| server | RSS before | RSS after | bytes per item |");
    println!("|---|---:|---:|---:|");
    for (name, before, after, per_item) in rows {
        println!(
            "| {name} | {:.1} MiB | {:.1} MiB | {per_item:.1} |",
            mib(before),
            mib(after)
        );
    }
    println!(
        "\n{} keys of {} bytes with {}-byte values; RSS from /proc/<pid>/statm.",
        args.keys, args.key_len, args.value_len
    );
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Resident set size of a process, in bytes.
pub fn rss(pid: u32) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/statm")).context("reading statm")?;
    let pages: u64 = text
        .split_whitespace()
        .nth(1)
        .context("statm has no rss field")?
        .parse()?;
    Ok(pages * 4096)
}

fn key(i: usize, len: usize) -> Vec<u8> {
    let digits = format!("{i:0width$}", width = len.saturating_sub(4).max(8));
    let mut k = format!("key:{digits}").into_bytes();
    k.truncate(len.max(digits.len()));
    k
}

/// Writes every key in pipelined batches and reads the acknowledgements.
fn load(stream: &mut TcpStream, protocol: Protocol, args: &MemoryArgs) -> anyhow::Result<()> {
    let value = vec![b'v'; args.value_len];
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut batch = Vec::new();
    let mut line = String::new();
    for start in (0..args.keys).step_by(1000) {
        batch.clear();
        let end = (start + 1000).min(args.keys);
        for i in start..end {
            let k = key(i, args.key_len);
            match protocol {
                Protocol::Resp => {
                    write!(batch, "*3\r\n$3\r\nSET\r\n${}\r\n", k.len())?;
                    batch.extend_from_slice(&k);
                    write!(batch, "\r\n${}\r\n", value.len())?;
                    batch.extend_from_slice(&value);
                    batch.extend_from_slice(b"\r\n");
                }
                Protocol::Memcache => {
                    batch.extend_from_slice(b"set ");
                    batch.extend_from_slice(&k);
                    write!(batch, " 0 0 {}\r\n", value.len())?;
                    batch.extend_from_slice(&value);
                    batch.extend_from_slice(b"\r\n");
                }
            }
        }
        stream.write_all(&batch)?;
        for _ in start..end {
            line.clear();
            reader.read_line(&mut line)?;
            if line != "+OK\r\n" && line != "STORED\r\n" {
                bail!("unexpected reply {line:?}");
            }
        }
    }
    Ok(())
}
