//! Placeholders for absent protected paths: an empty mode-000 file or directory the supervisor
//! creates in the workspace so that pid 1 has something to mount over (a mount point cannot be
//! created, replaced or renamed inside the sandbox), removed when the run ends.
//!
//! Nothing may be left behind, even by a supervisor that was SIGKILLed, and two runs on one
//! workspace may share a placeholder. So every placeholder is registered, with the runs using
//! it (pid and start time), in `placeholders.json` in the supervisor's state directory, under
//! a lock. Whoever takes the lock first removes the placeholders no live run uses any more. A
//! placeholder is only ever removed while it is still the empty file or directory that was
//! created (same device and inode): a user's file is never touched.
//!
//! A kill may come between any two steps, so a placeholder is journaled before it exists: it
//! is made under a staging name unique to the run (journaled first, so whatever sits there is
//! ours), its inode is journaled, and only then is it renamed into place without replacing
//! anything. At every point the journal names all the run has on disk.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
#[error("cannot create the placeholder that keeps the protected path {} from being created in the sandbox: {source}", .path.display())]
pub struct PlaceholderError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// A run: pid and start time (field 22 of /proc/PID/stat), so a reused pid is not mistaken
/// for a live run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Run {
    pid: i32,
    start: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    path: PathBuf,
    /// Where it is made before it is renamed to `path`; `None` once it is in place.
    #[serde(default)]
    staging: Option<PathBuf>,
    /// 0 until it has been made (no inode is 0).
    dev: u64,
    ino: u64,
    is_dir: bool,
    users: Vec<Run>,
}

/// The placeholders this run uses; released (and removed when unused) on drop.
#[derive(Debug)]
pub struct Placeholders {
    registry: Option<PathBuf>,
    run: Run,
    /// Without a usable registry: what this run created, removed on drop.
    unregistered: Vec<Entry>,
}

/// The registry: `$XDG_STATE_HOME/missy-sandbox/placeholders.json` when it is set (absolute),
/// else `/var/lib/missy-sandbox/placeholders.json` for root and
/// `~/.local/state/missy-sandbox/placeholders.json` for others.
pub fn registry_path(euid: u32, home: &Path) -> PathBuf {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    match state {
        Some(state) => state.join("missy-sandbox/placeholders.json"),
        None if euid == 0 => PathBuf::from("/var/lib/missy-sandbox/placeholders.json"),
        None => home.join(".local/state/missy-sandbox/placeholders.json"),
    }
}

impl Placeholders {
    /// Create `wanted` (path, is_dir) and register this run as a user of them and of any of
    /// `protected` that is another run's placeholder.
    pub fn acquire(
        registry: PathBuf,
        wanted: &[(PathBuf, bool)],
        protected: &[PathBuf],
    ) -> Result<Placeholders, PlaceholderError> {
        let run = this_run();
        let mut held = Placeholders {
            registry: Some(registry.clone()),
            run,
            unregistered: Vec::new(),
        };
        let Ok(lock) = lock(&registry) else {
            // No state directory we can write: the placeholders still go when this run ends,
            // only a SIGKILLed supervisor would leave them.
            tracing::warn!(registry = %registry.display(), "placeholder registry unusable; placeholders are tracked by this run only");
            held.registry = None;
            create_all(wanted, run, &mut held.unregistered, &|_| {})?;
            return Ok(held);
        };
        let mut entries = prune(read(&registry));
        for entry in &mut entries {
            if protected.contains(&entry.path) || wanted.iter().any(|(p, _)| *p == entry.path) {
                entry.users.push(run);
            }
        }
        let created = create_all(wanted, run, &mut entries, &|e| write(&registry, e));
        write(&registry, &entries);
        drop(lock);
        created?;
        Ok(held)
    }
}

/// Remove the placeholders no live run uses any more (those of SIGKILLed supervisors); the
/// number removed from the registry. `missy-sandbox check` calls it; every run does it too.
pub fn sweep(registry: &Path) -> usize {
    if !registry.exists() {
        return 0;
    }
    let Ok(lock) = lock(registry) else { return 0 };
    let entries = read(registry);
    let before = entries.len();
    let kept = prune(entries);
    write(registry, &kept);
    drop(lock);
    before - kept.len()
}

impl Drop for Placeholders {
    fn drop(&mut self) {
        for entry in self.unregistered.drain(..) {
            remove_if_unchanged(&entry);
        }
        let Some(registry) = &self.registry else {
            return;
        };
        let Ok(lock) = lock(registry) else { return };
        let run = self.run;
        let mut entries = read(registry);
        for entry in &mut entries {
            entry.users.retain(|u| *u != run);
        }
        write(registry, &prune(entries));
        drop(lock);
    }
}

/// Create each wanted placeholder that is not in `entries` already, appending it there;
/// `journal` saves `entries` before each step that puts something on disk.
fn create_all(
    wanted: &[(PathBuf, bool)],
    run: Run,
    entries: &mut Vec<Entry>,
    journal: &dyn Fn(&[Entry]),
) -> Result<(), PlaceholderError> {
    let known = entries.len();
    for (i, (path, is_dir)) in wanted.iter().enumerate() {
        if entries[..known].iter().any(|e| e.path == *path) {
            continue;
        }
        let staging =
            path.with_file_name(format!(".missy-placeholder.{}.{}.{i}", run.pid, run.start));
        entries.push(Entry {
            path: path.clone(),
            staging: Some(staging),
            dev: 0,
            ino: 0,
            is_dir: *is_dir,
            users: vec![run],
        });
    }
    if entries.len() == known {
        return Ok(());
    }
    journal(entries);
    let made = entries[known..].iter_mut().try_for_each(make_staged);
    let placed = made.and_then(|()| {
        journal(entries);
        entries[known..].iter_mut().try_for_each(put_in_place)
    });
    if let Err(e) = placed {
        for entry in entries.drain(known..) {
            remove_if_unchanged(&entry);
        }
        return Err(e);
    }
    // A path created meanwhile by someone else is not ours to remove; pid 1 masks it all the
    // same.
    let mut i = known;
    while i < entries.len() {
        if entries[i].staging.is_some() {
            remove_if_unchanged(&entries.remove(i));
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// Make the empty mode-000 placeholder under its staging name and note its inode.
fn make_staged(entry: &mut Entry) -> Result<(), PlaceholderError> {
    let staging = entry.staging.as_deref().unwrap_or(&entry.path);
    let made = if entry.is_dir {
        std::fs::DirBuilder::new()
            .mode(0o000)
            .create(staging)
            .and_then(|()| std::fs::symlink_metadata(staging))
    } else {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o000)
            .custom_flags(libc::O_NOFOLLOW)
            .open(staging)
            .and_then(|f| f.metadata())
    };
    let meta = made.map_err(|source| PlaceholderError {
        path: entry.path.clone(),
        source,
    })?;
    (entry.dev, entry.ino) = (meta.dev(), meta.ino());
    Ok(())
}

/// Rename the staged placeholder to its path, never over anything there (RENAME_NOREPLACE);
/// when something is there, the entry keeps its staging name and is dropped by the caller.
fn put_in_place(entry: &mut Entry) -> Result<(), PlaceholderError> {
    let Some(staging) = &entry.staging else {
        return Ok(());
    };
    let cwd = nix::fcntl::AT_FDCWD;
    match nix::fcntl::renameat2(
        cwd,
        staging.as_path(),
        cwd,
        entry.path.as_path(),
        nix::fcntl::RenameFlags::RENAME_NOREPLACE,
    ) {
        Ok(()) => {
            entry.staging = None;
            Ok(())
        }
        Err(nix::errno::Errno::EEXIST) => Ok(()),
        Err(e) => Err(PlaceholderError {
            path: entry.path.clone(),
            source: e.into(),
        }),
    }
}

/// Drop dead runs from every entry, and remove the placeholders nobody uses any more.
fn prune(entries: Vec<Entry>) -> Vec<Entry> {
    entries
        .into_iter()
        .filter_map(|mut entry| {
            entry.users.retain(|u| alive(*u));
            if entry.users.is_empty() {
                remove_if_unchanged(&entry);
                None
            } else {
                Some(entry)
            }
        })
        .collect()
}

/// Remove a placeholder only while it is still the empty one that was created: at its path
/// only by inode; at its staging name also before its inode was journaled (the name is the
/// run's own).
fn remove_if_unchanged(entry: &Entry) {
    if let Some(staging) = &entry.staging {
        remove_if_ours(entry, staging, entry.ino == 0);
    }
    if entry.ino != 0 {
        remove_if_ours(entry, &entry.path, false);
    }
}

fn remove_if_ours(entry: &Entry, path: &Path, any_inode: bool) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if !any_inode && (meta.dev() != entry.dev || meta.ino() != entry.ino) {
        return;
    }
    let _ = if entry.is_dir && meta.is_dir() {
        // rmdir refuses a directory that is not empty.
        std::fs::remove_dir(path)
    } else if !entry.is_dir && meta.is_file() && meta.len() == 0 {
        std::fs::remove_file(path)
    } else {
        Ok(())
    };
}

fn this_run() -> Run {
    let pid = std::process::id() as i32;
    Run {
        pid,
        start: start_time(pid).unwrap_or(0),
    }
}

fn alive(run: Run) -> bool {
    start_time(run.pid) == Some(run.start)
}

/// Field 22 of /proc/PID/stat (the fields after the command name start at field 3).
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

fn lock(registry: &Path) -> std::io::Result<Flock<File>> {
    if let Some(dir) = registry.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(registry.with_extension("lock"))?;
    Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| e.into())
}

fn read(registry: &Path) -> Vec<Entry> {
    std::fs::read(registry)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Written whole through a temporary file and a rename, so a crash leaves the old or the new.
fn write(registry: &Path, entries: &[Entry]) {
    let temp = registry.with_extension("json.tmp");
    let Ok(json) = serde_json::to_vec(entries) else {
        return;
    };
    if std::fs::write(&temp, json).is_ok() {
        let _ = std::fs::rename(&temp, registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_created_shared_and_removed_by_the_last_user_only_if_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let registry = dir.path().join("state/placeholders.json");
        let ws = dir.path().join("ws");
        std::fs::create_dir(&ws).unwrap();
        let wanted = vec![(ws.join(".envrc"), false), (ws.join(".vscode"), true)];
        let first = Placeholders::acquire(registry.clone(), &wanted, &[]).unwrap();
        assert!(ws.join(".envrc").is_file() && ws.join(".vscode").is_dir());
        // Another live run uses them too (a child process stands for it).
        let mut other = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let other_run = Run {
            pid: other.id() as i32,
            start: start_time(other.id() as i32).unwrap(),
        };
        let mut entries = read(&registry);
        for entry in &mut entries {
            entry.users.push(other_run);
        }
        write(&registry, &entries);
        drop(first);
        assert!(
            ws.join(".envrc").exists(),
            "removed while another run uses it"
        );
        // Someone writes into one; then the other run dies.
        std::fs::set_permissions(ws.join(".envrc"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        std::fs::write(ws.join(".envrc"), "user content").unwrap();
        other.kill().unwrap();
        other.wait().unwrap();
        // The next acquisition cleans up after the dead run, but never removes content.
        drop(Placeholders::acquire(registry.clone(), &[], &[]).unwrap());
        assert!(
            !ws.join(".vscode").exists(),
            "an unused placeholder was left behind"
        );
        assert_eq!(
            std::fs::read_to_string(ws.join(".envrc")).unwrap(),
            "user content"
        );
        assert!(read(&registry).is_empty());
    }

    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_dead_runs_placeholders_are_removed_by_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let registry = dir.path().join("placeholders.json");
        let path = dir.path().join(".envrc");
        std::fs::write(&path, "").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let dead = Run {
            pid: i32::MAX,
            start: 1,
        };
        let entries = vec![Entry {
            path: path.clone(),
            staging: None,
            dev: meta.dev(),
            ino: meta.ino(),
            is_dir: false,
            users: vec![dead],
        }];
        write(&registry, &entries);
        drop(Placeholders::acquire(registry.clone(), &[], &[]).unwrap());
        assert!(!path.exists());
        assert!(read(&registry).is_empty());
    }

    /// A run killed after journaling a staging name, or after making it but before journaling
    /// its inode: the next run removes what is at the staging name and never the user's file
    /// that appeared at the path meanwhile.
    #[test]
    fn a_run_killed_between_its_steps_leaves_nothing_and_touches_no_user_file() {
        let dir = tempfile::tempdir().unwrap();
        let registry = dir.path().join("placeholders.json");
        let dead = Run {
            pid: i32::MAX,
            start: 1,
        };
        let mut entries = Vec::new();
        for (name, made) in [(".vscode", true), (".idea", false)] {
            let path = dir.path().join(name);
            let staging = dir.path().join(format!(".missy-placeholder.{name}"));
            if made {
                std::fs::create_dir(&staging).unwrap();
            }
            // The user creates the path itself in the meantime.
            std::fs::create_dir(&path).unwrap();
            entries.push(Entry {
                path,
                staging: Some(staging),
                dev: 0,
                ino: 0,
                is_dir: true,
                users: vec![dead],
            });
        }
        write(&registry, &entries);
        drop(Placeholders::acquire(registry.clone(), &[], &[]).unwrap());
        for name in [".vscode", ".idea"] {
            assert!(
                dir.path().join(name).is_dir(),
                "the user's {name} was removed"
            );
            assert!(
                !dir.path()
                    .join(format!(".missy-placeholder.{name}"))
                    .exists()
            );
        }
        assert!(read(&registry).is_empty());
    }

    /// A path that exists by the time the placeholder is renamed there is left alone, and the
    /// staged placeholder goes.
    #[test]
    fn a_placeholder_never_replaces_what_is_at_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".envrc");
        let run = this_run();
        let mut entry = Entry {
            path: path.clone(),
            staging: Some(dir.path().join(".missy-placeholder.0")),
            dev: 0,
            ino: 0,
            is_dir: true,
            users: vec![run],
        };
        make_staged(&mut entry).unwrap();
        std::fs::write(&path, "user content").unwrap();
        put_in_place(&mut entry).unwrap();
        assert!(entry.staging.is_some(), "renamed over the user's file");
        remove_if_unchanged(&entry);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "user content");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
