//! `--workspace-mode overlay`: turn the workspace's writable bind into an overlayfs whose upper
//! layer is a change-set directory, so the workload's writes never reach the workspace itself.

use std::path::Path;

use super::MountOp;
use crate::policy::model::within;

/// Why the workspace cannot be overlaid.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error(
        "overlay mode needs the workspace {0} writable in the profile; it is read-only or not granted"
    )]
    NotWritable(String),
    #[error(
        "overlay mode: the path {0} holds ',', ':' or '\\\\', which overlayfs options cannot carry"
    )]
    BadPath(String),
}

/// Replace the writable bind of `workspace` in `ops` by an overlay (or, when a writable bind of
/// an enclosing directory already shows it, add the overlay on top of that bind).
pub fn apply(
    ops: &mut Vec<MountOp>,
    workspace: &Path,
    upper: &Path,
    work: &Path,
) -> Result<(), OverlayError> {
    for p in [workspace, upper, work] {
        let s = p.to_string_lossy();
        if s.contains([',', ':', '\\']) {
            return Err(OverlayError::BadPath(s.into_owned()));
        }
    }
    let overlay = MountOp::Overlay {
        path: workspace.to_path_buf(),
        upper: upper.to_path_buf(),
        work: work.to_path_buf(),
    };
    // A writable bind inside the workspace would write to the real workspace, past the
    // overlay: bind the overlay's own directory there instead.
    for op in ops.iter_mut() {
        if let MountOp::Bind {
            path,
            writable: true,
            is_dir,
        } = op
            && path.as_path() != workspace
            && within(path, workspace)
        {
            *op = MountOp::Pin {
                path: path.clone(),
                is_dir: *is_dir,
            };
        }
    }
    if let Some(i) = ops.iter().position(|op| {
        matches!(op, MountOp::Bind { path, writable: true, is_dir: true } if path == workspace)
    }) {
        ops[i] = overlay;
        return Ok(());
    }
    let enclosing_writable = ops.iter().any(
        |op| matches!(op, MountOp::Bind { path, writable: true, .. } if within(workspace, path)),
    );
    let read_only_bind = ops
        .iter()
        .any(|op| matches!(op, MountOp::Bind { path, writable: false, .. } if path == workspace));
    if !enclosing_writable || read_only_bind {
        return Err(OverlayError::NotWritable(workspace.display().to_string()));
    }
    // After every bind that encloses the workspace, before the binds and masks inside it.
    let depth = workspace.components().count();
    let at = ops
        .iter()
        .position(|op| match op {
            MountOp::MaskDir { .. } | MountOp::MaskFile { .. } => true,
            other => other.path().components().count() > depth && within(other.path(), workspace),
        })
        .unwrap_or(ops.len());
    ops.insert(at, overlay);
    Ok(())
}
