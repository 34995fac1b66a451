//! `cargo xtask ring --check-twemproxy`: proves that `Algorithm::Twemproxy` places keys where
//! twemproxy does. Three release cache-nodes (weights 1, 1, 2) behind nutcracker with
//! `distribution: ketama` and `hash: fnv1a_64`; keys (half of them with bytes above 0x7f, which
//! twemproxy's C hashes as signed chars) are written through nutcracker, then every node is
//! asked which keys it holds and the answer is compared with the ring.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use anyhow::Context;
use cache_ring::{Algorithm, Member, Ring};

use crate::util::{Process, build_release, free_port, installed, project_root, wait_for_port};

/// Sends one request and reads a reply of exactly `len` bytes.
fn call(stream: &mut TcpStream, args: &[&[u8]], len: usize) -> anyhow::Result<Vec<u8>> {
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg);
        request.extend_from_slice(b"\r\n");
    }
    stream.write_all(&request)?;
    let mut reply = vec![0u8; len];
    stream.read_exact(&mut reply)?;
    Ok(reply)
}

pub fn run(no_build: bool) -> anyhow::Result<()> {
    if !installed("nutcracker") {
        eprintln!("twemproxy (Debian: nutcracker) is not installed: check skipped");
        return Ok(());
    }
    if !no_build {
        build_release(&["cache-node"])?;
    }
    let weights = [1u32, 1, 2];
    let mut guards = Vec::new();
    let mut ports = Vec::new();
    for _ in weights {
        let port = free_port()?;
        let node = Command::new(project_root().join("target/release/cache-node"))
            .args(["--port", &port.to_string(), "--stats-log-interval", "0"])
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start target/release/cache-node")?;
        guards.push(Process(node));
        ports.push(port);
    }
    let dir = project_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let port = free_port()?;
    let servers: String = ports
        .iter()
        .zip(weights)
        .map(|(p, w)| format!("   - 127.0.0.1:{p}:{w}\n"))
        .collect();
    let conf = dir.join("nutcracker-check.yml");
    std::fs::write(
        &conf,
        format!(
            "check:\n  listen: 127.0.0.1:{port}\n  hash: fnv1a_64\n  distribution: ketama\n  redis: true\n  servers:\n{servers}"
        ),
    )?;
    let stats = free_port()?;
    let twemproxy = Command::new("nutcracker")
        .args(["-c", &conf.display().to_string(), "-s", &stats.to_string()])
        .args([
            "-o",
            &dir.join("nutcracker-check.log").display().to_string(),
        ])
        .stdout(Stdio::null())
        .spawn()
        .context("cannot start nutcracker")?;
    guards.push(Process(twemproxy));
    let mut nodes: Vec<TcpStream> = ports
        .iter()
        .map(|p| wait_for_port(*p))
        .collect::<anyhow::Result<_>>()?;
    let mut front = wait_for_port(port)?;

    let keys: Vec<Vec<u8>> = (0..1000u32)
        .map(|i| {
            let mut key = format!("key:{i}").into_bytes();
            if i % 2 == 1 {
                key.extend_from_slice(&[0xff, 0x80 + (i % 100) as u8]);
            }
            key
        })
        .collect();
    for key in &keys {
        let reply = call(&mut front, &[b"SET", key, b"v"], 5)?;
        anyhow::ensure!(
            reply == b"+OK\r\n",
            "nutcracker answered {:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    let members = ports
        .iter()
        .zip(weights)
        .map(|(p, w)| Member::weighted(format!("127.0.0.1:{p}"), w))
        .collect();
    let ring = Ring::new(Algorithm::Twemproxy, members)?;
    let mut agree = 0;
    let mut per_node = vec![0usize; ports.len()];
    for key in &keys {
        let holders: Vec<usize> = (0..nodes.len())
            .filter_map(|n| match call(&mut nodes[n], &[b"EXISTS", key], 4) {
                Ok(r) if r == b":1\r\n" => Some(Ok(n)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<anyhow::Result<_>>()?;
        let expected = ring.node_for(key);
        if holders.len() == 1 && Some(holders[0]) == expected {
            agree += 1;
            per_node[holders[0]] += 1;
        }
    }
    println!(
        "twemproxy placement: {agree}/{} keys on the node cache-ring's twemproxy mode predicts (per node: {per_node:?}, weights {weights:?})",
        keys.len()
    );
    anyhow::ensure!(agree == keys.len(), "placement differs from twemproxy's");
    Ok(())
}
