//! The run's cgroups (supervisor side). They are created, with their limits, while the sandbox's
//! pid 1 waits for its Plan, which is sent only once pid 1 is inside them (`admit`); afterwards
//! whatever is left in them is killed and the directories are removed. Uses the v1 pids and memory hierarchies this
//! host offers to root.

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
}

fn write(path: &Path, file: &str, value: &str, action: &'static str) -> Result<(), CgroupError> {
    std::fs::write(path.join(file), value).map_err(|source| CgroupError {
        path: path.to_path_buf(),
        action,
        source,
    })
}

/// Remove cgroups left by supervisors that were killed before they could clean up.
fn sweep_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("missy-sandbox-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

impl RunCgroup {
    /// Create the run's cgroups and write their limits. `run_id` must be unique per supervisor.
    pub fn create(limits: &LimitPlan, run_id: u64) -> Result<RunCgroup, CgroupError> {
        let mut cg = RunCgroup::default();
        let name = format!("missy-sandbox-{}-{run_id}", std::process::id());
        if let Some((parent, max)) = &limits.cgroup_pids {
            let dir = cg.make(parent, &name)?;
            write(&dir, "pids.max", &max.to_string(), "set pids.max")?;
        }
        if let Some((parent, bytes)) = &limits.cgroup_memory {
            let dir = cg.make(parent, &name)?;
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

    /// Move the sandbox's (single-threaded) pid 1 into every one of the run's cgroups, before
    /// it forks anything: children are born in their parent's cgroup. Through `tasks`, which
    /// moves one thread, not `cgroup.procs`: moving a whole process takes a global lock and an
    /// RCU grace period that cost milliseconds per run.
    pub fn admit(&self, pid: nix::unistd::Pid) -> Result<(), CgroupError> {
        for dir in &self.dirs {
            write(
                dir,
                "tasks",
                &pid.to_string(),
                "move the sandbox's pid 1 in",
            )?;
        }
        Ok(())
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
