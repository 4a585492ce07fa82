//! New namespaces and the user-namespace id maps. Runs in the outer `__init`, which must be
//! single-threaded: the kernel refuses `unshare(CLONE_NEWUSER)` in a multithreaded process.

use nix::sched::{CloneFlags, unshare};

use super::{ConfineError, Step};

/// Unshare every namespace; the network namespace only when the plan asks for one.
/// The pid namespace applies to the children forked next, not to this process.
pub fn enter(new_netns: bool) -> Result<(), ConfineError> {
    let mut flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWCGROUP;
    if new_netns {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    unshare(flags).map_err(|e| ConfineError::os(Step::Unshare, e, format!("unshare({flags:?})")))
}

/// Map root inside the namespace to the supervisor's uid and gid (the only mapping a process may
/// write for itself). `setgroups` must be denied first or the kernel refuses the gid map.
pub fn write_id_maps(uid: u32, gid: u32) -> Result<(), ConfineError> {
    let write = |file: &str, content: String| {
        std::fs::write(file, content.as_bytes())
            .map_err(|e| ConfineError::io(Step::IdMaps, &e, format!("write {file}")))
    };
    write("/proc/self/setgroups", "deny".into())?;
    write("/proc/self/uid_map", format!("0 {uid} 1\n"))?;
    write("/proc/self/gid_map", format!("0 {gid} 1\n"))
}

/// The sandbox's own hostname, so it never sees (or sets) the host's.
pub fn set_hostname(name: &str) -> Result<(), ConfineError> {
    nix::unistd::sethostname(name)
        .map_err(|e| ConfineError::os(Step::Hostname, e, format!("sethostname({name})")))
}
