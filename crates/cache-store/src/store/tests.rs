use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::clock::ManualClock;

const T0: i64 = 1_700_000_000_000;

fn store_with(policy: PolicyKind, max_memory: usize, shards: usize) -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let config = StoreConfig {
        shards,
        max_memory,
        policy,
        hash_seed: Some(7),
        ..StoreConfig::default()
    };
    (Store::with_clock(config, clock.clone()), clock)
}

fn store() -> (Store, Arc<ManualClock>) {
    store_with(PolicyKind::Lru, 0, 4)
}

fn set(store: &Store, key: &str, value: &str) {
    store
        .set(key.as_bytes(), value.as_bytes(), SetOptions::default())
        .unwrap();
}

#[test]
fn set_get_delete() {
    let (s, _) = store();
    assert_eq!(s.get(b"k"), None);
    set(&s, "k", "v");
    assert_eq!(s.get(b"k").as_deref(), Some(&b"v"[..]));
    assert!(s.delete(b"k"));
    assert!(!s.delete(b"k"));
    assert_eq!(s.stats().hits, 1);
    assert_eq!(s.stats().misses, 1);
}

#[test]
fn binary_keys_and_values() {
    let (s, _) = store();
    let key = b"a\0b\r\nc".to_vec();
    let value: Vec<u8> = (0..=255).collect();
    s.set(&key, &value, SetOptions::default()).unwrap();
    assert_eq!(s.get(&key).as_deref(), Some(&value[..]));
    assert_eq!(s.strlen(&key), 256);
}

#[test]
fn conditions_and_old_values() {
    let (s, _) = store();
    let nx = SetOptions {
        condition: Some(SetCondition::IfAbsent),
        ..SetOptions::default()
    };
    let xx = SetOptions {
        condition: Some(SetCondition::IfPresent),
        ..SetOptions::default()
    };
    assert!(!s.set(b"k", b"1", xx).unwrap().written);
    assert!(s.set(b"k", b"1", nx).unwrap().written);
    assert!(!s.set(b"k", b"2", nx).unwrap().written);
    let get = SetOptions {
        return_old: true,
        ..xx
    };
    let out = s.set(b"k", b"3", get).unwrap();
    assert!(out.written);
    assert_eq!(out.old.as_deref(), Some(&b"1"[..]));
    assert_eq!(s.get(b"k").as_deref(), Some(&b"3"[..]));
}

#[test]
fn ttl_expires_lazily_and_actively() {
    let (s, clock) = store();
    let ex = SetOptions {
        expiry: ExpiryChange::At(T0 + 1000),
        ..SetOptions::default()
    };
    s.set(b"a", b"1", ex).unwrap();
    s.set(b"b", b"1", ex).unwrap();
    set(&s, "c", "1");
    assert_eq!(s.ttl(b"a"), KeyTtl::ExpiresAt(T0 + 1000));
    assert_eq!(s.ttl(b"c"), KeyTtl::Persistent);
    assert_eq!(s.ttl(b"zz"), KeyTtl::Missing);
    clock.advance(999);
    assert!(s.get(b"a").is_some());
    clock.advance(1);
    assert_eq!(s.get(b"a"), None, "lazy expiry at the exact millisecond");
    assert_eq!(s.len(), 2, "b is expired but not yet removed");
    assert_eq!(s.expire_cycle(100), 1);
    assert_eq!(s.len(), 1);
    assert_eq!(s.stats().expired, 2);
    assert_eq!(s.stats().expiring_items, 0);
}

#[test]
fn set_without_keepttl_clears_expiry_and_keepttl_keeps_it() {
    let (s, _) = store();
    s.set(
        b"k",
        b"1",
        SetOptions {
            expiry: ExpiryChange::At(T0 + 50),
            ..SetOptions::default()
        },
    )
    .unwrap();
    s.set(
        b"k",
        b"2",
        SetOptions {
            expiry: ExpiryChange::Keep,
            ..SetOptions::default()
        },
    )
    .unwrap();
    assert_eq!(s.ttl(b"k"), KeyTtl::ExpiresAt(T0 + 50));
    set(&s, "k", "3");
    assert_eq!(s.ttl(b"k"), KeyTtl::Persistent);
}

#[test]
fn set_with_past_expiry_leaves_no_key() {
    let (s, _) = store();
    set(&s, "k", "1");
    let out = s
        .set(
            b"k",
            b"2",
            SetOptions {
                expiry: ExpiryChange::At(T0 - 1),
                return_old: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(out.old.as_deref(), Some(&b"1"[..]));
    assert_eq!(s.get(b"k"), None);
    assert_eq!(s.used_memory(), 0);
}

#[test]
fn expire_conditions_follow_redis_7() {
    let (s, _) = store();
    set(&s, "k", "v");
    assert!(!s.expire(b"k", T0 + 100, Some(ExpireCondition::IfSome)));
    assert!(
        !s.expire(b"k", T0 + 100, Some(ExpireCondition::IfGreater)),
        "no ttl is infinite"
    );
    assert!(s.expire(b"k", T0 + 100, Some(ExpireCondition::IfLess)));
    assert!(!s.expire(b"k", T0 + 200, Some(ExpireCondition::IfNone)));
    assert!(s.expire(b"k", T0 + 200, Some(ExpireCondition::IfGreater)));
    assert!(!s.expire(b"k", T0 + 300, Some(ExpireCondition::IfLess)));
    assert_eq!(s.ttl(b"k"), KeyTtl::ExpiresAt(T0 + 200));
    assert!(s.persist(b"k"));
    assert!(!s.persist(b"k"));
    assert!(s.expire(b"k", T0, None), "a time not after now deletes");
    assert_eq!(s.get(b"k"), None);
    assert!(!s.expire(b"missing", T0 + 1, None));
}

#[test]
fn get_ex_changes_expiry() {
    let (s, _) = store();
    set(&s, "k", "v");
    assert!(s.get_ex(b"k", ExpiryChange::At(T0 + 10)).is_some());
    assert_eq!(s.ttl(b"k"), KeyTtl::ExpiresAt(T0 + 10));
    assert!(s.get_ex(b"k", ExpiryChange::Clear).is_some());
    assert_eq!(s.ttl(b"k"), KeyTtl::Persistent);
    assert!(s.get_ex(b"k", ExpiryChange::At(T0)).is_some());
    assert_eq!(s.get(b"k"), None);
    set(&s, "d", "x");
    assert_eq!(s.get_del(b"d").as_deref(), Some(&b"x"[..]));
    assert_eq!(s.get_del(b"d"), None);
}

#[test]
fn counters_are_redis_exact() {
    let (s, _) = store();
    assert_eq!(s.incr_by(b"n", 1), Ok(1));
    assert_eq!(s.incr_by(b"n", -11), Ok(-10));
    assert_eq!(s.get(b"n").as_deref(), Some(&b"-10"[..]));
    set(&s, "max", &i64::MAX.to_string());
    assert_eq!(s.incr_by(b"max", 1), Err(Error::Overflow));
    set(&s, "min", &i64::MIN.to_string());
    assert_eq!(s.incr_by(b"min", -1), Err(Error::Overflow));
    assert_eq!(s.incr_by(b"min", 0), Ok(i64::MIN));
    for bad in [
        "",
        " 1",
        "1 ",
        "+1",
        "01",
        "-0",
        "1.0",
        "abc",
        "99999999999999999999",
    ] {
        set(&s, "bad", bad);
        assert_eq!(s.incr_by(b"bad", 1), Err(Error::NotAnInteger), "{bad:?}");
    }
    set(&s, "z", "0");
    assert_eq!(s.incr_by(b"z", 5), Ok(5));
}

#[test]
fn incr_keeps_ttl() {
    let (s, _) = store();
    s.set(
        b"n",
        b"1",
        SetOptions {
            expiry: ExpiryChange::At(T0 + 5),
            ..Default::default()
        },
    )
    .unwrap();
    s.incr_by(b"n", 1).unwrap();
    assert_eq!(s.ttl(b"n"), KeyTtl::ExpiresAt(T0 + 5));
}

#[test]
fn float_counters() {
    let (s, _) = store();
    assert_eq!(
        s.incr_by_float(b"f", 10.5).unwrap(),
        Bytes::from_static(b"10.5")
    );
    assert_eq!(
        s.incr_by_float(b"f", 0.1).unwrap(),
        Bytes::from_static(b"10.6")
    );
    assert_eq!(
        s.incr_by_float(b"f", -10.6).unwrap(),
        Bytes::from_static(b"0")
    );
    set(&s, "e", "5.0e3");
    assert_eq!(
        s.incr_by_float(b"e", 2.0).unwrap(),
        Bytes::from_static(b"5002")
    );
    set(&s, "i", "3");
    assert_eq!(
        s.incr_by_float(b"i", 1.5).unwrap(),
        Bytes::from_static(b"4.5")
    );
    set(&s, "big", "1e308");
    assert_eq!(s.incr_by_float(b"big", 1e308), Err(Error::NanOrInfinity));
    for bad in ["abc", " 1", "nan", "inf", ""] {
        set(&s, "bad", bad);
        assert_eq!(
            s.incr_by_float(b"bad", 1.0),
            Err(Error::NotAFloat),
            "{bad:?}"
        );
    }
}

#[test]
fn append_and_strlen() {
    let (s, _) = store();
    assert_eq!(s.append(b"a", b"hello"), Ok(5));
    assert_eq!(s.append(b"a", b" world"), Ok(11));
    assert_eq!(s.get(b"a").as_deref(), Some(&b"hello world"[..]));
    assert_eq!(s.strlen(b"a"), 11);
    assert_eq!(s.strlen(b"none"), 0);
}

#[test]
fn value_limit_is_enforced() {
    let clock = Arc::new(ManualClock::new(T0));
    let config = StoreConfig {
        max_value_len: 8,
        ..StoreConfig::default()
    };
    let s = Store::with_clock(config, clock);
    assert_eq!(
        s.set(b"k", &[0; 9], SetOptions::default()),
        Err(Error::ValueTooLarge)
    );
    assert_eq!(s.append(b"k", &[0; 8]), Ok(8));
    assert_eq!(s.append(b"k", &[0; 1]), Err(Error::ValueTooLarge));
}

#[test]
fn set_many_is_all_or_nothing() {
    let (s, _) = store();
    let pairs: Vec<(&[u8], &[u8])> = vec![(b"a", b"1"), (b"b", b"2"), (b"c", b"3")];
    assert_eq!(s.set_many(&pairs, true), Ok(true));
    let more: Vec<(&[u8], &[u8])> = vec![(b"d", b"4"), (b"a", b"9")];
    assert_eq!(s.set_many(&more, true), Ok(false));
    assert_eq!(s.get(b"d"), None);
    assert_eq!(s.set_many(&more, false), Ok(true));
    assert_eq!(s.get(b"a").as_deref(), Some(&b"9"[..]));
    let twice: Vec<(&[u8], &[u8])> = vec![(b"x", b"1"), (b"x", b"2")];
    assert_eq!(s.set_many(&twice, false), Ok(true));
    assert_eq!(s.get(b"x").as_deref(), Some(&b"2"[..]));
    assert_eq!(s.len(), 5);
}

#[test]
fn memory_stays_within_budget_for_every_policy() {
    for policy in [PolicyKind::Lru, PolicyKind::Lfu, PolicyKind::WTinyLfu] {
        let budget = 64 * 1024;
        let (s, _) = store_with(policy, budget, 4);
        for i in 0..5000u32 {
            let value = vec![b'x'; (i % 200) as usize];
            s.set(&i.to_be_bytes(), &value, SetOptions::default())
                .unwrap();
            let biggest = entry_charge(4, 199, false);
            assert!(
                s.used_memory() <= budget + biggest,
                "{policy}: {} > {budget}",
                s.used_memory()
            );
        }
        let stats = s.stats();
        assert!(stats.evictions > 0, "{policy}");
        assert!(stats.items > 100, "{policy}: only {} items", stats.items);
        assert!(stats.used_memory <= budget, "{policy}");
    }
}

#[test]
fn noeviction_refuses_writes_past_the_budget() {
    let charge = entry_charge(1, 10, false);
    let (s, _) = store_with(PolicyKind::NoEviction, charge * 3, 1);
    for k in [b"a", b"b", b"c"] {
        s.set(k, &[0; 10], SetOptions::default()).unwrap();
    }
    assert_eq!(
        s.set(b"d", &[0; 10], SetOptions::default()),
        Err(Error::OutOfMemory)
    );
    assert_eq!(s.incr_by(b"e", 1), Err(Error::OutOfMemory));
    assert!(
        s.set(b"a", &[1; 10], SetOptions::default()).is_ok(),
        "same size overwrite fits"
    );
    assert!(s.delete(b"a"));
    assert!(s.set(b"d", &[0; 10], SetOptions::default()).is_ok());
    assert_eq!(s.stats().evictions, 0);
}

#[test]
fn lru_evicts_least_recently_used() {
    let charge = entry_charge(1, 1, false);
    let (s, _) = store_with(PolicyKind::Lru, charge * 3, 1);
    set(&s, "a", "1");
    set(&s, "b", "1");
    set(&s, "c", "1");
    s.get(b"a");
    set(&s, "d", "1");
    assert!(s.get(b"b").is_none());
    assert!(s.get(b"a").is_some() && s.get(b"c").is_some() && s.get(b"d").is_some());
}

#[test]
fn policy_swap_keeps_every_entry() {
    let (s, _) = store_with(PolicyKind::Lru, 1 << 20, 4);
    for i in 0..2000u32 {
        s.set(&i.to_be_bytes(), b"value", SetOptions::default())
            .unwrap();
    }
    let before = s.len();
    for policy in [
        PolicyKind::Lfu,
        PolicyKind::WTinyLfu,
        PolicyKind::NoEviction,
        PolicyKind::Lru,
    ] {
        s.set_policy(policy);
        assert_eq!(s.policy(), policy);
        assert_eq!(s.len(), before, "{policy}");
        for i in 0..2000u32 {
            assert!(s.get(&i.to_be_bytes()).is_some(), "{policy} lost {i}");
        }
    }
}

#[test]
fn shrinking_the_budget_evicts_at_once() {
    let (s, _) = store_with(PolicyKind::WTinyLfu, 0, 4);
    for i in 0..1000u32 {
        s.set(&i.to_be_bytes(), &[0; 100], SetOptions::default())
            .unwrap();
    }
    s.set_max_memory(20_000);
    assert!(s.used_memory() <= 20_000);
    assert!(s.len() > 50);
}

#[test]
fn scan_visits_every_key_once() {
    let (s, _) = store();
    for i in 0..1000u32 {
        s.set(format!("key:{i}").as_bytes(), b"v", SetOptions::default())
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = 0;
    loop {
        cursor = s.scan(cursor, 37, |k| seen.push(k.to_vec()));
        if cursor == 0 {
            break;
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 1000);
    let mut all = 0;
    s.for_each_key(|_| all += 1);
    assert_eq!(all, 1000);
    assert!(s.random_key().is_some());
    s.flush();
    assert_eq!(s.len(), 0);
    assert_eq!(s.used_memory(), 0);
    assert_eq!(s.random_key(), None);
}

#[derive(Debug, Clone)]
enum Op {
    Set(u8, Vec<u8>, Option<i64>),
    Get(u8),
    Del(u8),
    Incr(u8, i64),
    Append(u8, Vec<u8>),
    Expire(u8, i64),
    Persist(u8),
    Advance(i64),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..24;
    let value = proptest::collection::vec(any::<u8>(), 0..40);
    prop_oneof![
        (key.clone(), value.clone(), proptest::option::of(1i64..50))
            .prop_map(|(k, v, t)| Op::Set(k, v, t)),
        key.clone().prop_map(Op::Get),
        key.clone().prop_map(Op::Del),
        (key.clone(), -5i64..5).prop_map(|(k, d)| Op::Incr(k, d)),
        (key.clone(), value).prop_map(|(k, v)| Op::Append(k, v)),
        (key.clone(), -5i64..50).prop_map(|(k, t)| Op::Expire(k, t)),
        key.prop_map(Op::Persist),
        (0i64..20).prop_map(Op::Advance),
    ]
}

proptest! {
    /// Without a budget the store behaves exactly like a map with expiry times.
    #[test]
    fn matches_a_simple_model(ops in proptest::collection::vec(op(), 1..200)) {
        let (s, clock) = store();
        let mut model: BTreeMap<u8, (Vec<u8>, Option<i64>)> = BTreeMap::new();
        for op in ops {
            let now = clock.now_ms();
            model.retain(|_, (_, at)| at.is_none_or(|at| at > now));
            match op {
                Op::Set(k, v, ttl) => {
                    let expiry = ttl.map_or(ExpiryChange::Clear, |t| ExpiryChange::At(now + t));
                    s.set(&[k], &v, SetOptions { expiry, ..Default::default() }).unwrap();
                    model.insert(k, (v, ttl.map(|t| now + t)));
                }
                Op::Get(k) => {
                    prop_assert_eq!(s.get(&[k]).map(|b| b.to_vec()), model.get(&k).map(|e| e.0.clone()));
                }
                Op::Del(k) => prop_assert_eq!(s.delete(&[k]), model.remove(&k).is_some()),
                Op::Incr(k, d) => {
                    let expected = match model.get(&k) {
                        None => Ok(d),
                        Some((v, _)) => std::str::from_utf8(v).ok()
                            .and_then(|t| parse_i64(t.as_bytes()))
                            .ok_or(Error::NotAnInteger)
                            .and_then(|n| n.checked_add(d).ok_or(Error::Overflow)),
                    };
                    prop_assert_eq!(s.incr_by(&[k], d), expected);
                    if let Ok(n) = expected {
                        let at = model.get(&k).and_then(|e| e.1);
                        model.insert(k, (n.to_string().into_bytes(), at));
                    }
                }
                Op::Append(k, v) => {
                    let entry = model.entry(k).or_insert((Vec::new(), None));
                    entry.0.extend_from_slice(&v);
                    prop_assert_eq!(s.append(&[k], &v), Ok(entry.0.len()));
                }
                Op::Expire(k, t) => {
                    let present = model.contains_key(&k);
                    prop_assert_eq!(s.expire(&[k], now + t, None), present);
                    if t <= 0 {
                        model.remove(&k);
                    } else if let Some(e) = model.get_mut(&k) {
                        e.1 = Some(now + t);
                    }
                }
                Op::Persist(k) => {
                    let had = model.get_mut(&k).and_then(|e| e.1.take()).is_some();
                    prop_assert_eq!(s.persist(&[k]), had);
                }
                Op::Advance(ms) => clock.advance(ms),
            }
            let now = clock.now_ms();
            s.expire_cycle(usize::MAX);
            model.retain(|_, (_, at)| at.is_none_or(|at| at > now));
            prop_assert_eq!(s.len(), model.len());
            let charged: usize = model.iter().map(|(_, (v, at))| entry_charge(1, v.len(), at.is_some())).sum();
            prop_assert_eq!(s.used_memory(), charged);
        }
    }

    /// Under a budget, every policy keeps memory within one entry of it and loses only what it
    /// evicted.
    #[test]
    fn budget_holds_under_random_load(
        policy in prop_oneof![Just(PolicyKind::Lru), Just(PolicyKind::Lfu), Just(PolicyKind::WTinyLfu)],
        ops in proptest::collection::vec((0u16..300, 0usize..120, any::<bool>()), 1..400),
    ) {
        let budget = 4096;
        let (s, _) = store_with(policy, budget, 2);
        for (k, len, read) in ops {
            if read {
                s.get(&k.to_be_bytes());
            } else {
                s.set(&k.to_be_bytes(), &vec![1; len], SetOptions::default()).unwrap();
            }
            prop_assert!(s.used_memory() <= budget);
        }
        let stats = s.stats();
        let mut live = 0;
        s.for_each_key(|_| live += 1);
        prop_assert_eq!(stats.items, live);
    }
}

mod journal {
    use std::sync::Arc;

    use parking_lot::Mutex;

    use crate::{
        Change, EvictionSink, ExpiryChange, Journal, PolicyKind, SetOptions, Store, StoreConfig,
    };

    #[derive(Debug, Default)]
    struct Recorded(Mutex<Vec<String>>);

    impl Journal for Recorded {
        fn record(&self, change: Change<'_>) {
            let text = match change {
                Change::Set {
                    key,
                    value,
                    expires_at,
                } => format!(
                    "set {} {} {expires_at:?}",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(value)
                ),
                Change::Delete { key } => format!("del {}", String::from_utf8_lossy(key)),
                Change::Expire { key, at } => {
                    format!("expire {} {at:?}", String::from_utf8_lossy(key))
                }
                Change::Flush => "flush".to_owned(),
            };
            self.0.lock().push(text);
        }
    }

    #[test]
    fn changes_are_journaled_as_their_effects() {
        let store = Store::new(StoreConfig::default());
        let journal = Arc::new(Recorded::default());
        store
            .attach_journal(journal.clone())
            .expect("first journal");
        let at = store.now_ms() + 60_000;
        store.set(b"a", b"1", SetOptions::default()).expect("set");
        store.incr_by(b"a", 2).expect("incr");
        store.append(b"a", b"x").expect("append");
        store.expire(b"a", at, None);
        store.persist(b"a");
        store
            .set(
                b"b",
                b"v",
                SetOptions {
                    expiry: ExpiryChange::At(at),
                    ..SetOptions::default()
                },
            )
            .expect("set");
        store.expire(b"b", 1, None);
        store.delete(b"missing");
        store.flush();
        assert_eq!(
            *journal.0.lock(),
            vec![
                "set a 1 None".to_owned(),
                "set a 3 None".to_owned(),
                "set a 3x None".to_owned(),
                format!("expire a Some({at})"),
                "expire a None".to_owned(),
                format!("set b v Some({at})"),
                "del b".to_owned(),
                "flush".to_owned(),
            ]
        );
        assert!(
            store.attach_journal(journal).is_err(),
            "one journal per store"
        );
    }

    /// Key, value and expiry of an evicted entry.
    type Entry = (Vec<u8>, Vec<u8>, Option<i64>);

    /// Keeps what it is handed; refuses the keys in `.1`.
    #[derive(Debug, Default)]
    struct Evicted(Mutex<Vec<Entry>>, Mutex<Vec<Vec<u8>>>);

    impl EvictionSink for Evicted {
        fn evicted(&self, key: &[u8], value: &[u8], expires_at: Option<i64>) {
            self.0
                .lock()
                .push((key.to_vec(), value.to_vec(), expires_at));
        }

        fn may_evict(&self, key: &[u8]) -> bool {
            !self.1.lock().iter().any(|k| k == key)
        }
    }

    #[test]
    fn a_key_the_sink_refuses_is_kept_and_another_evicted() {
        for policy in [PolicyKind::Lru, PolicyKind::Lfu, PolicyKind::WTinyLfu] {
            let store = Store::new(StoreConfig {
                shards: 1,
                policy,
                ..StoreConfig::default()
            });
            let sink = Arc::new(Evicted::default());
            store
                .attach_eviction_sink(sink.clone())
                .expect("first sink");
            for key in [&b"a"[..], b"b", b"c"] {
                store.set(key, b"v", SetOptions::default()).expect("set");
            }
            let full = store.used_memory();
            *sink.1.lock() = vec![b"a".to_vec(), b"b".to_vec()];
            store.set_max_memory(full - 1);
            assert!(store.exists(b"a"), "{policy}: a refused key stays");
            assert!(store.exists(b"b"), "{policy}: a refused key stays");
            assert!(!store.exists(b"c"), "{policy}: the one allowed goes");
            // Every key refused: the store stays over budget rather than spin.
            *sink.1.lock() = vec![b"a".to_vec(), b"b".to_vec(), b"x".to_vec()];
            store.set(b"x", b"v", SetOptions::default()).expect("set");
            assert_eq!(store.len(), 3, "{policy}");
            assert!(store.used_memory() > store.max_memory(), "{policy}");
            assert_eq!(sink.0.lock().len(), 1, "{policy}");
        }
    }

    #[test]
    fn an_eviction_is_journaled_as_a_delete_and_handed_to_the_sink() {
        let store = Store::new(StoreConfig {
            shards: 1,
            policy: PolicyKind::Lru,
            ..StoreConfig::default()
        });
        let journal = Arc::new(Recorded::default());
        let sink = Arc::new(Evicted::default());
        store
            .attach_journal(journal.clone())
            .expect("first journal");
        store
            .attach_eviction_sink(sink.clone())
            .expect("first sink");
        let at = store.now_ms() + 60_000;
        store
            .set(
                b"old",
                b"1",
                SetOptions {
                    expiry: ExpiryChange::At(at),
                    ..SetOptions::default()
                },
            )
            .expect("set");
        store.set(b"new", b"2", SetOptions::default()).expect("set");
        // Room for one entry only: "old" (least recently used) goes.
        store.set_max_memory(store.used_memory() - 1);
        assert_eq!(store.get(b"old"), None);
        assert_eq!(
            *sink.0.lock(),
            vec![(b"old".to_vec(), b"1".to_vec(), Some(at))]
        );
        assert_eq!(
            journal.0.lock().last().map(String::as_str),
            Some("del old"),
            "replay must not bring an evicted key back"
        );
    }
}
