//! The churn: a schedule of disturbances spread over the run, carried out one at a time on
//! their own thread while the load goes on.
//!
//! Each disturbance opens a churn window (the shared `churn_until` is `u64::MAX`) and closes
//! it when the proxy again lists exactly the intended members, all routable, plus a grace of
//! two proxy timeouts for the requests that were in flight. Within the window the proxy's
//! documented "unavailable" replies are expected; outside it nothing is.

use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use super::cluster::{self, Cluster, PROXY_TIMEOUT_MS, Via};
use super::load::Shared;

/// After a disturbance settles, errors of requests still in flight are expected this long.
pub const GRACE_MS: u64 = 2 * PROXY_TIMEOUT_MS;
/// A disturbance the proxy has not settled after this long fails the run.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);
/// How long a killed node stays dead, and a stopped one stopped.
const DEAD_FOR: Duration = Duration::from_secs(2);
const PAUSED_FOR: Duration = Duration::from_secs(4);
/// Longest spacing of disturbances.
const SPACING_MAX: f64 = 30.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `kill -9` a node, then start it again on the same port.
    Kill(usize),
    /// `SIGSTOP` a node, then `SIGCONT`.
    Pause(usize),
    /// Start a new node and make it a member.
    Add(Via),
    /// Remove the newest added node from the members, then stop it.
    Remove(Via),
}

/// A logged moment of the churn.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Seconds since the load began.
    pub at: f64,
    pub text: String,
}

/// The disturbances of a run of `seconds` over `nodes` nodes: from a tenth of the run to
/// 85% of it, at most [`SPACING_MAX`] apart and at least one full cycle (kill, pause, add,
/// remove), rotating over the nodes; the membership changes alternate between a config
/// reload and the admin command.
pub fn schedule(seconds: f64, nodes: usize) -> Vec<(f64, Action)> {
    let spacing = SPACING_MAX.min(seconds * 0.8 / 4.0);
    let nodes = nodes.max(1);
    let mut plan = Vec::new();
    let mut at = seconds * 0.1;
    let mut k = 0usize;
    while at <= seconds * 0.85 && spacing > 0.0 {
        let cycle = k / 4;
        let via = if cycle.is_multiple_of(2) {
            Via::Reload
        } else {
            Via::Admin
        };
        plan.push((
            at,
            match k % 4 {
                0 => Action::Kill(cycle % nodes),
                1 => Action::Pause((cycle + 1) % nodes),
                2 => Action::Add(via),
                _ => Action::Remove(via),
            },
        ));
        k += 1;
        at += spacing;
    }
    plan
}

/// Carries out `plan` until it ends or the run stops; what goes wrong is a finding.
pub fn run(
    cluster: &Mutex<Cluster>,
    shared: &Shared,
    plan: &[(f64, Action)],
    events: &Mutex<Vec<Event>>,
) {
    let churn = Churn {
        cluster,
        shared,
        events,
    };
    for (at, action) in plan {
        if !churn.sleep_until(*at) {
            return;
        }
        shared.churn_until.store(u64::MAX, Ordering::SeqCst);
        let outcome = churn.perform(*action);
        shared
            .churn_until
            .store(shared.now_ms() + GRACE_MS, Ordering::SeqCst);
        match outcome {
            Ok(()) => churn.log("settled".to_owned()),
            Err(error) => {
                churn.log(format!("{action:?} failed: {error:#}"));
                shared.finding(format!("churn {action:?}: {error:#}"));
            }
        }
    }
}

struct Churn<'a> {
    cluster: &'a Mutex<Cluster>,
    shared: &'a Shared,
    events: &'a Mutex<Vec<Event>>,
}

impl Churn<'_> {
    fn lock(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log(&self, text: String) {
        let at = self.shared.seconds();
        println!("  [{at:7.1} s] {text}");
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events.push(Event { at, text });
    }

    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed)
    }

    /// Sleeps until `at` seconds into the load; false if the run stopped first.
    fn sleep_until(&self, at: f64) -> bool {
        while self.shared.seconds() < at {
            if self.stopping() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        !self.stopping()
    }

    fn pause_for(&self, span: Duration) {
        let end = Instant::now() + span;
        while Instant::now() < end && !self.stopping() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn perform(&self, action: Action) -> anyhow::Result<()> {
        match action {
            Action::Kill(i) => {
                let (name, pid) = {
                    let mut cluster = self.lock();
                    (cluster.nodes[i].name.clone(), cluster.kill(i)?)
                };
                self.log(format!("kill -9 {name} (pid {pid})"));
                self.pause_for(DEAD_FOR);
                let pid = self.lock().restart(i)?;
                self.log(format!("{name} restarted on the same port (pid {pid})"));
                self.settle()
            }
            Action::Pause(i) => {
                let (name, pid) = {
                    let mut cluster = self.lock();
                    (cluster.nodes[i].name.clone(), cluster.pause(i, true)?)
                };
                self.log(format!("SIGSTOP {name} (pid {pid})"));
                self.pause_for(PAUSED_FOR);
                self.lock().pause(i, false)?;
                self.log(format!("SIGCONT {name}"));
                self.settle()
            }
            Action::Add(via) => {
                let (name, port) = {
                    let mut cluster = self.lock();
                    let i = cluster.add()?;
                    cluster.membership(i, true, via)?;
                    (cluster.nodes[i].name.clone(), cluster.nodes[i].port)
                };
                self.log(format!("added {name} (port {port}) by {via:?}"));
                self.settle()
            }
            Action::Remove(via) => {
                let removed = {
                    let mut cluster = self.lock();
                    // Only nodes the churn added are removed, so the run keeps its size.
                    let newest = cluster.nodes.iter().rposition(|n| n.member && n.added);
                    match newest {
                        Some(i) => {
                            cluster.membership(i, false, via)?;
                            Some(cluster.nodes[i].name.clone())
                        }
                        _ => None,
                    }
                };
                let Some(name) = removed else {
                    self.log("no added node to remove".to_owned());
                    return Ok(());
                };
                self.log(format!("removed {name} from the ring by {via:?}"));
                self.settle()?;
                // Requests routed to it by the old ring finish before it goes.
                self.pause_for(Duration::from_millis(GRACE_MS));
                let mut cluster = self.lock();
                if let Some(i) = cluster.nodes.iter().position(|n| n.name == name) {
                    cluster.retire(i);
                }
                drop(cluster);
                self.log(format!("stopped {name}"));
                Ok(())
            }
        }
    }

    /// Waits until the proxy lists exactly the members, all routable.
    fn settle(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let (port, members) = {
                let cluster = self.lock();
                (cluster.proxy_port, cluster.member_ports())
            };
            let lines = cluster::proxy_nodes(port).context("while waiting for the nodes")?;
            if cluster::routable(&lines, &members) {
                self.log(format!(
                    "all {} nodes routable after {:.1} s",
                    members.len(),
                    started.elapsed().as_secs_f64()
                ));
                return Ok(());
            }
            if self.stopping() {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < SETTLE_LIMIT,
                "the proxy did not settle within {} s: {lines:?}",
                SETTLE_LIMIT.as_secs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_run_gets_one_full_cycle() {
        let plan = schedule(90.0, 3);
        let actions: Vec<Action> = plan.iter().map(|(_, a)| *a).collect();
        assert_eq!(
            actions,
            [
                Action::Kill(0),
                Action::Pause(1),
                Action::Add(Via::Reload),
                Action::Remove(Via::Reload)
            ]
        );
        assert!(plan.first().unwrap().0 >= 9.0);
        assert!(plan.last().unwrap().0 <= 90.0 * 0.85);
    }

    #[test]
    fn a_long_run_rotates_nodes_and_ways_of_telling_the_proxy() {
        let plan = schedule(600.0, 3);
        assert_eq!(plan.len(), 16);
        assert!(plan.windows(2).all(|w| w[1].0 - w[0].0 == SPACING_MAX));
        let kills: Vec<Action> = plan
            .iter()
            .filter(|(_, a)| matches!(a, Action::Kill(_)))
            .map(|(_, a)| *a)
            .collect();
        assert_eq!(
            kills,
            [
                Action::Kill(0),
                Action::Kill(1),
                Action::Kill(2),
                Action::Kill(0)
            ]
        );
        assert!(plan.contains(&(plan[6].0, Action::Add(Via::Admin))));
        assert!(schedule(0.0, 3).is_empty());
    }
}
