//! Secrets: what counts as one, keeping them out of everything the sandbox and the supervisor
//! write, and the vault that stores the operator's own.
//!
//! - [`patterns`] / [`detector`]: the credential patterns and the prefiltered matcher.
//! - [`known`]: exact values known to be secret in a run (vault values), in every encoding the
//!   censor also catches.
//! - [`censor`]: the streaming censor applied to the workload's stdout and stderr.
//! - [`relay`]: the pipes (or pseudo-terminals) between the sandbox and the caller.
//! - [`guard`]: the process-wide censor for strings the supervisor writes itself.
//! - [`vault`]: the encrypted store behind `vault://NAME`.

pub mod censor;
pub mod detector;
pub mod env;
pub mod guard;
pub mod known;
pub mod patterns;
pub mod relay;
pub mod vault;

/// The longest secret the censor is guaranteed to see whole, in bytes: every pattern's longest
/// match and every known value (in each encoding) must fit. See `censor` for how it bounds
/// memory.
pub const MAX_MATCH: usize = 8 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot build the secret detector: {0}")]
    Detector(String),
    #[error(
        "a secret value of {len} bytes (in one of its encodings) is longer than the censor's limit of {max} bytes"
    )]
    ValueTooLong { len: usize, max: usize },
}
