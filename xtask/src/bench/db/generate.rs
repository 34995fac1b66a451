//! Writes the data set to disk (product files, the SQLite database, blob files), or keeps the
//! one already there when its marker records the same parameters.
//!
//! The marker is written last, so an interrupted generation is never mistaken for a complete
//! one: without a matching marker the directory is removed and written again.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::data::{Blobs, Layout, Product, product_key};
use crate::bench::Context;

/// Bumped whenever the generated data changes shape, so older data is not reused.
const FORMAT: u32 = 1;

/// What a generated data set was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub format: u32,
    pub seed: u64,
    pub records: usize,
    pub blob_median: usize,
}

impl Marker {
    pub fn new(seed: u64, records: usize, blob_median: usize) -> Marker {
        Marker {
            format: FORMAT,
            seed,
            records,
            blob_median,
        }
    }

    /// Whether the marker at `path` records exactly these parameters (a missing or unreadable
    /// marker does not).
    pub fn found_at(&self, path: &Path) -> bool {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Marker>(&bytes).ok())
            .is_some_and(|found| found == *self)
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(self)?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Makes sure `layout` holds the data set of `ctx`; returns whether it had to be written.
pub fn prepare(ctx: &Context, layout: &Layout, blobs: &Blobs) -> anyhow::Result<bool> {
    let marker = Marker::new(ctx.seed, ctx.records, ctx.blob_median);
    if marker.found_at(&layout.marker()) {
        eprintln!(
            "  reusing the data in {} (same seed, records and blob median)",
            layout.root.display()
        );
        return Ok(false);
    }
    if layout.root.exists() {
        std::fs::remove_dir_all(&layout.root)
            .with_context(|| format!("cannot remove {}", layout.root.display()))?;
    }
    let records = ctx.records as u64;
    for dir in [layout.products(), layout.blobs()] {
        for sub in 0..=records / 1000 {
            let path = dir.join(format!("{sub:03}"));
            std::fs::create_dir_all(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
        }
    }
    let label = format!("writing {records} product files");
    in_parallel(ctx, &label, records, |id, _| {
        let path = layout.product_file(id);
        let json = Product::generate(ctx.seed, id).json();
        std::fs::write(&path, &json).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    })?;
    write_database(ctx, layout)?;
    let label = format!("writing {records} blob files");
    in_parallel(ctx, &label, records, |id, buffer| {
        let path = layout.blob_file(id);
        blobs.fill(id, buffer);
        std::fs::write(&path, &buffer).with_context(|| format!("cannot write {}", path.display()))
    })?;
    marker.write(&layout.marker())?;
    Ok(true)
}

/// The products table: the record's fields as columns (for queries), the record as JSON (what
/// a read by id returns), indexed by id (the rowid), key (the origin's lookup) and category.
const SCHEMA: &str = "
    CREATE TABLE products (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        category TEXT NOT NULL,
        price REAL NOT NULL,
        description TEXT NOT NULL,
        tags TEXT NOT NULL,
        stock INTEGER NOT NULL,
        json TEXT NOT NULL
    );";

fn write_database(ctx: &Context, layout: &Layout) -> anyhow::Result<()> {
    let path = layout.database();
    let mut db = rusqlite::Connection::open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    // A crash mid-way leaves no marker and the file is rebuilt: no journal needed.
    db.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")?;
    db.execute_batch(SCHEMA)?;
    let mut progress = ctx.progress(
        format!("writing {} products to SQLite", ctx.records),
        ctx.records as u64,
    );
    let transaction = db.transaction()?;
    {
        let mut insert = transaction.prepare(
            "INSERT INTO products (id, key, name, category, price, description, tags, stock, json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for id in 1..=ctx.records as u64 {
            let product = Product::generate(ctx.seed, id);
            let json = String::from_utf8(product.json())?;
            let tags = serde_json::to_string(&product.tags)?;
            insert.execute(rusqlite::params![
                id as i64,
                product_key(id),
                product.name,
                product.category,
                product.price,
                product.description,
                tags,
                product.stock,
                json,
            ])?;
            if id.is_multiple_of(1000) {
                progress.inc(1000);
            }
        }
    }
    transaction.commit()?;
    db.execute_batch("CREATE INDEX products_category ON products (category); ANALYZE;")?;
    progress.finish();
    Ok(())
}

/// Runs `work(id, buffer)` for ids `1..=count` on every core, with a progress bar; stops at
/// the first error and returns it.
fn in_parallel(
    ctx: &Context,
    label: &str,
    count: u64,
    work: impl Fn(u64, &mut Vec<u8>) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<()> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let done = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let mut progress = ctx.progress(label, count);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let (work, done, failed) = (&work, &done, &failed);
                scope.spawn(move || -> anyhow::Result<()> {
                    let mut buffer = Vec::new();
                    let mut id = thread + 1;
                    while id <= count && !failed.load(Ordering::Relaxed) {
                        if let Err(error) = work(id, &mut buffer) {
                            failed.store(true, Ordering::Relaxed);
                            return Err(error);
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                        id += threads;
                    }
                    Ok(())
                })
            })
            .collect();
        let mut shown = 0;
        while !workers.iter().all(|w| w.is_finished()) {
            std::thread::sleep(Duration::from_millis(100));
            let now = done.load(Ordering::Relaxed);
            progress.inc(now - shown);
            shown = now;
        }
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a generating thread panicked"))??;
        }
        progress.finish();
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_matches_only_the_same_parameters() {
        let dir = std::env::temp_dir().join(format!("xtask-db-marker-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("generated.json");
        let marker = Marker::new(42, 5000, 24 * 1024);
        assert!(!marker.found_at(&path), "no marker yet");
        marker.write(&path).unwrap();
        assert!(marker.found_at(&path));
        assert!(!Marker::new(43, 5000, 24 * 1024).found_at(&path));
        assert!(!Marker::new(42, 5001, 24 * 1024).found_at(&path));
        assert!(!Marker::new(42, 5000, 1024).found_at(&path));
        let older = Marker {
            format: FORMAT - 1,
            ..marker.clone()
        };
        older.write(&path).unwrap();
        assert!(!marker.found_at(&path), "another format");
        std::fs::write(&path, b"{ half a marker").unwrap();
        assert!(!marker.found_at(&path), "unreadable");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
