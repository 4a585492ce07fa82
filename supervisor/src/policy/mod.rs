//! Profiles: the declarative description of what a sandbox may do.
//!
//! `load` finds a profile by name or path, follows its `extends` chain, merges it and expands
//! placeholders, returning a validated [`Policy`]. Nothing here touches the kernel.

// PolicyError carries a full location (file, line, key) by value; profile loading is not a hot
// path, so the size of the error is not worth boxing away.
#![allow(clippy::result_large_err)]

pub mod env;
pub mod error;
pub mod model;
pub mod network;
pub mod protect;
pub mod raw;
pub mod resolve;
pub mod units;

pub use error::PolicyError;
pub use model::{Context, Limits, Policy};
pub use raw::{NetworkMode, Require};
pub use resolve::{DEFAULT_PROFILE, SHIPPED};

/// Load and validate the profile `reference` (a name or a path) for this invocation.
pub fn load(reference: &str, ctx: &Context) -> Result<Policy, PolicyError> {
    load_root(resolve::find(reference, None)?, &resolve::find, ctx)
}

/// Validate the profile text `text`, reported as `origin` (a path or a display name such as
/// `<input>`), locating the parents it `extends` with `find_parent`. The same parsing,
/// `extends` resolution and validation as [`load`] (which only adds finding and reading the
/// file); used by the fuzz targets, which resolve `extends` without touching the filesystem.
pub fn load_text(
    origin: &str,
    text: String,
    find_parent: resolve::FindParent<'_>,
    ctx: &Context,
) -> Result<Policy, PolicyError> {
    let name = resolve::name_of(std::path::Path::new(origin));
    load_root(resolve::parse(&name, origin, None, text)?, find_parent, ctx)
}

fn load_root(
    root: resolve::SourceFile,
    find_parent: resolve::FindParent<'_>,
    ctx: &Context,
) -> Result<Policy, PolicyError> {
    let files = resolve::chain_from(root, find_parent)?;
    model::build(&files, ctx)
}

#[cfg(test)]
mod tests;
