//! One probe of what this kernel offers, shared by `check`, `explain` and plan compilation.
//! Cheap reads only (a syscall, sysctls, /proc/self/cgroup); no forks. Probed once per process
//! ([`KernelFeatures::probe`] caches), and cappable for tests ([`cap`]).

pub mod cap;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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
    /// `SECCOMP_RET_USER_NOTIF` is available (`exec --report` uses it).
    pub seccomp_notify: bool,
    /// `Ok` when a new user namespace can be created by this user, else why not and the remedy.
    pub user_namespaces: Result<(), Gap>,
    pub arch: Option<Arch>,
    pub euid: u32,
    pub egid: u32,
    pub cgroups: CgroupSupport,
    /// What kind of container this process runs in, when it looks like one.
    pub container: Option<String>,
    /// The `MISSY_SANDBOX_CAP_FEATURES` items in force (empty on a real run).
    pub capped: Vec<String>,
}

/// A feature this machine lacks: why, and what would give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub reason: String,
    /// The exact step that would close the gap, when one exists.
    pub remedy: Option<String>,
}

impl Gap {
    pub fn new(reason: impl Into<String>, remedy: Option<&str>) -> Gap {
        Gap {
            reason: reason.into(),
            remedy: remedy.map(str::to_string),
        }
    }
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)?;
        if let Some(r) = &self.remedy {
            write!(f, "; remedy: {r}")?;
        }
        Ok(())
    }
}

/// Set once the kernel refused the clone into a user namespace (`user_namespaces_refused`).
static USERNS_REFUSED: OnceLock<Gap> = OnceLock::new();

/// Where the AppArmor profile that grants missy-sandbox user namespaces is shipped.
pub const APPARMOR_PROFILE: &str = "packaging/apparmor/missy-sandbox";

/// Cgroup directories this process may create children in, per controller.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CgroupSupport {
    /// The hierarchy mounted at /sys/fs/cgroup: "v1", "v2", "hybrid" or "none".
    pub version: &'static str,
    /// Cgroup v2: our own cgroup is writable (delegated to us), so runs could be placed under
    /// it. Reported by `check`; the limits use v1 hierarchies only, for now.
    pub v2_delegated: bool,
    pub pids: Option<PathBuf>,
    pub memory: Option<PathBuf>,
    /// Why no usable controller was found, for `check`.
    pub note: Option<String>,
}

impl KernelFeatures {
    /// This kernel's features, less what `MISSY_SANDBOX_CAP_FEATURES` takes away; probed on the
    /// first call, copied after.
    pub fn probe() -> KernelFeatures {
        static PROBED: OnceLock<KernelFeatures> = OnceLock::new();
        let mut features = PROBED
            .get_or_init(|| KernelFeatures::probe_uncached().capped(caps()))
            .clone();
        if let Some(gap) = USERNS_REFUSED.get() {
            features.user_namespaces = Err(gap.clone());
        }
        features
    }

    /// [`KernelFeatures::probe`]'s `user_namespaces` alone, the one thing a launch must know
    /// before it clones pid 1: a few sysctls rather than the whole probe, which can then run
    /// while pid 1 creates its namespaces.
    pub fn user_namespaces() -> Result<(), Gap> {
        static PROBED: OnceLock<Result<(), Gap>> = OnceLock::new();
        if let Some(gap) = USERNS_REFUSED.get() {
            return Err(gap.clone());
        }
        PROBED
            .get_or_init(|| {
                capped_user_namespaces(user_namespaces(nix::unistd::geteuid().as_raw()), caps())
            })
            .clone()
    }

    /// `userns-clone-fails` (tests only): the launch acts as if the clone into user namespaces
    /// were refused with EPERM.
    pub fn simulate_userns_refusal() -> bool {
        caps().userns_clone_fails
    }

    /// The clone into new user and pid namespaces was refused although the probe saw nothing
    /// against it (a container's seccomp policy, an LSM): from now on this process reports no
    /// user namespaces, so the Plan is compiled for the no-namespace path.
    pub fn user_namespaces_refused(errno: nix::errno::Errno) {
        let _ = USERNS_REFUSED.set(Gap::new(
            format!(
                "creating a user namespace failed: {errno:?} ({}); a container runtime's seccomp policy or an LSM refuses it",
                errno.desc()
            ),
            Some("allow user namespaces to this program (for a container: a seccomp profile that permits clone with CLONE_NEWUSER, or an AppArmor profile with `userns`; see `missy-sandbox check`)"),
        ));
    }

    fn probe_uncached() -> KernelFeatures {
        let euid = nix::unistd::geteuid().as_raw();
        let actions =
            std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail").unwrap_or_default();
        let has = |a: &str| actions.split_whitespace().any(|x| x == a);
        KernelFeatures {
            release: nix::sys::utsname::uname()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default(),
            landlock_abi: landlock_abi(),
            seccomp_filter: has("errno"),
            seccomp_notify: has("user_notif"),
            // The launch's own answer ([`KernelFeatures::user_namespaces`]), so both agree.
            user_namespaces: KernelFeatures::user_namespaces(),
            arch: Arch::native(),
            euid,
            egid: nix::unistd::getegid().as_raw(),
            cgroups: CgroupSupport::probe(euid),
            container: container(),
            capped: Vec::new(),
        }
    }

    /// These features less what `caps` takes away.
    pub fn capped(mut self, caps: &cap::Caps) -> KernelFeatures {
        if let Some(abi) = caps.landlock_abi {
            self.landlock_abi = self.landlock_abi.min(abi);
        }
        self.user_namespaces = capped_user_namespaces(self.user_namespaces, caps);
        if caps.no_cgroup {
            self.cgroups = CgroupSupport {
                version: self.cgroups.version,
                note: Some(capped_for_testing("no-cgroup")),
                ..Default::default()
            };
        }
        if caps.no_seccomp {
            self.seccomp_filter = false;
            self.seccomp_notify = false;
        }
        if caps.no_seccomp_notify {
            self.seccomp_notify = false;
        }
        self.capped = caps.items.clone();
        self
    }
}

fn capped_for_testing(item: &str) -> String {
    format!("capped for testing ({}={item})", cap::VAR)
}

fn capped_user_namespaces(probed: Result<(), Gap>, caps: &cap::Caps) -> Result<(), Gap> {
    if caps.no_userns {
        Err(Gap::new(capped_for_testing("no-userns"), None))
    } else {
        probed
    }
}

/// `MISSY_SANDBOX_CAP_FEATURES`, read once.
fn caps() -> &'static cap::Caps {
    static CAPS: OnceLock<cap::Caps> = OnceLock::new();
    CAPS.get_or_init(|| {
        cap::Caps::from_env().unwrap_or_else(|e| {
            // Fail closed: a test setting we cannot read takes every feature away.
            eprintln!("missy-sandbox: {e}; reporting no kernel features");
            cap::Caps {
                landlock_abi: Some(0),
                no_userns: true,
                no_cgroup: true,
                no_seccomp: true,
                no_seccomp_notify: true,
                userns_clone_fails: false,
                items: vec![format!("invalid {}", cap::VAR)],
            }
        })
    })
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

fn read_sysctl(path: &str) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn user_namespaces(euid: u32) -> Result<(), Gap> {
    if !Path::new("/proc/self/ns/user").exists() {
        return Err(Gap::new(
            "the kernel was built without user namespaces (CONFIG_USER_NS)",
            Some("use a kernel built with CONFIG_USER_NS=y"),
        ));
    }
    if read_sysctl("/proc/sys/user/max_user_namespaces") == Some(0) {
        return Err(Gap::new(
            "user.max_user_namespaces is 0 in this user namespace",
            Some(
                "sysctl -w user.max_user_namespaces=15000 (in the namespace that set it to 0; persist it in /etc/sysctl.d/)",
            ),
        ));
    }
    if euid != 0 {
        if read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == Some(0) {
            return Err(Gap::new(
                "kernel.unprivileged_userns_clone is 0 (unprivileged user namespaces are disabled)",
                Some("sysctl -w kernel.unprivileged_userns_clone=1 (persist it in /etc/sysctl.d/)"),
            ));
        }
        if read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == Some(1) {
            return Err(Gap::new(
                "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1)",
                Some(APPARMOR_REMEDY),
            ));
        }
    }
    Ok(())
}

/// Install the shipped AppArmor profile (preferred: it grants `userns` to this binary only),
/// or lift the restriction for every program.
pub const APPARMOR_REMEDY: &str = "install the shipped AppArmor profile: sudo install -m 644 packaging/apparmor/missy-sandbox /etc/apparmor.d/missy-sandbox && sudo apparmor_parser -r /etc/apparmor.d/missy-sandbox (edit its path if the binary is not /usr/local/bin/missy-sandbox); or, for every program, sysctl -w kernel.apparmor_restrict_unprivileged_userns=0";

/// What kind of container this process seems to run in: the marker files container engines
/// leave, or a container runtime named in pid 1's cgroup.
fn container() -> Option<String> {
    if Path::new("/.dockerenv").exists() {
        return Some("docker".into());
    }
    if Path::new("/run/.containerenv").exists() {
        return Some("podman".into());
    }
    let cgroup = std::fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
    for (needle, name) in [
        ("kubepods", "kubernetes"),
        ("docker", "docker"),
        ("containerd", "containerd"),
        ("lxc", "lxc"),
        ("libpod", "podman"),
    ] {
        if cgroup.contains(needle) {
            return Some(name.into());
        }
    }
    let env = std::fs::read("/proc/1/environ").unwrap_or_default();
    env.split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(b"container="))
        .map(|v| String::from_utf8_lossy(v).into_owned())
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
        let mut support = CgroupSupport {
            version: cgroup_version(),
            ..Default::default()
        };
        for line in own.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), Some(c)) => (a, b, c),
                _ => continue,
            };
            if controllers.is_empty() && support.version == "v2" {
                let dir = Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
                support.v2_delegated = writable(&dir.join("cgroup.subtree_control"));
            }
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

/// The cgroup hierarchy in use, from the filesystem mounted at /sys/fs/cgroup.
fn cgroup_version() -> &'static str {
    match nix::sys::statfs::statfs("/sys/fs/cgroup") {
        Ok(s) if s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC => "v2",
        Ok(_) if Path::new("/sys/fs/cgroup/unified").is_dir() => "hybrid",
        Ok(_) if Path::new("/sys/fs/cgroup/pids").is_dir() => "v1",
        _ => "none",
    }
}

fn writable(dir: &Path) -> bool {
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok()
}
