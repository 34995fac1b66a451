//! Store get/set throughput, single-threaded, for each eviction policy.

use cache_store::{PolicyKind, SetOptions, Store, StoreConfig};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const KEYS: u64 = 100_000;

fn key(i: u64) -> [u8; 16] {
    let mut k = [b'k'; 16];
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

/// A cheap deterministic key sequence (an LCG walk), so benchmarks do not measure an RNG.
fn walk(n: u64) -> impl Iterator<Item = u64> {
    let mut x = 12345u64;
    (0..n).map(move |_| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % KEYS
    })
}

fn filled(policy: PolicyKind, max_memory: usize) -> Store {
    let store = Store::new(StoreConfig {
        policy,
        max_memory,
        ..StoreConfig::default()
    });
    for i in 0..KEYS {
        store
            .set(&key(i), &[b'v'; 32], SetOptions::default())
            .expect("no budget to hit");
    }
    store
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(1000));
    for policy in [PolicyKind::WTinyLfu, PolicyKind::Lru, PolicyKind::Lfu] {
        let store = filled(policy, 0);
        let keys: Vec<u64> = walk(1000).collect();
        group.bench_with_input(BenchmarkId::new("get_hit", policy), &keys, |b, keys| {
            b.iter(|| {
                for &i in keys {
                    std::hint::black_box(store.get(&key(i)));
                }
            })
        });
        group.bench_with_input(
            BenchmarkId::new("set_overwrite", policy),
            &keys,
            |b, keys| {
                b.iter(|| {
                    for &i in keys {
                        let _ = store.set(&key(i), &[b'w'; 32], SetOptions::default());
                    }
                })
            },
        );
        // Half the keys fit: every second set evicts.
        let tight = filled(policy, 0);
        tight.set_max_memory(tight.used_memory() / 2);
        group.bench_with_input(
            BenchmarkId::new("set_evicting", policy),
            &keys,
            |b, keys| {
                b.iter(|| {
                    for &i in keys {
                        let _ = tight.set(&key(i), &[b'x'; 32], SetOptions::default());
                    }
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
