//! Filesystem escapes: reading and writing outside the grants, links planted in the workspace
//! that point outside, `/proc/sys` writes, file handles, device nodes and setuid binaries.
//!
//! Files are opened with `O_NONBLOCK` so that a FIFO at the target cannot hang the probe;
//! anything the probe creates for its attempt (links, device nodes, the setuid copy) is removed
//! again once the verdict is known.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use nix::unistd::{read, write};

use super::sys::{self, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_MKNOD, io_errno_name};
use super::{Args, IDS_COMMAND, Outcome, Probe, ProbeResult};

pub const PROBES: &[Probe] = &[
    Probe {
        name: "read-file",
        args: &["PATH"],
        about: "open and read PATH",
        run: read_file,
    },
    Probe {
        name: "write-file",
        args: &["PATH"],
        about: "create PATH or append a line to it",
        run: write_file,
    },
    Probe {
        name: "symlink-escape",
        args: &["LINK", "TARGET"],
        about: "create symlink LINK -> TARGET, then read through LINK",
        run: symlink_escape,
    },
    Probe {
        name: "hardlink-escape",
        args: &["LINK", "TARGET"],
        about: "link(TARGET, LINK), then append through LINK",
        run: hardlink_escape,
    },
    Probe {
        name: "proc-sys-write",
        args: &[],
        about: "open /proc/sys/kernel/hostname for writing (writes nothing)",
        run: proc_sys_write,
    },
    Probe {
        name: "open-by-handle",
        args: &["PATH"],
        about: "name_to_handle_at(PATH), then open_by_handle_at(AT_FDCWD, handle)",
        run: open_by_handle,
    },
    Probe {
        name: "mknod",
        args: &["PATH"],
        about: "create the char device 1:3 (like /dev/null) at PATH",
        run: mknod_probe,
    },
    Probe {
        name: "setuid-plant",
        args: &["PATH"],
        about: "copy this binary to PATH and chmod 04755 (removed afterwards)",
        run: setuid_plant,
    },
    Probe {
        name: "setuid-exec",
        args: &["PATH"],
        about: "execute PATH (a setuid copy of this probe); ESCAPED if the euid changed",
        run: setuid_exec,
    },
    Probe {
        name: "rename-escape",
        args: &["FROM", "TO"],
        about: "rename(FROM, TO): move a file across the sandbox's boundary",
        run: rename_escape,
    },
    Probe {
        name: "device-read",
        args: &["PATH"],
        about: "open the device node PATH (a host disk) and read 512 bytes",
        run: device_read,
    },
];

const LINE: &[u8] = b"missy-probe was here\n";

fn read_file(a: &Args) -> ProbeResult {
    read_some(a.get(0)?)
}

/// open + one read; ESCAPED if any byte came back.
fn read_some(path: &str) -> ProbeResult {
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    let fd = open(path, flags, Mode::empty()).map_err(|e| Outcome::denied("open", e))?;
    let mut buf = [0u8; 4096];
    let n = read(&fd, &mut buf).map_err(|e| Outcome::denied("read", e))?;
    if n == 0 {
        // An empty read leaks nothing, whether the file is empty or masked by the sandbox.
        return Ok(Outcome::blocked(
            "open OK but read returned 0 bytes (empty or masked file)",
        ));
    }
    Ok(Outcome::escaped(format!("read {n} bytes")))
}

fn write_file(a: &Args) -> ProbeResult {
    let path = a.get(0)?;
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_APPEND | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    let fd = open(path, flags, Mode::from_bits_truncate(0o644))
        .map_err(|e| Outcome::denied("open", e))?;
    let n = write(&fd, LINE).map_err(|e| Outcome::denied("write", e))?;
    Ok(Outcome::escaped(format!("wrote {n} bytes")))
}

fn symlink_escape(a: &Args) -> ProbeResult {
    let (link, target) = (a.get(0)?, a.get(1)?);
    if let Err(e) = std::os::unix::fs::symlink(target, link) {
        return Err(link_failed(a, "symlink", &e));
    }
    let result = read_some(link);
    remove_quietly(link);
    result
}

fn hardlink_escape(a: &Args) -> ProbeResult {
    let (link, target) = (a.get(0)?, a.get(1)?);
    if let Err(e) = std::fs::hard_link(target, link) {
        let note = if e.raw_os_error() == Some(libc::EPERM) {
            protected_hardlinks_note(target)
        } else {
            None
        };
        return Err(link_failed(a, "link", &e).note(note));
    }
    let append = std::fs::OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(link)
        .map_err(|e| format!("open for append errno={}", io_errno_name(&e)))
        .and_then(|mut f| {
            f.write(LINE)
                .map(|n| format!("append wrote {n} bytes"))
                .map_err(|e| format!("write errno={}", io_errno_name(&e)))
        });
    remove_quietly(link);
    let how = match append {
        Ok(s) | Err(s) => s,
    };
    Ok(Outcome::escaped(format!(
        "linked {link} -> {target}; through the link: {how}"
    )))
}

/// A failed symlink/link: EEXIST is a usage problem (the probe must create LINK), the rest a denial.
fn link_failed(a: &Args, call: &str, e: &std::io::Error) -> Outcome {
    if e.raw_os_error() == Some(libc::EEXIST) {
        return a.usage_error("LINK already exists; pass a fresh path");
    }
    Outcome::blocked(format!("{call} errno={}", io_errno_name(e)))
}

/// With `fs.protected_hardlinks=1` the kernel refuses links to files the caller does not own
/// (and cannot read and write) unless it has CAP_FOWNER: that EPERM is not the sandbox's doing.
fn protected_hardlinks_note(target: &str) -> Option<String> {
    let on = std::fs::read_to_string("/proc/sys/fs/protected_hardlinks")
        .ok()?
        .trim()
        == "1";
    let owner = std::fs::metadata(target).ok()?.uid();
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    (on && owner != me).then(|| {
        "inconclusive: fs.protected_hardlinks refuses links to files owned by another user".into()
    })
}

fn remove_quietly(path: &str) {
    if let Err(e) = std::fs::remove_file(path) {
        sys::diag(&format!("could not remove {path}: {e}"));
    }
}

fn proc_sys_write(_: &Args) -> ProbeResult {
    const PATH: &str = "/proc/sys/kernel/hostname";
    // Opening for writing is the whole test: sysctl permission is checked at open, and writing
    // would rename the host when the probe runs unsandboxed as root.
    let _fd = open(PATH, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty()).map_err(|e| {
        // The file is 0644 root: any other caller is refused by the kernel's permission check.
        let note = (e == Errno::EACCES && !nix::unistd::geteuid().is_root())
            .then(|| "inconclusive: /proc/sys files are writable by root only".to_string());
        Outcome::denied("open", e).note(note)
    })?;
    Ok(Outcome::escaped(format!(
        "opened {PATH} for writing (nothing written)"
    )))
}

/// `struct file_handle` with room for the largest handle (`MAX_HANDLE_SZ`).
#[repr(C)]
struct FileHandle {
    handle_bytes: u32,
    handle_type: i32,
    f_handle: [u8; 128],
}

/// name_to_handle_at(AT_FDCWD, path): the handle and the mount id.
fn handle_of(path: &std::ffi::CStr) -> Result<(FileHandle, i32), Errno> {
    let mut handle = FileHandle {
        handle_bytes: 128,
        handle_type: 0,
        f_handle: [0; 128],
    };
    let mut mount_id: i32 = 0;
    // SAFETY: path is NUL-terminated; handle has handle_bytes (128) bytes of payload after its
    // header and mount_id is a valid int, both live for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            libc::AT_FDCWD,
            path.as_ptr(),
            &mut handle as *mut FileHandle,
            &mut mount_id as *mut i32,
            0,
        )
    };
    sys::syscall_result(ret).map(|_| (handle, mount_id))
}

fn open_by_handle(a: &Args) -> ProbeResult {
    let path = a.get(0)?;
    let cpath =
        std::ffi::CString::new(path).map_err(|_| a.usage_error("PATH contains a NUL byte"))?;
    let (mut handle, mount_id) = match handle_of(&cpath) {
        Ok(h) => h,
        Err(Errno::EOPNOTSUPP) => {
            return Ok(Outcome::skip(
                "the filesystem of PATH does not export file handles",
            ));
        }
        Err(e) => return Err(Outcome::denied("name_to_handle_at", e)),
    };
    // SAFETY: handle was filled by name_to_handle_at and outlives the call; the flags ask for a
    // plain read-only descriptor.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            libc::AT_FDCWD,
            &mut handle as *mut FileHandle,
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    match sys::syscall_result(ret) {
        Ok(fd) => {
            // SAFETY: fd is the descriptor open_by_handle_at just returned; nothing else owns it.
            unsafe { libc::close(fd as i32) };
            Ok(Outcome::escaped(format!(
                "opened {path} by handle (type {})",
                handle.handle_type
            )))
        }
        Err(e) => {
            let note = match e {
                // AT_FDCWD names the cwd's mount: a handle from another mount does not decode.
                Errno::ESTALE if handle_of(c".").map(|(_, m)| m).ok() != Some(mount_id) => {
                    Some("PATH is on another mount than the current directory".to_string())
                }
                Errno::EPERM => {
                    sys::inconclusive_without(CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH", false)
                }
                _ => None,
            };
            Err(Outcome::denied("open_by_handle_at", e).note(note))
        }
    }
}

fn mknod_probe(a: &Args) -> ProbeResult {
    let path = a.get(0)?;
    match mknod(
        path,
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        makedev(1, 3),
    ) {
        Ok(()) => {}
        Err(Errno::EEXIST) => return Err(a.usage_error("PATH already exists; pass a fresh path")),
        Err(e) => {
            // capable(CAP_MKNOD) is checked against the initial user namespace.
            let note = if e == Errno::EPERM {
                sys::inconclusive_without(CAP_MKNOD, "CAP_MKNOD", true)
            } else {
                None
            };
            return Err(Outcome::denied("mknod", e).note(note));
        }
    }
    // Whether the node is usable (a nodev mount refuses to open it) is reported, not judged.
    let usable = match open(path, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()) {
        Ok(_) => "OK".to_string(),
        Err(e) => format!("errno={}", sys::errno_name(e)),
    };
    remove_quietly(path);
    Ok(Outcome::escaped(format!(
        "created char device 1:3 at {path} (open: {usable}; removed)"
    )))
}

fn setuid_plant(a: &Args) -> ProbeResult {
    let path = a.get(0)?;
    let mut exe = std::fs::File::open("/proc/self/exe").map_err(|e| {
        Outcome::error(format!(
            "cannot read /proc/self/exe: errno={}",
            io_errno_name(&e)
        ))
    })?;
    let mut dst = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            return Err(a.usage_error("PATH already exists"));
        }
        Err(e) => {
            return Err(Outcome::blocked(format!(
                "create errno={}",
                io_errno_name(&e)
            )));
        }
    };
    let copied = copy_all(&mut exe, &mut dst);
    drop(dst);
    let result = copied
        .map_err(|e| Outcome::blocked(format!("write errno={}", io_errno_name(&e))))
        .and_then(|_| chmod_setuid(path));
    remove_quietly(path);
    result
}

fn copy_all(src: &mut std::fs::File, dst: &mut std::fs::File) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        dst.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// chmod 04755, then stat: ESCAPED if the setuid bit stuck.
fn chmod_setuid(path: &str) -> ProbeResult {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o4755))
        .map_err(|e| Outcome::blocked(format!("chmod errno={}", io_errno_name(&e))))?;
    let meta = std::fs::metadata(path)
        .map_err(|e| Outcome::blocked(format!("stat errno={}", io_errno_name(&e))))?;
    let nosuid = match nix::sys::statvfs::statvfs(path) {
        Ok(v) => {
            if v.flags().contains(nix::sys::statvfs::FsFlags::ST_NOSUID) {
                "yes"
            } else {
                "no"
            }
        }
        Err(_) => "unknown",
    };
    if meta.mode() & libc::S_ISUID == 0 {
        return Err(Outcome::blocked(format!(
            "chmod returned OK but the setuid bit is not set (mode {:o})",
            meta.mode()
        )));
    }
    Ok(Outcome::escaped(format!(
        "setuid bit set: mode {:o} owner uid {} (mount nosuid: {nosuid}; removed)",
        meta.mode() & 0o7777,
        meta.uid()
    )))
}

/// Run PATH (a setuid copy of this probe owned by another uid) as `__ids`, and compare the euid
/// it reports with ours: a different one means the setuid bit took effect.
fn setuid_exec(a: &Args) -> ProbeResult {
    let path = a.get(0)?;
    let mine = nix::unistd::geteuid().as_raw();
    let mut cmd = std::process::Command::new(path);
    cmd.args(super::self_prefix()).arg(IDS_COMMAND);
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Outcome::blocked(format!("exec {path} errno={}", io_errno_name(&e))))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let euid: u32 = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("euid="))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            Outcome::blocked(format!(
                "exec {path}: no ids reported (status {:?})",
                out.status.code()
            ))
        })?;
    let owner = std::fs::metadata(path).map(|m| m.uid()).unwrap_or(u32::MAX);
    if euid != mine {
        return Ok(Outcome::escaped(format!(
            "exec of setuid file (owner {owner}) changed euid {mine} -> {euid}"
        )));
    }
    Ok(Outcome::blocked(format!(
        "exec of setuid file (owner {owner}) kept euid {mine} (nosuid mount or no_new_privs)"
    )))
}

fn rename_escape(a: &Args) -> ProbeResult {
    let (from, to) = (a.get(0)?, a.get(1)?);
    std::fs::rename(from, to)
        .map_err(|e| Outcome::blocked(format!("rename errno={}", io_errno_name(&e))))?;
    Ok(Outcome::escaped(format!("renamed {from} -> {to}")))
}

fn device_read(a: &Args) -> ProbeResult {
    let path = a.get(0)?;
    let meta = std::fs::metadata(path)
        .map_err(|e| Outcome::blocked(format!("stat errno={}", io_errno_name(&e))))?;
    let kind = meta.mode() & libc::S_IFMT;
    if kind != libc::S_IFBLK && kind != libc::S_IFCHR {
        return Err(a.usage_error("PATH is not a device node"));
    }
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    let fd = open(path, flags, Mode::empty()).map_err(|e| {
        // Device nodes are usually 0600/0660 root: other users are refused by the mode bits.
        let readable = meta.mode() & 0o004 != 0;
        let note = (e == Errno::EACCES && !readable)
            .then(|| sys::inconclusive_without(CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE", true))
            .flatten();
        Outcome::denied("open", e).note(note)
    })?;
    let mut buf = [0u8; 512];
    let n = read(&fd, &mut buf).map_err(|e| Outcome::denied("read", e))?;
    let rdev = meta.rdev();
    Ok(Outcome::escaped(format!(
        "read {n} bytes of device {}:{}",
        libc::major(rdev),
        libc::minor(rdev)
    )))
}
