//! Apply a change layer to the real workspace, per path and atomically per file.
//!
//! Every workspace path is reached through `fsat` (openat2 beneath the workspace's fd, no
//! symlinks followed); a file is written to a temporary name in its own directory and renamed
//! over the old one; the filesystem is synced once at the end. Protected paths, privileged
//! entries (setuid/setgid files, device nodes) and paths whose base changed since the run are
//! skipped and reported; a skipped directory takes its whole subtree with it.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use nix::errno::Errno;
use nix::sys::stat::{Mode, SFlag, fchmod};

use super::ChangesError;
use super::base::{self, Base};
use super::fsat;
use super::layer::{Change, Kind};

/// Paths (or globs, matching within one component) relative to the workspace that are never
/// applied: the profile's `[filesystem] protect` list plus [`DEFAULT_PROTECTED`], so a profile
/// without a list (strict) still never applies a git hook from a change set.
#[derive(Debug, Clone)]
pub struct Protected {
    set: GlobSet,
    /// Fail closed: set when the default list could not be compiled.
    all: bool,
}

/// What the dev and agent profiles protect (issue 9): hooks and config that the host runs later.
pub const DEFAULT_PROTECTED: &[&str] = &[
    ".git/hooks",
    ".git/config",
    ".git/info",
    ".gitmodules",
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".profile",
    ".zshrc",
    ".zprofile",
    ".zshenv",
    ".envrc",
    ".vscode",
    ".idea",
    ".mcp.json",
    ".claude",
    ".codex",
];

impl Protected {
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Protected, ChangesError> {
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            let p = p.as_ref().trim_end_matches('/');
            let glob = GlobBuilder::new(p)
                .literal_separator(true)
                .build()
                .map_err(|e| ChangesError::Protect {
                    pattern: p.to_string(),
                    reason: e.to_string(),
                })?;
            b.add(glob);
        }
        let set = b.build().map_err(|e| ChangesError::Protect {
            pattern: String::new(),
            reason: e.to_string(),
        })?;
        Ok(Protected { set, all: false })
    }

    /// The profile's `protect` entries (relative ones as they are, absolute ones inside
    /// `workspace` made relative to it) plus the defaults; if they fail to compile (the policy
    /// loader validated them), everything is protected.
    pub fn for_profile(protect: &[String], workspace: &Path) -> Protected {
        let mut patterns: Vec<String> = DEFAULT_PROTECTED.iter().map(|p| p.to_string()).collect();
        for entry in protect {
            let path = Path::new(entry);
            if path.is_absolute() {
                if let Ok(rel) = path.strip_prefix(workspace) {
                    patterns.push(rel.to_string_lossy().into_owned());
                }
            } else {
                patterns.push(entry.clone());
            }
        }
        Protected::new(&patterns).unwrap_or(Protected {
            set: GlobSet::empty(),
            all: true,
        })
    }

    /// [`DEFAULT_PROTECTED`]; if it ever failed to compile, everything is protected.
    pub fn defaults() -> Protected {
        Protected::new(DEFAULT_PROTECTED).unwrap_or(Protected {
            set: GlobSet::empty(),
            all: true,
        })
    }

    /// `rel` or one of its ancestors is protected.
    pub fn covers(&self, rel: &Path) -> bool {
        self.all
            || rel
                .ancestors()
                .filter(|a| !a.as_os_str().is_empty())
                .any(|a| self.set.is_match(a))
    }
}

/// What an apply did, path by path.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub applied: Vec<PathBuf>,
    pub protected: Vec<PathBuf>,
    /// Privileged or special entries never applied, with the reason.
    pub refused: Vec<(PathBuf, String)>,
    /// The workspace changed at this path since the run: left as it is now.
    pub conflicts: Vec<(PathBuf, String)>,
    pub failed: Vec<(PathBuf, String)>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.protected.is_empty()
            && self.refused.is_empty()
            && self.conflicts.is_empty()
            && self.failed.is_empty()
    }
}

/// Apply `changes` (read from `upper`) to `workspace`. With `bases`, a path whose current
/// state differs from the one recorded at the end of the run is a conflict and is skipped.
pub fn apply(
    upper: &Path,
    workspace: &Path,
    changes: &[Change],
    protected: &Protected,
    bases: Option<&BTreeMap<PathBuf, Base>>,
) -> Result<Report, ChangesError> {
    let ws =
        File::open(workspace).map_err(|e| ChangesError::io("open the workspace", workspace, e))?;
    let ws = ws.as_fd();
    let mut report = Report::default();
    let mut skipped: Vec<PathBuf> = Vec::new();
    for change in changes {
        let rel = &change.rel;
        if skipped.iter().any(|s| rel.starts_with(s)) {
            continue;
        }
        let skip_subtree = matches!(change.kind, Kind::Dir { .. });
        if protected.covers(rel) {
            report.protected.push(rel.clone());
            if skip_subtree {
                skipped.push(rel.clone());
            }
            continue;
        }
        if let Kind::Refused { why } = &change.kind {
            report.refused.push((rel.clone(), why.clone()));
            continue;
        }
        if let Some(expected) = bases.and_then(|b| b.get(rel)) {
            let now = base::of(ws, rel);
            if &now != expected {
                report.conflicts.push((
                    rel.clone(),
                    format!("was {expected} at the end of the run, is {now} now"),
                ));
                if skip_subtree {
                    skipped.push(rel.clone());
                }
                continue;
            }
        }
        match apply_one(ws, upper, change) {
            Ok(()) => report.applied.push(rel.clone()),
            Err(e) => {
                report.failed.push((rel.clone(), e.desc().to_string()));
                if skip_subtree {
                    skipped.push(rel.clone());
                }
            }
        }
    }
    // One sync for the whole set: the renames are atomic per file, and the data reaches the
    // disk before apply reports success.
    let _ = nix::unistd::syncfs(ws);
    Ok(report)
}

fn split(rel: &Path) -> (&Path, &OsStr) {
    (
        rel.parent().unwrap_or(Path::new("")),
        rel.file_name().unwrap_or(OsStr::new(".")),
    )
}

fn apply_one(ws: BorrowedFd<'_>, upper: &Path, change: &Change) -> Result<(), Errno> {
    let (parent, name) = split(&change.rel);
    let dir = fsat::open_dir(ws, parent)?;
    let dir = dir.as_fd();
    let existing = fsat::stat(dir, name)?;
    match &change.kind {
        Kind::Delete => fsat::remove(dir, name),
        Kind::Dir { mode, opaque } => {
            match &existing {
                Some(st) if fsat::is_dir(st) => {}
                Some(_) => {
                    fsat::remove(dir, name)?;
                    nix::sys::stat::mkdirat(dir, name, Mode::from_bits_truncate(0o700))?;
                }
                None => nix::sys::stat::mkdirat(dir, name, Mode::from_bits_truncate(0o700))?,
            }
            let sub = fsat::open_dir(dir, Path::new(name))?;
            if *opaque {
                fsat::clear(sub.as_fd())?;
            }
            fchmod(sub.as_fd(), Mode::from_bits_truncate(mode & 0o1777))
        }
        Kind::File { mode, .. } => {
            let source = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(upper.join(&change.rel))
                .map_err(io_errno)?;
            let (tmp, fd) = temp(dir, |dir, tmp| fsat::create_file(dir, tmp, 0o600))?;
            let written = copy(&source, fd).and_then(|fd| {
                // A replaced file keeps its owner, as an edit in place would (possible only
                // for root; anyone else owns what they create anyway).
                if let Some(st) = existing
                    .as_ref()
                    .filter(|st| fsat::kind(st) == SFlag::S_IFREG)
                {
                    let _ = nix::unistd::fchown(
                        fd.as_fd(),
                        Some(nix::unistd::Uid::from_raw(st.st_uid)),
                        Some(nix::unistd::Gid::from_raw(st.st_gid)),
                    );
                }
                fchmod(fd.as_fd(), Mode::from_bits_truncate(mode & 0o777))
            });
            replace(dir, &tmp, name, existing.as_ref(), written)
        }
        Kind::Symlink { target } => {
            let (tmp, ()) = temp(dir, |dir, tmp| {
                nix::unistd::symlinkat(target.as_path(), dir, tmp)
            })?;
            replace(dir, &tmp, name, existing.as_ref(), Ok(()))
        }
        Kind::Refused { .. } => Ok(()),
    }
}

/// Make a fresh temporary entry in `dir` with `make`, retrying on a name clash.
fn temp<T>(
    dir: BorrowedFd<'_>,
    make: impl Fn(BorrowedFd<'_>, &OsStr) -> Result<T, Errno>,
) -> Result<(std::ffi::OsString, T), Errno> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = std::ffi::OsString::from(format!(".missy-apply.{}.{n}", std::process::id()));
        match make(dir, &tmp) {
            Ok(t) => return Ok((tmp, t)),
            Err(Errno::EEXIST) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Rename `tmp` over `name` (a directory in the way is removed first); on an earlier failure
/// the temporary entry is removed.
fn replace(
    dir: BorrowedFd<'_>,
    tmp: &OsStr,
    name: &OsStr,
    existing: Option<&nix::sys::stat::FileStat>,
    written: Result<(), Errno>,
) -> Result<(), Errno> {
    let done = written.and_then(|()| {
        if existing.is_some_and(|st| fsat::kind(st) == SFlag::S_IFDIR) {
            fsat::remove(dir, name)?;
        }
        nix::fcntl::renameat(dir, tmp, dir, name)
    });
    if done.is_err() {
        let _ = nix::unistd::unlinkat(dir, tmp, nix::unistd::UnlinkatFlags::NoRemoveDir);
    }
    done
}

fn copy(source: &File, fd: OwnedFd) -> Result<OwnedFd, Errno> {
    let mut out = File::from(fd);
    let mut source = source;
    std::io::copy(&mut source, &mut out).map_err(io_errno)?;
    Ok(OwnedFd::from(out))
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}
