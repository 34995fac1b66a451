//! The db suite: what the cache buys an application reading product records and images,
//! against reading them directly from files or SQLite.
//!
//! It generates a seeded data set (see [`data`]): product records as JSON files and as an
//! SQLite table, and blobs standing in for images. Then each query runs for `ctx.seconds` per
//! way with the same number of workers:
//!
//! - product by id: its file, an SQLite lookup, the warm cache, and the cold cache reading
//!   through from SQLite (each key's first read);
//! - products by category (a category page, the cheapest few): a scan of every file (there is
//!   no index), SQLite with an index on category, and the warm cache holding each page
//!   (cache-aside, `category:<name>`);
//! - blob by id: its file, the warm cache, and the cold cache reading through from the files.
//!
//! The cache is cache-proxy in front of two cache-nodes. Every answer is checked against the
//! generated data; a wrong value fails the suite after all cases ran.

mod cluster;
mod data;
mod generate;
mod measure;
mod rng;
mod summary;
mod words;

use std::io::ErrorKind;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use rusqlite::{OpenFlags, OptionalExtension};
use serde::Deserialize;

use self::cluster::{Cluster, NODES};
use self::data::{
    Blobs, CATEGORIES, Layout, Listed, Product, blob_key, category_key, cheapest, page_json,
    product_key,
};
use self::measure::{Check, Measured, Order, Plan, on_tasks, on_threads};
use self::summary::{Case, Conditions, Query, Way};
use super::{Context, SuiteReport};

/// Concurrent requests in every case.
const WORKERS: usize = 8;

pub fn run(ctx: &Context) -> anyhow::Result<SuiteReport> {
    if ctx.records == 0 {
        bail!("the db suite needs at least one record (--records)");
    }
    let layout = Layout::new(&ctx.data_dir);
    let blobs = Arc::new(Blobs::new(ctx.seed, ctx.blob_median));
    let generated = generate::prepare(ctx, &layout, &blobs)?;
    // The cache's workers and their connections share one thread, one event loop as in
    // redis-benchmark: the client takes at most one core, the servers the rest, and no wakeup
    // crosses threads (two worker threads measured no faster on this 2-core machine).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let mut session = Session {
        ctx,
        pages: Arc::new(data::expected_pages(ctx.seed, ctx.records)),
        layout,
        blobs,
        runtime,
        cases: Vec::new(),
    };
    session.warm()?;
    session.cold_products()?;
    session.cold_blobs()?;

    let wrong: Vec<String> = session
        .cases
        .iter()
        .filter(|c| c.measured.wrong > 0)
        .map(|c| {
            format!(
                "{:?} {:?}: {} wrong values, first: {}",
                c.query,
                c.way,
                c.measured.wrong,
                c.measured.problem.as_deref().unwrap_or("?")
            )
        })
        .collect();
    if !wrong.is_empty() {
        bail!("wrong values read:\n{}", wrong.join("\n"));
    }
    let conditions = Conditions {
        records: ctx.records,
        blob_median: ctx.blob_median,
        blob_bytes: (1..=ctx.records as u64)
            .map(|id| session.blobs.size(id) as u64)
            .sum(),
        workers: WORKERS,
        seconds: ctx.seconds,
        nodes: NODES,
        generated,
        debug_servers: ctx.bin_dir.ends_with("debug"),
    };
    Ok(summary::report(&session.cases, &conditions))
}

/// One run of the suite: its data, its client runtime and the cases measured so far.
#[derive(Debug)]
struct Session<'a> {
    ctx: &'a Context,
    layout: Layout,
    blobs: Arc<Blobs>,
    /// The expected page of each category, in [`CATEGORIES`] order.
    pages: Arc<Vec<Vec<u8>>>,
    runtime: tokio::runtime::Runtime,
    cases: Vec<Case>,
}

/// What a file scan needs of a record (the other fields are skipped while parsing).
#[derive(Debug, Deserialize)]
struct Scanned {
    id: u64,
    name: String,
    category: String,
    price: f64,
}

impl Session<'_> {
    fn records(&self) -> u64 {
        self.ctx.records as u64
    }

    /// A plan over `order`, seeded apart from every other case.
    fn plan(&self, order: Order) -> Plan {
        Plan {
            workers: WORKERS,
            seconds: self.ctx.seconds,
            seed: self.ctx.seed ^ ((self.cases.len() as u64 + 1) << 32),
            order,
        }
    }

    fn record(&mut self, query: Query, way: Way, measured: Measured) {
        eprintln!(
            "  {query:?} {way:?}: {:.0} ops/s, p50 {:.1} µs, p99 {:.1} µs ({} answers, {} misses, {} errors, {} wrong)",
            measured.ops_per_sec(),
            measured.micros(0.5),
            measured.micros(0.99),
            measured.ops,
            measured.misses,
            measured.errors,
            measured.wrong
        );
        self.cases.push(Case {
            query,
            way,
            measured,
        });
    }

    fn product_check(&self) -> Arc<Check> {
        let seed = self.ctx.seed;
        Arc::new(move |index: u64, value: &[u8], full: bool| {
            let id = index + 1;
            let prefix = format!("{{\"id\":{id},");
            if !value.starts_with(prefix.as_bytes()) {
                return Err(format!("product {id}: another record"));
            }
            if full && value != Product::generate(seed, id).json() {
                return Err(format!("product {id}: the record differs"));
            }
            Ok(())
        })
    }

    fn page_check(&self) -> Arc<Check> {
        let pages = self.pages.clone();
        Arc::new(
            move |index: u64, value: &[u8], _full: bool| match pages.get(index as usize) {
                Some(page) if page == value => Ok(()),
                _ => Err(format!(
                    "category {}: the page differs",
                    CATEGORIES[index as usize]
                )),
            },
        )
    }

    fn blob_check(&self) -> Arc<Check> {
        let blobs = self.blobs.clone();
        Arc::new(move |index: u64, value: &[u8], full: bool| blobs.check(index + 1, value, full))
    }

    /// Everything measured against one warm cache, filled beforehand through the proxy.
    fn warm(&mut self) -> anyhow::Result<()> {
        let cache = Cluster::start(self.ctx, &self.runtime, &[])?;
        let products = self.layout.clone();
        cache.fill(
            self.ctx,
            &self.runtime,
            &format!("filling the cache with {} products", self.records()),
            self.records(),
            |index| {
                let path = products.product_file(index + 1);
                let json = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                Ok((product_key(index + 1), Bytes::from(json)))
            },
        )?;
        // Cache-aside: each category's page is the query's result, computed once by SQLite.
        let db = open_database(&self.layout)?;
        cache.fill(
            self.ctx,
            &self.runtime,
            "filling the cache with category pages",
            CATEGORIES.len() as u64,
            |index| {
                let category = CATEGORIES[index as usize];
                Ok((
                    category_key(category),
                    Bytes::from(category_page(&db, category)?),
                ))
            },
        )?;
        drop(db);
        // The database in the page cache too, like the product files just read.
        let path = self.layout.database();
        std::io::copy(&mut std::fs::File::open(&path)?, &mut std::io::sink())
            .with_context(|| format!("cannot read {}", path.display()))?;

        let uniform = Order::Uniform(self.records());
        let layout = &self.layout;
        let files = on_threads(
            &self.plan(uniform.clone()),
            || Ok(()),
            |_, index| read_if_present(&layout.product_file(index + 1)),
            &*self.product_check(),
        )?;
        self.record(Query::ProductById, Way::Files, files);
        let sqlite = on_threads(
            &self.plan(uniform.clone()),
            || open_database(&self.layout),
            |db, index| product_by_id(db, index + 1),
            &*self.product_check(),
        )?;
        self.record(Query::ProductById, Way::Sqlite, sqlite);
        let warm = on_tasks(
            &self.runtime,
            &self.plan(uniform),
            cache.port,
            Arc::new(|index: u64| product_key(index + 1)),
            self.product_check(),
        )?;
        self.record(Query::ProductById, Way::CacheWarm, warm);

        let categories = Order::Uniform(CATEGORIES.len() as u64);
        let scan = on_threads(
            &self.plan(categories.clone()),
            || Ok(()),
            |_, index| self.scan_files(CATEGORIES[index as usize]).map(Some),
            &*self.page_check(),
        )?;
        self.record(Query::ProductsByCategory, Way::Files, scan);
        let sqlite = on_threads(
            &self.plan(categories.clone()),
            || open_database(&self.layout),
            |db, index| category_page(db, CATEGORIES[index as usize]).map(Some),
            &*self.page_check(),
        )?;
        self.record(Query::ProductsByCategory, Way::Sqlite, sqlite);
        let warm = on_tasks(
            &self.runtime,
            &self.plan(categories),
            cache.port,
            Arc::new(|index: u64| category_key(CATEGORIES[index as usize])),
            self.page_check(),
        )?;
        self.record(Query::ProductsByCategory, Way::CacheWarm, warm);

        let layout = self.layout.clone();
        cache.fill(
            self.ctx,
            &self.runtime,
            &format!("filling the cache with {} blobs", self.records()),
            self.records(),
            |index| {
                let path = layout.blob_file(index + 1);
                let blob = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                Ok((blob_key(index + 1), Bytes::from(blob)))
            },
        )?;
        let uniform = Order::Uniform(self.records());
        let files = on_threads(
            &self.plan(uniform.clone()),
            || Ok(()),
            |_, index| read_if_present(&layout.blob_file(index + 1)),
            &*self.blob_check(),
        )?;
        self.record(Query::BlobById, Way::Files, files);
        let warm = on_tasks(
            &self.runtime,
            &self.plan(uniform),
            cache.port,
            Arc::new(|index: u64| blob_key(index + 1)),
            self.blob_check(),
        )?;
        self.record(Query::BlobById, Way::CacheWarm, warm);
        Ok(())
    }

    /// Product by id through nodes that read misses from SQLite, never written before.
    fn cold_products(&mut self) -> anyhow::Result<()> {
        let origin = [
            "--origin".to_owned(),
            format!("sqlite:{}", self.layout.database().display()),
            "--origin-table".to_owned(),
            "products".to_owned(),
            "--origin-key-column".to_owned(),
            "key".to_owned(),
            "--origin-value-column".to_owned(),
            "json".to_owned(),
        ];
        let cache = Cluster::start(self.ctx, &self.runtime, &origin)?;
        let cold = on_tasks(
            &self.runtime,
            &self.plan(Order::once(self.records(), self.ctx.seed)),
            cache.port,
            Arc::new(|index: u64| product_key(index + 1)),
            self.product_check(),
        )?;
        self.record(Query::ProductById, Way::CacheCold, cold);
        Ok(())
    }

    /// Blob by id through nodes that read misses from the blob directory, never written before.
    fn cold_blobs(&mut self) -> anyhow::Result<()> {
        let origin = [
            "--origin".to_owned(),
            format!("dir:{}", self.layout.blobs().display()),
        ];
        let cache = Cluster::start(self.ctx, &self.runtime, &origin)?;
        let cold = on_tasks(
            &self.runtime,
            &self.plan(Order::once(self.records(), self.ctx.seed)),
            cache.port,
            Arc::new(|index: u64| blob_key(index + 1)),
            self.blob_check(),
        )?;
        self.record(Query::BlobById, Way::CacheCold, cold);
        Ok(())
    }

    /// A category page without an index: read and parse every product file.
    fn scan_files(&self, category: &str) -> anyhow::Result<Vec<u8>> {
        let mut found: Vec<Listed> = Vec::new();
        for id in 1..=self.records() {
            let path = self.layout.product_file(id);
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let record: Scanned = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a product record", path.display()))?;
            if record.category == category {
                found.push(Listed {
                    id: record.id,
                    name: record.name,
                    price: record.price,
                });
            }
        }
        Ok(page_json(&cheapest(found)))
    }
}

fn read_if_present(path: &std::path::Path) -> anyhow::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// A read-only connection, as an application reading the catalogue would hold one per thread.
fn open_database(layout: &Layout) -> anyhow::Result<rusqlite::Connection> {
    let path = layout.database();
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let db = rusqlite::Connection::open_with_flags(&path, flags)
        .with_context(|| format!("cannot open {}", path.display()))?;
    // Tuned for reads: the database mapped in memory, so a page is read without a system call
    // (the default 2 MB page cache holds a few percent of it).
    db.pragma_update(None, "mmap_size", MMAP_BYTES)?;
    Ok(db)
}

/// Bytes of the database SQLite may map: all of it at the default sizes.
const MMAP_BYTES: i64 = 1 << 30;

fn product_by_id(db: &rusqlite::Connection, id: u64) -> anyhow::Result<Option<Vec<u8>>> {
    let json = db
        .prepare_cached("SELECT json FROM products WHERE id = ?1")?
        .query_row([id as i64], |row| row.get::<_, String>(0))
        .optional()?;
    Ok(json.map(String::into_bytes))
}

/// A category page from SQLite: the index on category finds the rows, SQLite sorts them.
fn category_page(db: &rusqlite::Connection, category: &str) -> anyhow::Result<Vec<u8>> {
    let mut statement = db.prepare_cached(
        "SELECT id, name, price FROM products WHERE category = ?1 ORDER BY price, id LIMIT ?2",
    )?;
    let page = statement
        .query_map(rusqlite::params![category, data::PAGE as i64], |row| {
            Ok(Listed {
                id: row.get::<_, i64>(0)? as u64,
                name: row.get(1)?,
                price: row.get(2)?,
            })
        })?
        .collect::<Result<Vec<Listed>, _>>()?;
    Ok(page_json(&page))
}
