//! What the host looks like, read from /proc and the cgroup hierarchies: processes, their
//! namespaces, and the run cgroups of supervisors. Shared by `load`, `faults` and `lifetime`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long leftovers may take to disappear (the kernel releases namespaces asynchronously, and
/// other tests' transient descriptors and children need to be told apart from leaks).
pub const GRACE: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// /proc helpers
// ---------------------------------------------------------------------------------------------

/// One process as /proc/<pid>/stat shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: i32,
    pub state: char,
    pub ppid: i32,
    /// Start time in clock ticks after boot: (pid, start) names a process even across pid reuse.
    pub start: u64,
}

pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: the fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        pid,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

pub fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// The command line, arguments joined by spaces (empty for zombies and kernel threads).
pub fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

/// The inode of namespace `kind` (`net`, `pid`, …) of `pid`.
pub fn ns_inode(pid: i32, kind: &str) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).ok()?;
    link.to_str()?
        .strip_prefix(&format!("{kind}:["))?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Processes (other than this one) whose command line contains any of `needles`.
pub fn processes_matching(needles: &[&str]) -> Vec<(ProcStat, String)> {
    let me = std::process::id() as i32;
    all_pids()
        .into_iter()
        .filter(|&pid| pid != me)
        .filter_map(|pid| {
            let cmd = cmdline(pid);
            if !needles.iter().any(|n| !n.is_empty() && cmd.contains(n)) {
                return None;
            }
            Some((proc_stat(pid)?, cmd))
        })
        .collect()
}

/// Processes in the pid namespace with inode `ns`.
pub fn processes_in_pid_ns(ns: u64) -> Vec<ProcStat> {
    all_pids()
        .into_iter()
        .filter(|&pid| ns_inode(pid, "pid") == Some(ns))
        .filter_map(proc_stat)
        .collect()
}

/// True while the process `p` (same pid, same start time) exists.
pub fn still_exists(p: &ProcStat) -> bool {
    proc_stat(p.pid).is_some_and(|now| now.start == p.start)
}

// ---------------------------------------------------------------------------------------------
// cgroup helpers
// ---------------------------------------------------------------------------------------------

/// This process's own cgroup directory in every mounted hierarchy (a supervisor started by this
/// process creates its run cgroups below the same directories).
pub fn own_cgroup_dirs() -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut dirs = BTreeSet::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        let mut names: Vec<String> = vec![controllers.to_string()];
        names.extend(controllers.split(',').map(str::to_string));
        names.extend(controllers.strip_prefix("name=").map(str::to_string));
        if controllers.is_empty() {
            names.push("unified".into());
            names.push(String::new());
        }
        for name in names {
            let dir = root.join(&name).join(rel);
            if dir.join("cgroup.procs").exists() {
                dirs.insert(dir);
            }
        }
    }
    dirs.into_iter().collect()
}

/// `missy-sandbox-<pid>.<start>-<run>` directories below this process's cgroups (searched to
/// depth 3),
/// for supervisor pids accepted by `wanted`.
pub fn run_cgroups(wanted: impl Fn(i32) -> bool) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: u32, wanted: &dyn Fn(i32) -> bool, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix("missy-sandbox-")
                .and_then(|rest| rest.split('-').next())
                .and_then(|owner| owner.split('.').next())
                .and_then(|p| p.parse::<i32>().ok());
            match pid {
                Some(pid) if wanted(pid) => found.push(entry.path()),
                _ if depth > 1 => walk(&entry.path(), depth - 1, wanted, found),
                _ => {}
            }
        }
    }
    let mut found = Vec::new();
    for dir in own_cgroup_dirs() {
        walk(&dir, 3, &wanted, &mut found);
    }
    found.sort();
    found.dedup();
    found
}

/// Pids still in the cgroup directory `dir`.
pub fn cgroup_procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}
