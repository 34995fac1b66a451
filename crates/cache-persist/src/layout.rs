//! The files of a persistence directory and what their names mean.
//!
//! A directory holds snapshots `snapshot.<generation>` and logs `log.<generation>`. The state
//! is the newest snapshot (or nothing) followed by every log of that generation or later, in
//! order. Compaction to generation `g` first starts `log.g` (new writes go there), then writes
//! `snapshot.g` under a temporary name and renames it into place: the rename is the commit
//! point. Anything older than the newest snapshot is stale and removed, as are temporary files
//! a crash left behind.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fs::Fs;

const LOG: &str = "log.";
const SNAPSHOT: &str = "snapshot.";
pub(crate) const TEMPORARY: &str = ".tmp";
pub(crate) const LOCK: &str = "lock";

/// What a directory holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Generation of the newest snapshot.
    pub snapshot: Option<u64>,
    /// Generations of the logs to replay, ascending.
    pub logs: Vec<u64>,
    /// Files to remove: older snapshots and logs, temporaries.
    pub stale: Vec<String>,
}

pub(crate) fn log_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("{LOG}{generation:06}"))
}

pub(crate) fn snapshot_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("{SNAPSHOT}{generation:06}"))
}

fn generation(name: &str, prefix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl Layout {
    pub(crate) fn scan(fs: &dyn Fs, dir: &Path) -> Result<Layout> {
        let names = fs.list(dir).map_err(Error::io("list", dir))?;
        Ok(Layout::of(&names))
    }

    pub(crate) fn of(names: &[String]) -> Layout {
        let snapshot = names.iter().filter_map(|n| generation(n, SNAPSHOT)).max();
        let base = snapshot.unwrap_or(0);
        let mut logs: Vec<u64> = names
            .iter()
            .filter_map(|n| generation(n, LOG))
            .filter(|&g| g >= base)
            .collect();
        logs.sort_unstable();
        let stale = names
            .iter()
            .filter(|n| {
                n.ends_with(TEMPORARY)
                    || generation(n, SNAPSHOT).is_some_and(|g| g < base)
                    || generation(n, LOG).is_some_and(|g| g < base)
            })
            .cloned()
            .collect();
        Layout {
            snapshot,
            logs,
            stale,
        }
    }

    /// The generation new writes go to: the newest log's, else the snapshot's, else 1.
    pub(crate) fn current(&self) -> u64 {
        self.logs.last().copied().or(self.snapshot).unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn newest_snapshot_and_the_logs_from_it() {
        let layout = Layout::of(&names(&[
            "snapshot.000002",
            "snapshot.000003",
            "log.000002",
            "log.000003",
            "log.000004",
            "snapshot.000004.tmp",
            "lock",
        ]));
        assert_eq!(layout.snapshot, Some(3));
        assert_eq!(layout.logs, vec![3, 4]);
        assert_eq!(
            layout.stale,
            names(&["snapshot.000002", "log.000002", "snapshot.000004.tmp"])
        );
        assert_eq!(layout.current(), 4);
    }

    #[test]
    fn an_empty_directory_starts_at_generation_one() {
        let layout = Layout::of(&[]);
        assert_eq!(layout, Layout::default());
        assert_eq!(layout.current(), 1);
        assert_eq!(
            Layout::of(&names(&["log.x", "log."])).logs,
            Vec::<u64>::new()
        );
    }
}
