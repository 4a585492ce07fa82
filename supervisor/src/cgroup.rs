//! The run's cgroups (supervisor side). They are created, with their limits, while the sandbox's
//! pid 1 builds its root; the workload's process moves itself in (`enter`) right after its fork,
//! through the `tasks` files the supervisor opens for pid 1 (`tasks_files`), so every process
//! of the workload is born inside. pid 1 stays out: once the workload's processes are gone the
//! cgroups are empty and can be removed without waiting for pid 1's exit. Whatever is left in
//! them then is killed and the directories are removed. Uses the v1 pids and memory
//! hierarchies this host offers to root.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::plan::LimitPlan;

#[derive(Debug, thiserror::Error)]
#[error("cgroup {}: {action}: {source}", path.display())]
pub struct CgroupError {
    pub path: PathBuf,
    pub action: &'static str,
    pub source: std::io::Error,
}

/// The cgroup directories of one run (one per controller in use).
#[derive(Debug, Default)]
pub struct RunCgroup {
    dirs: Vec<PathBuf>,
    /// The one of `dirs` in the memory hierarchy, if any.
    memory: Option<PathBuf>,
}

fn write(path: &Path, file: &str, value: &str, action: &'static str) -> Result<(), CgroupError> {
    std::fs::write(path.join(file), value).map_err(|source| CgroupError {
        path: path.to_path_buf(),
        action,
        source,
    })
}

/// A process's start time (clock ticks since boot, field 22 of `/proc/<pid>/stat`): with the
/// pid it names one process for good, pid reuse notwithstanding.
pub(crate) fn start_time(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it follow the last `)`.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// The cgroup name of run `run_id` of this supervisor: `missy-sandbox-<pid>.<start>-<run>`.
fn run_name(run_id: u64) -> String {
    let pid = std::process::id().to_string();
    let start = start_time(&pid).unwrap_or(0);
    format!("missy-sandbox-{pid}.{start}-{run_id}")
}

/// Remove cgroups left by supervisors that were killed before they could clean up: those whose
/// supervisor (pid and start time) no longer exists.
fn sweep_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("missy-sandbox-")) else {
            continue;
        };
        let owner = rest.split('-').next().unwrap_or_default();
        let (pid, start) = owner.split_once('.').unwrap_or((owner, ""));
        if pid.parse::<i32>().is_err() {
            continue;
        }
        let alive = start_time(pid).is_some_and(|now| start.is_empty() || now.to_string() == start);
        if !alive {
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

impl RunCgroup {
    /// Create the run's cgroups and write their limits. `run_id` must be unique per supervisor.
    pub fn create(limits: &LimitPlan, run_id: u64) -> Result<RunCgroup, CgroupError> {
        let mut cg = RunCgroup::default();
        let name = run_name(run_id);
        if let Some((parent, max)) = &limits.cgroup_pids {
            let dir = cg.make(parent, &name)?;
            write(&dir, "pids.max", &max.to_string(), "set pids.max")?;
        }
        if let Some((parent, bytes)) = &limits.cgroup_memory {
            let dir = cg.make(parent, &name)?;
            cg.memory = Some(dir.clone());
            write(
                &dir,
                "memory.limit_in_bytes",
                &bytes.to_string(),
                "set memory.limit_in_bytes",
            )?;
            // Without this, the limit would only apply to RAM and the sandbox could fill swap.
            if dir.join("memory.memsw.limit_in_bytes").exists() {
                write(
                    &dir,
                    "memory.memsw.limit_in_bytes",
                    &bytes.to_string(),
                    "set memory.memsw.limit_in_bytes",
                )?;
            }
        }
        Ok(cg)
    }

    /// Create `parent/name` (after sweeping stale siblings) and remember it for cleanup.
    fn make(&mut self, parent: &Path, name: &str) -> Result<PathBuf, CgroupError> {
        sweep_stale(parent);
        let dir = parent.join(name);
        std::fs::create_dir(&dir).map_err(|source| CgroupError {
            path: dir.clone(),
            action: "create",
            source,
        })?;
        self.dirs.push(dir.clone());
        Ok(dir)
    }

    /// The `tasks` file of every one of the run's cgroups, opened for writing, for the workload
    /// to move itself in with [`enter`] (the files stay writable through the fds inside the
    /// sandbox's user namespace).
    pub fn tasks_files(&self) -> Result<Vec<std::fs::File>, CgroupError> {
        self.dirs
            .iter()
            .map(|dir| {
                let path = dir.join("tasks");
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|source| CgroupError {
                        path,
                        action: "open for pid 1",
                        source,
                    })
            })
            .collect()
    }

    /// How many processes the kernel's OOM killer ended in the run's memory cgroup (the
    /// `oom_kill` counter of v1's `memory.oom_control`); 0 without a memory cgroup.
    pub fn oom_kills(&self) -> u64 {
        let Some(dir) = &self.memory else { return 0 };
        let Ok(text) = std::fs::read_to_string(dir.join("memory.oom_control")) else {
            return 0;
        };
        text.lines()
            .filter_map(|l| l.strip_prefix("oom_kill ")?.trim().parse::<u64>().ok())
            .sum()
    }

    fn pids(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        for dir in &self.dirs {
            if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
                pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Remove the run's cgroups, killing whatever is still in them first. Normally the pid
    /// namespace has taken everything down already and the first removal succeeds; the kill
    /// loop is the last sweep for anything that did not go with it.
    pub fn destroy(&mut self) {
        self.dirs
            .retain(|dir| std::fs::remove_dir(dir).is_err() && dir.exists());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.dirs.is_empty() {
            for pid in self.pids() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            self.dirs
                .retain(|dir| std::fs::remove_dir(dir).is_err() && dir.exists());
            if self.dirs.is_empty() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        for dir in &self.dirs {
            tracing::warn!(cgroup = %dir.display(), "could not remove the run's cgroup");
        }
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        self.destroy();
    }
}

/// Move the calling thread into the cgroup of each `tasks` file (the workload's side, right
/// after its fork and before it can fork: children are born in their parent's cgroups).
///
/// Why the thread moves itself, by writing "0" to `tasks`: moving another task, or a whole
/// process through `cgroup.procs`, takes the kernel's global threadgroup lock, whose write side
/// waits for an RCU grace period: about a millisecond per cgroup on this class of machine, on
/// the launch's critical path. A thread moving itself needs no such lock.
pub fn enter(tasks: &[std::os::fd::OwnedFd]) -> Result<(), crate::confine::ConfineError> {
    use crate::confine::{ConfineError, Step};
    for fd in tasks {
        nix::unistd::write(fd, b"0").map_err(|e| {
            ConfineError::os(Step::Cgroup, e, "move the workload into the run's cgroup")
        })?;
    }
    Ok(())
}
