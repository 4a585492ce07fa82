//! Sandboxes built before their run: a spare of `serve` that knows which profile and workspace
//! the next run will likely name (the last run's) compiles that Plan, sends it to its pid 1
//! (mounts, pivot_root and the network namespace are then built while no one waits) and makes
//! the run's cgroups. The run's command (argv, environment) is all that comes later.
//!
//! A prebuilt sandbox is used only when the run's profile loads to the very same policy (wall
//! time aside: it is the supervisor's to enforce), names the same workspace and directory, and
//! every path whose state the Plan was compiled from is still what it was ([`Fingerprint`]):
//! otherwise it is discarded and the run gets a fresh clone, as if there had been no spare.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::commands::launch::{Ahead, Prestarted};
use crate::plan::{self, Invocation};
use crate::policy::{Context, Policy};

/// A path's device, inode and file type; None when absent.
type PathState = Option<(u64, u64, u32)>;

/// The state of the paths a compiled Plan depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(Vec<(PathBuf, PathState)>);

impl Fingerprint {
    fn take(paths: Vec<PathBuf>) -> Fingerprint {
        Fingerprint(
            paths
                .into_iter()
                .map(|p| {
                    let state = state(&p);
                    (p, state)
                })
                .collect(),
        )
    }

    /// Whether every path is still in the state it was taken in.
    pub fn holds(&self) -> bool {
        self.0.iter().all(|(p, was)| state(p) == *was)
    }
}

fn state(path: &Path) -> PathState {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino(), m.mode() & libc::S_IFMT))
}

/// The policy as a prebuilt sandbox is compared by: serialised, without the wall time.
pub fn policy_key(policy: &Policy) -> Option<Vec<u8>> {
    let mut bare = policy.clone();
    bare.limits.wall_time = None;
    serde_json::to_vec(&bare).ok()
}

/// Build `pre`'s sandbox ahead for `policy` as loaded for `ctx` (its workspace and directory).
/// A profile this is not done for (overlay workspace, no namespaces, a Plan that does not
/// compile or needs placeholders) leaves `pre` as it was, namespaces only; None when pid 1 was
/// lost on the way.
pub fn build(pre: Prestarted, policy: &Policy, ctx: &Context) -> Option<Prestarted> {
    let fresh = plan::pid1_start(policy);
    if !pre.fits_start(&fresh) || !fresh.namespaces || policy.workspace_mode.is_some() {
        return Some(pre);
    }
    let Some(key) = policy_key(policy) else {
        return Some(pre);
    };
    let invocation = Invocation {
        argv: Vec::new(),
        workspace: ctx.workspace.clone(),
        cwd: ctx.cwd.clone(),
        env_overrides: Vec::new(),
        host_env: Vec::new(),
    };
    let kernel = crate::kernel::KernelFeatures::probe();
    // Compiled twice: the first tells which paths the Plan depends on, their state is taken,
    // and the Plan sent is the second, compiled after that, and used only if the state held
    // all along. A Plan compiled before its fingerprint could miss a change made in between
    // (a `.git` created by a run meanwhile), and a run would take it for current.
    let Ok(first) = plan::compile(policy, &kernel, &invocation) else {
        return Some(pre);
    };
    let paths = watched_paths(&first, ctx);
    let fingerprint = Fingerprint::take(paths.clone());
    let Ok(compiled) = plan::compile(policy, &kernel, &invocation) else {
        return Some(pre);
    };
    if watched_paths(&compiled, ctx) != paths || !fingerprint.holds() {
        return Some(pre);
    }
    // A spare leaves nothing on the host while it waits: a Plan that needs placeholders for
    // absent protected paths (which the operator could not create meanwhile) is not built
    // ahead. The run registers as a user of other runs' placeholders it binds, as any run.
    if !compiled.plan.namespaces
        || compiled.run_tmp.is_some()
        || compiled.host_proxy.is_some()
        || !compiled.placeholders.is_empty()
    {
        return Some(pre);
    }
    let ahead = Ahead {
        policy: key,
        workspace: ctx.workspace.clone(),
        cwd: ctx.cwd.clone(),
        fingerprint,
    };
    pre.stage(compiled, ahead)
}

/// Every path whose existence or identity the compiled Plan depends on, beyond the profile:
/// the workspace and its `.git`, the protected paths and their parents (pinned, bound
/// read-only or masked), those skipped for a missing parent, and the optional grants skipped.
fn watched_paths(compiled: &plan::Compiled, ctx: &Context) -> Vec<PathBuf> {
    let mut paths = vec![ctx.workspace.clone(), ctx.workspace.join(".git")];
    for p in compiled.protected.iter().chain(&compiled.unprotected) {
        paths.push(p.clone());
        if let Some(parent) = p.parent() {
            paths.push(parent.to_path_buf());
        }
    }
    paths.extend(compiled.skipped_paths.iter().cloned());
    paths.sort();
    paths.dedup();
    paths
}

/// Whether a run of `policy` with `inv` may take the sandbox built ahead as `ahead`.
pub fn fits(ahead: &Ahead, policy: &Policy, inv: &Invocation) -> bool {
    ahead.workspace == inv.workspace
        && ahead.cwd == inv.cwd
        && policy_key(policy).is_some_and(|k| k == ahead.policy)
        && ahead.fingerprint.holds()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_sees_paths_appear_vanish_and_be_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        let absent = dir.path().join("a");
        std::fs::write(&file, "x").unwrap();
        let taken = Fingerprint::take(vec![file.clone(), absent.clone()]);
        assert!(taken.holds());
        // Same inode, new content: the Plan bound the inode, nothing changed for it.
        std::fs::write(&file, "y").unwrap();
        assert!(taken.holds());
        std::fs::create_dir(&absent).unwrap();
        assert!(!taken.holds());
        std::fs::remove_dir(&absent).unwrap();
        assert!(taken.holds());
        // Replaced by another file under the same name.
        let other = dir.path().join("g");
        std::fs::write(&other, "z").unwrap();
        std::fs::rename(&other, &file).unwrap();
        assert!(!taken.holds());
    }
}
