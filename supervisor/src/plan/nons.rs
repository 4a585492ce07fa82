//! The parts of the Plan that differ without namespaces (no user namespace for this user): no
//! new root, so the Landlock rules name host paths directly and grant nothing the mount
//! namespace used to provide (a listable root, a private /tmp, /dev/shm, a pty instance); the
//! sandbox's /tmp becomes a private host directory; and a seccomp program keeps the workload off
//! every socket but TCP (which Landlock controls).

use std::collections::BTreeMap;
use std::path::Path;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::limits::LimitPlan;
use super::seccomp::{Arch, SeccompProgram};
use super::{Access, Grant};
use crate::policy::model::{SANDBOX_TMP, same_path};

/// Prefix of the runs' private /tmp directories in the host's temporary directory.
const RUN_TMP_PREFIX: &str = "missy-sandbox-tmp-";

/// The run's private directory standing in for /tmp: mode 0700, owned by the supervisor's
/// user (the workload's), removed after the run. Its name carries the supervisor's pid and start
/// time, so that the directories of supervisors that were SIGKILLed are removed by a later run.
pub fn run_tmp() -> std::io::Result<tempfile::TempDir> {
    let pid = std::process::id().to_string();
    let start = crate::cgroup::start_time(&pid).unwrap_or(0);
    sweep_stale(&std::env::temp_dir());
    tempfile::Builder::new()
        .prefix(&format!("{RUN_TMP_PREFIX}{pid}.{start}-"))
        .tempdir()
}

/// Remove this user's run directories whose supervisor (pid and start time) is gone.
fn sweep_stale(dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let euid = nix::unistd::geteuid().as_raw();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.strip_prefix(RUN_TMP_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(owner, _)| owner.split_once('.'))
        else {
            continue;
        };
        let (pid, start) = owner;
        let alive = crate::cgroup::start_time(pid).is_some_and(|now| now.to_string() == start);
        let mine =
            std::fs::symlink_metadata(entry.path()).is_ok_and(|m| m.is_dir() && m.uid() == euid);
        if !alive && mine {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The sandbox's /tmp (`{tmp}`), standing alone: paths below /tmp name host paths (a
/// workspace under /tmp, say), as they do when the namespace path binds them into its tmpfs.
fn is_sandbox_tmp(path: &Path) -> bool {
    same_path(path, Path::new(SANDBOX_TMP))
}

/// A grant of the sandbox's /tmp applies to the run's directory: the host's /tmp is shared
/// with every other program.
pub fn relocate_tmp(grants: Vec<Grant>, dir: &Path) -> Vec<Grant> {
    grants
        .into_iter()
        .map(|mut g| {
            if is_sandbox_tmp(&g.path) {
                g.path = dir.to_path_buf();
            }
            g
        })
        .collect()
}

/// Variables set to the sandbox's /tmp (`TMPDIR = "{tmp}"`, `HOME = "{tmp}"`) name the run's
/// directory.
pub fn relocate_env(vars: &mut BTreeMap<String, String>, dir: &Path) {
    for value in vars.values_mut() {
        if is_sandbox_tmp(Path::new(value.as_str())) {
            *value = dir.to_string_lossy().into_owned();
        }
    }
}

/// The rules every no-namespace sandbox needs: the harmless /dev nodes, /proc (other
/// processes' memory and environment stay out of reach: Landlock denies ptrace access to
/// processes outside the domain) and the run's /tmp. Nothing that would expose the host: no
/// listable root, no /dev/shm, no /dev/pts.
pub fn builtin_rules(tmp: &Path) -> Vec<Grant> {
    let mut rules = vec![Grant {
        path: "/proc".into(),
        access: Access::Read,
        is_dir: true,
    }];
    for node in [
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
    ] {
        rules.push(Grant {
            path: node.into(),
            access: Access::Write,
            is_dir: false,
        });
    }
    rules.push(Grant {
        path: tmp.to_path_buf(),
        access: Access::Write,
        is_dir: true,
    });
    rules
}

/// The tmpfs size limit has no tmpfs to apply to.
pub fn degrade_limits(limits: &mut LimitPlan) {
    for (name, how) in &mut limits.mechanisms {
        if *name == "tmp_size" {
            *how = Err(
                "no mount namespace, so no private tmpfs: /tmp is a host directory bounded only by file_size and the disk"
                    .into(),
            );
        }
    }
}

const AF_UNIX: u64 = 1;
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;
/// The socket type is the low bits of `type`; SOCK_NONBLOCK and SOCK_CLOEXEC sit above them.
const SOCK_TYPE_MASK: u64 = 0xf;
/// Every socket type but SOCK_STREAM (1): dgram, raw, rdm, seqpacket, dccp, packet.
const NON_STREAM: [u64; 6] = [2, 3, 4, 5, 6, 10];

/// `socket(AF_INET or AF_INET6, anything but SOCK_STREAM)` fails with EPERM: with no network
/// namespace, UDP would reach the host's network, and Landlock controls TCP only. So does
/// `socket(AF_UNIX)`: Landlock does not check connecting to a Unix socket by path, and the
/// host's (a container engine's, a session bus) would be in reach; `socketpair` stays allowed.
/// (The default deny-list already refuses every family but Unix, IPv4 and IPv6.)
pub fn socket_filter(arch: Arch) -> Result<SeccompProgram, String> {
    let cond = |arg: u8, op: SeccompCmpOp, value: u64| {
        SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value).map_err(|e| e.to_string())
    };
    let mut rules = vec![
        SeccompRule::new(vec![cond(0, SeccompCmpOp::Eq, AF_UNIX)?]).map_err(|e| e.to_string())?,
    ];
    for family in [AF_INET, AF_INET6] {
        for kind in NON_STREAM {
            rules.push(
                SeccompRule::new(vec![
                    cond(0, SeccompCmpOp::Eq, family)?,
                    cond(1, SeccompCmpOp::MaskedEq(SOCK_TYPE_MASK), kind)?,
                ])
                .map_err(|e| e.to_string())?,
            );
        }
    }
    let target = match arch {
        Arch::X86_64 => TargetArch::x86_64,
        Arch::Aarch64 => TargetArch::aarch64,
    };
    let filter = SeccompFilter::new(
        [(libc::SYS_socket, rules)].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        target,
    )
    .map_err(|e| e.to_string())?;
    let bpf: BpfProgram = filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| e.to_string())?;
    Ok(SeccompProgram::from_bpf("no-namespace-sockets", &bpf))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn directories_of_dead_supervisors_are_swept_and_live_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let me = std::process::id().to_string();
        let start = crate::cgroup::start_time(&me).unwrap();
        let live = tmp.path().join(format!("{RUN_TMP_PREFIX}{me}.{start}-abc"));
        // A pid that is not running (pid_max is at most 2^22).
        let dead = tmp.path().join(format!("{RUN_TMP_PREFIX}99999999.1-abc"));
        let reused = tmp
            .path()
            .join(format!("{RUN_TMP_PREFIX}{me}.{}-abc", start + 1));
        let other = tmp.path().join("missy-sandbox-tmp-unparsable");
        for d in [&live, &dead, &reused, &other] {
            std::fs::create_dir(d).unwrap();
        }
        std::fs::write(dead.join("f"), "x").unwrap();
        sweep_stale(tmp.path());
        assert!(live.exists() && other.exists());
        assert!(!dead.exists() && !reused.exists());
        let made = run_tmp().unwrap();
        let name = made
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with(&format!("{RUN_TMP_PREFIX}{me}.{start}-")),
            "{name}"
        );
    }

    #[test]
    fn tmp_grants_and_variables_move_to_the_run_directory() {
        let dir = Path::new("/var/tmp/run");
        let grants = vec![
            Grant {
                path: "/tmp".into(),
                access: Access::Write,
                is_dir: true,
            },
            Grant {
                path: "/tmp/workspace".into(),
                access: Access::Write,
                is_dir: true,
            },
            Grant {
                path: "/usr".into(),
                access: Access::Read,
                is_dir: true,
            },
        ];
        let moved = relocate_tmp(grants, dir);
        let paths: Vec<_> = moved.iter().map(|g| g.path.clone()).collect();
        assert_eq!(
            paths,
            vec![
                dir.to_path_buf(),
                PathBuf::from("/tmp/workspace"),
                PathBuf::from("/usr")
            ]
        );
        let mut vars = BTreeMap::from([
            ("TMPDIR".to_string(), "/tmp".to_string()),
            ("HOME".to_string(), "/tmp/home".to_string()),
            ("OTHER".to_string(), "/tmpfoo".to_string()),
        ]);
        relocate_env(&mut vars, dir);
        assert_eq!(vars["TMPDIR"], "/var/tmp/run");
        assert_eq!(vars["HOME"], "/tmp/home");
        assert_eq!(vars["OTHER"], "/tmpfoo");
    }

    /// The filter denies UDP and Unix sockets and allows TCP: installed on a thread of its own (seccomp applies
    /// per thread without TSYNC), and compared with the same calls on this thread.
    #[test]
    fn socket_filter_denies_udp_and_unix_and_allows_tcp() {
        let program = socket_filter(Arch::native().unwrap()).unwrap().to_bpf();
        let try_socket = |(family, kind): (i32, i32)| {
            // SAFETY: plain socket creation; the fd is closed at once.
            let fd = unsafe { libc::socket(family, kind | libc::SOCK_CLOEXEC, 0) };
            let errno = std::io::Error::last_os_error().raw_os_error();
            if fd >= 0 {
                // SAFETY: the fd we just created.
                unsafe { libc::close(fd) };
                None
            } else {
                errno
            }
        };
        let udp = (libc::AF_INET, libc::SOCK_DGRAM);
        let udp6 = (libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK);
        let unix = (libc::AF_UNIX, libc::SOCK_STREAM);
        let tcp = (libc::AF_INET, libc::SOCK_STREAM);
        assert_eq!(try_socket(udp), None, "UDP works unfiltered");
        assert_eq!(try_socket(unix), None, "Unix sockets work unfiltered");
        let filtered = std::thread::spawn(move || {
            seccompiler::apply_filter(&program).unwrap();
            [udp, udp6, unix, tcp].map(try_socket)
        })
        .join()
        .unwrap();
        let eperm = Some(libc::EPERM);
        assert_eq!(filtered, [eperm, eperm, eperm, None]);
    }
}
