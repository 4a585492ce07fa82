//! `changes show`: a change set as a unified diff against the workspace as it is now. Text
//! files get line diffs; a binary file (a NUL byte, or not UTF-8) is summarised by size and hash.
//! The workspace side is read through `fsat` like apply: a symlink there is never followed.

use std::fmt::Write;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::sys::stat::SFlag;
use similar::TextDiff;

use super::layer::{Change, Kind};
use super::{base, fsat};

/// The workspace's entry at a changed path.
enum Old {
    Absent,
    File {
        bytes: Vec<u8>,
        mode: u32,
    },
    /// A directory, symlink, something else, or a path that cannot be reached without following
    /// a symlink.
    Other,
}

fn old_state(ws: BorrowedFd<'_>, rel: &Path) -> Old {
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Old::Other;
    };
    let Ok(dir) = fsat::open_dir(ws, parent) else {
        return Old::Absent;
    };
    match fsat::stat(dir.as_fd(), name) {
        Ok(None) => Old::Absent,
        Ok(Some(st)) if fsat::kind(&st) == SFlag::S_IFREG => {
            let mut bytes = Vec::new();
            let read = fsat::open_file(dir.as_fd(), name)
                .map(std::fs::File::from)
                .map_err(std::io::Error::from)
                .and_then(|mut f| f.read_to_end(&mut bytes));
            match read {
                Ok(_) => Old::File {
                    bytes,
                    mode: st.st_mode & 0o7777,
                },
                Err(_) => Old::Other,
            }
        }
        _ => Old::Other,
    }
}

fn text(bytes: &[u8]) -> Option<&str> {
    if bytes.contains(&0) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

fn summary(bytes: &[u8]) -> String {
    format!(
        "{} bytes, sha256 {}",
        bytes.len(),
        base::hash(bytes).unwrap_or_default()
    )
}

/// Render every change of the layer at `upper` against `workspace`.
pub fn render(changes: &[Change], workspace: &Path, upper: &Path) -> std::io::Result<String> {
    let ws = std::fs::File::open(workspace)?;
    let mut out = String::new();
    for change in changes {
        let rel = change.rel.display();
        let old = old_state(ws.as_fd(), &change.rel);
        match &change.kind {
            Kind::Dir { mode, opaque } => {
                if matches!(old, Old::Absent) {
                    let _ = writeln!(out, "new directory {rel} (mode {mode:o})");
                } else if *opaque {
                    let _ = writeln!(out, "replaced directory {rel}: old content removed");
                }
            }
            Kind::Delete => {
                let _ = writeln!(out, "deleted {rel}");
            }
            Kind::Symlink { target } => {
                let _ = writeln!(out, "symlink {rel} -> {}", target.display());
            }
            Kind::Refused { why } => {
                let _ = writeln!(out, "refused {rel}: {why} (never applied)");
            }
            Kind::File { mode, .. } => {
                let new = match std::fs::read(upper.join(&change.rel)) {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = writeln!(out, "unreadable {rel} in the change set: {e}");
                        continue;
                    }
                };
                let (before, from) = match &old {
                    Old::File {
                        bytes,
                        mode: old_mode,
                    } => {
                        if old_mode != mode {
                            let _ = writeln!(out, "mode {rel}: {old_mode:o} -> {mode:o}");
                        }
                        if *bytes == new {
                            continue;
                        }
                        (bytes.as_slice(), format!("a/{rel}"))
                    }
                    _ => (&[][..], "/dev/null".to_string()),
                };
                match (text(before), text(&new)) {
                    (Some(before), Some(after)) => {
                        let diff = TextDiff::from_lines(before, after);
                        let _ = write!(
                            out,
                            "{}",
                            diff.unified_diff().header(&from, &format!("b/{rel}"))
                        );
                    }
                    _ => {
                        let was = match &old {
                            Old::File { bytes, .. } => summary(bytes),
                            _ => "absent".into(),
                        };
                        let _ = writeln!(out, "binary {rel}: {was} -> {}", summary(&new));
                    }
                }
            }
        }
    }
    Ok(out)
}
