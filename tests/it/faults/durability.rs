//! Acknowledged writes through the proxy across a `kill -9` of a persistent node.

use super::*;

/// What one writer through the proxy saw for each of its keys `w{id}:{n}` (value `n`).
#[derive(Debug, Default)]
struct Writes {
    /// When each acknowledged write was acknowledged.
    acknowledged: Vec<(u64, Instant)>,
    unexpected: Vec<String>,
}

fn write_until(url: &str, id: usize, stop: &AtomicBool, requests: &AtomicU64) -> Writes {
    let mut writes = Writes::default();
    let mut con = match connect_url(url) {
        Ok(con) => con,
        Err(e) => {
            writes.unexpected.push(e.to_string());
            return writes;
        }
    };
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        match redis::cmd("SET")
            .arg(format!("w{id}:{n}"))
            .arg(n)
            .query::<()>(&mut con)
        {
            Ok(()) => writes.acknowledged.push((n, Instant::now())),
            Err(e) if is_unavailable(&error_text(&e)) => {}
            Err(e) => {
                writes.unexpected.push(error_text(&e));
                break;
            }
        }
        requests.fetch_add(1, Ordering::Relaxed);
        n += 1;
    }
    writes
}

/// Writers through the proxy while node 0, persisting with `fsync`, is killed with `kill -9`;
/// then node 0 is started again on its directory, away from the proxy (which would flush it),
/// and every acknowledged write is looked for. Returns the acknowledged writes lost, each with
/// how long before the kill it was acknowledged.
fn killed_under_writes(fsync: &str) -> anyhow::Result<Vec<Duration>> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let data = data.to_str().context("utf-8 path")?;
    let persistent = ["--dir", data, "--appendfsync", fsync];
    let mut cluster = Cluster::start("remap", false, &persistent)?;
    let name = cluster.names[0].clone();
    let mut con = cluster.client()?;
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let writers: Vec<JoinHandle<Writes>> = (0..3)
        .map(|id| {
            let (url, stop, requests) = (cluster.proxy.url(), stop.clone(), requests.clone());
            std::thread::spawn(move || write_until(&url, id, &stop, &requests))
        })
        .collect();
    let progress = |count: u64| {
        let until = requests.load(Ordering::Relaxed) + count;
        eventually(Duration::from_secs(20), || {
            Ok((requests.load(Ordering::Relaxed) >= until).then_some(()))
        })
    };
    let finish = |writers: Vec<JoinHandle<Writes>>| {
        stop.store(true, Ordering::Relaxed);
        writers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect::<Vec<Writes>>()
    };
    if let Err(error) = progress(300) {
        finish(writers);
        return Err(error);
    }
    cluster.nodes.remove(0).kill();
    let killed = Instant::now();
    let outcome = wait_routable(&mut con, &name, false).and_then(|_| progress(300));
    let writes = finish(writers);
    outcome?;

    let restarted = NodeProcess::start(&persistent)?;
    let mut direct = vec![connect(&restarted)?];
    for node in &cluster.nodes {
        direct.push(connect(node)?);
    }
    let mut lost = Vec::new();
    let mut on_restarted = 0;
    for (id, writes) in writes.iter().enumerate() {
        ensure!(
            writes.unexpected.is_empty(),
            "writer {id}: {:?}",
            writes.unexpected
        );
        for &(n, at) in &writes.acknowledged {
            let key = format!("w{id}:{n}");
            let mut found = None;
            for (index, con) in direct.iter_mut().enumerate() {
                let value: Option<u64> = redis::cmd("GET").arg(&key).query(con)?;
                if let Some(value) = value {
                    ensure!(value == n, "{key} holds {value}");
                    found = Some(index);
                }
            }
            let owner = cluster.owner(&key)?;
            match found {
                Some(0) => on_restarted += 1,
                Some(_) => {}
                None if owner == 0 && at < killed => lost.push(killed - at),
                None => bail!("{key}, acknowledged by a node that did not fail, is gone"),
            }
        }
    }
    ensure!(
        on_restarted > 0,
        "no acknowledged write reached the killed node"
    );
    let acknowledged: usize = writes.iter().map(|w| w.acknowledged.len()).sum();
    eprintln!(
        "appendfsync {fsync}, kill -9 under writes through the proxy: {acknowledged} acknowledged, {on_restarted} on the killed node after its restart, {} lost (acknowledged at most {:?} before the kill)",
        lost.len(),
        lost.iter().max()
    );
    Ok(lost)
}

#[test]
fn writes_acknowledged_through_the_proxy_survive_kill_minus_nine_with_always() -> anyhow::Result<()>
{
    let lost = killed_under_writes("always")?;
    assert!(lost.is_empty(), "{} acknowledged writes lost", lost.len());
    Ok(())
}

#[test]
fn with_everysec_kill_minus_nine_loses_at_most_the_unwritten_batch() -> anyhow::Result<()> {
    let lost = killed_under_writes("everysec")?;
    // A killed process leaves what it wrote in the page cache: only the batch not yet handed
    // to the kernel (2 ms by default) can be lost, far from the second a machine crash may cost.
    let window = Duration::from_millis(500);
    assert!(
        lost.iter().all(|&before| before < window),
        "acknowledged writes lost from up to {:?} before the kill",
        lost.iter().max()
    );
    Ok(())
}
