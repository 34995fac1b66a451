//! Errors of opening, recovering and compacting.

use std::io;
use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A log has a damaged record with intact records after it: cutting it would lose writes
    /// that were acknowledged, so start-up stops and asks.
    #[error(
        "{} is corrupt at byte offset {offset} ({reason}); the records before it are intact. \
         To start from them, run cache-node with --repair-log, which cuts the file at offset {offset} \
         (dropping the {dropped} bytes after it{later}), or restore the directory from a backup",
        path.display(),
        later = if *later_logs > 0 { format!(" and {later_logs} later log file(s)") } else { String::new() }
    )]
    CorruptLog {
        path: PathBuf,
        offset: u64,
        reason: &'static str,
        dropped: u64,
        later_logs: usize,
    },
    /// A snapshot is damaged. It cannot be repaired: it is the base every log builds on.
    #[error(
        "snapshot {} is damaged at byte offset {offset} ({reason}); it cannot be repaired: restore \
         the directory from a backup, or move it away to start empty",
        path.display()
    )]
    CorruptSnapshot {
        path: PathBuf,
        offset: u64,
        reason: &'static str,
    },
    /// The file does not start with the expected magic.
    #[error("{} is not a cache {kind} file (unknown header); move it out of the persistence directory", path.display())]
    NotOurs { path: PathBuf, kind: &'static str },
    /// Another process holds the directory.
    #[error("persistence directory {} is in use by another cache-node", dir.display())]
    Locked { dir: PathBuf },
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}
