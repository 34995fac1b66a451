//! The probe loop: one task per watched node, probing on the detector's schedule.
//!
//! The loop owns no routing decision. It feeds probe results to the node's [`Monitor`] and
//! hands every [`Event`] to the caller's handler, which decides what routing does (the proxy
//! flushes a rejoining node before routing to it). The data path reports its own failures
//! through [`Monitor::request_failed`], which wakes the loop for an immediate probe.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{Notify, watch};

use crate::{DetectorConfig, Event, FailureDetector, NodeHealth, State};

/// Asks one node how it is.
pub trait Prober: Send + Sync + 'static {
    /// One probe; `Err` carries a reason for the log.
    fn probe(&self) -> impl Future<Output = Result<NodeHealth, String>> + Send;
}

/// The shared health view of one node: its detector and its last report.
#[derive(Debug)]
pub struct Monitor {
    detector: Mutex<FailureDetector>,
    last: Mutex<Option<NodeHealth>>,
    wake: Notify,
}

impl Monitor {
    /// A monitor whose first probe is due now.
    pub fn new(config: DetectorConfig) -> Monitor {
        Monitor {
            detector: Mutex::new(FailureDetector::new(config, Instant::now())),
            last: Mutex::new(None),
            wake: Notify::new(),
        }
    }

    /// The detector's state.
    pub fn state(&self) -> State {
        self.detector.lock().state()
    }

    /// The last successful probe's report.
    pub fn last_health(&self) -> Option<NodeHealth> {
        self.last.lock().clone()
    }

    /// The flap penalty now.
    pub fn penalty(&self) -> f64 {
        self.detector.lock().penalty(Instant::now())
    }

    /// The data path saw a failure: suspect the node and probe it at once.
    pub fn request_failed(&self) -> Option<Event> {
        let event = self.detector.lock().request_failed(Instant::now());
        self.wake.notify_one();
        event
    }

    /// Takes the node Down (for example when flushing it on rejoin failed), so it must pass
    /// probes and rejoin again.
    pub fn force_down(&self) -> Option<Event> {
        let mut detector = self.detector.lock();
        let now = Instant::now();
        let mut event = None;
        while detector.state() != State::Down {
            event = detector.probe_failed(now).or(event);
        }
        event
    }
}

/// Probes until `shutdown` flips, calling `on_event` with every event (awaited before the next
/// probe, so a handler may flush a node before anything else happens to it).
pub async fn probe_loop<P, F, Fut>(
    monitor: Arc<Monitor>,
    prober: P,
    timeout: Duration,
    mut on_event: F,
    mut shutdown: watch::Receiver<bool>,
) where
    P: Prober,
    F: FnMut(Event) -> Fut + Send,
    Fut: Future<Output = ()> + Send,
{
    loop {
        let due = monitor.detector.lock().next_probe();
        let wait = due.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = monitor.wake.notified() => continue,
                _ = shutdown.changed() => return,
            }
        }
        let result = tokio::select! {
            r = tokio::time::timeout(timeout, prober.probe()) => r,
            _ = shutdown.changed() => return,
        };
        let event = match result {
            Ok(Ok(health)) => {
                let event = monitor
                    .detector
                    .lock()
                    .probe_succeeded(Instant::now(), &health.generation);
                *monitor.last.lock() = Some(health);
                event
            }
            Ok(Err(reason)) => {
                tracing::trace!(%reason, "probe failed");
                monitor.detector.lock().probe_failed(Instant::now())
            }
            Err(_) => {
                tracing::trace!("probe timed out");
                monitor.detector.lock().probe_failed(Instant::now())
            }
        };
        if let Some(event) = event {
            on_event(event).await;
        }
    }
}
