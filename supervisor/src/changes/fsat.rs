//! Workspace operations relative to a directory fd that never follow a symlink: every path is
//! resolved by openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, so a symlink the change set
//! (or anyone) put in the workspace cannot take a write outside it.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat};
use nix::unistd::UnlinkatFlags;

fn how(flags: OFlag, mode: u32) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
        .mode(Mode::from_bits_truncate(mode))
        .resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        )
}

/// Open `rel` (a directory below `root`, or `root` itself when empty).
pub fn open_dir(root: BorrowedFd<'_>, rel: &Path) -> Result<OwnedFd, Errno> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    openat2(root, rel, how(OFlag::O_DIRECTORY | OFlag::O_RDONLY, 0))
}

/// Open `name` in `dir` read-only; refuses a symlink.
pub fn open_file(dir: BorrowedFd<'_>, name: &OsStr) -> Result<OwnedFd, Errno> {
    openat2(dir, name, how(OFlag::O_RDONLY, 0))
}

/// Create `name` in `dir` exclusively for writing.
pub fn create_file(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> Result<OwnedFd, Errno> {
    openat2(
        dir,
        name,
        how(OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL, mode),
    )
}

/// lstat of `name` in `dir`; None when it does not exist.
pub fn stat(dir: BorrowedFd<'_>, name: &OsStr) -> Result<Option<FileStat>, Errno> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn is_dir(st: &FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}

pub fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT
}

/// Remove `name` from `dir`, a directory with all its content; symlinks are removed, never
/// followed.
pub fn remove(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), Errno> {
    let Some(st) = stat(dir, name)? else {
        return Ok(());
    };
    if is_dir(&st) {
        let sub = open_dir(dir, Path::new(name))?;
        clear(sub.as_fd())?;
        nix::unistd::unlinkat(dir, name, UnlinkatFlags::RemoveDir)
    } else {
        nix::unistd::unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)
    }
}

/// Remove everything inside the directory `dir`.
pub fn clear(dir: BorrowedFd<'_>) -> Result<(), Errno> {
    use std::os::unix::ffi::OsStrExt;
    let names: Vec<std::ffi::OsString> = {
        let mut listing = Dir::openat(
            dir,
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        listing
            .iter()
            .filter_map(Result::ok)
            .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
            .filter(|n| n != "." && n != "..")
            .collect()
    };
    for name in names {
        remove(dir, &name)?;
    }
    Ok(())
}
