//! Read an overlayfs upper directory into the list of changes it records.
//!
//! The upper layer mirrors the workspace: a directory there is a directory created or changed,
//! a regular file or symlink replaces what the workspace had, a character device 0:0 is a
//! whiteout (the path was deleted), and a directory carrying the `overlay.opaque` xattr hides
//! everything the workspace had below it. A renamed directory appears as an opaque (or whiteout
//! plus new) directory: overlayfs without `redirect_dir` copies it up whole, so a rename reads
//! as a delete plus an add. The sandbox has ended when this runs; nothing here follows a symlink.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::ChangesError;

/// What one path of the upper layer asks of the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory (created, or only its mode/children changed); `opaque` hides the old content.
    Dir {
        mode: u32,
        opaque: bool,
    },
    /// A regular file's new content, read from the upper layer at apply time.
    File {
        mode: u32,
        size: u64,
    },
    Symlink {
        target: PathBuf,
    },
    /// A whiteout: the path was deleted.
    Delete,
    /// Never applied: a device node, fifo, socket, or a setuid/setgid file.
    Refused {
        why: String,
    },
}

/// One entry of the layer, by path relative to the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub rel: PathBuf,
    pub kind: Kind,
}

/// Every change of the layer at `upper`, parents before their children, sorted by path.
pub fn read(upper: &Path) -> Result<Vec<Change>, ChangesError> {
    let mut out = Vec::new();
    walk(upper, Path::new(""), &mut out)?;
    Ok(out)
}

fn walk(upper: &Path, rel: &Path, out: &mut Vec<Change>) -> Result<(), ChangesError> {
    let dir = upper.join(rel);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| ChangesError::io("read the change layer", &dir, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| ChangesError::io("read the change layer", &dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let rel = rel.join(entry.file_name());
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| ChangesError::io("stat in the change layer", &path, e))?;
        let ft = meta.file_type();
        let mode = meta.mode() & 0o7777;
        let kind = if ft.is_dir() {
            Kind::Dir {
                mode,
                opaque: is_opaque(&path),
            }
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&path)
                .map_err(|e| ChangesError::io("read a symlink of the change layer", &path, e))?;
            Kind::Symlink { target }
        } else if ft.is_char_device() && meta.rdev() == 0 {
            Kind::Delete
        } else if ft.is_file() && mode & 0o6000 != 0 {
            Kind::Refused {
                why: format!("setuid/setgid file (mode {mode:o})"),
            }
        } else if ft.is_file() {
            Kind::File {
                mode,
                size: meta.len(),
            }
        } else {
            Kind::Refused {
                why: "device node, fifo or socket".into(),
            }
        };
        let is_dir = matches!(kind, Kind::Dir { .. });
        out.push(Change {
            rel: rel.clone(),
            kind,
        });
        if is_dir {
            walk(upper, &rel, out)?;
        }
    }
    Ok(())
}

/// overlayfs marks an opaque directory with `user.overlay.opaque` (mounted with `userxattr`,
/// as in a user namespace) or `trusted.overlay.opaque`; the value "y" means opaque.
fn is_opaque(path: &Path) -> bool {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    [c"user.overlay.opaque", c"trusted.overlay.opaque"]
        .iter()
        .any(|name| {
            let mut value = [0u8; 4];
            // SAFETY: both strings are NUL-terminated and live across the call; the buffer is
            // writable for its stated length. lgetxattr does not follow a symlink.
            let n = unsafe {
                libc::lgetxattr(
                    c_path.as_ptr(),
                    name.as_ptr(),
                    value.as_mut_ptr().cast(),
                    value.len(),
                )
            };
            n >= 1 && value[0] == b'y'
        })
}
