use super::*;

/// Entries that all weigh the same, with the slot number as hash.
struct Uniform;

impl Entries for Uniform {
    fn hash(&self, slot: u32) -> u64 {
        u64::from(slot).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn charge(&self, _slot: u32) -> usize {
        1
    }
}

/// Runs `requests` through `policy` as a cache of `capacity` unit entries; returns the hits.
fn replay(policy: &mut dyn Policy, capacity: usize, requests: &[u32]) -> usize {
    replay_from(
        policy,
        capacity,
        requests,
        &mut std::collections::HashSet::new(),
    )
}

/// [`replay`] continued: `resident` holds the keys the policy already has.
fn replay_from(
    policy: &mut dyn Policy,
    capacity: usize,
    requests: &[u32],
    resident: &mut std::collections::HashSet<u32>,
) -> usize {
    let mut hits = 0;
    for &key in requests {
        if resident.contains(&key) {
            hits += 1;
            policy.access(key, Uniform.hash(key), &Uniform);
            continue;
        }
        policy.insert(key, Uniform.hash(key), &Uniform);
        resident.insert(key);
        while resident.len() > capacity {
            let victim = policy
                .victim(&Uniform)
                .expect("a full policy names a victim");
            policy.remove(victim, 1);
            resident.remove(&victim);
        }
    }
    hits
}

#[test]
fn names_round_trip() {
    for kind in PolicyKind::ALL {
        assert_eq!(kind.name().parse::<PolicyKind>(), Ok(kind));
    }
    assert_eq!("LRU".parse::<PolicyKind>(), Ok(PolicyKind::Lru));
    assert!("volatile-ttl".parse::<PolicyKind>().is_err());
}

#[test]
fn tinylfu_resists_a_scan() {
    // A hot set of 50 keys requested again and again, interrupted by a long scan of keys seen
    // once. LRU loses the hot set to the scan; W-TinyLFU keeps it.
    let mut requests = Vec::new();
    for round in 0..40 {
        for k in 0..50 {
            requests.push(k);
        }
        if round == 20 {
            requests.extend(1000..3000);
        }
    }
    let lru = replay(&mut Lru::new(true), 100, &requests);
    let mut tiny = WTinyLfu::new(100, 1);
    let tiny = replay(&mut tiny, 100, &requests);
    assert!(tiny > lru, "w-tinylfu {tiny} hits vs lru {lru}");
    assert!(tiny >= 50 * 38, "hot set kept through the scan: {tiny}");
}

#[test]
fn lfu_keeps_the_frequent_key() {
    let mut lfu = Lfu::new(1);
    let mut requests = vec![];
    for i in 0..200 {
        requests.push(0);
        requests.push(100 + i);
    }
    let hits = replay(&mut lfu, 2, &requests);
    assert!(hits >= 195, "the frequent key stays: {hits}");
}

#[test]
fn noeviction_names_no_victim_but_keeps_order() {
    let mut p = Lru::new(false);
    p.insert(1, 0, &Uniform);
    p.insert(2, 0, &Uniform);
    p.access(1, 0, &Uniform);
    assert_eq!(p.victim(&Uniform), None);
    assert_eq!(p.order(), vec![2, 1]);
}

#[test]
fn order_lists_every_slot_once() {
    let requests: Vec<u32> = (0..500).map(|i| (i * 7919) % 97).collect();
    for kind in [PolicyKind::Lru, PolicyKind::Lfu, PolicyKind::WTinyLfu] {
        let mut p = new_policy(kind, 50, 3);
        replay(p.as_mut(), 50, &requests);
        let mut order = p.order();
        assert_eq!(order.len(), 50, "{kind}");
        order.sort_unstable();
        order.dedup();
        assert_eq!(order.len(), 50, "{kind}");
    }
}

/// Every key requested `touches` times, `gap` new keys apart, and never again: pure recency,
/// which a cache of more than `gap × touches` entries serves by remembering what it just saw.
fn recency_heavy(keys: u32, gap: u32, touches: u32) -> Vec<u32> {
    let mut requests = Vec::new();
    for i in 0..keys + gap * touches {
        for t in 0..touches {
            if let Some(key) = i.checked_sub(t * gap).filter(|&k| k < keys) {
                requests.push(key);
            }
        }
    }
    requests
}

/// `n` draws from Zipf(1) over `keys` keys numbered from `first`, from a seeded generator.
fn frequency_heavy(first: u32, keys: u32, n: usize, seed: u64) -> Vec<u32> {
    let weights: Vec<f64> = (1..=keys).map(|r| 1.0 / f64::from(r)).collect();
    let total: f64 = weights.iter().sum();
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let mut x = rng.next_f64() * total;
            let mut rank = 0;
            while rank + 1 < weights.len() && x >= weights[rank] {
                x -= weights[rank];
                rank += 1;
            }
            first + rank as u32
        })
        .collect()
}

#[test]
fn tinylfu_window_grows_on_recency_and_shrinks_on_frequency() {
    let capacity = 1000;
    let mut tiny = WTinyLfu::new(capacity, 1);
    let initial = tiny.window_capacity();
    assert!(initial <= 2, "starts at the minimum: {initial}");

    // Each key comes back three times, 100 new keys apart, and never again: the sketch cannot
    // tell these keys from one-hit wonders, only a large window keeps them, as LRU does.
    let recency = recency_heavy(3000, 100, 4);
    let mut resident = std::collections::HashSet::new();
    let hits = replay_from(&mut tiny, capacity, &recency, &mut resident);
    let grown = tiny.window_capacity();
    assert!(
        grown >= capacity / 3,
        "the window grew to {grown} of {capacity}"
    );
    let lru = replay(&mut Lru::new(true), capacity, &recency);
    assert!(hits * 10 >= lru * 7, "w-tinylfu {hits} hits vs lru {lru}");

    // Then a stationary workload whose every key is frequent: the keys main evicts come back,
    // the window's rejects are counted often and do not vote, so the window gives its room back.
    let mut rng = Rng::new(3);
    let frequent: Vec<u32> = (0..1_000_000)
        .map(|_| 100_000 + (rng.next_u64() % 1500) as u32)
        .collect();
    replay_from(&mut tiny, capacity, &frequent, &mut resident);
    let shrunk = tiny.window_capacity();
    assert!(
        shrunk * 10 <= grown,
        "the window shrank from {grown} to {shrunk} of {capacity}"
    );
}

#[test]
fn tinylfu_window_stays_small_on_frequency() {
    let mut tiny = WTinyLfu::new(100, 1);
    replay(&mut tiny, 100, &frequency_heavy(0, 1000, 200_000, 9));
    assert!(
        tiny.window_capacity() <= 10,
        "window at {} of 100",
        tiny.window_capacity()
    );
}

#[test]
fn tinylfu_admits_on_ties_only_rarely() {
    // Two keys that tie in the sketch: the candidate is rejected nearly always.
    let mut tiny = WTinyLfu::new(1_000_000, 5);
    let (mut admitted, trials) = (0, 10_000);
    for _ in 0..8 {
        tiny.sketch.increment(1);
        tiny.sketch.increment(2);
    }
    for _ in 0..trials {
        admitted += usize::from(tiny.admit(1, 2));
    }
    assert!(
        admitted > 0 && admitted < trials / 50,
        "{admitted} of {trials} ties admitted"
    );
}
