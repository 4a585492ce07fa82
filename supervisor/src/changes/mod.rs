//! Change sets of overlay-mode runs: where they live, their metadata, and what happens to them
//! when a run ends (apply, discard, keep) or later (`missy-sandbox changes`).
//!
//! A change set is a directory `<store>/<id>/` (0700, owned by the supervisor's user) holding
//! `upper/` and `work/` (the overlayfs layers the sandbox wrote through) and `meta.json`. The
//! store is `/var/lib/missy-sandbox/changes` for root and `$XDG_STATE_HOME/missy-sandbox/changes`
//! (or `~/.local/state/…`) for anyone else; `MISSY_SANDBOX_CHANGES` overrides it.

pub mod apply;
pub mod base;
pub mod diff;
mod fsat;
pub mod layer;
pub mod run;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use apply::{DEFAULT_PROTECTED, Protected, Report};

#[derive(Debug, thiserror::Error)]
pub enum ChangesError {
    #[error("{step} {}: {source}", path.display())]
    Io {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no change set `{0}` (see `missy-sandbox changes list`)")]
    Unknown(String),
    #[error("`{0}` is not a change set id (letters, digits and '-' only)")]
    BadId(String),
    #[error("change set {id}: bad metadata: {reason}")]
    Meta { id: String, reason: String },
    #[error("protected path pattern `{pattern}`: {reason}")]
    Protect { pattern: String, reason: String },
}

impl ChangesError {
    pub fn io(step: &'static str, path: &Path, source: std::io::Error) -> ChangesError {
        ChangesError::Io {
            step,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What the supervisor does with an overlay run's changes when the run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OnExit {
    Apply,
    Discard,
    Keep,
}

/// How the workload sees the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum WorkspaceMode {
    #[default]
    Direct,
    Overlay,
}

/// `meta.json` of a change set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub id: String,
    /// RFC 3339, UTC.
    pub created: String,
    pub profile: String,
    pub workspace: PathBuf,
    pub argv: Vec<String>,
    /// None while the run is going (or when it never finished).
    pub exit_status: Option<i32>,
    /// The profile's `[filesystem] protect` list, kept for a later `changes apply`.
    #[serde(default)]
    pub protect: Vec<String>,
    /// Each changed path's state in the workspace when the run ended.
    #[serde(default)]
    pub bases: BTreeMap<PathBuf, base::Base>,
}

/// The directory of all change sets.
pub fn store() -> PathBuf {
    if let Some(dir) = std::env::var_os("MISSY_SANDBOX_CHANGES").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/missy-sandbox/changes");
    }
    std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::commands::home_dir().join(".local/state"))
        .join("missy-sandbox/changes")
}

/// One change set on disk.
#[derive(Debug, Clone)]
pub struct ChangeSet {
    pub dir: PathBuf,
    pub meta: Meta,
}

impl ChangeSet {
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }

    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }

    /// Create the directories of a new change set for a run about to start.
    pub fn create(meta: Meta) -> Result<ChangeSet, ChangesError> {
        check_id(&meta.id)?;
        let root = store();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(|e| ChangesError::io("create the change-set store", &root, e))?;
        let set = ChangeSet {
            dir: root.join(&meta.id),
            meta,
        };
        for dir in [set.dir.clone(), set.upper(), set.work()] {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .map_err(|e| ChangesError::io("create the change set", &dir, e))?;
        }
        set.save()?;
        Ok(set)
    }

    pub fn open(id: &str) -> Result<ChangeSet, ChangesError> {
        check_id(id)?;
        let dir = store().join(id);
        let path = dir.join("meta.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ChangesError::Unknown(id.to_string()));
            }
            Err(e) => return Err(ChangesError::io("read", &path, e)),
        };
        let meta = serde_json::from_str(&text).map_err(|e| ChangesError::Meta {
            id: id.to_string(),
            reason: e.to_string(),
        })?;
        Ok(ChangeSet { dir, meta })
    }

    /// Every change set in the store, oldest first.
    pub fn list() -> Result<Vec<ChangeSet>, ChangesError> {
        let root = store();
        let entries = match std::fs::read_dir(&root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ChangesError::io("read the change-set store", &root, e)),
        };
        let mut sets: Vec<ChangeSet> = entries
            .flatten()
            .filter_map(|e| ChangeSet::open(&e.file_name().to_string_lossy()).ok())
            .collect();
        sets.sort_by(|a, b| a.meta.created.cmp(&b.meta.created));
        Ok(sets)
    }

    pub fn save(&self) -> Result<(), ChangesError> {
        let path = self.dir.join("meta.json");
        let tmp = self.dir.join("meta.json.tmp");
        let json = serde_json::to_vec_pretty(&self.meta).map_err(|e| ChangesError::Meta {
            id: self.meta.id.clone(),
            reason: e.to_string(),
        })?;
        std::fs::write(&tmp, json).map_err(|e| ChangesError::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| ChangesError::io("write", &path, e))
    }

    /// The changes the layer records.
    pub fn changes(&self) -> Result<Vec<layer::Change>, ChangesError> {
        layer::read(&self.upper())
    }

    /// Record each changed path's current state in the workspace (the base a later apply checks).
    pub fn record_bases(&mut self, changes: &[layer::Change]) -> Result<(), ChangesError> {
        let ws = std::fs::File::open(&self.meta.workspace)
            .map_err(|e| ChangesError::io("open the workspace", &self.meta.workspace, e))?;
        let ws = std::os::fd::AsFd::as_fd(&ws);
        self.meta.bases = changes
            .iter()
            .map(|c| (c.rel.clone(), base::of(ws, &c.rel)))
            .collect();
        Ok(())
    }

    /// What is never applied: the profile's `protect` list and [`DEFAULT_PROTECTED`].
    pub fn protected(&self) -> Protected {
        Protected::for_profile(&self.meta.protect, &self.meta.workspace)
    }

    /// Apply to the workspace; `check_bases` refuses paths changed since the run.
    pub fn apply(&self, protected: &Protected, check_bases: bool) -> Result<Report, ChangesError> {
        let changes = self.changes()?;
        apply::apply(
            &self.upper(),
            &self.meta.workspace,
            &changes,
            protected,
            check_bases.then_some(&self.meta.bases),
        )
    }

    /// Remove the change set and everything in it.
    pub fn discard(self) -> Result<(), ChangesError> {
        remove_tree(&self.dir)
    }
}

fn check_id(id: &str) -> Result<(), ChangesError> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(ChangesError::BadId(id.to_string()));
    }
    Ok(())
}

/// remove_dir_all that first opens up directories overlayfs left without permissions (its
/// `work/work` is mode 000). Symlinks are removed, never followed.
fn remove_tree(dir: &Path) -> Result<(), ChangesError> {
    fn open_up(dir: &Path) {
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                open_up(&entry.path());
            }
        }
    }
    open_up(dir);
    std::fs::remove_dir_all(dir).map_err(|e| ChangesError::io("remove the change set", dir, e))
}

/// Print an apply report to stderr: what was applied, and every path that was not and why.
pub fn print_report(report: &Report) {
    eprintln!(
        "missy-sandbox: applied {} change(s) to the workspace",
        report.applied.len()
    );
    for p in &report.protected {
        eprintln!(
            "missy-sandbox: not applied (protected path): {}",
            p.display()
        );
    }
    for (p, why) in &report.refused {
        eprintln!(
            "missy-sandbox: not applied (refused: {why}): {}",
            p.display()
        );
    }
    for (p, why) in &report.conflicts {
        eprintln!(
            "missy-sandbox: not applied (conflict: {why}): {}",
            p.display()
        );
    }
    for (p, why) in &report.failed {
        eprintln!(
            "missy-sandbox: not applied (failed: {why}): {}",
            p.display()
        );
    }
}
