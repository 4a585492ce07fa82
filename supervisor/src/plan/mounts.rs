//! Policy → the ordered list of mount operations that builds the sandbox's root.
//!
//! The new root is an empty tmpfs. Only what the profile grants is bound into it, at the same
//! path as on the host; everything else simply does not exist inside. Masks are applied last, over
//! the binds. Runs in the supervisor (reads host metadata only); `confine::mounts` executes it.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Access, Grant};
use crate::policy::model::{SANDBOX_TMP, same_path, within};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountOp {
    /// Bind a host path into the new root at the same path; read-only unless `writable`.
    Bind {
        path: PathBuf,
        writable: bool,
        is_dir: bool,
    },
    /// Recreate a host symlink (e.g. /bin → usr/bin on merged-/usr systems).
    Symlink { link: PathBuf, target: PathBuf },
    /// A fresh tmpfs (the private /tmp), sticky and world-writable.
    Tmpfs { path: PathBuf, size: Option<u64> },
    /// A minimal /dev: null, zero, full, random, urandom, tty, plus fd/std* links and /dev/shm.
    Dev,
    /// A fresh procfs for the sandbox's pid namespace.
    Proc,
    /// Hide a directory under an empty read-only tmpfs.
    MaskDir { path: PathBuf },
    /// Hide a file behind an empty read-only file.
    MaskFile { path: PathBuf },
    /// Keep an absent protected path from being created: an empty, readable, read-only
    /// directory over the placeholder the supervisor made on the host.
    Placeholder { path: PathBuf },
}

impl MountOp {
    pub fn path(&self) -> &Path {
        match self {
            MountOp::Bind { path, .. }
            | MountOp::Tmpfs { path, .. }
            | MountOp::MaskDir { path }
            | MountOp::MaskFile { path }
            | MountOp::Placeholder { path } => path,
            MountOp::Symlink { link, .. } => link,
            MountOp::Dev => Path::new("/dev"),
            MountOp::Proc => Path::new("/proc"),
        }
    }
}

/// Paths the sandbox always provides itself; grants on them are Landlock rules, not binds.
pub fn is_builtin(path: &Path) -> bool {
    same_path(path, Path::new(SANDBOX_TMP))
        || within(path, Path::new("/proc"))
        || within(path, Path::new("/dev"))
}

fn depth(path: &Path) -> usize {
    path.components().count()
}

/// Build the mount operations for the effective grants (already resolved and deduplicated).
pub fn compile(
    grants: &[Grant],
    symlinks: &[(PathBuf, PathBuf)],
    masks: &[PathBuf],
    tmp_size: Option<u64>,
    protected: &super::protect::Protected,
) -> Vec<MountOp> {
    let mut ops = vec![
        MountOp::Tmpfs {
            path: PathBuf::from(SANDBOX_TMP),
            size: tmp_size,
        },
        MountOp::Dev,
        MountOp::Proc,
    ];
    for (link, target) in symlinks {
        ops.push(MountOp::Symlink {
            link: link.clone(),
            target: target.clone(),
        });
    }
    // Each bound grant by path, for finding the nearest enclosing one by walking a path's
    // ancestors: a lookup per ancestor instead of comparing every pair of grants.
    let bound: HashMap<&OsStr, &Grant> = grants
        .iter()
        .filter(|g| !is_builtin(&g.path))
        .map(|g| (g.path.as_os_str(), g))
        .collect();
    let enclosing = |path: &Path| {
        path.ancestors()
            .skip(1)
            .find_map(|a| bound.get(a.as_os_str()).copied())
    };
    for grant in grants.iter().filter(|g| !is_builtin(&g.path)) {
        // A grant inside another grant of the same writability is already visible through the
        // nearest enclosing bind; Landlock gives it its own rights. A different writability
        // (a read-only path inside a writable workspace) needs a bind of its own.
        let covered = enclosing(&grant.path).is_some_and(|outer| {
            (outer.access == Access::Write) == (grant.access == Access::Write)
        });
        if !covered {
            ops.push(MountOp::Bind {
                path: grant.path.clone(),
                writable: grant.access == Access::Write,
                is_dir: grant.is_dir,
            });
        }
    }
    // Pins and read-only protected paths sit inside the writable binds.
    ops.extend(protected.binds.iter().cloned());
    // Parents before children, so a nested bind lands on top of its parent's bind.
    ops.sort_by_cached_key(|op| depth(op.path()));
    for mask in masks {
        let visible = bound.contains_key(mask.as_os_str()) || enclosing(mask).is_some();
        match std::fs::symlink_metadata(mask) {
            Ok(meta) if visible && meta.is_dir() => {
                ops.push(MountOp::MaskDir { path: mask.clone() })
            }
            Ok(_) if visible => ops.push(MountOp::MaskFile { path: mask.clone() }),
            _ => {}
        }
    }
    // The placeholders of absent protected paths, masked last like the profile's masks.
    ops.extend(protected.masks.iter().cloned());
    ops
}
