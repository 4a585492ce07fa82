//! An overlay-mode run from `exec`'s side: create the change set and the overlay mount before
//! the launch, and settle it (apply, discard or keep) when the run has ended.

use super::{ChangeSet, Meta, OnExit, WorkspaceMode, print_report};
use crate::plan::MountOp;

/// `--workspace-mode overlay` (or the profile's): create the change set and overlay the
/// workspace in the mount plan. None in direct mode.
pub fn for_mode(
    mode: Option<WorkspaceMode>,
    on_exit: Option<OnExit>,
    policy: &crate::policy::Policy,
    invocation: &crate::plan::Invocation,
    id: &str,
    mounts: &mut Vec<MountOp>,
) -> Result<Option<OverlayRun>, String> {
    // The flag, else the profile's `[filesystem]` key, else direct (and keep).
    if mode.or(policy.workspace_mode).unwrap_or_default() != WorkspaceMode::Overlay {
        if on_exit.is_some() {
            eprintln!(
                "missy-sandbox: --on-exit has no effect in direct workspace mode (the workload writes to the workspace itself)"
            );
        }
        return Ok(None);
    }
    prepare(
        Meta {
            id: id.to_string(),
            created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            profile: policy.name.clone(),
            workspace: invocation.workspace.clone(),
            argv: invocation.argv.clone(),
            exit_status: None,
            protect: policy.protect.clone(),
            bases: Default::default(),
        },
        on_exit.or(policy.on_exit).unwrap_or(OnExit::Keep),
        mounts,
    )
    .map(Some)
}

/// A dry run shows the overlay where the change set would be, without creating it.
pub fn preview(
    mode: Option<WorkspaceMode>,
    workspace: &std::path::Path,
    id: &str,
    mounts: &mut Vec<MountOp>,
) -> Result<(), crate::plan::overlay::OverlayError> {
    if mode.unwrap_or_default() != WorkspaceMode::Overlay {
        return Ok(());
    }
    let dir = super::store().join(id);
    crate::plan::overlay::apply(mounts, workspace, &dir.join("upper"), &dir.join("work"))
}

/// A change set the sandbox writes into.
#[derive(Debug)]
pub struct OverlayRun {
    set: ChangeSet,
    on_exit: OnExit,
}

/// Create the change set described by `meta` and put the overlay in `mounts`. The error is for
/// the user.
pub fn prepare(
    meta: Meta,
    on_exit: OnExit,
    mounts: &mut Vec<MountOp>,
) -> Result<OverlayRun, String> {
    let workspace = meta.workspace.clone();
    let set = ChangeSet::create(meta).map_err(|e| e.to_string())?;
    // overlayfs shows the upper directory's own mode on the merged root: give it the
    // workspace's (the change set's directory above it stays 0700).
    if let Ok(m) = std::fs::metadata(&workspace) {
        use std::os::unix::fs::PermissionsExt;
        let mode = m.permissions().mode() & 0o1777;
        let _ = std::fs::set_permissions(set.upper(), std::fs::Permissions::from_mode(mode));
    }
    if let Err(e) = crate::plan::overlay::apply(mounts, &workspace, &set.upper(), &set.work()) {
        let _ = set.discard();
        return Err(e.to_string());
    }
    Ok(OverlayRun { set, on_exit })
}

impl OverlayRun {
    /// The run never started: nothing to keep.
    pub fn abandon(self) {
        let _ = self.set.discard();
    }

    /// The run has ended with `status`: apply, discard or keep its changes, saying what was done.
    /// Returns false when changes could not all be applied (the set is then kept).
    pub fn finish(mut self, status: i32) -> bool {
        let protected = &self.set.protected();
        let id = self.set.meta.id.clone();
        self.set.meta.exit_status = Some(status);
        match self.on_exit {
            OnExit::Discard => match self.set.discard() {
                Ok(()) => {
                    eprintln!("missy-sandbox: changes of run {id} discarded");
                    true
                }
                Err(e) => {
                    crate::commands::report(&e);
                    false
                }
            },
            OnExit::Keep => {
                let kept = self
                    .set
                    .changes()
                    .and_then(|c| self.set.record_bases(&c))
                    .and_then(|()| self.set.save());
                match kept {
                    Ok(()) => {
                        eprintln!(
                            "missy-sandbox: changes kept as change set {id} (missy-sandbox changes show|apply|discard {id})"
                        );
                        true
                    }
                    Err(e) => {
                        crate::commands::report(&e);
                        false
                    }
                }
            }
            OnExit::Apply => match self.set.apply(protected, false) {
                Ok(report) if report.failed.is_empty() => {
                    print_report(&report);
                    let _ = self.set.discard();
                    true
                }
                Ok(report) => {
                    print_report(&report);
                    let _ = self.set.save();
                    eprintln!("missy-sandbox: change set {id} kept: some changes failed to apply");
                    false
                }
                Err(e) => {
                    crate::commands::report(&e);
                    let _ = self.set.save();
                    eprintln!("missy-sandbox: change set {id} kept: it could not be applied");
                    false
                }
            },
        }
    }
}
