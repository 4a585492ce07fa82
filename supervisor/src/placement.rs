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
//! On two CPUs "apart" is a pin to the other one, until the Plan arrives (a millisecond or
//! so). Failing is harmless: when the CPUs cannot be read or set, the scheduler's own choice
//! stands and nothing else changes; if pid 1 cannot take back exactly the inherited set (the
//! cpuset shrank meanwhile), it asks for every CPU, which the kernel narrows to what the cpuset
//! allows, so the workload is never left on fewer CPUs than a process started then would get.

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
        if sched_setaffinity(Pid::from_raw(0), &self.cpus).is_ok() {
            return;
        }
        let mut every = CpuSet::new();
        for cpu in 0..CpuSet::count() {
            let _ = every.set(cpu);
        }
        if let Err(e) = sched_setaffinity(Pid::from_raw(0), &every) {
            tracing::debug!(error = %e, "pid 1 kept the CPUs it was started on");
        }
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

    /// Run `test` on a thread of its own pinned to the first inherited CPU (passed to it), so
    /// that "the caller's CPU" cannot change under the test and the harness's own thread keeps
    /// its CPUs whatever happens. SKIPs with only one CPU.
    fn on_a_pinned_thread(test: impl FnOnce(Inherited, usize) + Send + 'static) {
        let Some(inherited) = Inherited::of_this_thread() else {
            eprintln!("SKIP: this process may run on one CPU only");
            return;
        };
        std::thread::spawn(move || {
            let here = allowed(&inherited.cpus)[0];
            let mut one = CpuSet::new();
            one.set(here).expect("set");
            sched_setaffinity(Pid::from_raw(0), &one).expect("pin this thread");
            assert_eq!(sched_getcpu().expect("current CPU"), here);
            test(inherited, here)
        })
        .join()
        .expect("test thread");
    }

    #[test]
    fn a_child_started_apart_may_run_on_every_inherited_cpu_but_the_callers() {
        on_a_pinned_thread(|inherited, here| {
            let mut child = std::process::Command::new("sleep")
                .arg("5")
                .spawn()
                .expect("spawn sleep");
            let pid = Pid::from_raw(child.id() as i32);
            // The child inherited the pin; start_apart gives it the inherited set but `here`.
            inherited.start_apart(pid);
            let apart = allowed(&sched_getaffinity(pid).expect("child's CPUs"));
            child.kill().expect("kill sleep");
            child.wait().expect("reap sleep");
            let expected: Vec<usize> = allowed(&inherited.cpus)
                .into_iter()
                .filter(|&cpu| cpu != here)
                .collect();
            assert_eq!(apart, expected);
        });
    }

    #[test]
    fn restore_gives_the_calling_thread_every_inherited_cpu_back() {
        on_a_pinned_thread(|inherited, _| {
            inherited.restore();
            assert_eq!(
                allowed(&sched_getaffinity(Pid::from_raw(0)).unwrap()),
                allowed(&inherited.cpus)
            );
        });
    }
}
