//! Routing with failed nodes: which member serves a key when some members are down.
//!
//! A [`Router`] keeps two rings: the full ring of every member, which says where a key
//! *belongs*, and a ring of the routable members, used only for keys whose owner is down. So a
//! node going down moves only its own keys (to the nodes the live ring picks), whatever the
//! algorithm, and its coming back moves exactly those keys home. In [`DownMode::Miss`] the keys
//! of a down node are not moved at all: the caller answers them as misses.

use crate::{Algorithm, Member, Result, Ring};

/// What happens to the keys of a node that is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DownMode {
    /// Serve them from another node (they start as misses there).
    #[default]
    Remap,
    /// Answer them as misses without asking any node.
    Miss,
}

impl std::str::FromStr for DownMode {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<DownMode, String> {
        match s.to_ascii_lowercase().as_str() {
            "remap" => Ok(DownMode::Remap),
            "miss" => Ok(DownMode::Miss),
            _ => Err(format!(
                "unknown node-down mode {s:?}; expected remap or miss"
            )),
        }
    }
}

impl DownMode {
    /// The name used in flags and config files.
    pub fn name(self) -> &'static str {
        match self {
            DownMode::Remap => "remap",
            DownMode::Miss => "miss",
        }
    }
}

/// Where a key goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// To its owner, index into [`Router::members`].
    Owner(usize),
    /// Its owner is down; to this other member instead.
    Fallback(usize),
    /// Nowhere: the owner is down and the mode is [`DownMode::Miss`], or no member is routable.
    Unavailable,
}

/// An immutable routing table; build a new one when membership or health changes.
#[derive(Debug, Clone)]
pub struct Router {
    ring: Ring,
    live: Ring,
    /// `live_members[i]` is the index in `ring.members()` of the live ring's member `i`.
    live_members: Vec<usize>,
    routable: Vec<bool>,
    mode: DownMode,
}

impl Router {
    /// A router over `members`, of which those with `routable[i]` take keys.
    pub fn new(
        algorithm: Algorithm,
        members: Vec<Member>,
        routable: Vec<bool>,
        mode: DownMode,
    ) -> Result<Router> {
        let ring = Ring::new(algorithm, members)?;
        Router::from_ring(ring, routable, mode)
    }

    fn from_ring(ring: Ring, mut routable: Vec<bool>, mode: DownMode) -> Result<Router> {
        routable.resize(ring.members().len(), false);
        let live_members: Vec<usize> = (0..routable.len()).filter(|&i| routable[i]).collect();
        let live = Ring::new(
            ring.algorithm(),
            live_members
                .iter()
                .map(|&i| ring.members()[i].clone())
                .collect(),
        )?;
        Ok(Router {
            ring,
            live,
            live_members,
            routable,
            mode,
        })
    }

    /// The same members with a new routable set.
    pub fn with_routable(&self, routable: Vec<bool>) -> Result<Router> {
        Router::from_ring(self.ring.clone(), routable, self.mode)
    }

    /// The members, in the order given.
    pub fn members(&self) -> &[Member] {
        self.ring.members()
    }

    /// Which members take keys.
    pub fn routable(&self) -> &[bool] {
        &self.routable
    }

    pub fn mode(&self) -> DownMode {
        self.mode
    }

    pub fn algorithm(&self) -> Algorithm {
        self.ring.algorithm()
    }

    /// Where `key` goes now.
    pub fn route(&self, key: &[u8]) -> Route {
        let Some(owner) = self.ring.node_for(key) else {
            return Route::Unavailable;
        };
        if self.routable[owner] {
            return Route::Owner(owner);
        }
        if self.mode == DownMode::Miss {
            return Route::Unavailable;
        }
        match self.live.node_for(key) {
            Some(i) => Route::Fallback(self.live_members[i]),
            None => Route::Unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(n: usize) -> Vec<Member> {
        (0..n).map(|i| Member::new(format!("n{i}"))).collect()
    }

    #[test]
    fn a_down_node_moves_only_its_own_keys() {
        let all = Router::new(
            Algorithm::Maglev,
            members(5),
            vec![true; 5],
            DownMode::Remap,
        )
        .unwrap();
        let one_down = all
            .with_routable(vec![true, true, false, true, true])
            .unwrap();
        for k in 0..20_000u32 {
            let key = k.to_le_bytes();
            match (all.route(&key), one_down.route(&key)) {
                (Route::Owner(2), Route::Fallback(other)) => assert_ne!(other, 2),
                (Route::Owner(a), Route::Owner(b)) => assert_eq!(a, b),
                (before, after) => panic!("{before:?} -> {after:?}"),
            }
        }
    }

    #[test]
    fn miss_mode_and_all_down() {
        let router = Router::new(
            Algorithm::Maglev,
            members(2),
            vec![true, false],
            DownMode::Miss,
        )
        .unwrap();
        let routes: Vec<Route> = (0..100u32)
            .map(|k| router.route(&k.to_le_bytes()))
            .collect();
        assert!(routes.contains(&Route::Unavailable));
        assert!(routes.contains(&Route::Owner(0)));
        let none = router.with_routable(vec![false, false]).unwrap();
        let remap = Router::new(
            Algorithm::Maglev,
            members(2),
            vec![false, false],
            DownMode::Remap,
        )
        .unwrap();
        assert_eq!(none.route(b"k"), Route::Unavailable);
        assert_eq!(remap.route(b"k"), Route::Unavailable);
    }
}
