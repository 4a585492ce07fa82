//! Policy + kernel features → `Plan`: everything the sandbox's pid 1 needs, computed in the
//! supervisor.
//!
//! The Plan is plain data (serialisable, no fds, no kernel calls): ordered mount operations, the
//! Landlock rule list, compiled seccomp programs, the environment, argv and limits, and a record
//! of how each control is enforced. `explain`, `--dry-run` and golden tests read it as it is.

pub mod enforcement;
pub mod env;
pub mod limits;
pub mod mounts;
pub mod nons;
pub mod overlay;
pub mod protect;
pub mod seccomp;
pub mod seccomp_bpf;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use enforcement::{Control, Status};
pub use limits::{LimitPlan, Rlimit};
pub use mounts::MountOp;
use seccomp::SeccompProgram;

use crate::init::Pid1Start;
use crate::kernel::{KernelFeatures, LANDLOCK_ABI_KNOWN};
use crate::policy::model::{same_path, within};
use crate::policy::{NetworkMode, Policy, Require};

/// How much a grant allows. Ordered: a path granted twice gets the larger access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Access {
    /// List a directory's entries, nothing more (the root, so `ls /` shows what exists).
    List,
    /// List directories and read files.
    Read,
    /// Read, and execute files.
    Exec,
    /// Everything: read, execute, create, write, remove, rename.
    Write,
}

/// One path the sandbox may reach, resolved on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub path: PathBuf,
    pub access: Access,
    pub is_dir: bool,
}

/// The Landlock part of the Plan, applied by the workload after the mounts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LandlockPlan {
    /// ABI level to request: the kernel's, capped at what this build knows.
    pub abi: u8,
    /// Fail (HardRequirement) instead of silently enforcing less.
    pub strict: bool,
    pub rules: Vec<Grant>,
    /// Handle TCP bind/connect: set unless the network is the host's.
    pub restrict_tcp: bool,
    /// The only TCP ports the workload may connect to (the egress proxy's, with `mode = "proxy"`).
    #[serde(default)]
    pub connect_ports: Vec<u16>,
    /// `exec --report`: log denials after the workload's execve too
    /// (LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON), for kernel audit to see them.
    #[serde(default)]
    pub log_new_exec: bool,
}

/// Everything pid 1 needs to build the sandbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub profile: String,
    /// Run in new user, mount, pid, ipc, uts, cgroup (and network) namespaces. False when user
    /// namespaces are unavailable: the no-namespace path (`plan::nons`), where Landlock,
    /// seccomp, the cgroup and a subreaper hold the sandbox without them.
    #[serde(default = "yes")]
    pub namespaces: bool,
    /// Host uid/gid the sandbox's root maps to (the supervisor's own).
    pub uid: u32,
    pub gid: u32,
    /// Unshare the network namespace (false only for `mode = "host"`).
    pub new_netns: bool,
    pub hostname: String,
    /// `mode = "proxy"`: pid 1 binds the egress proxy's listener on 127.0.0.1 at this port and
    /// hands it to the supervisor.
    #[serde(default)]
    pub proxy_port: Option<u16>,
    pub mounts: Vec<MountOp>,
    pub landlock: LandlockPlan,
    pub seccomp: Vec<SeccompProgram>,
    pub rlimits: Vec<Rlimit>,
    pub env: Vec<(String, String)>,
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// `exec --report`: the workload installs the watch filter (`confine::watch`) before the
    /// deny-list and hands its listener to the supervisor.
    #[serde(default)]
    pub watch: bool,
}

fn yes() -> bool {
    true
}

/// Per-invocation inputs that are not in the profile.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub argv: Vec<String>,
    pub workspace: PathBuf,
    pub cwd: PathBuf,
    pub env_overrides: Vec<(String, String)>,
    pub host_env: Vec<(String, String)>,
}

/// The compiled plan plus what the supervisor keeps for itself.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub plan: Plan,
    pub limits: LimitPlan,
    pub controls: Vec<Control>,
    pub skipped_paths: Vec<PathBuf>,
    pub withheld_env: Vec<String>,
    /// No-namespace runs: the run's private host directory standing in for /tmp, removed
    /// when dropped (after the run).
    pub run_tmp: Option<std::sync::Arc<tempfile::TempDir>>,
    /// No-namespace runs with `mode = "proxy"`: the proxy's listener on the host's loopback, at
    /// an ephemeral port (the Plan's `proxy_port`), served by the supervisor.
    pub host_proxy: Option<std::sync::Arc<std::net::TcpListener>>,
    /// Absent protected paths, (path, is_dir): the supervisor creates them on the host for the
    /// run (`workspace::placeholders`) and pid 1 masks them.
    pub placeholders: Vec<(PathBuf, bool)>,
    /// Every protected path of the run.
    pub protected: Vec<PathBuf>,
    /// Protected paths whose parent did not exist at launch (not protected; checked after).
    pub unprotected: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("the workspace {} does not exist or is not a directory", .0.display())]
    Workspace(PathBuf),
    #[error("this CPU architecture is not supported (x86_64 and aarch64 are)")]
    Arch,
    #[error("cannot create the run's private /tmp directory on the host: {0}")]
    RunTmp(std::io::Error),
    #[error("cannot compile the no-namespace socket filter: {0}")]
    SocketFilter(String),
    #[error("cannot bind the egress proxy's listener on 127.0.0.1: {0}")]
    ProxyListener(std::io::Error),
    #[error("{at}: {} does not exist on this machine; create it, or write the grant as \"?{}\" to skip it when it is missing", .path.display(), .spelled)]
    MissingGrant {
        /// The expanded path.
        path: PathBuf,
        /// Where the grant is written: file, line, column, key.
        at: String,
        /// The path as a grant would spell it (for the hint).
        spelled: String,
    },
    #[error("the protected path {} is a symbolic link: a link cannot be pinned in place, so the sandbox could replace it; replace the link by its target, or take the path out of [filesystem] protect", .0.display())]
    ProtectedSymlink(PathBuf),
    #[error("profile `{profile}` requires every control, but this kernel cannot enforce: {}\n{}\n  (a profile may list controls it can do without in [kernel] optional, or set [kernel] require = \"best-effort\"; `missy-sandbox check` explains this machine)",
        .unmet.iter().map(|c| c.id.as_str()).collect::<Vec<_>>().join(", "),
        .unmet.iter().map(|c| format!("  {}", c.describe())).collect::<Vec<_>>().join("\n"))]
    Unenforceable {
        profile: String,
        unmet: Vec<Control>,
    },
}

/// A host symlink to recreate in the sandbox: (link, target as written).
type Symlink = (PathBuf, PathBuf);

/// A required grant (no `?` marker) of a path that does not exist.
fn missing(policy: &Policy, path: &Path) -> PlanError {
    let origin = policy.grant_origins.iter().find(|o| o.path == path);
    PlanError::MissingGrant {
        path: path.to_path_buf(),
        at: origin.map_or_else(
            || format!("profile `{}`", policy.name),
            |o| o.at.to_string(),
        ),
        spelled: origin.map_or_else(|| path.display().to_string(), |o| o.written.clone()),
    }
}

/// Resolve the profile's path lists on the host: a missing optional path is skipped (it grants
/// nothing), a missing required one is an error; symlinks are recreated and their targets
/// granted.
fn resolve_grants(
    policy: &Policy,
    skipped: &mut Vec<PathBuf>,
) -> Result<(Vec<Grant>, Vec<Symlink>), PlanError> {
    let mut grants: Vec<Grant> = Vec::new();
    // Index of each grant in `grants` by its path (a path named twice gets the wider access).
    let mut index: HashMap<PathBuf, usize> = HashMap::new();
    let mut canonical = CanonicalDirs::default();
    let mut symlinks = Vec::new();
    let lists = [
        (&policy.read, Access::Read),
        (&policy.exec, Access::Exec),
        (&policy.write, Access::Write),
    ];
    for (paths, access) in lists {
        for path in paths.iter() {
            let (real, is_dir) = if mounts::is_builtin(path) {
                (path.clone(), true)
            } else {
                let optional = policy.optional.iter().any(|p| same_path(p, path));
                let Ok(meta) = std::fs::symlink_metadata(path) else {
                    if !optional {
                        return Err(missing(policy, path));
                    }
                    skipped.push(path.clone());
                    continue;
                };
                if meta.file_type().is_symlink() {
                    let (Ok(target), Ok(real)) =
                        (std::fs::read_link(path), std::fs::canonicalize(path))
                    else {
                        // A dangling link: its target is what is missing.
                        if !optional {
                            return Err(missing(policy, path));
                        }
                        skipped.push(path.clone());
                        continue;
                    };
                    symlinks.push((path.clone(), target));
                    (real.clone(), real.is_dir())
                } else {
                    // Canonical, so a symlinked parent does not create a second view of a path.
                    let real = canonical.of_non_symlink(path);
                    (real, meta.is_dir())
                }
            };
            match index.get(&real) {
                Some(&i) => grants[i].access = grants[i].access.max(access),
                None => {
                    index.insert(real.clone(), grants.len());
                    grants.push(Grant {
                        path: real,
                        access,
                        is_dir,
                    });
                }
            }
        }
    }
    // A symlink whose link path is itself inside a bound directory already exists there.
    symlinks.retain(|(link, _)| {
        !grants
            .iter()
            .any(|g| within(link, &g.path) && !mounts::is_builtin(&g.path))
    });
    Ok((grants, symlinks))
}

/// Canonical paths of directories, each resolved once: the grants of a profile share a few
/// parents (/etc, /usr, the home directory), and resolving a path costs a system call per
/// component.
#[derive(Default)]
struct CanonicalDirs(HashMap<PathBuf, PathBuf>);

impl CanonicalDirs {
    /// The canonical form of `path`, which exists and is not itself a symlink: its parent's
    /// canonical form and its own name.
    fn of_non_symlink(&mut self, path: &Path) -> PathBuf {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return path.to_path_buf();
        };
        let dir = self
            .0
            .entry(parent.to_path_buf())
            .or_insert_with(|| std::fs::canonicalize(parent).unwrap_or_else(|_| parent.into()));
        dir.join(name)
    }
}

/// Rules the sandbox always needs, whatever the profile: its own /dev nodes, /proc, /tmp.
fn builtin_rules(policy: &Policy) -> Vec<Grant> {
    let mut rules = vec![
        // Only granted paths exist in the new root, so listing it reveals nothing more.
        Grant {
            path: "/".into(),
            access: Access::List,
            is_dir: true,
        },
        Grant {
            path: "/proc".into(),
            access: Access::Read,
            is_dir: true,
        },
    ];
    for node in [
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
    ] {
        rules.push(Grant {
            path: node.into(),
            access: Access::Write,
            is_dir: false,
        });
    }
    rules.push(Grant {
        path: "/dev/shm".into(),
        access: Access::Write,
        is_dir: true,
    });
    // The sandbox's own pty instance (ptmx and the slaves it creates).
    rules.push(Grant {
        path: "/dev/pts".into(),
        access: Access::Write,
        is_dir: true,
    });
    let tmp_granted = policy
        .write
        .iter()
        .any(|p| p == Path::new(crate::policy::model::SANDBOX_TMP));
    if !tmp_granted {
        rules.push(Grant {
            path: "/tmp".into(),
            access: Access::Read,
            is_dir: true,
        });
    }
    rules
}

/// What the sandbox's pid 1 needs before its Plan exists (it is cloned while the supervisor is
/// still compiling): the ids its root maps to, and whether it gets a network namespace.
pub fn pid1_start(policy: &Policy) -> Pid1Start {
    let namespaces = KernelFeatures::probe().user_namespaces.is_ok();
    Pid1Start {
        uid: nix::unistd::geteuid().as_raw(),
        gid: nix::unistd::getegid().as_raw(),
        namespaces,
        new_netns: namespaces && policy.network != NetworkMode::Host,
        stdio: crate::secrets::relay::INHERIT,
    }
}

/// Compile `policy` for this kernel and invocation.
pub fn compile(
    policy: &Policy,
    kernel: &KernelFeatures,
    inv: &Invocation,
) -> Result<Compiled, PlanError> {
    if !inv.workspace.is_dir() {
        return Err(PlanError::Workspace(inv.workspace.clone()));
    }
    let arch = kernel.arch.ok_or(PlanError::Arch)?;
    let namespaces = kernel.user_namespaces.is_ok();
    let mut skipped = Vec::new();
    let (mut grants, symlinks) = resolve_grants(policy, &mut skipped)?;
    // Protection is built from mounts: without a mount namespace there is none (the
    // `protected-paths` control says so).
    let protected = if namespaces {
        protect::resolve(&policy.protect, &grants)?
    } else {
        protect::Protected::default()
    };
    for extra in &protected.extra_grants {
        if !grants.iter().any(|g| same_path(&g.path, &extra.path)) {
            grants.push(extra.clone());
        }
    }
    let tmp_size = policy.limits.tmp_size.map(|s| s.0);
    let mount_ops = if namespaces {
        mounts::compile(&grants, &symlinks, &policy.mask, tmp_size, &protected)
    } else {
        Vec::new()
    };
    let run_tmp = (!namespaces)
        .then(nons::run_tmp)
        .transpose()
        .map_err(PlanError::RunTmp)?
        .map(std::sync::Arc::new);
    let (grants, mut rules) = match &run_tmp {
        None => (grants, builtin_rules(policy)),
        Some(dir) => (
            nons::relocate_tmp(grants, dir.path()),
            nons::builtin_rules(dir.path()),
        ),
    };
    for g in &grants {
        match rules.iter_mut().find(|r| same_path(&r.path, &g.path)) {
            Some(r) => r.access = r.access.max(g.access),
            None => rules.push(g.clone()),
        }
    }
    drop_implied_rules(&mut rules);
    let mut limits = limits::compile(&policy.limits, kernel);
    // Without a network namespace the proxy listens on the host's loopback at a port of its
    // own, and serves only this sandbox's connections (`egress::peer`).
    let host_proxy = (policy.network == NetworkMode::Proxy && !namespaces)
        .then(|| std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)))
        .transpose()
        .map_err(PlanError::ProxyListener)?;
    let proxy_port = match &host_proxy {
        Some(l) => Some(l.local_addr().map_err(PlanError::ProxyListener)?.port()),
        None => (policy.network == NetworkMode::Proxy).then_some(crate::egress::PROXY_PORT),
    };
    let mut env = env::compile(policy, &inv.host_env, &inv.env_overrides, proxy_port);
    if let Some(dir) = &run_tmp {
        nons::relocate_env(&mut env.vars, dir.path());
        nons::degrade_limits(&mut limits);
    }
    let cwd = if grants
        .iter()
        .any(|g| g.is_dir && !mounts::is_builtin(&g.path) && within(&inv.cwd, &g.path))
    {
        inv.cwd.clone()
    } else if grants
        .iter()
        .any(|g| g.is_dir && !mounts::is_builtin(&g.path) && within(&inv.workspace, &g.path))
    {
        inv.workspace.clone()
    } else {
        // A profile that grants no workspace (e.g. `base`) still runs, from the root.
        PathBuf::from("/")
    };
    let controls = enforcement::assess(policy, kernel, &limits);
    if policy.require == Require::Strict {
        let unmet = enforcement::unmet(&controls);
        if !unmet.is_empty() {
            return Err(PlanError::Unenforceable {
                profile: policy.name.clone(),
                unmet,
            });
        }
    }
    let start = pid1_start(policy);
    let mut seccomp = seccomp_bpf::default_programs(arch);
    if !namespaces && policy.network != NetworkMode::Host {
        seccomp.push(nons::socket_filter(arch).map_err(PlanError::SocketFilter)?);
    }
    let plan = Plan {
        profile: policy.name.clone(),
        namespaces,
        uid: start.uid,
        gid: start.gid,
        new_netns: namespaces && policy.network != NetworkMode::Host,
        hostname: "missy-sandbox".into(),
        proxy_port,
        mounts: mount_ops,
        landlock: LandlockPlan {
            abi: kernel.landlock_abi.min(LANDLOCK_ABI_KNOWN),
            strict: policy.require == Require::Strict,
            rules,
            restrict_tcp: policy.network != NetworkMode::Host,
            connect_ports: proxy_port.into_iter().collect(),
            log_new_exec: false,
        },
        seccomp,
        rlimits: limits.rlimits.clone(),
        env: env.vars.into_iter().collect(),
        argv: inv.argv.clone(),
        cwd,
        watch: false,
    };
    Ok(Compiled {
        plan,
        limits,
        controls,
        skipped_paths: skipped,
        withheld_env: env.withheld,
        run_tmp,
        host_proxy: host_proxy.map(std::sync::Arc::new),
        // Without a mount namespace nothing would mask them (`protect` is degraded).
        placeholders: if namespaces {
            protected.placeholders
        } else {
            Vec::new()
        },
        protected: protected.paths,
        unprotected: protected.skipped,
    })
}

/// A Landlock rule covers everything beneath its directory, across mounts, so a rule beneath a
/// directory rule giving at least as much adds nothing; each costs pid 1 an open, a stat and a
/// system call, so it is dropped (`strict`'s `/usr/bin`, `/usr/lib`... under `/usr`). Rules
/// beneath the sandbox's own mounts (/tmp, /proc, /dev) stay: a host path's rule is what says
/// the host's file is bound there (`report::grants`).
fn drop_implied_rules(rules: &mut Vec<Grant>) {
    let implied: Vec<bool> = rules
        .iter()
        .map(|rule| {
            rules.iter().any(|other| {
                other.is_dir
                    && other.access >= rule.access
                    && !mounts::is_builtin(&other.path)
                    && !same_path(&other.path, &rule.path)
                    && within(&rule.path, &other.path)
            })
        })
        .collect();
    let mut implied = implied.into_iter();
    rules.retain(|_| !implied.next().unwrap_or(false));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(path: &str, access: Access, is_dir: bool) -> Grant {
        Grant {
            path: PathBuf::from(path),
            access,
            is_dir,
        }
    }

    #[test]
    fn rules_beneath_a_directory_rule_that_gives_as_much_are_dropped() {
        let mut rules = vec![
            rule("/", Access::List, true),
            rule("/usr", Access::Exec, true),
            rule("/usr/bin", Access::Exec, true),
            rule("/usr/share/zoneinfo/Etc/UTC", Access::Read, false),
            rule("/usr/local", Access::Write, true),
            rule("/usrx", Access::Read, true),
            rule("/tmp", Access::Write, true),
            rule("/tmp/ws", Access::Write, true),
            rule("/etc/passwd", Access::Read, false),
            rule("/etc/passwd/x", Access::Read, false),
        ];
        drop_implied_rules(&mut rules);
        let kept: Vec<&str> = rules.iter().map(|r| r.path.to_str().unwrap()).collect();
        // /usr/bin and the zone file add nothing to /usr; /usr/local gives more; /usrx is not
        // beneath /usr; the workspace under the sandbox's /tmp stays; a file rule covers nothing
        // beneath it; the root's List right covers nothing else.
        assert_eq!(
            kept,
            [
                "/",
                "/usr",
                "/usr/local",
                "/usrx",
                "/tmp",
                "/tmp/ws",
                "/etc/passwd",
                "/etc/passwd/x"
            ]
        );
    }

    #[test]
    fn a_missing_grant_is_an_error_unless_optional() {
        let dir = tempfile::tempdir().unwrap();
        let absent = dir.path().join("absent");
        let mut policy = Policy::empty("t".into(), Vec::new());
        policy.read = vec![dir.path().to_path_buf(), absent.clone()];
        let mut skipped = Vec::new();
        let err = resolve_grants(&policy, &mut skipped).unwrap_err();
        assert!(
            matches!(&err, PlanError::MissingGrant { path, .. } if *path == absent),
            "{err}"
        );
        assert!(err.to_string().contains("\"?"), "{err}");

        policy.optional = vec![absent.clone()];
        let (grants, _) = resolve_grants(&policy, &mut skipped).unwrap();
        assert_eq!(skipped, vec![absent]);
        assert_eq!(grants.len(), 1);
    }
}
