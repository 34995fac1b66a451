//! The request sequences the simulator replays: a synthetic Zipf and the recorded traces.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use flate2::read::MultiGzDecoder;

use super::zipf;

/// One request sequence, keys only (hit ratios are count-based).
#[derive(Debug)]
pub(crate) struct Workload {
    pub(crate) name: String,
    pub(crate) keys: Vec<u64>,
    /// The key universe the cache sizes are a share of.
    pub(crate) distinct: usize,
}

impl Workload {
    /// Zipf(`exponent`) over `keys` keys. Its universe is `keys`, whether or not the tail was
    /// drawn, so "1%" means the same cache for every request count.
    pub(crate) fn zipf(keys: usize, exponent: f64, requests: usize, seed: u64) -> Workload {
        Workload {
            name: format!("zipf({exponent}) {keys} keys"),
            keys: zipf::requests(keys, exponent, requests, seed),
            distinct: keys,
        }
    }

    /// The first `limit` requests (all when `None`) of a gzip trace of `key size` lines.
    pub(crate) fn trace(path: &Path, limit: Option<usize>) -> Result<Workload> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut reader = BufReader::with_capacity(1 << 16, MultiGzDecoder::new(file));
        let mut keys = Vec::new();
        let mut line = String::new();
        let mut number = 0usize;
        while limit.is_none_or(|l| keys.len() < l) {
            line.clear();
            let read = reader
                .read_line(&mut line)
                .with_context(|| format!("cannot read {} after line {number}", path.display()))?;
            if read == 0 {
                break;
            }
            number += 1;
            let Some(field) = line.split_ascii_whitespace().next() else {
                continue;
            };
            let Ok(key) = field.parse::<u64>() else {
                bail!(
                    "{}:{number}: expected `key size` with an unsigned 64-bit key, found {:?}",
                    path.display(),
                    line.trim_end()
                );
            };
            keys.push(key);
        }
        let distinct = keys.iter().collect::<HashSet<_>>().len();
        Ok(Workload {
            name: trace_name(path),
            keys,
            distinct,
        })
    }
}

/// `db_arc_oltp.txt.gz` -> `db_arc_oltp`.
fn trace_name(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.strip_suffix(".txt.gz").unwrap_or(&file).to_owned()
}

/// Every `*.txt.gz` in `dir`, sorted by name.
pub(crate) fn trace_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        if path.is_file() && path.to_string_lossy().ends_with(".txt.gz") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_traces_by_stem() {
        assert_eq!(
            trace_name(Path::new("/x/db_arc_oltp.txt.gz")),
            "db_arc_oltp"
        );
    }

    /// Writes `text` gzipped to a file of this process in the temp directory.
    fn gz_file(name: &str, text: &str) -> PathBuf {
        use std::io::Write as _;
        let file = format!("xtask-sim-{}-{name}.txt.gz", std::process::id());
        let path = std::env::temp_dir().join(file);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let written = gz.write_all(text.as_bytes()).and_then(|()| gz.finish());
        let bytes = written.unwrap_or_else(|e| panic!("gzip in memory: {e}"));
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    #[test]
    fn reads_keys_up_to_the_limit() {
        let path = gz_file("ok", "7 100\n8 1\n\n7 100\n9\n");
        let all = Workload::trace(&path, None).map(|w| (w.keys, w.distinct));
        let head = Workload::trace(&path, Some(2)).map(|w| w.keys);
        let _ = std::fs::remove_file(&path);
        assert_eq!(all.ok(), Some((vec![7, 8, 7, 9], 3)));
        assert_eq!(head.ok(), Some(vec![7, 8]));
    }

    #[test]
    fn names_the_bad_line() {
        let path = gz_file("bad", "1 1\nkey 2\n");
        let result = Workload::trace(&path, None);
        let _ = std::fs::remove_file(&path);
        let err = result
            .map(|_| ())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(":2: expected `key size`"), "{err}");
    }
}
