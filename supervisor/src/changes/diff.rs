//! `changes show`: a change set as a unified diff against the workspace as it is now. Text
//! files get line diffs; a binary file (a NUL byte, or not UTF-8) is summarised by size and hash.

use std::fmt::Write;
use std::path::Path;

use similar::TextDiff;

use super::base;
use super::layer::{Change, Kind};

fn read_text(path: &Path) -> Result<Option<String>, std::io::Error> {
    let bytes = std::fs::read(path)?;
    if bytes.contains(&0) {
        return Ok(None);
    }
    Ok(String::from_utf8(bytes).ok())
}

fn summary(path: &Path) -> String {
    match std::fs::File::open(path) {
        Ok(f) => {
            let size = f.metadata().map(|m| m.len()).unwrap_or(0);
            let hash = base::hash(f).unwrap_or_default();
            format!("{size} bytes, sha256 {hash}")
        }
        Err(e) => format!("unreadable: {e}"),
    }
}

/// Render every change; `old` is the workspace path, `new` the layer path. Symlinks in the
/// workspace are shown as symlinks, not followed.
pub fn render(changes: &[Change], workspace: &Path, upper: &Path) -> String {
    let mut out = String::new();
    for change in changes {
        let rel = change.rel.display();
        let old = workspace.join(&change.rel);
        let old_meta = std::fs::symlink_metadata(&old).ok();
        let old_is_file = old_meta.as_ref().is_some_and(|m| m.is_file());
        match &change.kind {
            Kind::Dir { mode, opaque } => {
                if old_meta.is_none() {
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
                let new = upper.join(&change.rel);
                let before = if old_is_file {
                    read_text(&old).ok().flatten()
                } else {
                    Some(String::new())
                };
                let after = read_text(&new).ok().flatten();
                let old_mode = old_meta
                    .as_ref()
                    .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777);
                if old_mode.is_some_and(|m| m != *mode) {
                    let _ = writeln!(out, "mode {rel}: {:o} -> {mode:o}", old_mode.unwrap_or(0));
                }
                match (before, after) {
                    (Some(before), Some(after)) => {
                        if before == after && old_is_file {
                            continue;
                        }
                        let from = if old_is_file {
                            format!("a/{rel}")
                        } else {
                            "/dev/null".into()
                        };
                        let diff = TextDiff::from_lines(&before, &after);
                        let _ = write!(
                            out,
                            "{}",
                            diff.unified_diff().header(&from, &format!("b/{rel}"))
                        );
                    }
                    _ => {
                        let was = if old_is_file {
                            summary(&old)
                        } else {
                            "absent".into()
                        };
                        let _ = writeln!(out, "binary {rel}: {was} -> {}", summary(&new));
                    }
                }
            }
        }
    }
    out
}
