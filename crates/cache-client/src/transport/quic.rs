//! The connection task over QUIC: each group of queued batches goes out on a stream of its
//! own, so batches pipeline as separate streams (answered in the order they were opened).

use bytes::BytesMut;
use cache_wire::resp::{self, Limits};
use cache_wire::transport::{QuicBatch, QuicConnection};
use tokio::sync::mpsc;

use crate::connection::Batch;
use crate::error::{Error, Result};

/// Most replies read from one stream; far above any reply the node sends.
const MAX_REPLY_BYTES: usize = 1 << 30;
/// Most queued batches, and bytes, sent together on one stream (more bytes go on if a single
/// batch is larger).
const MAX_GROUP: usize = 256;
const MAX_GROUP_BYTES: usize = 1024 * 1024;

pub(crate) async fn drive(
    connection: QuicConnection,
    mut receiver: mpsc::Receiver<Batch>,
    name: String,
) {
    loop {
        let first = tokio::select! {
            batch = receiver.recv() => match batch {
                Some(batch) => batch,
                None => return,
            },
            _ = connection.closed() => break,
        };
        let mut bytes = first.bytes.len();
        let mut group = vec![first];
        while group.len() < MAX_GROUP && bytes < MAX_GROUP_BYTES {
            match receiver.try_recv() {
                Ok(batch) => {
                    bytes += batch.bytes.len();
                    group.push(batch);
                }
                Err(_) => break,
            }
        }
        // Streams are answered in the order they are opened, which keeps the callers' order.
        match connection.open_batch().await {
            Ok(stream) => {
                tokio::spawn(exchange(stream, group, name.clone()));
            }
            Err(error) => {
                tracing::debug!(node = %name, %error, "QUIC connection lost");
                for batch in group {
                    let _ = batch.reply.send(Err(Error::Disconnected(name.clone())));
                }
                break;
            }
        }
    }
    // Dropping the receiver marks the handle closed; callers connect again.
}

async fn exchange(mut stream: QuicBatch, group: Vec<Batch>, name: String) {
    let mut bytes = BytesMut::new();
    for batch in &group {
        bytes.extend_from_slice(&batch.bytes);
    }
    let replies = async {
        stream.write_all(&bytes).await?;
        stream.read_all(MAX_REPLY_BYTES).await
    }
    .await;
    let mut input = match replies {
        Ok(replies) => BytesMut::from(&replies[..]),
        Err(error) => {
            tracing::debug!(node = %name, %error, "QUIC stream failed");
            for batch in group {
                let _ = batch.reply.send(Err(Error::Disconnected(name.clone())));
            }
            return;
        }
    };
    let limits = Limits::default();
    for batch in group {
        let result = take(&mut input, batch.count, &limits, &name);
        let _ = batch.reply.send(result);
    }
}

/// The next `count` replies in `input`, which holds a whole stream's replies.
fn take(
    input: &mut BytesMut,
    count: usize,
    limits: &Limits,
    name: &str,
) -> Result<Vec<cache_wire::Response>> {
    let mut replies = Vec::with_capacity(count);
    while replies.len() < count {
        let reply = resp::decode_reply(input, limits).map_err(|source| Error::Protocol {
            endpoint: name.to_owned(),
            source,
        })?;
        match reply {
            Some(reply) => replies.push(reply),
            None => return Err(Error::Disconnected(name.to_owned())),
        }
    }
    Ok(replies)
}
