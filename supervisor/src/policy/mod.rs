//! Profiles: the declarative description of what a sandbox may do.
//!
//! `load` finds a profile by name or path, follows its `extends` chain, merges it and expands
//! placeholders, returning a validated [`Policy`]. Nothing here touches the kernel.

// PolicyError carries a full location (file, line, key) by value; profile loading is not a hot
// path, so the size of the error is not worth boxing away.
#![allow(clippy::result_large_err)]

pub mod error;
pub mod model;
pub mod network;
pub mod raw;
pub mod resolve;
pub mod units;

pub use error::PolicyError;
pub use model::{Context, Limits, Policy};
pub use raw::{NetworkMode, Require};
pub use resolve::{DEFAULT_PROFILE, SHIPPED};

/// Load and validate the profile `reference` (a name or a path) for this invocation.
pub fn load(reference: &str, ctx: &Context) -> Result<Policy, PolicyError> {
    let files = resolve::chain(reference)?;
    model::build(&files, ctx)
}

#[cfg(test)]
mod tests;
