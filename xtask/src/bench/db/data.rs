//! The suite's data, as pure functions of the seed: product records, category pages and
//! blobs, plus where each lives on disk and under which cache key.
//!
//! Every item is generated from its own stream ([`Rng::for_item`]), so a value read back from
//! a file, SQLite or the cache is checked by generating the item again, without holding the
//! data set in memory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::rng::Rng;
pub use super::words::CATEGORIES;
use super::words::{ADJECTIVES, MATERIALS, NOUNS, TAGS, WORDS};

/// Streams of [`Rng::for_item`], one per kind of item.
const PRODUCT_STREAM: u64 = 1;
const BLOB_SIZE_STREAM: u64 = 2;
const BLOB_OFFSET_STREAM: u64 = 3;
const BLOB_POOL_STREAM: u64 = 4;

/// Products shown on a category page: the query behind it is the suite's "by category".
pub const PAGE: usize = 20;

/// One product record, as stored in its file, in SQLite's `json` column and in the cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: u64,
    pub name: String,
    pub category: String,
    pub price: f64,
    pub description: String,
    pub tags: Vec<String>,
    pub stock: u32,
}

/// A product as listed on a category page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listed {
    pub id: u64,
    pub name: String,
    pub price: f64,
}

impl Product {
    /// Product `id` of the data set generated from `seed`.
    pub fn generate(seed: u64, id: u64) -> Product {
        let mut rng = Rng::for_item(seed, PRODUCT_STREAM, id);
        let Listed { id, name, price } = listed_fields(&mut rng, id);
        let category = (*rng.pick(&CATEGORIES)).to_owned();
        let sentences = rng.between(2, 4);
        let description = (0..sentences)
            .map(|_| sentence(&mut rng))
            .collect::<Vec<_>>()
            .join(" ");
        let mut tags: Vec<String> = Vec::new();
        for _ in 0..rng.between(1, 5) {
            let tag = *rng.pick(&TAGS);
            if !tags.iter().any(|t| t == tag) {
                tags.push(tag.to_owned());
            }
        }
        let stock = rng.below(500) as u32;
        Product {
            id,
            name,
            category,
            price,
            description,
            tags,
            stock,
        }
    }

    /// The record as JSON, the bytes every way must return for it.
    pub fn json(&self) -> Vec<u8> {
        // A struct of strings and numbers always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The fields a category page shows, drawn first so they regenerate without the rest.
fn listed_fields(rng: &mut Rng, id: u64) -> Listed {
    let name = format!(
        "{} {} {}",
        rng.pick(&ADJECTIVES),
        rng.pick(&MATERIALS),
        rng.pick(&NOUNS)
    );
    // Prices log-normal around 25 with shop endings (.99, .49, .00).
    let whole = rng.log_normal(25.0, 1.0, 1, 5000);
    let cents = whole * 100 + [99, 49, 0][rng.below(3) as usize];
    Listed {
        id,
        name,
        price: cents as f64 / 100.0,
    }
}

fn sentence(rng: &mut Rng) -> String {
    let words = rng.between(6, 14);
    let mut text = String::new();
    for i in 0..words {
        let word = *rng.pick(&WORDS);
        if i == 0 {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                text.extend(first.to_uppercase());
                text.push_str(chars.as_str());
            }
        } else {
            text.push(' ');
            text.push_str(word);
        }
    }
    text.push('.');
    text
}

/// What a category page query returns: the `PAGE` cheapest of `products` (by price, then id).
pub fn cheapest(mut products: Vec<Listed>) -> Vec<Listed> {
    products.sort_by(|a, b| a.price.total_cmp(&b.price).then(a.id.cmp(&b.id)));
    products.truncate(PAGE);
    products
}

/// A category page as JSON, the bytes every way must return for it.
pub fn page_json(page: &[Listed]) -> Vec<u8> {
    // A slice of plain structs always serializes.
    serde_json::to_vec(page).unwrap_or_default()
}

/// The page of every category (in [`CATEGORIES`] order) of `records` products.
pub fn expected_pages(seed: u64, records: usize) -> Vec<Vec<u8>> {
    let mut by_category: Vec<Vec<Listed>> = vec![Vec::new(); CATEGORIES.len()];
    for id in 1..=records as u64 {
        let mut rng = Rng::for_item(seed, PRODUCT_STREAM, id);
        let listed = listed_fields(&mut rng, id);
        let category = rng.below(CATEGORIES.len() as u64) as usize;
        let page = &mut by_category[category];
        page.push(listed);
        // Keep memory flat for large data sets: only the cheapest can end on the page.
        if page.len() >= 8 * PAGE {
            *page = cheapest(std::mem::take(page));
        }
    }
    by_category
        .into_iter()
        .map(|products| page_json(&cheapest(products)))
        .collect()
}

/// Blobs standing in for product images: log-normal sizes, bytes that differ per blob.
///
/// A blob is a 16-byte header (`BLOB`, id, size) followed by a window of a seeded pool of
/// random bytes, starting at an offset of its own: cheap to write and to check, and a blob
/// returned for the wrong key fails the check.
#[derive(Debug)]
pub struct Blobs {
    seed: u64,
    median: f64,
    pool: Vec<u8>,
}

pub const BLOB_MIN: u64 = 1024;
pub const BLOB_MAX: u64 = 4 << 20;
const BLOB_SIGMA: f64 = 1.0;
const POOL: usize = 1 << 20;
const HEADER: usize = 16;

impl Blobs {
    pub fn new(seed: u64, median: usize) -> Blobs {
        let mut rng = Rng::for_item(seed, BLOB_POOL_STREAM, 0);
        let mut pool = Vec::with_capacity(POOL);
        while pool.len() < POOL {
            pool.extend_from_slice(&rng.next_u64().to_le_bytes());
        }
        Blobs {
            seed,
            median: median.max(1) as f64,
            pool,
        }
    }

    /// The size of blob `id`.
    pub fn size(&self, id: u64) -> usize {
        let mut rng = Rng::for_item(self.seed, BLOB_SIZE_STREAM, id);
        rng.log_normal(self.median, BLOB_SIGMA, BLOB_MIN, BLOB_MAX) as usize
    }

    fn header(&self, id: u64, size: usize) -> [u8; HEADER] {
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(b"BLOB");
        header[4..12].copy_from_slice(&id.to_le_bytes());
        header[12..].copy_from_slice(&(size as u32).to_le_bytes());
        header
    }

    /// The pool windows that follow the header, in order.
    fn body(&self, id: u64, size: usize) -> impl Iterator<Item = &[u8]> {
        let offset = Rng::for_item(self.seed, BLOB_OFFSET_STREAM, id).below(POOL as u64) as usize;
        let mut start = offset;
        let mut left = size.saturating_sub(HEADER);
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            let len = left.min(POOL - start);
            let window = &self.pool[start..start + len];
            left -= len;
            start = 0;
            Some(window)
        })
    }

    /// Blob `id` into `out` (cleared first).
    pub fn fill(&self, id: u64, out: &mut Vec<u8>) {
        let size = self.size(id);
        out.clear();
        out.reserve(size);
        out.extend_from_slice(&self.header(id, size));
        for window in self.body(id, size) {
            out.extend_from_slice(window);
        }
    }

    /// Whether `bytes` are blob `id`: its size and header always, every byte when `full`.
    pub fn check(&self, id: u64, bytes: &[u8], full: bool) -> Result<(), String> {
        let size = self.size(id);
        if bytes.len() != size {
            return Err(format!(
                "blob {id} is {} bytes, expected {size}",
                bytes.len()
            ));
        }
        if bytes[..HEADER] != self.header(id, size) {
            return Err(format!("blob {id} has another blob's header"));
        }
        if full {
            let mut at = HEADER;
            for window in self.body(id, size) {
                if bytes[at..at + window.len()] != *window {
                    return Err(format!("blob {id} differs from byte {at} on"));
                }
                at += window.len();
            }
        }
        Ok(())
    }
}

/// Where the suite's files are, and the cache key of each item.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(data_dir: &Path) -> Layout {
        Layout {
            root: data_dir.join("db"),
        }
    }

    pub fn products(&self) -> PathBuf {
        self.root.join("products")
    }

    pub fn blobs(&self) -> PathBuf {
        self.root.join("blobs")
    }

    pub fn database(&self) -> PathBuf {
        self.root.join("products.sqlite")
    }

    /// Written last: the data under `root` is complete and what it records.
    pub fn marker(&self) -> PathBuf {
        self.root.join("generated.json")
    }

    pub fn product_file(&self, id: u64) -> PathBuf {
        self.products().join(relative(id, "json"))
    }

    pub fn blob_file(&self, id: u64) -> PathBuf {
        self.blobs().join(blob_key(id))
    }
}

/// `id`'s file under its directory: a thousand files per subdirectory.
fn relative(id: u64, extension: &str) -> String {
    format!("{:03}/{id:06}.{extension}", id / 1000)
}

/// A product's key in the cache and in SQLite's `key` column (what the sqlite origin reads).
pub fn product_key(id: u64) -> String {
    format!("product:{id}")
}

/// A blob's key in the cache: its path under the blob directory (what the dir origin reads).
pub fn blob_key(id: u64) -> String {
    relative(id, "bin")
}

/// The cache-aside key of a category page.
pub fn category_key(category: &str) -> String {
    format!("category:{category}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_deterministic_valid_json_with_every_field() {
        let product = Product::generate(42, 123);
        assert_eq!(product, Product::generate(42, 123));
        assert_ne!(product, Product::generate(43, 123));
        let json = product.json();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        for field in [
            "id",
            "name",
            "category",
            "price",
            "description",
            "tags",
            "stock",
        ] {
            assert!(value.get(field).is_some(), "{field} missing in {value}");
        }
        assert_eq!(value["id"], 123);
        assert!(CATEGORIES.contains(&value["category"].as_str().unwrap()));
        assert!(!value["tags"].as_array().unwrap().is_empty());
        assert!(value["description"].as_str().unwrap().ends_with('.'));
        assert_eq!(serde_json::from_slice::<Product>(&json).unwrap(), product);
    }

    #[test]
    fn prices_look_like_shop_prices() {
        for id in 1..500 {
            let cents = (Product::generate(1, id).price * 100.0).round() as u64;
            assert!((100..=500_099).contains(&cents));
            assert!([99, 49, 0].contains(&(cents % 100)));
        }
    }

    #[test]
    fn categories_are_all_used() {
        let used: std::collections::HashSet<String> = (1..2000)
            .map(|id| Product::generate(5, id).category)
            .collect();
        assert_eq!(used.len(), CATEGORIES.len());
    }

    #[test]
    fn expected_pages_are_the_cheapest_of_each_category() {
        let records = 3000;
        let pages = expected_pages(9, records);
        let products: Vec<Product> = (1..=records as u64)
            .map(|id| Product::generate(9, id))
            .collect();
        for (category, page) in CATEGORIES.iter().zip(&pages) {
            let listed = products
                .iter()
                .filter(|p| p.category == *category)
                .map(|p| Listed {
                    id: p.id,
                    name: p.name.clone(),
                    price: p.price,
                })
                .collect();
            let expected = cheapest(listed);
            assert_eq!(expected.len(), PAGE);
            assert!(expected.windows(2).all(|w| w[0].price <= w[1].price));
            assert_eq!(*page, page_json(&expected), "{category}");
        }
    }

    #[test]
    fn blobs_have_bounded_sizes_and_check_themselves() {
        let blobs = Blobs::new(42, 24 * 1024);
        let mut bytes = Vec::new();
        for id in 1..200 {
            blobs.fill(id, &mut bytes);
            assert_eq!(bytes.len(), blobs.size(id));
            assert!((BLOB_MIN..=BLOB_MAX).contains(&(bytes.len() as u64)));
            assert_eq!(blobs.check(id, &bytes, true), Ok(()));
        }
        blobs.fill(7, &mut bytes);
        assert!(blobs.check(8, &bytes, false).is_err(), "another blob");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(
            blobs.check(7, &bytes, false),
            Ok(()),
            "only size and header"
        );
        assert!(blobs.check(7, &bytes, true).is_err());
        let mut again = Vec::new();
        Blobs::new(42, 24 * 1024).fill(3, &mut again);
        blobs.fill(3, &mut bytes);
        assert_eq!(again, bytes, "deterministic for a seed");
    }

    #[test]
    fn huge_blobs_wrap_around_the_pool() {
        let blobs = Blobs::new(1, 3 << 20);
        let id = (1..1000).find(|id| blobs.size(*id) > POOL).unwrap();
        let mut bytes = Vec::new();
        blobs.fill(id, &mut bytes);
        assert_eq!(blobs.check(id, &bytes, true), Ok(()));
    }

    #[test]
    fn keys_and_paths_agree() {
        let layout = Layout::new(Path::new("/data"));
        assert_eq!(
            layout.product_file(12_345),
            Path::new("/data/db/products/012/012345.json")
        );
        assert_eq!(blob_key(7), "000/000007.bin");
        assert_eq!(layout.blob_file(7), layout.blobs().join(blob_key(7)));
        assert_eq!(product_key(7), "product:7");
    }
}
