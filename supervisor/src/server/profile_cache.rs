//! The launcher's cache of loaded profiles, per (profile reference, workspace). The launcher
//! fills it after handing each run on; the spares it forks afterwards inherit it, and a run
//! whose entry still matches the profile files on disk skips parsing and building its profile.
//!
//! Never stale: an entry remembers every profile file its load read (path and full text) and
//! every search-path candidate that came before one of them and was absent. It is used only if
//! each of those files still reads the same and each of those candidates is still absent, which
//! is exactly what a fresh load would see (texts are compared, not timestamps, so an edit
//! within the filesystem's timestamp granularity is not missed).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::policy::resolve::{self, SourceFile};
use crate::policy::{Context, Policy, PolicyError};

/// Entries kept at most; beyond, the cache starts over (clients rarely use many).
const MAX_ENTRIES: usize = 64;

/// One profile file lookup (the root reference or an `extends` entry) as the load saw it.
#[derive(Debug, Clone)]
struct Lookup {
    /// Search-path candidates tried before the file that was used: each was not a file.
    absent: Vec<PathBuf>,
    /// The file read and its text; None for a profile shipped in the binary.
    file: Option<(PathBuf, String)>,
}

impl Lookup {
    fn still_holds(&self) -> bool {
        self.absent.iter().all(|p| !p.is_file())
            && self
                .file
                .as_ref()
                .is_none_or(|(path, text)| std::fs::read_to_string(path).is_ok_and(|t| t == *text))
    }
}

#[derive(Debug, Clone)]
struct Entry {
    ctx: Context,
    lookups: Vec<Lookup>,
    policy: Policy,
}

/// Loaded profiles by (reference, workspace).
#[derive(Debug, Default)]
pub struct ProfileCache {
    entries: HashMap<(String, PathBuf), Entry>,
}

/// A profile taken from the cache for one run, with the context it was loaded in.
#[derive(Debug)]
pub struct Cached {
    pub ctx: Context,
    pub policy: Policy,
}

impl ProfileCache {
    /// The profile `reference` for `workspace` as a fresh load would give it now, if cached.
    pub fn get(&self, reference: &str, workspace: &Path) -> Option<Cached> {
        let entry = self
            .entries
            .get(&(reference.to_string(), workspace.to_path_buf()))?;
        entry
            .lookups
            .iter()
            .all(Lookup::still_holds)
            .then(|| Cached {
                ctx: entry.ctx.clone(),
                policy: entry.policy.clone(),
            })
    }

    /// Load `reference` for `ctx` and keep it, unless a valid entry exists. A profile that
    /// does not load is not kept (the run reports the error by loading it itself).
    pub fn warm(&mut self, reference: &str, ctx: &Context) {
        let key = (reference.to_string(), ctx.workspace.clone());
        if self
            .entries
            .get(&key)
            .is_some_and(|e| same_context(&e.ctx, ctx) && e.lookups.iter().all(Lookup::still_holds))
        {
            return;
        }
        match load_recorded(reference, ctx) {
            Ok((policy, lookups)) => {
                if self.entries.len() >= MAX_ENTRIES {
                    self.entries.clear();
                }
                self.entries.insert(
                    key,
                    Entry {
                        ctx: ctx.clone(),
                        lookups,
                        policy,
                    },
                );
            }
            Err(_) => {
                self.entries.remove(&key);
            }
        }
    }
}

pub fn same_context(a: &Context, b: &Context) -> bool {
    a.workspace == b.workspace && a.home == b.home && a.cwd == b.cwd
}

/// `policy::load`, recording what each profile lookup found.
#[allow(clippy::result_large_err)] // PolicyError, as in policy/mod.rs
fn load_recorded(reference: &str, ctx: &Context) -> Result<(Policy, Vec<Lookup>), PolicyError> {
    let seen = RefCell::new(Vec::new());
    let find = |r: &str, relative_to: Option<&Path>| -> Result<SourceFile, PolicyError> {
        let file = resolve::find(r, relative_to)?;
        seen.borrow_mut().push(lookup_of(r, &file));
        Ok(file)
    };
    let root = find(reference, None)?;
    let files = resolve::chain_from(root, &find)?;
    let policy = crate::policy::model::build(&files, ctx)?;
    Ok((policy, seen.into_inner()))
}

/// What `resolve::find` consulted to return `file` for `reference`: a path reference reads
/// that path; a name takes the first search directory holding `NAME.toml`, else the shipped
/// profile of that name.
fn lookup_of(reference: &str, file: &SourceFile) -> Lookup {
    let read = (!file.origin.starts_with("<shipped>")).then(|| PathBuf::from(&file.origin));
    let mut absent = Vec::new();
    if !resolve::is_explicit_path(reference) {
        for dir in resolve::search_dirs() {
            let candidate = dir.join(format!("{reference}.toml"));
            if read.as_ref() == Some(&candidate) {
                break;
            }
            absent.push(candidate);
        }
    }
    Lookup {
        absent,
        file: read.map(|path| (path, file.text.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(dir: &Path) -> Context {
        Context {
            workspace: dir.to_path_buf(),
            home: dir.to_path_buf(),
            cwd: dir.to_path_buf(),
        }
    }

    fn description(cache: &ProfileCache, reference: &str, ws: &Path) -> Option<String> {
        cache
            .get(reference, ws)
            .map(|c| c.policy.description.clone())
    }

    fn profile(extends: &str, description: &str) -> String {
        format!("extends = \"{extends}\"\ndescription = \"{description}\"\n")
    }

    #[test]
    fn an_entry_serves_until_a_file_it_read_changes() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("parent.toml");
        let child = dir.path().join("child.toml");
        std::fs::write(&base, "extends = \"base\"\ndescription = \"parent\"\n").unwrap();
        std::fs::write(&child, "extends = \"parent.toml\"\n").unwrap();
        let reference = child.to_str().unwrap();
        let mut cache = ProfileCache::default();
        assert!(cache.get(reference, dir.path()).is_none());
        cache.warm(reference, &ctx(dir.path()));
        assert_eq!(
            description(&cache, reference, dir.path()).as_deref(),
            Some("parent")
        );
        // The same length, written at once: a timestamp might not tell.
        std::fs::write(&base, "extends = \"base\"\ndescription = \"PARENT\"\n").unwrap();
        assert!(cache.get(reference, dir.path()).is_none());
        cache.warm(reference, &ctx(dir.path()));
        assert_eq!(
            description(&cache, reference, dir.path()).as_deref(),
            Some("PARENT")
        );
        std::fs::remove_file(&base).unwrap();
        assert!(cache.get(reference, dir.path()).is_none());
        // A profile that no longer loads is dropped, not kept.
        cache.warm(reference, &ctx(dir.path()));
        assert!(cache.get(reference, dir.path()).is_none());
    }

    #[test]
    fn an_entry_is_per_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let mut cache = ProfileCache::default();
        cache.warm("strict", &ctx(dir.path()));
        let hit = cache.get("strict", dir.path()).unwrap();
        assert!(same_context(&hit.ctx, &ctx(dir.path())));
        assert!(cache.get("strict", other.path()).is_none());
        assert!(cache.get("dev", dir.path()).is_none());
    }

    #[test]
    fn a_file_that_would_now_shadow_a_named_profile_invalidates_it() {
        // `strict` comes from the binary; a `sandbox-profiles/strict.toml` appearing in the
        // directory searched first would win a fresh load.
        let lookup = lookup_of(
            "strict",
            &resolve::find("strict", None).expect("strict loads"),
        );
        if lookup.file.is_none() {
            let every: Vec<PathBuf> = resolve::search_dirs()
                .iter()
                .map(|d| d.join("strict.toml"))
                .collect();
            assert_eq!(lookup.absent, every);
        }
        let dir = tempfile::tempdir().unwrap();
        let shadow = dir.path().join("strict.toml");
        let held = Lookup {
            absent: vec![shadow.clone()],
            file: None,
        };
        assert!(held.still_holds());
        std::fs::write(&shadow, profile("base", "shadow")).unwrap();
        assert!(!held.still_holds());
    }
}
