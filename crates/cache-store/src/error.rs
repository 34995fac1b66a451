//! The errors a store operation can return.

/// Why a store operation was refused. Nothing was changed when one is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The write would pass `max_memory` and the policy is `noeviction` (or nothing is left to
    /// evict).
    #[error("OOM command not allowed when used memory > 'maxmemory'.")]
    OutOfMemory,
    /// The stored value is not a base-10 64-bit integer.
    #[error("ERR value is not an integer or out of range")]
    NotAnInteger,
    /// The stored value is not a valid floating-point number.
    #[error("ERR value is not a valid float")]
    NotAFloat,
    /// The increment would pass the limits of a signed 64-bit integer.
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    /// The increment would produce NaN or an infinity.
    #[error("ERR increment would produce NaN or Infinity")]
    NanOrInfinity,
    /// The value would pass the configured maximum value size.
    #[error("ERR string exceeds maximum allowed size")]
    ValueTooLarge,
}

/// The result of a store operation.
pub type Result<T> = std::result::Result<T, Error>;
