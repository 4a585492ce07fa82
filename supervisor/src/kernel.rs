//! One probe of what this kernel offers, shared by `check`, `explain` and plan compilation.
//! Cheap reads only (a syscall, sysctls, /proc/self/cgroup); no forks.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::plan::seccomp::Arch;

/// Highest Landlock ABI this build knows and tests; newer kernels are used at this level.
pub const LANDLOCK_ABI_KNOWN: u8 = 7;

#[derive(Debug, Clone, Serialize)]
pub struct KernelFeatures {
    pub release: String,
    /// Landlock ABI version the kernel reports (0 when Landlock is absent or disabled).
    pub landlock_abi: u8,
    pub seccomp_filter: bool,
    /// `Ok` when a new user namespace can be created by this user, else the reason it cannot.
    pub user_namespaces: Result<(), String>,
    pub arch: Option<Arch>,
    pub euid: u32,
    pub egid: u32,
    pub cgroups: CgroupSupport,
}

/// Cgroup directories this process may create children in, per controller.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CgroupSupport {
    pub pids: Option<PathBuf>,
    pub memory: Option<PathBuf>,
    /// Why no usable controller was found, for `check`.
    pub note: Option<String>,
}

impl KernelFeatures {
    pub fn probe() -> KernelFeatures {
        let euid = nix::unistd::geteuid().as_raw();
        KernelFeatures {
            release: nix::sys::utsname::uname()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default(),
            landlock_abi: landlock_abi(),
            seccomp_filter: seccomp_filter(),
            user_namespaces: user_namespaces(euid),
            arch: Arch::native(),
            euid,
            egid: nix::unistd::getegid().as_raw(),
            cgroups: CgroupSupport::probe(euid),
        }
    }
}

fn landlock_abi() -> u8 {
    // SAFETY: landlock_create_ruleset with a NULL attr, size 0 and the VERSION flag only returns
    // the ABI version (or an error); it reads no memory and creates no fd.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    u8::try_from(v).unwrap_or(0)
}

fn seccomp_filter() -> bool {
    let Ok(actions) = std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail") else {
        return false;
    };
    actions.split_whitespace().any(|a| a == "errno")
}

fn read_sysctl(path: &str) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn user_namespaces(euid: u32) -> Result<(), String> {
    if !Path::new("/proc/self/ns/user").exists() {
        return Err("the kernel was built without user namespaces (CONFIG_USER_NS)".into());
    }
    if read_sysctl("/proc/sys/user/max_user_namespaces") == Some(0) {
        return Err(
            "user.max_user_namespaces is 0; remedy: sysctl -w user.max_user_namespaces=15000"
                .into(),
        );
    }
    if euid != 0 {
        if read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == Some(0) {
            return Err("kernel.unprivileged_userns_clone is 0; remedy: sysctl -w kernel.unprivileged_userns_clone=1".into());
        }
        if read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == Some(1) {
            return Err("AppArmor restricts unprivileged user namespaces \
                (kernel.apparmor_restrict_unprivileged_userns=1); remedy: install an AppArmor profile \
                granting `userns` to missy-sandbox, or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
                .into());
        }
    }
    Ok(())
}

impl CgroupSupport {
    /// Find, per controller, a cgroup directory we may create sandboxes' cgroups under: our own
    /// cgroup in each v1 hierarchy, when writable (root on a v1 host). Cgroup v2 delegation is
    /// not used yet; without a usable v1 hierarchy, limits fall back to rlimits.
    pub fn probe(euid: u32) -> CgroupSupport {
        let Ok(own) = std::fs::read_to_string("/proc/self/cgroup") else {
            return CgroupSupport {
                note: Some("/proc/self/cgroup unreadable".into()),
                ..Default::default()
            };
        };
        let mut support = CgroupSupport::default();
        for line in own.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), Some(c)) => (a, b, c),
                _ => continue,
            };
            // Only the controllers the limits use: a stat and an access check per hierarchy
            // would cost every launch for nothing.
            for controller in controllers
                .split(',')
                .filter(|c| matches!(*c, "pids" | "memory"))
            {
                let dir = Path::new("/sys/fs/cgroup")
                    .join(controller)
                    .join(path.trim_start_matches('/'));
                let usable = dir.is_dir() && writable(&dir);
                match controller {
                    "pids" if usable => support.pids = Some(dir),
                    "memory" if usable => support.memory = Some(dir),
                    _ => {}
                }
            }
        }
        if support.pids.is_none() && support.memory.is_none() {
            support.note = Some(if euid == 0 {
                "no writable cgroup v1 pids/memory hierarchy found (cgroup v2 delegation is not used yet)".into()
            } else {
                "cgroups need root on this host (no delegated cgroup); rlimits are used instead"
                    .into()
            });
        }
        support
    }
}

fn writable(dir: &Path) -> bool {
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok()
}
