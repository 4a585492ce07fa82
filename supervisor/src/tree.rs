//! Whole-tree cleanup without a pid namespace. The sandbox's first process is a child
//! subreaper (`PR_SET_CHILD_SUBREAPER`): whatever the workload starts, even after `setsid` and a
//! double fork, stays its descendant (orphans are reparented to it, not to the host's init), so
//! walking its children through /proc finds every process of the sandbox.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Make the caller a child subreaper.
pub fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// Direct children of `pid`: the `children` file of each of its threads.
fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        let Ok(list) = std::fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        out.extend(
            list.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    out
}

/// Every descendant of `root` (not `root` itself), parents before children.
pub fn descendants(root: i32) -> Vec<i32> {
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(pid) = queue.pop() {
        for child in children(pid) {
            if !found.contains(&child) {
                found.push(child);
                queue.push(child);
            }
        }
    }
    found
}

/// A process that has exited but is not yet reaped (or is gone).
fn dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_none_or(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

/// Kill every descendant of `root`. Each is stopped first, walk after walk, until a walk finds
/// no process it has not stopped (a stopped process cannot fork); then all are killed at once.
/// A fork that was completing while its parent was being stopped can still leave a live child,
/// so the whole round repeats until only dead processes remain. `root` must be a subreaper
/// (or the descendants' common ancestor throughout), else a process whose parent dies
/// mid-walk leaves the tree.
pub fn kill_descendants(root: i32) {
    for _ in 0..64 {
        let live: Vec<i32> = descendants(root)
            .into_iter()
            .filter(|p| !dead(*p))
            .collect();
        if live.is_empty() {
            return;
        }
        let mut stopped: Vec<i32> = Vec::new();
        let mut fresh = live;
        while !fresh.is_empty() {
            for &pid in &fresh {
                let _ = kill(Pid::from_raw(pid), Signal::SIGSTOP);
            }
            stopped.extend(&fresh);
            fresh = descendants(root)
                .into_iter()
                .filter(|p| !stopped.contains(p) && !dead(*p))
                .collect();
        }
        for &pid in &stopped {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        // Killed processes take a moment to become zombies.
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
