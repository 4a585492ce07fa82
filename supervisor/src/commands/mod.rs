//! The subcommands. Each returns the process exit status.

pub mod audit;
pub mod changes;
pub mod check;
pub mod client;
pub mod exec;
pub mod fetch;
pub mod gateway;
pub mod launch;
pub mod mcp;
pub mod profile;
pub mod run_end;
pub mod selftest;
pub mod serve;
pub mod vault;

use std::path::{Path, PathBuf};

use crate::policy::{Context, PolicyError};

/// Exit status for bad input: a profile error or an invalid argument.
pub const EXIT_BAD_INPUT: i32 = 2;

/// The placeholder values for this invocation.
#[allow(clippy::result_large_err)] // see policy/mod.rs
pub fn context(workspace: Option<&Path>) -> Result<Context, PolicyError> {
    let cwd = std::env::current_dir()
        .map_err(|e| PolicyError::Invocation(format!("cannot read the current directory: {e}")))?;
    let workspace = workspace.map_or_else(|| cwd.clone(), Path::to_path_buf);
    let workspace = std::fs::canonicalize(&workspace)
        .map_err(|e| PolicyError::Invocation(format!("workspace {}: {e}", workspace.display())))?;
    if !workspace.is_dir() {
        return Err(PolicyError::Invocation(format!(
            "workspace {} is not a directory",
            workspace.display()
        )));
    }
    Ok(Context {
        workspace,
        home: home_dir(),
        cwd,
    })
}

pub(crate) fn home_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(home);
    }
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map_or_else(|| PathBuf::from("/nonexistent"), |u| u.dir)
}

/// Print an error the way every command does.
pub fn report(err: &dyn std::fmt::Display) {
    eprintln!(
        "missy-sandbox: {}",
        crate::secrets::guard::censor(&err.to_string())
    );
}

/// The single-threaded tokio runtime a command runs its async part on (`exec` builds it only
/// after pid 1 is cloned and committed).
pub fn current_thread_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}
