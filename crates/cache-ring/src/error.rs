//! Why a ring could not be built.

/// An invalid member list or algorithm name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A member has an empty name.
    #[error("a node name must not be empty")]
    EmptyName,
    /// Two members share a name; placement would be ambiguous.
    #[error("node name {0:?} appears twice; give every node a distinct name")]
    DuplicateName(String),
    /// A member has weight 0.
    #[error("node {0:?} has weight 0; weights start at 1 (remove the node instead)")]
    ZeroWeight(String),
    /// More members than a ring can index.
    #[error("{0} nodes is more than a ring can hold (at most 65535)")]
    TooManyMembers(usize),
    /// An algorithm name that is not one of [`crate::Algorithm::ALL`].
    #[error(
        "unknown distribution {0:?}; expected ketama, maglev, rendezvous, multiprobe or twemproxy"
    )]
    UnknownAlgorithm(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;
