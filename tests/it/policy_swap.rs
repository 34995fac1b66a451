//! Swapping the eviction policy while clients hammer the node: no command fails, and with no
//! memory limit no key is lost.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::cmd;

use crate::support::{Rng, connect, start};

const POLICIES: [&str; 4] = ["allkeys-lru", "allkeys-lfu", "w-tinylfu", "noeviction"];

fn value_of(i: usize) -> String {
    format!("value-{i}-{}", "z".repeat(i % 97))
}

#[test]
fn swapping_policies_under_load_loses_nothing() -> anyhow::Result<()> {
    let (node, mut admin) = start(&[])?;
    let written = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let record = |errors: &Mutex<Vec<String>>, what: String| {
        if let Ok(mut list) = errors.lock() {
            list.push(what);
        }
    };

    let writer = {
        let mut con = connect(&node)?;
        let (written, stop, errors) = (written.clone(), stop.clone(), errors.clone());
        std::thread::spawn(move || {
            let mut next = 0usize;
            while !stop.load(Ordering::Relaxed) {
                // SET a batch, then read each key back in the same pipeline.
                let mut pipe = redis::pipe();
                for i in next..next + 50 {
                    pipe.cmd("SET")
                        .arg(format!("swap:{i}"))
                        .arg(value_of(i))
                        .ignore();
                }
                for i in next..next + 50 {
                    pipe.cmd("GET").arg(format!("swap:{i}"));
                }
                match pipe.query::<Vec<Option<String>>>(&mut con) {
                    Ok(values) => {
                        for (offset, value) in values.into_iter().enumerate() {
                            let i = next + offset;
                            if value.as_deref() != Some(value_of(i).as_str()) {
                                record(&errors, format!("writer read back swap:{i} as {value:?}"));
                            }
                        }
                    }
                    Err(e) => record(&errors, format!("writer: {e}")),
                }
                next += 50;
                written.store(next, Ordering::Release);
            }
        })
    };

    let reader = {
        let mut con = connect(&node)?;
        let (written, stop, errors) = (written.clone(), stop.clone(), errors.clone());
        std::thread::spawn(move || {
            let mut rng = Rng::new(7);
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let upto = written.load(Ordering::Acquire);
                if upto == 0 {
                    std::thread::yield_now();
                    continue;
                }
                let i = (rng.next_u64() % upto as u64) as usize;
                match cmd("GET")
                    .arg(format!("swap:{i}"))
                    .query::<Option<String>>(&mut con)
                {
                    Ok(value) if value.as_deref() == Some(value_of(i).as_str()) => reads += 1,
                    Ok(value) => record(&errors, format!("reader got swap:{i} = {value:?}")),
                    Err(e) => record(&errors, format!("reader: {e}")),
                }
            }
            reads
        })
    };

    // Swap through every policy, several rounds, while the load runs.
    let started = Instant::now();
    let mut swaps = 0;
    while swaps < 40 || written.load(Ordering::Acquire) < 2_000 {
        let policy = POLICIES[swaps % POLICIES.len()];
        let reply = cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory-policy")
            .arg(policy)
            .query::<String>(&mut admin);
        if let Err(e) = reply {
            record(
                &errors,
                format!("CONFIG SET maxmemory-policy {policy}: {e}"),
            );
        }
        swaps += 1;
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the load made no progress"
        );
    }
    stop.store(true, Ordering::Relaxed);
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("the writer thread panicked"))?;
    let reads = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader thread panicked"))?;

    let errors = errors
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    assert!(
        errors.is_empty(),
        "{} failures, first ones: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert!(reads > 0, "the reader never read");

    // Every key written is still there, with its value.
    let total = written.load(Ordering::Acquire);
    assert_eq!(cmd("DBSIZE").query::<usize>(&mut admin)?, total);
    for chunk_start in (0..total).step_by(1000) {
        let keys: Vec<String> = (chunk_start..(chunk_start + 1000).min(total))
            .map(|i| format!("swap:{i}"))
            .collect();
        let values: Vec<Option<String>> = cmd("MGET").arg(&keys).query(&mut admin)?;
        for (offset, value) in values.iter().enumerate() {
            let i = chunk_start + offset;
            assert_eq!(
                value.as_deref(),
                Some(value_of(i).as_str()),
                "swap:{i} after the swaps"
            );
        }
    }
    let policy: Vec<String> = cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory-policy")
        .query(&mut admin)?;
    assert_eq!(policy[1], POLICIES[(swaps - 1) % POLICIES.len()]);
    Ok(())
}

#[test]
fn swapping_policies_while_full_keeps_the_budget() -> anyhow::Result<()> {
    let (node, mut admin) = start(&["--maxmemory", "1mb", "--maxmemory-policy", "allkeys-lru"])?;
    let mut con = connect(&node)?;
    let value = vec![b'v'; 2048];
    for round in 0..12 {
        let policy = POLICIES[round % 3]; // the evicting ones
        cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory-policy")
            .arg(policy)
            .exec(&mut admin)?;
        let mut pipe = redis::pipe();
        for i in 0..300 {
            pipe.cmd("SET")
                .arg(format!("full:{round}:{i}"))
                .arg(&value)
                .ignore();
        }
        pipe.exec(&mut con)?;
        let used = crate::support::info_number(&mut admin, "memory", "used_memory")?;
        assert!(
            used <= (1 << 20) + 2048 + 128,
            "round {round} ({policy}): used_memory {used}"
        );
    }
    Ok(())
}
