//! Which CPU pid 1 runs on while its sandbox is built.
//!
//! The supervisor (compiling the Plan, making the cgroups) and pid 1 (creating the namespaces,
//! then the root) are meant to work at the same time. A scheduler may keep a new child on its
//! parent's CPU while another one idles, though: virtual machines that pack their vCPUs do,
//! and there pid 1 sat runnable behind the supervisor until it blocked, every step of the two
//! branches taken one after the other. So pid 1 starts on a CPU other than the supervisor's
//! when the supervisor may run on more than one ([`Inherited::start_apart`]), and takes back
//! the CPUs it inherited as soon as its Plan arrives ([`Inherited::restore`]), before anything
//! of the workload's exists: the workload runs where the caller allowed, as before.
//!
//! Only a hint to the scheduler: when the CPUs cannot be read or set, the scheduler's own
//! choice stands and nothing else changes.

use nix::sched::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
use nix::unistd::Pid;

/// The CPUs the calling thread may run on, when there is more than one.
#[derive(Debug, Clone, Copy)]
pub struct Inherited {
    cpus: CpuSet,
}

impl Inherited {
    /// The calling thread's allowed CPUs; None with only one (there is nowhere else to go).
    pub fn of_this_thread() -> Option<Inherited> {
        let cpus = sched_getaffinity(Pid::from_raw(0)).ok()?;
        let mut allowed = (0..CpuSet::count()).filter(|&cpu| cpus.is_set(cpu).unwrap_or(false));
        allowed.next()?;
        allowed.next()?;
        Some(Inherited { cpus })
    }

    /// Let `child` run on every inherited CPU but the one the caller is on now.
    pub fn start_apart(&self, child: Pid) {
        let Ok(current) = sched_getcpu() else {
            return;
        };
        let mut others = self.cpus;
        if others.unset(current).is_err() {
            return;
        }
        if let Err(e) = sched_setaffinity(child, &others) {
            tracing::debug!(error = %e, "pid 1 left on the scheduler's CPU");
        }
    }

    /// Give the calling thread back every inherited CPU.
    pub fn restore(&self) {
        // Failing leaves pid 1 on the CPUs it was started on, all allowed to the caller.
        let _ = sched_setaffinity(Pid::from_raw(0), &self.cpus);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(cpus: &CpuSet) -> Vec<usize> {
        (0..CpuSet::count())
            .filter(|&cpu| cpus.is_set(cpu).unwrap_or(false))
            .collect()
    }

    #[test]
    fn a_child_started_apart_avoids_the_callers_cpu_until_it_restores_the_inherited_set() {
        let Some(inherited) = Inherited::of_this_thread() else {
            eprintln!("SKIP: this process may run on one CPU only");
            return;
        };
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("spawn sleep");
        let pid = Pid::from_raw(child.id() as i32);
        let before = allowed(&sched_getaffinity(pid).expect("child's CPUs"));
        let here = sched_getcpu().expect("current CPU");
        inherited.start_apart(pid);
        let apart = allowed(&sched_getaffinity(pid).expect("child's CPUs"));
        child.kill().expect("kill sleep");
        child.wait().expect("reap sleep");
        assert_eq!(
            before,
            allowed(&inherited.cpus),
            "the child inherited our CPUs"
        );
        // The caller may have moved between sched_getcpu calls; what matters is that exactly
        // one inherited CPU was taken away and it was one the caller could be on.
        assert_eq!(apart.len() + 1, before.len(), "{apart:?} from {before:?}");
        let removed: Vec<_> = before.iter().filter(|c| !apart.contains(c)).collect();
        assert_eq!(removed.len(), 1);
        assert!(before.contains(&here));
    }

    #[test]
    fn restore_gives_the_calling_thread_every_inherited_cpu_back() {
        let Some(inherited) = Inherited::of_this_thread() else {
            eprintln!("SKIP: this process may run on one CPU only");
            return;
        };
        // On a thread of its own, so the test harness's thread keeps its CPUs whatever happens.
        std::thread::spawn(move || {
            let mut one = CpuSet::new();
            one.set(allowed(&inherited.cpus)[0]).expect("set");
            sched_setaffinity(Pid::from_raw(0), &one).expect("narrow");
            assert_eq!(
                allowed(&sched_getaffinity(Pid::from_raw(0)).unwrap()).len(),
                1
            );
            inherited.restore();
            assert_eq!(
                allowed(&sched_getaffinity(Pid::from_raw(0)).unwrap()),
                allowed(&inherited.cpus)
            );
        })
        .join()
        .expect("thread");
    }
}
