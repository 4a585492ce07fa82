//! Per-control enforcement status: how this kernel enforces each control the profile asks for,
//! or why it cannot and what would fix it. Strict profiles refuse to run when a control they do
//! not list in `[kernel] optional` is degraded; best-effort ones run and say what is missing.

use std::fmt;

use serde::Serialize;

use super::limits::LimitPlan;
use crate::kernel::{Gap, KernelFeatures};
use crate::policy::{NetworkMode, Policy};

/// Every control's stable id: the names `[kernel] optional` and `check --json` use.
pub const CONTROL_IDS: &[&str] = &[
    "mount-namespace",
    "pid-namespace",
    "ipc-namespace",
    "network",
    "filesystem",
    "protect",
    "signal-scope",
    "seccomp",
    "capabilities",
    "limit-processes",
    "limit-memory",
    "limit-open-files",
    "limit-file-size",
    "limit-cpu-time",
    "limit-wall-time",
    "limit-tmp-size",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "kebab-case")]
pub enum Status {
    /// Enforced by the named mechanism.
    Enforced(String),
    /// Not requested by the profile (e.g. `mode = "host"`).
    Off(String),
    /// Requested but not (fully) enforceable here: what is lost.
    Degraded(String),
}

impl Status {
    pub fn is_enforced(&self) -> bool {
        !matches!(self, Status::Degraded(_))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Enforced(how) => write!(f, "enforced by {how}"),
            Status::Off(why) => write!(f, "off ({why})"),
            Status::Degraded(why) => write!(f, "NOT ENFORCED: {why}"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Control {
    /// Stable id (one of [`CONTROL_IDS`]).
    pub id: String,
    /// What it protects, for people.
    pub name: String,
    #[serde(flatten)]
    pub status: Status,
    /// For a degraded control: the step that would enforce it.
    pub remedy: Option<String>,
    /// The profile lists it in `[kernel] optional`.
    pub optional: bool,
}

impl Control {
    /// One line for warnings and refusals: `id (name): status; remedy: ...`.
    pub fn describe(&self) -> String {
        let mut s = format!("{} ({}): {}", self.id, self.name, self.status);
        if let Some(r) = &self.remedy {
            s.push_str("; remedy: ");
            s.push_str(r);
        }
        s
    }
}

/// Degraded, with the remedy of the gap behind it.
fn degraded(why: String, gap: Option<&Gap>) -> (Status, Option<String>) {
    (Status::Degraded(why), gap.and_then(|g| g.remedy.clone()))
}

fn enforced(how: impl Into<String>) -> (Status, Option<String>) {
    (Status::Enforced(how.into()), None)
}

const LANDLOCK_REMEDY: &str =
    "boot a kernel with CONFIG_SECURITY_LANDLOCK=y and landlock in the lsm= list";

fn landlock_upgrade(abi: u8, kernel: &str) -> String {
    format!("a kernel with Landlock ABI {abi} (Linux {kernel} or later)")
}

pub fn assess(policy: &Policy, k: &KernelFeatures, limits: &LimitPlan) -> Vec<Control> {
    let mut out: Vec<Control> = Vec::new();
    let mut push = |id: &str, name: &str, (status, remedy): (Status, Option<String>)| {
        out.push(Control {
            id: id.to_string(),
            name: name.to_string(),
            optional: policy.optional_controls.iter().any(|o| o == id),
            remedy: if status.is_enforced() { None } else { remedy },
            status,
        })
    };
    let userns = k.user_namespaces.as_ref().err();
    let abi = k.landlock_abi;
    let no_userns = |what: &str| {
        let why = userns.map_or(String::new(), |g| g.reason.clone());
        degraded(format!("no user namespace ({why}): {what}"), userns)
    };

    push(
        "mount-namespace",
        "filesystem view: only granted paths exist",
        match userns {
            None => enforced("mount namespace and a new root"),
            Some(_) => no_userns(
                "Landlock still denies access outside the grants, but the names and metadata of host files stay visible, /tmp is a per-run host directory, and a mask inside a granted directory hides nothing",
            ),
        },
    );
    push(
        "pid-namespace",
        "process isolation and whole-tree cleanup",
        match userns {
            None => enforced("pid namespace (the tree dies with its pid 1)"),
            Some(_) => no_userns(
                "host processes are listed in /proc (their memory and environment stay out of reach: Landlock's ptrace restriction); cleanup uses a child subreaper that kills every descendant, plus the run's cgroup when there is one",
            ),
        },
    );
    push(
        "ipc-namespace",
        "System V IPC, hostname and cgroup view",
        match userns {
            None => enforced("ipc, uts and cgroup namespaces"),
            Some(_) => no_userns(
                "System V IPC objects and POSIX message queues of the same user are reachable; the hostname and cgroup paths are the host's",
            ),
        },
    );
    push("network", "network isolation", network(policy, k, userns));
    push(
        "filesystem",
        "filesystem access rules",
        match abi {
            0 => degraded(
                "Landlock is unavailable".into(),
                Some(&Gap::new("", Some(LANDLOCK_REMEDY))),
            ),
            1 | 2 => (
                Status::Degraded(format!(
                    "Landlock ABI {abi} cannot deny truncating a readable file{}",
                    if abi == 1 {
                        ", nor control renames and links between directories (refer, ABI 2)"
                    } else {
                        ""
                    }
                )),
                Some(landlock_upgrade(3, "6.2")),
            ),
            _ => enforced(format!(
                "Landlock ABI {}{}",
                abi.min(crate::kernel::LANDLOCK_ABI_KNOWN),
                if userns.is_none() {
                    " + mount namespace (only granted paths exist)"
                } else {
                    ""
                }
            )),
        },
    );
    if !policy.protect.is_empty() {
        push(
            "protect",
            "protected paths inside writable grants ([filesystem] protect)",
            match userns {
                None => enforced("read-only binds and placeholders in the mount namespace"),
                Some(_) => no_userns(
                    "Landlock cannot take write access back from a path inside a writable grant: the protected paths (.git/hooks, .envrc, ...) are writable",
                ),
            },
        );
    }
    push(
        "signal-scope",
        "signals and abstract Unix sockets outside the sandbox",
        match (abi >= 6, userns) {
            (true, None) => enforced("Landlock scopes (ABI 6) + pid and network namespaces"),
            (true, Some(_)) => enforced("Landlock scopes (ABI 6)"),
            (false, None) => enforced("pid and network namespaces"),
            (false, Some(g)) => (
                Status::Degraded(format!(
                    "Landlock ABI {abi} has no scopes (ABI 6) and there is no pid or network namespace ({}): the workload can signal the user's other processes (abstract Unix sockets stay out of reach: seccomp denies creating Unix sockets there)",
                    g.reason
                )),
                Some(format!(
                    "{}, or user namespaces: {}",
                    landlock_upgrade(6, "6.12"),
                    g.remedy.as_deref().unwrap_or("see `missy-sandbox check`")
                )),
            ),
        },
    );
    push(
        "seccomp",
        "system call filter",
        if k.seccomp_filter {
            enforced("seccomp deny-list (EPERM)")
        } else {
            (
                Status::Degraded("seccomp filters are unavailable".into()),
                Some("a kernel built with CONFIG_SECCOMP_FILTER=y".into()),
            )
        },
    );
    push(
        "capabilities",
        "privileges",
        enforced("all five capability sets cleared + no_new_privs"),
    );
    for (name, result) in &limits.mechanisms {
        let id = format!("limit-{}", name.replace('_', "-"));
        let status = match result {
            Ok(how) => enforced(how.clone()),
            Err(why) if *name == "tmp_size" => degraded(why.clone(), userns),
            Err(why) => (
                Status::Degraded(why.clone()),
                Some("run as a user with a writable pids cgroup (root on a cgroup v1 host), or not as root (RLIMIT_NPROC then applies)".into()),
            ),
        };
        push(&id, &format!("limit: {name}"), status);
    }
    out
}

fn network(policy: &Policy, k: &KernelFeatures, userns: Option<&Gap>) -> (Status, Option<String>) {
    let tcp = k.landlock_abi >= 4;
    let proxy = policy.network == NetworkMode::Proxy;
    match (policy.network, userns, tcp) {
        (NetworkMode::Host, _, _) => (
            Status::Off("profile sets network.mode = \"host\"".into()),
            None,
        ),
        (_, None, true) if proxy => enforced(
            "network namespace (loopback only) + Landlock TCP rules (connect only to the egress proxy)",
        ),
        (_, None, true) => enforced("network namespace (loopback only) + Landlock TCP rules"),
        (_, None, false) => enforced("network namespace (loopback only)"),
        (_, Some(g), true) => (
            Status::Degraded(format!(
                "no network namespace ({}): Landlock denies every TCP bind and connect{}; seccomp denies UDP, raw, packet and Unix sockets (Landlock does not check connecting to a host Unix socket by path), so programs that create Unix sockets fail; socketpair still works",
                g.reason,
                if proxy {
                    " but to the egress proxy's own port on the host's loopback (it serves only this sandbox's processes)"
                } else {
                    ""
                },
            )),
            g.remedy.clone(),
        ),
        (_, Some(g), false) => (
            Status::Degraded(format!(
                "no network namespace ({}) and Landlock ABI {} has no TCP rules (ABI 4): the workload can reach the host's network over TCP",
                g.reason, k.landlock_abi
            )),
            Some(format!(
                "{}, or user namespaces: {}",
                landlock_upgrade(4, "6.7"),
                g.remedy.as_deref().unwrap_or("see `missy-sandbox check`")
            )),
        ),
    }
}

/// The degraded controls a profile cannot run without: every degraded one for a strict
/// profile, except those it lists as optional.
pub fn unmet(controls: &[Control]) -> Vec<Control> {
    controls
        .iter()
        .filter(|c| !c.status.is_enforced() && !c.optional)
        .cloned()
        .collect()
}
