//! Build the sandbox's root from the plan's mount operations. Runs in pid 1 (inside the new
//! user, mount and pid namespaces), so a fresh /proc shows only the sandbox's processes.
//!
//! Sequence (the shape bubblewrap uses): make every mount private; mount a tmpfs "base" and
//! pivot into it, so the host's root stays reachable at /oldroot while the new root is built at
//! /newroot from binds of /oldroot/<path>; pivot into /newroot; detach the old root
//! ([`detach_old_root`], which pid 1 calls a few steps later).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::{Mode, SFlag};

use super::{ConfineError, Step};
use crate::plan::MountOp;

const BASE: &str = "/tmp";
const NEW: &str = "/newroot";
const OLD: &str = "/oldroot";

fn fail(e: nix::errno::Errno, what: String) -> ConfineError {
    ConfineError::os(Step::Mounts, e, what)
}

fn io_fail(e: std::io::Error, what: String) -> ConfineError {
    ConfineError::io(Step::Mounts, &e, what)
}

/// Inside the new root: `/usr` → `/newroot/usr`.
fn under(root: &str, path: &Path) -> PathBuf {
    Path::new(root).join(path.strip_prefix("/").unwrap_or(path))
}

fn mount_tmpfs(target: &Path, options: &str, flags: MsFlags) -> Result<(), ConfineError> {
    mount(Some("tmpfs"), target, Some("tmpfs"), flags, Some(options)).map_err(|e| {
        fail(
            e,
            format!("mount tmpfs on {} ({options})", target.display()),
        )
    })
}

/// Set mount attributes on `target` and everything mounted below it (mount_setattr, Linux 5.12).
/// Adding restrictions is always allowed in a user namespace, and AT_RECURSIVE also covers
/// submounts a recursive bind brought along, which a plain remount would leave writable.
fn set_attrs(target: &Path, read_only: bool, nodev: bool) -> Result<(), ConfineError> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    const MOUNT_ATTR_NOSUID: u64 = 0x2;
    const MOUNT_ATTR_NODEV: u64 = 0x4;
    let mut set = MOUNT_ATTR_NOSUID;
    if read_only {
        set |= MOUNT_ATTR_RDONLY;
    }
    if nodev {
        set |= MOUNT_ATTR_NODEV;
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let c_path = std::ffi::CString::new(target.as_os_str().as_encoded_bytes()).map_err(|_| {
        ConfineError::other(Step::Mounts, format!("path with NUL: {}", target.display()))
    })?;
    // SAFETY: c_path and attr outlive the call; the size passed is the struct's size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::AT_RECURSIVE as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc != 0 {
        let e = nix::errno::Errno::last();
        return Err(fail(
            e,
            format!("mount_setattr({}, rdonly={read_only})", target.display()),
        ));
    }
    Ok(())
}

/// Create an empty mountpoint (a directory, or an empty file for file binds) with its parents.
/// Each call is a few system calls on a fresh tmpfs: no existence checks first, `EEXIST` is the
/// answer when two grants share a parent.
fn make_mountpoint(path: &Path, is_dir: bool) -> Result<(), ConfineError> {
    let parent = if is_dir { Some(path) } else { path.parent() };
    if let Some(dir) = parent {
        make_dirs(dir)?;
    }
    if is_dir {
        return Ok(());
    }
    match nix::sys::stat::mknod(path, SFlag::S_IFREG, Mode::from_bits_truncate(0o644), 0) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
        Err(e) => Err(fail(e, format!("create {}", path.display()))),
    }
}

/// `mkdir -p`, trying the directory itself first: on the new root's tmpfs its parents usually
/// exist already.
fn make_dirs(dir: &Path) -> Result<(), ConfineError> {
    match nix::unistd::mkdir(dir, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
        Err(nix::errno::Errno::ENOENT) => {
            fs::create_dir_all(dir).map_err(|e| io_fail(e, format!("mkdir {}", dir.display())))
        }
        Err(e) => Err(fail(e, format!("mkdir {}", dir.display()))),
    }
}

fn bind(source: &Path, target: &Path, is_dir: bool) -> Result<(), ConfineError> {
    make_mountpoint(target, is_dir)?;
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| {
        fail(
            e,
            format!("bind {} on {}", source.display(), target.display()),
        )
    })
}

/// A minimal /dev: the harmless character devices bound from the host, the usual links, and
/// a private /dev/shm. No block devices, no ptys of the host, nothing else.
fn build_dev() -> Result<(), ConfineError> {
    let dev = under(NEW, Path::new("/dev"));
    make_dirs(&dev)?;
    mount_tmpfs(
        &dev,
        "mode=0755,size=64k",
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
    )?;
    for node in ["null", "zero", "full", "random", "urandom", "tty"] {
        let host = under(OLD, &Path::new("/dev").join(node));
        // A host without this node (some containers lack /dev/tty): the sandbox lacks it too.
        if host.exists() {
            bind(&host, &dev.join(node), false)?;
        }
    }
    let links = [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ];
    for (link, target) in links {
        std::os::unix::fs::symlink(target, dev.join(link))
            .map_err(|e| io_fail(e, format!("symlink /dev/{link}")))?;
    }
    let (pts, shm) = (dev.join("pts"), dev.join("shm"));
    for dir in [&pts, &shm] {
        fs::create_dir(dir).map_err(|e| io_fail(e, format!("mkdir {}", dir.display())))?;
    }
    // /dev and the device binds read-only (device nodes stay usable: no NODEV), before the two
    // writable mounts land on it: nothing can be created in /dev itself.
    set_attrs(&dev, true, false)?;
    // A private pty instance, so tools that need terminals (script, expect, test harnesses)
    // work; it shares nothing with the host's ptys.
    mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )
    .map_err(|e| fail(e, "mount devpts".into()))?;
    mount_tmpfs(
        &shm,
        "mode=1777,size=64m",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
    )
}

fn apply(op: &MountOp) -> Result<(), ConfineError> {
    match op {
        MountOp::Bind {
            path,
            writable,
            is_dir,
        } => {
            let target = under(NEW, path);
            bind(&under(OLD, path), &target, *is_dir)?;
            set_attrs(&target, !writable, true)
        }
        MountOp::Symlink { link, target } => {
            let at = under(NEW, link);
            if let Some(parent) = at.parent() {
                make_dirs(parent)?;
            }
            std::os::unix::fs::symlink(target, &at)
                .map_err(|e| io_fail(e, format!("symlink {}", link.display())))
        }
        MountOp::Tmpfs { path, size } => {
            let target = under(NEW, path);
            make_dirs(&target)?;
            let options = match size {
                Some(bytes) => format!("mode=1777,size={bytes}"),
                None => "mode=1777".to_string(),
            };
            mount_tmpfs(&target, &options, MsFlags::MS_NOSUID | MsFlags::MS_NODEV)
        }
        MountOp::Dev => build_dev(),
        MountOp::Proc => {
            let target = under(NEW, Path::new("/proc"));
            make_dirs(&target)?;
            let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            mount(Some("proc"), &target, Some("proc"), flags, None::<&str>)
                .map_err(|e| fail(e, "mount proc".into()))
        }
        MountOp::MaskDir { path } => {
            let target = under(NEW, path);
            mount_tmpfs(
                &target,
                "mode=0000,size=4k",
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            )?;
            set_attrs(&target, true, true)
        }
        MountOp::MaskFile { path } => {
            let target = under(NEW, path);
            bind(Path::new("/empty"), &target, false)?;
            set_attrs(&target, true, true)
        }
        MountOp::Overlay { path, upper, work } => mount_overlay(path, upper, work),
        MountOp::Pin { path, is_dir } => {
            let target = under(NEW, path);
            bind(&target, &target, *is_dir)?;
            set_attrs(&target, false, true)
        }
        MountOp::Placeholder { path } => {
            // Empty and readable: git and other tree walkers skip an empty directory silently.
            let target = under(NEW, path);
            mount_tmpfs(
                &target,
                "mode=0555,size=4k",
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            )?;
            set_attrs(&target, true, true)
        }
    }
}

/// The overlay of `--workspace-mode overlay`: lower is the host's workspace, upper and work the
/// change set's directories (all reached through the host tree at /oldroot). `userxattr` is
/// what lets a user namespace mount it (Linux 5.11); a kernel without it refuses the run here.
fn mount_overlay(path: &Path, upper: &Path, work: &Path) -> Result<(), ConfineError> {
    let target = under(NEW, path);
    make_mountpoint(&target, true)?;
    let options = format!(
        "lowerdir={},upperdir={},workdir={},userxattr",
        under(OLD, path).display(),
        under(OLD, upper).display(),
        under(OLD, work).display()
    );
    mount(
        Some("overlay"),
        &target,
        Some("overlay"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(options.as_str()),
    )
    .map_err(|e| {
        fail(
            e,
            format!("mount overlay on {} ({options})", path.display()),
        )
    })?;
    set_attrs(&target, false, true)
}

/// The part of the root every Plan shares, done before the Plan arrives (pid 1 would
/// otherwise wait idle for it): make the tree a slave of the host's, pivot into a fresh base
/// tmpfs (which holds /newroot, /oldroot and the empty file masks bind from) with the host's
/// tree under /oldroot, and mount the empty tmpfs at /newroot that [`build_root`] fills.
pub fn prepare_root() -> Result<(), ConfineError> {
    // Nothing we mount from here on may propagate back to the host's mount namespace. A slave
    // still receives the host's mounts and unmounts until the Plan comes (a pid 1 built ahead
    // by `serve` may wait long): a filesystem mounted meanwhile is seen, one unmounted is not
    // kept busy. `build_root` makes the copy private.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(|e| fail(e, "make / recursively a slave".into()))?;

    // The base tmpfs holds /newroot, /oldroot and the empty file masks bind from.
    mount_tmpfs(
        Path::new(BASE),
        "mode=0755,size=64k",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
    )?;
    for dir in ["newroot", "oldroot"] {
        fs::create_dir(Path::new(BASE).join(dir))
            .map_err(|e| io_fail(e, format!("mkdir {BASE}/{dir}")))?;
    }
    let empty = Path::new(BASE).join("empty");
    fs::File::create(&empty).map_err(|e| io_fail(e, "create the mask file".into()))?;
    fs::set_permissions(&empty, fs::Permissions::from_mode(0o000))
        .map_err(|e| io_fail(e, "chmod mask file".into()))?;
    nix::unistd::chdir(BASE).map_err(|e| ConfineError::os(Step::PivotRoot, e, "chdir base"))?;
    nix::unistd::pivot_root(".", "oldroot")
        .map_err(|e| ConfineError::os(Step::PivotRoot, e, "pivot_root into base"))?;
    nix::unistd::chdir("/").map_err(|e| ConfineError::os(Step::PivotRoot, e, "chdir /"))?;

    mount_tmpfs(
        Path::new(NEW),
        "mode=0755,size=1m",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
    )
}

/// Build the new root from `ops` on what [`prepare_root`] left and make it the root of this
/// mount namespace.
pub fn build_root(ops: &[MountOp]) -> Result<(), ConfineError> {
    // The host's tree is taken as it is now: private, so no later host mount reaches a root
    // whose binds are then made read-only.
    mount(
        None::<&str>,
        OLD,
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| fail(e, format!("make {OLD} recursively private")))?;
    for op in ops {
        apply(op)?;
    }
    // Read-only before it becomes the root, so nothing after the pivot depends on the detach.
    remount_read_only(NEW)?;

    nix::unistd::chdir(NEW).map_err(|e| ConfineError::os(Step::PivotRoot, e, "chdir newroot"))?;
    // pivot_root(".", ".") stacks the old root (the base, with the host's tree still under
    // /oldroot) on top of the new one; one detach of "." removes both ([`detach_old_root`]).
    nix::unistd::pivot_root(".", ".")
        .map_err(|e| ConfineError::os(Step::PivotRoot, e, "pivot_root into newroot"))
}

/// Detach the old root that [`build_root`] left stacked on top of the new one, then `chdir("/")`.
/// One detach for the base and the host's tree together: each detach waits for an RCU grace
/// period. pid 1 calls it late, after the steps that do not need it gone (measured about
/// 0.15 ms faster per launch than right after the pivot) but before the working directory
/// changes (the detach works on ".") and before anything forks. Until then nothing runs in the
/// sandbox, and pid 1's own lookups start from the new root, which the stack does not cover.
pub fn detach_old_root() -> Result<(), ConfineError> {
    umount2(".", MntFlags::MNT_DETACH)
        .map_err(|e| ConfineError::os(Step::PivotRoot, e, "detach the base and the host root"))?;
    nix::unistd::chdir("/").map_err(|e| ConfineError::os(Step::PivotRoot, e, "chdir /"))
}

fn remount_read_only(target: &str) -> Result<(), ConfineError> {
    let flags = MsFlags::MS_REMOUNT
        | MsFlags::MS_BIND
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV;
    mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
        .map_err(|e| fail(e, format!("remount {target} read-only")))
}
