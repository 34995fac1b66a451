//! Typed commands shared by the one-node [`crate::Client`] and the [`crate::ClusterClient`].
//!
//! A miss is `Ok(None)` and a value is `Ok(Some(..))`; errors are only for what went wrong.
//! [`Commands::get_as`] and [`Commands::set_as`] store any serde type as CBOR.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use cache_wire::Response;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

fn bytes(b: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(b.as_ref())
}

fn millis(ttl: Duration) -> Bytes {
    // A TTL under a millisecond would be refused by the node ("invalid expire time").
    Bytes::from(ttl.as_millis().max(1).to_string())
}

fn unexpected(reply: Response) -> Error {
    match reply {
        Response::Error(text) => Error::Server(text.into_owned()),
        other => Error::UnexpectedReply(format!("{other:?}")),
    }
}

fn integer(reply: Response) -> Result<i64> {
    match reply {
        Response::Integer(n) => Ok(n),
        other => Err(unexpected(other)),
    }
}

fn ok(reply: Response) -> Result<()> {
    match reply {
        Response::Ok => Ok(()),
        other => Err(unexpected(other)),
    }
}

fn value(reply: Response) -> Result<Option<Bytes>> {
    match reply {
        Response::Bulk(b) => Ok(Some(b)),
        Response::Nil => Ok(None),
        other => Err(unexpected(other)),
    }
}

/// The commands an application uses, routed by key.
pub trait Commands: Sync {
    /// Sends `args` to the node that holds `key`.
    fn call_for_key(
        &self,
        key: &[u8],
        args: Vec<Bytes>,
    ) -> impl Future<Output = Result<Response>> + Send;

    /// The value of `key`, or `None` on a miss.
    fn get(
        &self,
        key: impl AsRef<[u8]> + Send,
    ) -> impl Future<Output = Result<Option<Bytes>>> + Send {
        async move {
            let key = key.as_ref();
            value(
                self.call_for_key(key, vec![bytes("GET"), bytes(key)])
                    .await?,
            )
        }
    }

    /// Stores `value` under `key`, with a TTL if given.
    fn set(
        &self,
        key: impl AsRef<[u8]> + Send,
        value: impl AsRef<[u8]> + Send,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<()>> + Send {
        async move {
            let key = key.as_ref();
            let mut args = vec![bytes("SET"), bytes(key), bytes(value)];
            if let Some(ttl) = ttl {
                args.extend([bytes("PX"), millis(ttl)]);
            }
            ok(self.call_for_key(key, args).await?)
        }
    }

    /// Deletes `key`; true if it existed.
    fn del(&self, key: impl AsRef<[u8]> + Send) -> impl Future<Output = Result<bool>> + Send {
        async move {
            let key = key.as_ref();
            Ok(integer(
                self.call_for_key(key, vec![bytes("DEL"), bytes(key)])
                    .await?,
            )? == 1)
        }
    }

    /// Adds `delta` to the integer at `key` (0 if missing) and returns the result.
    fn incr_by(
        &self,
        key: impl AsRef<[u8]> + Send,
        delta: i64,
    ) -> impl Future<Output = Result<i64>> + Send {
        async move {
            let key = key.as_ref();
            let args = vec![bytes("INCRBY"), bytes(key), Bytes::from(delta.to_string())];
            integer(self.call_for_key(key, args).await?)
        }
    }

    /// Sets a TTL on `key`; false if the key does not exist.
    fn expire(
        &self,
        key: impl AsRef<[u8]> + Send,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool>> + Send {
        async move {
            let key = key.as_ref();
            let args = vec![bytes("PEXPIRE"), bytes(key), millis(ttl)];
            Ok(integer(self.call_for_key(key, args).await?)? == 1)
        }
    }

    /// The remaining TTL: `Ok(None)` for a missing key, `Ok(Some(None))` for a key without one.
    fn ttl(
        &self,
        key: impl AsRef<[u8]> + Send,
    ) -> impl Future<Output = Result<Option<Option<Duration>>>> + Send {
        async move {
            let key = key.as_ref();
            match integer(
                self.call_for_key(key, vec![bytes("PTTL"), bytes(key)])
                    .await?,
            )? {
                -2 => Ok(None),
                -1 => Ok(Some(None)),
                ms => Ok(Some(Some(Duration::from_millis(ms.max(0) as u64)))),
            }
        }
    }

    /// Decodes the CBOR value at `key` as a `T`; `None` on a miss.
    fn get_as<T: DeserializeOwned>(
        &self,
        key: impl AsRef<[u8]> + Send,
    ) -> impl Future<Output = Result<Option<T>>> + Send {
        async move {
            match self.get(key).await? {
                None => Ok(None),
                Some(raw) => ciborium::from_reader(raw.as_ref())
                    .map(Some)
                    .map_err(|e| Error::Decode(e.to_string())),
            }
        }
    }

    /// Stores `value` as CBOR under `key`.
    fn set_as<T: Serialize + Sync>(
        &self,
        key: impl AsRef<[u8]> + Send,
        value: &T,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<()>> + Send {
        let mut encoded = Vec::new();
        let result =
            ciborium::into_writer(value, &mut encoded).map_err(|e| Error::Encode(e.to_string()));
        async move {
            result?;
            self.set(key, encoded, ttl).await
        }
    }
}
