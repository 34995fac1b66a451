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
    let mut resident = std::collections::HashSet::new();
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
            let victim = policy.victim(&Uniform).expect("a full policy names a victim");
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
    let mut tiny = WTinyLfu::new(100);
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
