//! New namespaces, in pid 1, and the user-namespace id maps, which the supervisor writes from
//! outside. The user and pid namespaces come from the clone itself (`spawn::start`); pid 1
//! then holds every capability in its user namespace and creates the rest here.

use nix::sched::{CloneFlags, unshare};

use super::{ConfineError, Step};

/// Unshare the mount, ipc and uts namespaces. The network namespace is made just before
/// (`network::enter_new_namespace`).
pub fn enter() -> Result<(), ConfineError> {
    unshare_step(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS)
}

/// The cgroup namespace, created once the supervisor has moved us into the run's cgroups, so
/// the sandbox sees them as its root and nothing of the host's hierarchy.
pub fn enter_cgroup() -> Result<(), ConfineError> {
    unshare_step(CloneFlags::CLONE_NEWCGROUP)
}

fn unshare_step(flags: CloneFlags) -> Result<(), ConfineError> {
    unshare(flags).map_err(|e| ConfineError::os(Step::Unshare, e, format!("unshare({flags:?})")))
}

/// Map root inside `pid`'s user namespace to `uid` and `gid`, the supervisor's own (the only
/// mapping it may write without privilege, as the namespace's creator). `setgroups` must be
/// denied first or the kernel refuses the gid map. Written by the supervisor, from outside,
/// right after the clone: pid 1 meanwhile creates its network namespace, which needs no map.
pub fn write_id_maps(pid: nix::unistd::Pid, uid: u32, gid: u32) -> Result<(), ConfineError> {
    let write = |file: &str, content: String| {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, content.as_bytes())
            .map_err(|e| ConfineError::io(Step::IdMaps, &e, format!("write {path}")))
    };
    write("setgroups", "deny".into())?;
    write("uid_map", format!("0 {uid} 1\n"))?;
    write("gid_map", format!("0 {gid} 1\n"))
}

/// The sandbox's own hostname, so it never sees (or sets) the host's.
pub fn set_hostname(name: &str) -> Result<(), ConfineError> {
    nix::unistd::sethostname(name)
        .map_err(|e| ConfineError::os(Step::Hostname, e, format!("sethostname({name})")))
}
