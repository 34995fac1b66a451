//! The failure detector: a pure state machine per node, driven by probe results and the
//! failures the data path sees, with time passed in.
//!
//! ```text
//!            failure                 `fall` failures in a row
//!   Up ──────────────────▶ Suspect ─────────────────────────▶ Down
//!   ▲  ◀──────────────────    │                                 │
//!   │        success          │                                 │ probes back off
//!   └──────────────────────────────────────────────────────────┘ `min_backoff`..`max_backoff`
//!     `rise` successes in a row, and the flap penalty below `reuse_below`
//! ```
//!
//! Flap damping works as BGP route damping does: every fall to Down adds 1 to a penalty that
//! halves every `flap_half_life`; a node comes back only once its penalty is below
//! `reuse_below`. A node that failed once returns after `rise` good probes; one that keeps
//! bouncing waits until it has been quiet for a while, so its keys do not flip back and forth.
//!
//! A node that comes back after being Down, or that answers with a different generation (it
//! restarted between probes), is reported with [`Event::Rejoined`]: what it holds may be stale,
//! and the caller must flush it before routing keys to it again.

use std::time::{Duration, Instant};

/// Tuning of the detector. The defaults suit a LAN: a killed node is Down in well under a
/// second, a stopped one within about `timeout * fall`.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    /// Probe period while Up.
    pub interval: Duration,
    /// Probe period while Suspect.
    pub suspect_interval: Duration,
    /// Consecutive failures that make a node Down.
    pub fall: u32,
    /// Consecutive successes that bring a Down node back.
    pub rise: u32,
    /// First probe delay while Down; doubles per failed probe up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest probe delay while Down.
    pub max_backoff: Duration,
    /// Half-life of the flap penalty.
    pub flap_half_life: Duration,
    /// A Down node is reused only once its penalty is below this.
    pub reuse_below: f64,
}

impl Default for DetectorConfig {
    fn default() -> DetectorConfig {
        DetectorConfig {
            interval: Duration::from_millis(1000),
            suspect_interval: Duration::from_millis(100),
            fall: 3,
            rise: 2,
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            flap_half_life: Duration::from_secs(30),
            reuse_below: 2.5,
        }
    }
}

/// Where a node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not probed successfully yet (a fresh detector). Not routable.
    Unknown,
    /// Answering probes.
    Up,
    /// Failed recently; still routable, probed fast.
    Suspect,
    /// Not routable; probed with backoff.
    Down,
}

impl State {
    /// The lower-case name shown in `PROXY NODES` and logs.
    pub fn name(self) -> &'static str {
        match self {
            State::Unknown => "unknown",
            State::Up => "up",
            State::Suspect => "suspect",
            State::Down => "down",
        }
    }

    /// True if keys may be routed to a node in this state.
    pub fn routable(self) -> bool {
        matches!(self, State::Up | State::Suspect)
    }
}

/// A change the caller must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// First successful probe of a node never seen before: route to it.
    Joined { generation: String },
    /// The node is back after being Down, or restarted (new generation) while Up: flush it,
    /// then route to it.
    Rejoined { generation: String, restarted: bool },
    /// Routable but failing.
    Suspect,
    /// Stop routing to it.
    Down,
    /// Suspect and answering again.
    Recovered,
}

/// The detector of one node.
#[derive(Debug, Clone)]
pub struct FailureDetector {
    config: DetectorConfig,
    state: State,
    failures: u32,
    successes: u32,
    backoff: Duration,
    next_probe: Instant,
    generation: Option<String>,
    /// A probe while Down saw a new generation: the rejoin is a restart, even if the probes
    /// after it (until `rise`) see that same new generation.
    restarted_while_down: bool,
    penalty: f64,
    penalty_at: Instant,
}

impl FailureDetector {
    /// A detector for a node not yet probed; the first probe is due at `now`.
    pub fn new(config: DetectorConfig, now: Instant) -> FailureDetector {
        let backoff = config.min_backoff;
        FailureDetector {
            config,
            state: State::Unknown,
            failures: 0,
            successes: 0,
            backoff,
            next_probe: now,
            generation: None,
            restarted_while_down: false,
            penalty: 0.0,
            penalty_at: now,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The generation last seen, if any probe succeeded.
    pub fn generation(&self) -> Option<&str> {
        self.generation.as_deref()
    }

    /// When the next probe is due.
    pub fn next_probe(&self) -> Instant {
        self.next_probe
    }

    /// The flap penalty at `now`.
    pub fn penalty(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.penalty_at).as_secs_f64();
        let half_life = self
            .config
            .flap_half_life
            .as_secs_f64()
            .max(f64::MIN_POSITIVE);
        self.penalty * 0.5f64.powf(elapsed / half_life)
    }

    /// A probe answered with the node's generation.
    pub fn probe_succeeded(&mut self, now: Instant, generation: &str) -> Option<Event> {
        self.failures = 0;
        let restarted = self.generation.as_deref().is_some_and(|g| g != generation);
        let known = self.generation.is_some();
        self.generation = Some(generation.to_owned());
        match self.state {
            State::Unknown => {
                self.up(now);
                Some(if known || restarted {
                    Event::Rejoined {
                        generation: generation.to_owned(),
                        restarted,
                    }
                } else {
                    Event::Joined {
                        generation: generation.to_owned(),
                    }
                })
            }
            State::Up | State::Suspect => {
                let was_suspect = self.state == State::Suspect;
                self.up(now);
                if restarted {
                    Some(Event::Rejoined {
                        generation: generation.to_owned(),
                        restarted: true,
                    })
                } else if was_suspect {
                    Some(Event::Recovered)
                } else {
                    None
                }
            }
            State::Down => {
                self.successes += 1;
                self.restarted_while_down |= restarted;
                if self.successes >= self.config.rise && self.penalty(now) < self.config.reuse_below
                {
                    let restarted = self.restarted_while_down;
                    self.up(now);
                    Some(Event::Rejoined {
                        generation: generation.to_owned(),
                        restarted,
                    })
                } else {
                    // Confirm quickly, but a damped node waits out its penalty at the slow pace.
                    self.next_probe =
                        now + self.config.suspect_interval.max(self.wait_for_reuse(now));
                    None
                }
            }
        }
    }

    /// A probe failed (refused, reset, timed out, or a bad reply).
    pub fn probe_failed(&mut self, now: Instant) -> Option<Event> {
        self.successes = 0;
        self.failures = self.failures.saturating_add(1);
        match self.state {
            State::Up | State::Suspect if self.failures >= self.config.fall => self.down(now),
            State::Up => {
                self.state = State::Suspect;
                self.next_probe = now + self.config.suspect_interval;
                Some(Event::Suspect)
            }
            State::Suspect => {
                self.next_probe = now + self.config.suspect_interval;
                None
            }
            State::Unknown | State::Down => {
                let first = self.state == State::Unknown;
                self.state = State::Down;
                self.next_probe = now + self.backoff;
                self.backoff = (self.backoff * 2).min(self.config.max_backoff);
                first.then_some(Event::Down)
            }
        }
    }

    /// A request on the data path failed (a connection error or a timeout): suspect the node
    /// and probe it now. Only probes take a node Down, so a single slow request never does.
    pub fn request_failed(&mut self, now: Instant) -> Option<Event> {
        if self.state == State::Up {
            self.state = State::Suspect;
            self.next_probe = now;
            return Some(Event::Suspect);
        }
        if self.state == State::Suspect {
            self.next_probe = self.next_probe.min(now);
        }
        None
    }

    fn up(&mut self, now: Instant) {
        self.state = State::Up;
        self.restarted_while_down = false;
        self.successes = 0;
        self.failures = 0;
        self.backoff = self.config.min_backoff;
        self.next_probe = now + self.config.interval;
    }

    fn down(&mut self, now: Instant) -> Option<Event> {
        self.penalty = self.penalty(now) + 1.0;
        self.penalty_at = now;
        self.state = State::Down;
        self.successes = 0;
        self.backoff = self.config.min_backoff;
        self.next_probe = now + self.backoff;
        self.backoff = (self.backoff * 2).min(self.config.max_backoff);
        Some(Event::Down)
    }

    /// How long until the penalty decays below the reuse threshold.
    fn wait_for_reuse(&self, now: Instant) -> Duration {
        let penalty = self.penalty(now);
        if penalty < self.config.reuse_below {
            return Duration::ZERO;
        }
        let halvings = (penalty / self.config.reuse_below).log2();
        let wait = self.config.flap_half_life.mul_f64(halvings.max(0.0));
        // Re-check at least every max_backoff so the wait is not one long sleep.
        wait.min(self.config.max_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    fn up_detector(start: Instant) -> FailureDetector {
        let mut d = FailureDetector::new(DetectorConfig::default(), start);
        assert_eq!(
            d.probe_succeeded(start, "g1"),
            Some(Event::Joined {
                generation: "g1".into()
            })
        );
        d
    }

    #[test]
    fn unknown_node_is_not_routable_until_probed() {
        let start = Instant::now();
        let mut d = FailureDetector::new(DetectorConfig::default(), start);
        assert!(!d.state().routable());
        assert_eq!(d.next_probe(), start);
        assert_eq!(d.probe_failed(start), Some(Event::Down));
        assert_eq!(d.next_probe(), at(start, 200));
        let event = d.probe_succeeded(at(start, 200), "g1");
        assert_eq!(event, None, "rise needs two successes");
        let event = d.probe_succeeded(at(start, 300), "g1");
        assert!(matches!(
            event,
            Some(Event::Rejoined {
                restarted: false,
                ..
            })
        ));
        assert_eq!(d.state(), State::Up);
    }

    #[test]
    fn up_suspect_down_and_back() {
        let start = Instant::now();
        let mut d = up_detector(start);
        assert_eq!(d.next_probe(), at(start, 1000));
        assert_eq!(d.probe_failed(at(start, 1000)), Some(Event::Suspect));
        assert!(d.state().routable());
        assert_eq!(d.next_probe(), at(start, 1100));
        assert_eq!(d.probe_failed(at(start, 1100)), None);
        assert_eq!(d.probe_failed(at(start, 1200)), Some(Event::Down));
        assert!(!d.state().routable());
        // Backoff doubles while Down: 200, 400, 800 ms.
        assert_eq!(d.next_probe(), at(start, 1400));
        d.probe_failed(at(start, 1400));
        assert_eq!(d.next_probe(), at(start, 1800));
        d.probe_failed(at(start, 1800));
        assert_eq!(d.next_probe(), at(start, 2600));
        assert_eq!(d.probe_succeeded(at(start, 2600), "g1"), None);
        assert_eq!(
            d.probe_succeeded(at(start, 2700), "g1"),
            Some(Event::Rejoined {
                generation: "g1".into(),
                restarted: false
            })
        );
        assert_eq!(d.state(), State::Up);
    }

    #[test]
    fn a_restart_while_down_is_reported_after_rise() {
        let start = Instant::now();
        let mut d = up_detector(start);
        for ms in [1000, 1100, 1200] {
            d.probe_failed(at(start, ms));
        }
        assert_eq!(d.state(), State::Down);
        // The first good probe sees the new generation, the second the same one again.
        assert_eq!(d.probe_succeeded(at(start, 1400), "g2"), None);
        assert_eq!(
            d.probe_succeeded(at(start, 1500), "g2"),
            Some(Event::Rejoined {
                generation: "g2".into(),
                restarted: true
            })
        );
    }

    #[test]
    fn backoff_is_capped() {
        let start = Instant::now();
        let mut d = up_detector(start);
        let mut now = start;
        for _ in 0..20 {
            now = d.next_probe();
            d.probe_failed(now);
        }
        assert_eq!(d.next_probe() - now, Duration::from_secs(5));
    }

    #[test]
    fn a_suspect_that_answers_recovers_without_flush() {
        let start = Instant::now();
        let mut d = up_detector(start);
        assert_eq!(d.request_failed(at(start, 10)), Some(Event::Suspect));
        assert_eq!(d.next_probe(), at(start, 10), "probe at once");
        assert_eq!(
            d.probe_succeeded(at(start, 20), "g1"),
            Some(Event::Recovered)
        );
        assert_eq!(d.state(), State::Up);
    }

    #[test]
    fn a_restart_between_probes_is_a_rejoin() {
        let start = Instant::now();
        let mut d = up_detector(start);
        assert_eq!(
            d.probe_succeeded(at(start, 1000), "g2"),
            Some(Event::Rejoined {
                generation: "g2".into(),
                restarted: true
            })
        );
    }

    #[test]
    fn request_failures_alone_never_take_a_node_down() {
        let start = Instant::now();
        let mut d = up_detector(start);
        for ms in 0..100 {
            d.request_failed(at(start, ms));
        }
        assert_eq!(d.state(), State::Suspect);
    }

    #[test]
    fn flapping_node_is_held_down_until_quiet() {
        let start = Instant::now();
        let mut d = up_detector(start);
        let mut now = start;
        let flap = |d: &mut FailureDetector, now: &mut Instant| {
            for _ in 0..3 {
                *now += Duration::from_millis(100);
                d.probe_failed(*now);
            }
            assert_eq!(d.state(), State::Down);
        };
        // Two quick flaps: penalty ~2, still under 2.5, so the node returns.
        for _ in 0..2 {
            flap(&mut d, &mut now);
            now += Duration::from_millis(100);
            d.probe_succeeded(now, "g1");
            now += Duration::from_millis(100);
            d.probe_succeeded(now, "g1");
            assert_eq!(d.state(), State::Up);
        }
        // A third: penalty ~3 is over 2.5; good probes do not bring it back yet.
        flap(&mut d, &mut now);
        for _ in 0..5 {
            now += Duration::from_millis(100);
            d.probe_succeeded(now, "g1");
        }
        assert_eq!(d.state(), State::Down);
        // It waits until the penalty halves below 2.5: under 30 s.
        let quiet_since = now;
        while d.state() == State::Down {
            now = d.next_probe();
            d.probe_succeeded(now, "g1");
            assert!(now - quiet_since < Duration::from_secs(30));
        }
        assert!(
            now - quiet_since > Duration::from_secs(5),
            "held for {:?}",
            now - quiet_since
        );
    }
}
