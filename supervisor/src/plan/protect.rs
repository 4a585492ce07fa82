//! `[filesystem] protect` on this host: which protected paths exist (bound read-only over
//! themselves), which are absent (a placeholder is created on the host for the run and masked
//! inside, so nothing can be created there), and which directories are pinned (bound writable
//! over themselves, so a protected path's parent cannot be renamed away and replaced).
//!
//! A workspace that is a git worktree (`.git` is a file, `gitdir: …`) gets its real gitdir and
//! the repository's common dir granted writable (objects, refs, index, logs), with the `.git/…`
//! entries protected in the common dir and the `.git` file itself read-only.

use std::path::{Path, PathBuf};

use super::mounts::{MountOp, is_builtin};
use super::{Access, Grant, PlanError};
use crate::policy::model::SANDBOX_TMP;

/// What the protect list became on this host.
#[derive(Debug, Clone, Default)]
pub struct Protected {
    /// Bind mounts, sorted into the others by depth: pins (writable) and existing protected
    /// paths (read-only).
    pub binds: Vec<MountOp>,
    /// Masks over the placeholders, applied after every bind.
    pub masks: Vec<MountOp>,
    /// Absent protected paths: (path, is_dir), created on the host for the run (always as
    /// directories: see `add`).
    pub placeholders: Vec<(PathBuf, bool)>,
    /// Every protected path, for the placeholder registry and the report.
    pub paths: Vec<PathBuf>,
    /// Directories outside the grants that git worktrees need writable.
    pub extra_grants: Vec<Grant>,
    /// Entries that matched nothing because their parent directory does not exist.
    pub skipped: Vec<PathBuf>,
}

/// Resolve `entries` (validated by `policy::protect`) against the writable directory grants.
pub fn resolve(entries: &[String], grants: &[Grant]) -> Result<Protected, PlanError> {
    let mut out = Protected::default();
    if entries.is_empty() {
        return Ok(out);
    }
    let roots: Vec<PathBuf> = grants
        .iter()
        .filter(|g| {
            g.access == Access::Write
                && g.is_dir
                && !is_builtin(&g.path)
                && g.path != Path::new(SANDBOX_TMP)
        })
        .map(|g| g.path.clone())
        .collect();
    for root in &roots {
        let worktree = git_worktree(root);
        for entry in entries.iter().filter(|e| !e.starts_with('/')) {
            let is_dir = entry.ends_with('/');
            let relative = entry.trim_end_matches('/');
            // In a worktree, `.git/x` lives in the repository's common dir.
            let base = match (&worktree, relative.strip_prefix(".git/")) {
                (Some(w), Some(rest)) => {
                    protect_each(&w.common, rest, is_dir, &mut out)?;
                    continue;
                }
                _ => root,
            };
            protect_each(base, relative, is_dir, &mut out)?;
        }
        if let Some(w) = worktree {
            for dir in [&w.gitdir, &w.common] {
                out.extra_grants.push(Grant {
                    path: dir.clone(),
                    access: Access::Write,
                    is_dir: true,
                });
            }
            // The link itself: pointed elsewhere, it would hand the host another gitdir.
            add(&root.join(".git"), false, &mut out)?;
        }
    }
    // Absolute entries, beneath the writable grant that holds them (pinned from there).
    for entry in entries.iter().filter(|e| e.starts_with('/')) {
        let path = Path::new(entry.trim_end_matches('/'));
        if let Some(root) = roots.iter().find(|r| path.starts_with(r) && path != *r)
            && let Ok(relative) = path.strip_prefix(root)
        {
            let relative = relative.to_string_lossy();
            protect_each(root, &relative, entry.ends_with('/'), &mut out)?;
        }
    }
    Ok(out)
}

/// Protect `relative` (possibly with wildcards) beneath `base`.
fn protect_each(
    base: &Path,
    relative: &str,
    is_dir: bool,
    out: &mut Protected,
) -> Result<(), PlanError> {
    for path in expand(base, relative) {
        // Each directory between the base and the protected path is pinned.
        let mut pinned = path.parent();
        let mut pins = Vec::new();
        while let Some(dir) = pinned
            && dir != base
            && dir.starts_with(base)
        {
            pins.push(dir.to_path_buf());
            pinned = dir.parent();
        }
        match path.parent().map(std::fs::symlink_metadata) {
            Some(Ok(meta)) if meta.is_dir() => {}
            // A parent that does not exist: nothing here for the host to run either.
            _ => {
                out.skipped.push(path);
                continue;
            }
        }
        for dir in pins.into_iter().rev() {
            let pin = MountOp::Bind {
                path: dir,
                writable: true,
                is_dir: true,
            };
            if !out.binds.contains(&pin) {
                out.binds.push(pin);
            }
        }
        add(&path, is_dir, out)?;
    }
    Ok(())
}

/// Protect one concrete path: read-only if it exists, a placeholder if not.
fn add(path: &Path, is_dir: bool, out: &mut Protected) -> Result<(), PlanError> {
    if out.paths.iter().any(|p| p == path) {
        return Ok(());
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(PlanError::ProtectedSymlink(path.to_path_buf()));
        }
        Ok(meta) => out.binds.push(MountOp::Bind {
            path: path.to_path_buf(),
            writable: false,
            is_dir: meta.is_dir(),
        }),
        // Absent: an empty directory whatever the path would be (a file or a directory, as
        // `is_dir` documents), because git and other tree walkers skip empty directories
        // silently while an unreadable or empty file would be listed and added.
        Err(_) => {
            let _ = is_dir;
            out.placeholders.push((path.to_path_buf(), true));
            out.masks.push(MountOp::Placeholder {
                path: path.to_path_buf(),
            });
        }
    }
    out.paths.push(path.to_path_buf());
    Ok(())
}

/// The concrete paths `relative` names beneath `base`: itself when it has no wildcard, else
/// the existing entries each wildcard component matches (the last component may be absent).
fn expand(base: &Path, relative: &str) -> Vec<PathBuf> {
    let mut found = vec![base.to_path_buf()];
    let components: Vec<&str> = relative.split('/').filter(|c| !c.is_empty()).collect();
    for component in components {
        if !component.contains(['*', '?', '[']) {
            for path in &mut found {
                path.push(component);
            }
            continue;
        }
        let Ok(glob) = globset::Glob::new(component) else {
            return Vec::new();
        };
        let matcher = glob.compile_matcher();
        found = found
            .iter()
            .filter_map(|dir| std::fs::read_dir(dir).ok())
            .flatten()
            .flatten()
            .filter(|e| matcher.is_match(e.file_name()))
            .map(|e| e.path())
            .collect();
        found.sort();
    }
    found
}

/// A git worktree's link: the gitdir it names and the repository's common dir.
struct Worktree {
    gitdir: PathBuf,
    common: PathBuf,
}

/// `root/.git` when it is a worktree link (a file `gitdir: <path>`).
fn git_worktree(root: &Path) -> Option<Worktree> {
    let link = root.join(".git");
    if !std::fs::symlink_metadata(&link).ok()?.is_file() {
        return None;
    }
    let text = std::fs::read_to_string(&link).ok()?;
    let named = Path::new(text.strip_prefix("gitdir:")?.trim());
    let gitdir = std::fs::canonicalize(root.join(named)).ok()?;
    let common = match std::fs::read_to_string(gitdir.join("commondir")) {
        Ok(c) => std::fs::canonicalize(gitdir.join(c.trim())).ok()?,
        Err(_) => gitdir.clone(),
    };
    Some(Worktree { gitdir, common })
}

/// After the run: the protected paths that could not be protected at launch (their parent did
/// not exist, e.g. `.git/hooks` before `git init`) and exist now, so the run created them
/// unprotected; and the warning that names them.
pub fn created_unprotected(skipped: &[PathBuf]) -> Option<String> {
    let created: Vec<String> = skipped
        .iter()
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .map(|p| p.display().to_string())
        .collect();
    (!created.is_empty()).then(|| {
        format!(
            "WARNING: the run created {}, listed in [filesystem] protect but not protected (the parent did not exist at launch, e.g. a repository the run initialised): inspect before the host runs git or a shell there",
            created.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace(root: &Path) -> Vec<Grant> {
        vec![Grant {
            path: root.to_path_buf(),
            access: Access::Write,
            is_dir: true,
        }]
    }

    #[test]
    fn existing_paths_are_bound_read_only_absent_ones_get_placeholders_and_parents_pins() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join(".git/hooks")).unwrap();
        std::fs::write(root.join(".bashrc"), "x").unwrap();
        let entries: Vec<String> = [".git/hooks/", ".git/info/", ".bashrc", ".envrc", "nope/x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = resolve(&entries, &workspace(&root)).unwrap();
        let bind = |path: PathBuf, writable| MountOp::Bind {
            path,
            writable,
            is_dir: true,
        };
        assert!(p.binds.contains(&bind(root.join(".git"), true)), "{p:?}");
        assert!(p.binds.contains(&bind(root.join(".git/hooks"), false)));
        assert!(p.binds.contains(&MountOp::Bind {
            path: root.join(".bashrc"),
            writable: false,
            is_dir: false
        }));
        assert_eq!(
            p.placeholders,
            vec![(root.join(".git/info"), true), (root.join(".envrc"), true)]
        );
        assert_eq!(p.skipped, vec![root.join("nope/x")]);
        assert_eq!(created_unprotected(&p.skipped), None);
        std::fs::create_dir(root.join("nope")).unwrap();
        std::fs::write(root.join("nope/x"), "").unwrap();
        let warning = created_unprotected(&p.skipped).unwrap();
        assert!(warning.contains(&root.join("nope/x").display().to_string()));
    }

    #[test]
    fn a_worktree_protects_the_common_dir_and_grants_its_gitdir() {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        let common = base.join("repo/.git");
        let gitdir = common.join("worktrees/wt");
        std::fs::create_dir_all(&gitdir).unwrap();
        std::fs::create_dir_all(common.join("hooks")).unwrap();
        std::fs::write(gitdir.join("commondir"), "../..\n").unwrap();
        let wt = base.join("wt");
        std::fs::create_dir_all(&wt).unwrap();
        std::fs::write(wt.join(".git"), format!("gitdir: {}\n", gitdir.display())).unwrap();
        let p = resolve(&[".git/hooks/".to_string()], &workspace(&wt)).unwrap();
        assert!(p.paths.contains(&common.join("hooks")), "{p:?}");
        assert!(p.paths.contains(&wt.join(".git")));
        let granted: Vec<_> = p.extra_grants.iter().map(|g| g.path.clone()).collect();
        assert_eq!(granted, vec![gitdir, common]);
    }

    #[test]
    fn a_protected_symlink_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join(".envrc")).unwrap();
        let err = resolve(&[".envrc".into()], &workspace(&root)).unwrap_err();
        assert!(matches!(err, PlanError::ProtectedSymlink(_)), "{err}");
    }
}
