//! Routing one batch of client requests: each keyed request goes to the node that holds its
//! key, multi-key requests are split per node and merged back, and every node gets its part of
//! the batch in one pipelined write.
//!
//! A [`Plan`] is built request by request, then [`Plan::run`] sends one sub-batch per node,
//! waits for all of them until one deadline, and assembles the replies in the client's order. A
//! node that fails or times out costs misses for reads and an error for writes, never a hang.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cache_client::{miss_reply, unavailable_reply};
use cache_ring::Route;
use cache_wire::Response;
use cache_wire::resp::encode_request;

use crate::cluster::Topology;

/// How the replies of a split request are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// `MGET`: the values, placed back at their keys' positions.
    Values,
    /// `EXISTS`, `TOUCH`: the sum of the counts; a node that cannot answer counts 0.
    Sum,
    /// `DEL`, `UNLINK`: the sum of the counts, or an error if a node could not be asked (a
    /// deletion that silently did not happen would leave a stale value behind).
    SumWrite,
    /// `MSET`: `OK` if every node said `OK`.
    AllOk,
}

#[derive(Debug)]
struct Part {
    node: usize,
    /// Index of the sub-request in the node's batch.
    at: usize,
    /// Positions (in the client's key list) of the keys sent in this part.
    positions: Vec<usize>,
}

#[derive(Debug)]
enum Slot {
    Ready(Response),
    Forward {
        node: usize,
        at: usize,
        args: Vec<Bytes>,
    },
    Gather {
        merge: Merge,
        keys: usize,
        parts: Vec<Part>,
        lost: bool,
    },
}

#[derive(Debug, Default)]
struct NodeBatch {
    bytes: BytesMut,
    count: usize,
}

/// A batch of requests routed but not sent.
#[derive(Debug)]
pub struct Plan {
    topology: Arc<Topology>,
    slots: Vec<Slot>,
    batches: Vec<NodeBatch>,
}

impl Plan {
    pub fn new(topology: Arc<Topology>) -> Plan {
        let batches = topology
            .backends
            .iter()
            .map(|_| NodeBatch::default())
            .collect();
        Plan {
            topology,
            slots: Vec::new(),
            batches,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// A reply known without asking a node.
    pub fn ready(&mut self, reply: Response) {
        self.slots.push(Slot::Ready(reply));
    }

    fn enqueue(&mut self, node: usize, args: &[Bytes]) -> usize {
        let batch = &mut self.batches[node];
        encode_request(args, &mut batch.bytes);
        batch.count += 1;
        batch.count - 1
    }

    fn node_for(&self, key: &[u8]) -> Option<usize> {
        match self.topology.router.route(key) {
            Route::Owner(node) | Route::Fallback(node) => Some(node),
            Route::Unavailable => None,
        }
    }

    /// A request about one key (`args[key_at]`), forwarded as is.
    pub fn forward(&mut self, args: Vec<Bytes>, key_at: usize) {
        let node = args.get(key_at).and_then(|key| self.node_for(key));
        match node {
            Some(node) => {
                let at = self.enqueue(node, &args);
                self.slots.push(Slot::Forward { node, at, args });
            }
            None => {
                let reply = miss_reply(&args).unwrap_or_else(|| unavailable_reply("for this key"));
                self.slots.push(Slot::Ready(reply));
            }
        }
    }

    /// The node every key of a request maps to, if they all map to one.
    pub fn single_node(&self, keys: &[&Bytes]) -> Option<usize> {
        let first = self.node_for(keys.first()?)?;
        keys.iter()
            .all(|k| self.node_for(k) == Some(first))
            .then_some(first)
    }

    /// A multi-key request split by node. `groups` are the request's arguments after the
    /// name in units of `step` (1 for keys, 2 for key-value pairs), the key first in each.
    pub fn split(&mut self, name: &Bytes, rest: &[Bytes], step: usize, merge: Merge) {
        let keys = rest.len() / step;
        let mut per_node: Vec<(usize, Vec<Bytes>, Vec<usize>)> = Vec::new();
        let mut lost = false;
        for (position, group) in rest.chunks(step).enumerate() {
            let Some(node) = self.node_for(&group[0]) else {
                lost = true;
                continue;
            };
            match per_node.iter_mut().find(|(n, _, _)| *n == node) {
                Some((_, args, positions)) => {
                    args.extend_from_slice(group);
                    positions.push(position);
                }
                None => {
                    let mut args = vec![name.clone()];
                    args.extend_from_slice(group);
                    per_node.push((node, args, vec![position]));
                }
            }
        }
        let mut parts = Vec::with_capacity(per_node.len());
        for (node, args, positions) in per_node {
            let at = self.enqueue(node, &args);
            parts.push(Part {
                node,
                at,
                positions,
            });
        }
        self.slots.push(Slot::Gather {
            merge,
            keys,
            parts,
            lost,
        });
    }

    /// Sends every node its sub-batch, waits at most `timeout`, and appends the replies in
    /// request order to `replies`.
    pub async fn run(self, client: u64, timeout: Duration, replies: &mut Vec<Response>) {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut results: Vec<Option<Vec<Response>>> = self.batches.iter().map(|_| None).collect();
        // Nodes with a live connection get their sub-batch at once; a node that needs a
        // (re)connect gets it from a task of its own, so one slow connect cannot eat the
        // deadline of the nodes after it.
        let mut waiting = Vec::new();
        let mut connecting = Vec::new();
        for (node, batch) in self.batches.into_iter().enumerate() {
            if batch.count == 0 {
                continue;
            }
            let backend = self.topology.backends[node].clone();
            backend
                .requests
                .fetch_add(batch.count as u64, std::sync::atomic::Ordering::Relaxed);
            match backend.live_connection(client) {
                Some(connection) => {
                    match tokio::time::timeout_at(
                        deadline,
                        connection.submit(batch.bytes, batch.count),
                    )
                    .await
                    {
                        Ok(Ok(pending)) => waiting.push((node, pending)),
                        _ => backend.failed(),
                    }
                }
                None => connecting.push((
                    node,
                    tokio::spawn(async move {
                        let connection = backend.connection(client).await?;
                        connection.submit(batch.bytes, batch.count).await
                    }),
                )),
            }
        }
        for (node, task) in connecting {
            match tokio::time::timeout_at(deadline, task).await {
                Ok(Ok(Ok(pending))) => waiting.push((node, pending)),
                outcome => {
                    if let Ok(Ok(Err(error))) = &outcome {
                        tracing::debug!(node = %self.topology.backends[node].name(), %error, "cannot send to node");
                    }
                    self.topology.backends[node].failed();
                }
            }
        }
        for (node, pending) in waiting {
            match pending.until(deadline).await {
                Ok(values) => results[node] = Some(values),
                Err(error) => {
                    tracing::debug!(node = %self.topology.backends[node].name(), %error, "node did not answer");
                    self.topology.backends[node].failed();
                }
            }
        }
        for slot in self.slots {
            replies.push(match slot {
                Slot::Ready(reply) => reply,
                Slot::Forward { node, at, args } => match take(&mut results, node, at) {
                    Some(reply) => reply,
                    None => miss_reply(&args)
                        .unwrap_or_else(|| unavailable_reply(self.topology.backends[node].name())),
                },
                Slot::Gather {
                    merge,
                    keys,
                    parts,
                    lost,
                } => gather(&self.topology, &mut results, merge, keys, parts, lost),
            });
        }
    }
}

fn take(results: &mut [Option<Vec<Response>>], node: usize, at: usize) -> Option<Response> {
    let values = results.get_mut(node)?.as_mut()?;
    values
        .get_mut(at)
        .map(|r| std::mem::replace(r, Response::Nil))
}

fn gather(
    topology: &Topology,
    results: &mut [Option<Vec<Response>>],
    merge: Merge,
    keys: usize,
    parts: Vec<Part>,
    lost: bool,
) -> Response {
    match merge {
        Merge::Values => {
            let mut values = vec![Response::Nil; keys];
            for part in parts {
                match take(results, part.node, part.at) {
                    Some(Response::Array(items)) => {
                        for (position, item) in part.positions.into_iter().zip(items) {
                            values[position] = item;
                        }
                    }
                    Some(error @ Response::Error(_)) => return error,
                    // A node that failed leaves its keys as misses.
                    _ => {}
                }
            }
            Response::Array(values)
        }
        Merge::Sum | Merge::SumWrite => {
            if lost && merge == Merge::SumWrite {
                return unavailable_reply("for some of the keys");
            }
            let mut total = 0i64;
            for part in parts {
                match take(results, part.node, part.at) {
                    Some(Response::Integer(n)) => total += n,
                    Some(error @ Response::Error(_)) => return error,
                    _ if merge == Merge::SumWrite => {
                        return unavailable_reply(topology.backends[part.node].name());
                    }
                    _ => {}
                }
            }
            Response::Integer(total)
        }
        Merge::AllOk => {
            if lost {
                return unavailable_reply("for some of the keys");
            }
            for part in parts {
                match take(results, part.node, part.at) {
                    Some(Response::Ok) => {}
                    Some(error @ Response::Error(_)) => return error,
                    _ => return unavailable_reply(topology.backends[part.node].name()),
                }
            }
            Response::Ok
        }
    }
}
