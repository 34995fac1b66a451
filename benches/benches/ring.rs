//! Ring lookups: one key (hash included) to a node, for every placement algorithm, at 10 nodes.

use std::hint::black_box;

use cache_ring::{Algorithm, Member, Ring};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn lookups(c: &mut Criterion) {
    let members: Vec<Member> = (0..10)
        .map(|i| Member::new(format!("127.0.0.1:{}", 7001 + i)))
        .collect();
    let keys: Vec<Vec<u8>> = (0..4096)
        .map(|i| format!("user:{i:08}:profile").into_bytes())
        .collect();
    let mut group = c.benchmark_group("ring_node_for");
    group.throughput(Throughput::Elements(keys.len() as u64));
    for algorithm in Algorithm::ALL {
        let ring = Ring::new(algorithm, members.clone()).expect("valid members");
        group.bench_function(algorithm.name(), |b| {
            b.iter(|| {
                let mut sum = 0usize;
                for key in &keys {
                    sum = sum.wrapping_add(ring.node_for(black_box(key)).unwrap_or(0));
                }
                sum
            })
        });
    }
    group.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
