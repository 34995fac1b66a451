//! `cargo xtask ring --check-twemproxy`: proves that `Algorithm::Twemproxy` places keys where
//! twemproxy does. Three release cache-nodes (weights 1, 1, 2) behind nutcracker with
//! `distribution: ketama` and `hash: fnv1a_64`; keys (half of them with bytes above 0x7f, which
//! twemproxy's C hashes as signed chars) are written through nutcracker, then every node is
//! asked which keys it holds and the answer is compared with the ring.

use std::io::{Read, Write};
use std::net::TcpStream;

use cache_ring::{Algorithm, Member, Ring};

use crate::util::{build_release, installed, start_node, start_twemproxy, wait_for_port};

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
        let (port, node) = start_node(&[])?;
        guards.push(node);
        ports.push(port);
    }
    let weighted: Vec<(u16, u32)> = ports.iter().copied().zip(weights).collect();
    let (port, twemproxy) = start_twemproxy("nutcracker-check", &weighted)?;
    guards.push(twemproxy);
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
