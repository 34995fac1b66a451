//! Persistence for a cache node: a crash-safe operation log, snapshots with compaction,
//! recovery, a disk tier for large values ([`DiskTier`]) and read-through origins
//! ([`ReadThrough`]).
//!
//! The store tells the log of every change ([`cache_store::Journal`]) while it holds the
//! key's shard lock; the log appends a checksummed CBOR record to a buffer that one writer
//! thread writes in batches and fsyncs as `appendfsync` says ([`Fsync`]). A compactor thread
//! rewrites a snapshot of the live data next to a fresh log and commits it with a rename,
//! while the node keeps serving. On start, [`Persistence::open`] loads the snapshot and replays
//! the logs after it.
//!
//! **Durability contract.** A record is durable once [`Progress::durable`] passes its end
//! offset: it was written and fsynced, and so was every record before it. With
//! [`Fsync::Always`] the node answers a write only then; with [`Fsync::EverySec`] the
//! writer fsyncs at least once a second; with [`Fsync::No`] only `SAVE` and shutdown fsync.
//! New files are made durable with write, fsync, rename, fsync of the directory.
//!
//! **Architecture invariants.** All file access goes through [`Fs`], so tests inject disk
//! faults; the one exception is the directory's lock file, which is held with `flock` and
//! never written. Nothing here parses client input or touches a socket; tokio is used only for the
//! channel a connection awaits durability on.

mod error;
mod fs;
#[doc(hidden)]
pub mod fuzzing;
mod keylock;
mod layout;
mod log;
mod origin;
mod persistence;
mod record;
mod recover;
mod tier;

pub use error::{Error, Result};
pub use fs::{FaultyFs, Fs, ReadAt, RealFs, WriteFile};
pub use keylock::{KeyGuard, KeyLocks};
pub use log::{Batching, Fsync, Log, Progress, take_mark};
pub use origin::{
    DirOrigin, Loaded, Loading, Origin, OriginError, OriginSpec, OriginStats, ReadThrough,
    SqliteColumns, SqliteOrigin, open_origin,
};
pub use persistence::{PersistConfig, Persistence, Status};
pub use record::{Frame, Record, read_frame};
pub use recover::{OnCorruption, Recovery};
pub use tier::{DiskTier, Found, Place, TierConfig, TierStats, TierStatus};
