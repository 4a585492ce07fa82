//! The sandbox's pid 1: the confinement sequence, run in the child the supervisor cloned into a
//! new user and pid namespace (`spawn::start`), with the control socket.
//!
//! ```text
//! pid 1      die with the supervisor · fds                    ┐ on a CPU apart from the
//!            · unshare net · lo up · unshare mount/ipc/uts     │ supervisor's (`placement`);
//!            · the id maps are written (by the supervisor)     │ meanwhile the supervisor
//!            · not dumpable · base of the root (pivot_root)    │ writes the id maps, then
//!            · empty the bounding set                          ┘ compiles the Plan
//!            · read the Plan · back to the inherited CPUs · supervisor alive?
//!            · own process group · the Plan's mounts + pivot_root  (the supervisor makes
//!            · Landlock ruleset · admitted: keeps the run's         the cgroups meanwhile)
//!              cgroups' `tasks` files
//!            · hostname · detach the old root
//!            · rlimits · chdir · fork workload; then: reap, forward signals; at its end kill
//!              and reap everything left, report the status, exit
//!   workload into the run's cgroups · unshare cgroup · signals reset · setsid
//!            · die with pid 1 · drop caps · no_new_privs · Landlock · seccomp · execve
//! ```
//! pid 1 itself stays outside the run's cgroups: when the workload's processes are all gone
//! the cgroups are empty, and the supervisor can remove them and give the result while pid 1
//! is still exiting (releasing the namespaces is most of an exit's cost).
//!
//! Without user namespaces (`Pid1Start::namespaces` false) the same process is an ordinary host
//! process ([`run_pid1_without_namespaces`]): no id maps, namespaces, mounts or hostname; it is
//! a child subreaper instead, and kills every descendant when the workload ends.
//!
//! Every step is one line below; each failure is sent to the supervisor as (step, errno).

use std::convert::Infallible;
use std::io::Write;
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;

use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::confine::{
    self, ConfineError, Step, exec, fds, landlock, limits, mounts, namespaces, network, privileges,
};
use crate::control::{self, CONTROL_FD, FromInit, ToInit};
use crate::placement;
use crate::plan::Plan;

/// Exit status for a sandbox setup failure.
pub const EXIT_SETUP_FAILED: i32 = 125;

/// Signals pid 1 passes on to the workload.
const FORWARDED: [Signal; 7] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// What pid 1 needs before the Plan exists: known to the supervisor before it compiles.
#[derive(Debug, Clone, Copy)]
pub struct Pid1Start {
    /// Host uid/gid the sandbox's root maps to (the supervisor's own; the supervisor writes
    /// pid 1's maps right after the clone).
    pub uid: u32,
    pub gid: u32,
    /// Clone into new user and pid namespaces and create the others; false when this user
    /// cannot have user namespaces (the no-namespace path).
    pub namespaces: bool,
    /// Create a network namespace (false for `mode = "host"` and without namespaces).
    pub new_netns: bool,
    /// The censored output channels for fds 1 and 2 (`secrets::relay`), or `relay::INHERIT`.
    pub stdio: [i32; 2],
}

/// Entry point of the cloned child; never returns. `control_fd` is the child's end of the
/// control socket, moved to fd 3 before anything else.
pub fn pid1(control_fd: i32, how: Pid1Start, cpus: Option<placement::Inherited>) -> ! {
    // Output channels first: the fds may sit where fd 3 is about to go.
    if crate::secrets::relay::install_child_stdio(how.stdio).is_err() {
        // SAFETY: nothing to clean up in a cloned child.
        unsafe { libc::_exit(EXIT_SETUP_FAILED) }
    }
    if control_fd != CONTROL_FD {
        // SAFETY: dup2 onto fd 3 in this single-threaded child; whatever fd 3 was (the
        // supervisor's end of the socket at most) is not ours to keep.
        if unsafe { libc::dup2(control_fd, CONTROL_FD) } < 0 {
            // SAFETY: nothing to clean up in a cloned child.
            unsafe { libc::_exit(EXIT_SETUP_FAILED) }
        }
    }
    // SAFETY: fd 3 is the control socket and nothing else in this process owns it.
    let mut control = unsafe { UnixStream::from_raw_fd(CONTROL_FD) };
    let Err(failure) = if how.namespaces {
        run_pid1(&mut control, how, cpus)
    } else {
        run_pid1_without_namespaces(&mut control, cpus)
    };
    report_and_exit(&mut control, failure)
}

fn report_and_exit(control: &mut UnixStream, failure: ConfineError) -> ! {
    let status = if failure.step == Step::Exec {
        exec::exit_status_for(failure.errno)
    } else {
        EXIT_SETUP_FAILED
    };
    // If the supervisor is gone there is nobody to tell; the exit status still says it.
    let _ = control::send(control, &FromInit::SetupFailed(failure));
    let _ = control.flush();
    // SAFETY: _exit skips atexit handlers and destructors, which must not run in a cloned child.
    unsafe { libc::_exit(status) }
}

fn run_pid1(
    control: &mut UnixStream,
    how: Pid1Start,
    cpus: Option<placement::Inherited>,
) -> Result<Infallible, ConfineError> {
    privileges::die_with_parent(None)?;
    fds::close_from(CONTROL_FD as u32 + 1)?;
    // Everything up to the Plan is work the supervisor's compile hides; the network namespace,
    // the slowest, comes first. Neither it nor the other unshares need the id maps, which the
    // supervisor writes meanwhile.
    if how.new_netns {
        network::enter_new_namespace()?;
    }
    namespaces::enter()?;
    wait_ids_mapped(control)?;
    // After the id maps: a non-dumpable process's /proc files belong to root, so an
    // unprivileged supervisor could no longer write its maps.
    privileges::not_dumpable()?;
    // What every root shares is built while the supervisor is still compiling the Plan,
    // and the bounding set (inherited by the workload) emptied.
    mounts::prepare_root()?;
    privileges::drop_bounding_set()?;
    let mut plan = take_plan(control, true, cpus)?;
    mounts::build_root(&plan.mounts)?;
    // Work the workload would otherwise do after the fork, done while the supervisor is still
    // creating the cgroups: the Landlock ruleset (a path opened per rule) and the signal
    // dispositions, inherited by the fork.
    let ruleset = landlock::prepare(&plan.landlock)?;
    default_signal_handling(Some(Signal::SIGPIPE));
    // The supervisor creates the run's cgroups while we build the root and sends their
    // `tasks` files, through which the workload moves itself in right after its fork.
    let cgroups = wait_admitted(control)?;
    let forwarded = block_signals()?;
    network::hand_over_proxy_listener(control, plan.proxy_port)?;
    namespaces::set_hostname(&plan.hostname)?;
    mounts::detach_old_root()?;
    limits::apply(&plan.rlimits)?;
    nix::unistd::chdir(&plan.cwd)
        .map_err(|e| ConfineError::os(Step::Chdir, e, format!("chdir {}", plan.cwd.display())))?;
    wait_command(control, &mut plan)?;
    let workload = Workload {
        plan: &plan,
        ruleset: &ruleset,
        cgroups: &cgroups,
        parent: 1,
        namespaces: true,
    };
    let child = start_workload(control, &workload)?;
    drop((ruleset, cgroups));
    supervise_workload(control, child, &forwarded, false)
}

/// The sequence without namespaces: the host's root, network and pids, so no id maps, mounts
/// or hostname. Landlock, seccomp, no_new_privs, the cleared capabilities, rlimits, the cgroup,
/// the cleared environment and the closed fds hold as on the namespace path; this process is
/// the tree's subreaper, so that nothing the workload starts can outlive it.
fn run_pid1_without_namespaces(
    control: &mut UnixStream,
    cpus: Option<placement::Inherited>,
) -> Result<Infallible, ConfineError> {
    privileges::die_with_parent(None)?;
    fds::close_from(CONTROL_FD as u32 + 1)?;
    privileges::not_dumpable()?;
    let mut plan = take_plan(control, false, cpus)?;
    crate::tree::become_subreaper()
        .map_err(|e| ConfineError::os(Step::Session, e, "PR_SET_CHILD_SUBREAPER"))?;
    let ruleset = landlock::prepare(&plan.landlock)?;
    // Only a privileged supervisor has a bounding set to empty (and may); an unprivileged one
    // has no capabilities, and no_new_privs keeps file capabilities from adding any.
    if caps::has_cap(None, caps::CapSet::Effective, caps::Capability::CAP_SETPCAP).unwrap_or(false)
    {
        privileges::drop_bounding_set()?;
    }
    default_signal_handling(Some(Signal::SIGPIPE));
    let cgroups = wait_admitted(control)?;
    let forwarded = block_signals()?;
    limits::apply(&plan.rlimits)?;
    nix::unistd::chdir(&plan.cwd)
        .map_err(|e| ConfineError::os(Step::Chdir, e, format!("chdir {}", plan.cwd.display())))?;
    wait_command(control, &mut plan)?;
    let workload = Workload {
        plan: &plan,
        ruleset: &ruleset,
        cgroups: &cgroups,
        parent: nix::unistd::getpid().as_raw(),
        namespaces: false,
    };
    let child = start_workload(control, &workload)?;
    drop((ruleset, cgroups));
    supervise_workload(control, child, &forwarded, true)
}

/// What the workload's process needs from pid 1 between its fork and its execve.
struct Workload<'a> {
    plan: &'a Plan,
    ruleset: &'a landlock::Prepared,
    /// The run's cgroups' `tasks` files, for the workload to move itself in.
    cgroups: &'a [std::os::fd::OwnedFd],
    /// pid 1's pid as the workload sees it (1 in a pid namespace, its host pid without).
    parent: i32,
    /// In a pid namespace (and then a cgroup namespace of its own), or on the host.
    namespaces: bool,
}

/// Stack of the workload between its start and its execve.
const WORKLOAD_STACK: usize = 1 << 20;

/// Start the workload vfork-style (CLONE_VM | CLONE_VFORK, on a stack of its own): no copy of
/// pid 1's page tables and no copy-on-write faults before its execve; pid 1 is suspended until
/// the workload has exec'd or exited. The workload may allocate: pid 1 is single-threaded, so
/// nothing can hold the allocator's lock, and what the
/// workload allocates is only left behind in pid 1's heap. Everything it changes that
/// matters (credentials, Landlock domain, seccomp filter, session, fds) is its own.
fn start_workload(control: &mut UnixStream, workload: &Workload) -> Result<Pid, ConfineError> {
    let mut stack = crate::spawn::Stack::new(WORKLOAD_STACK)
        .map_err(|e| ConfineError::os(Step::ForkWorkload, e, "map the workload's stack"))?;
    let workload = Box::new(|| -> isize {
        let Err(failure) = run_workload(workload);
        report_and_exit(control, failure)
    });
    // SAFETY: as above; the child runs on `stack`, never returns into our frames (it execs or
    // _exits), and we do not run until it has done one or the other.
    let child = unsafe {
        nix::sched::clone(
            workload,
            stack.usable(),
            CloneFlags::CLONE_VM | CloneFlags::CLONE_VFORK,
            Some(libc::SIGCHLD),
        )
    }
    .map_err(|e| ConfineError::os(Step::ForkWorkload, e, "start the workload"))?;
    Ok(child)
}

/// The Plan, which must be compiled for the launch path this process is on.
fn read_plan(control: &mut UnixStream, namespaces: bool) -> Result<Plan, ConfineError> {
    match receive(control)? {
        ToInit::Plan(plan) if plan.namespaces == namespaces => Ok(*plan),
        ToInit::Plan(_) => Err(ConfineError::other(
            Step::ReadPlan,
            "the plan was compiled for the other launch path (with or without namespaces)",
        )),
        other => Err(ConfineError::other(
            Step::ReadPlan,
            format!("expected the plan, got {other:?}"),
        )),
    }
}

/// The Plan, and what both launch paths do once it is in: back to the inherited CPUs, the
/// supervisor checked alive (the clone/prctl race), the control socket kept from the
/// workload's execve, a process group of its own.
fn take_plan(
    control: &mut UnixStream,
    namespaces: bool,
    cpus: Option<placement::Inherited>,
) -> Result<Plan, ConfineError> {
    let plan = read_plan(control, namespaces)?;
    if let Some(cpus) = cpus {
        cpus.restore();
    }
    privileges::supervisor_alive(control)?;
    fds::set_cloexec(CONTROL_FD)?;
    privileges::own_process_group()?;
    Ok(plan)
}

/// The supervisor's word that pid 1's id maps are written: files and mounts may be made now.
fn wait_ids_mapped(control: &mut UnixStream) -> Result<(), ConfineError> {
    match receive(control)? {
        ToInit::IdsMapped => Ok(()),
        other => Err(ConfineError::other(
            Step::IdMaps,
            format!("expected the id maps, got {other:?}"),
        )),
    }
}

/// The admission, with the `tasks` files of the run's cgroups (for the workload).
fn wait_admitted(control: &mut UnixStream) -> Result<Vec<std::os::fd::OwnedFd>, ConfineError> {
    match control::recv_with_fds::<ToInit>(control) {
        Ok(Some((ToInit::Admitted, tasks))) => Ok(tasks),
        Ok(Some((other, _))) => Err(ConfineError::other(
            Step::ReadPlan,
            format!("expected the admission, got {other:?}"),
        )),
        // The supervisor gave up (refused the run, or died): nothing to start.
        Ok(None) => Err(ConfineError::other(
            Step::ReadPlan,
            "the supervisor closed the control socket before admitting the run",
        )),
        Err(e) => Err(ConfineError::other(
            Step::ReadPlan,
            format!("read the admission: {e}"),
        )),
    }
}

/// A Plan sent ahead of its run (`serve` builds sandboxes before the request) has no command:
/// pid 1 is admitted and set up, and waits here for the command, which is the go. Only argv
/// and environment come with it, nothing that confines.
fn wait_command(control: &mut UnixStream, plan: &mut Plan) -> Result<(), ConfineError> {
    if !plan.argv.is_empty() {
        return Ok(());
    }
    match receive(control)? {
        ToInit::Command(command) if !command.argv.is_empty() => {
            plan.argv = command.argv;
            plan.env = command.env;
            Ok(())
        }
        ToInit::Command(_) => Err(ConfineError::other(Step::ReadPlan, "an empty command")),
        _ => Err(ConfineError::other(
            Step::ReadPlan,
            "expected the command to run",
        )),
    }
}

fn receive(control: &mut UnixStream) -> Result<ToInit, ConfineError> {
    match control::recv::<ToInit>(control) {
        Ok(Some(message)) => Ok(message),
        Ok(None) => Err(ConfineError::other(
            Step::ReadPlan,
            "supervisor closed the control socket",
        )),
        Err(e) => Err(ConfineError::other(Step::ReadPlan, e.to_string())),
    }
}

fn run_workload(workload: &Workload) -> Result<Infallible, ConfineError> {
    let Workload {
        plan,
        ruleset,
        cgroups,
        parent,
        namespaces,
    } = *workload;
    // First into the run's cgroups (before it can fork), then, in a pid namespace, a cgroup
    // namespace rooted there: the workload sees its cgroup as `/`.
    crate::cgroup::enter(cgroups)?;
    if namespaces {
        namespaces::enter_cgroup()?;
    }
    // pid 1 reset every other disposition before the fork; it keeps SIGPIPE ignored itself.
    default_signal_handling_for(Signal::SIGPIPE);
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(|e| ConfineError::os(Step::Session, e, "unblock signals"))?;
    privileges::new_session()?;
    privileges::die_with_parent(Some(parent))?;
    privileges::drop_capabilities()?;
    privileges::no_new_privs()?;
    ruleset.restrict_self()?;
    let path_var = plan
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str());
    let program = exec::resolve(&plan.argv[0], path_var)?;
    let prepared = exec::prepare(&program, &plan.argv, &plan.env)?;
    if plan.watch {
        // `exec --report` only; after no_new_privs, before the deny-list.
        confine::watch::install_and_hand_over()?;
    }
    // Seccomp last: after it, only execve runs.
    confine::seccomp::install(&plan.seccomp)?;
    Err(exec::exec(&prepared))
}

/// Block the signals we forward (and SIGCHLD) so they queue for `sigwait`.
fn block_signals() -> Result<SigSet, ConfineError> {
    let mut set = SigSet::empty();
    for sig in FORWARDED {
        set.add(sig);
    }
    set.add(Signal::SIGCHLD);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .map_err(|e| ConfineError::os(Step::Signals, e, "block signals"))?;
    Ok(set)
}

/// Default handling for every signal (but `except`): the workload must start so, whatever the
/// supervisor's runtime had (Rust ignores SIGPIPE, which would otherwise survive execve).
fn default_signal_handling(except: Option<Signal>) {
    for sig in Signal::iterator() {
        if sig != Signal::SIGKILL && sig != Signal::SIGSTOP && Some(sig) != except {
            default_signal_handling_for(sig);
        }
    }
}

fn default_signal_handling_for(sig: Signal) {
    // SAFETY: installing SIG_DFL has no handler to be unsafe about.
    let _ = unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigDfl) };
}

/// Wait for the workload, forwarding signals to its process group; reap any other child (pid 1
/// adopts orphans). When the workload ends, end everything left of the sandbox
/// ([`end_the_rest`]), report the workload's status to the supervisor ([`FromInit::Ended`]) and
/// exit with it (a signal N becomes 128+N).
fn supervise_workload(
    control: &mut UnixStream,
    child: Pid,
    forwarded: &SigSet,
    kill_tree: bool,
) -> ! {
    loop {
        if let Some(status) = reap(child) {
            if end_the_rest(kill_tree) {
                let usage = crate::audit::usage::children();
                // The output channels end with the workload's last process, not with pid 1's
                // exit: the supervisor's relays see their end now.
                for fd in 0..=2 {
                    // SAFETY: pid 1 writes nothing to its standard fds from here on.
                    unsafe { libc::close(fd) };
                }
                // If the supervisor is gone there is nobody to tell; the exit status still
                // says it.
                let _ = control::send(control, &FromInit::Ended { status, usage });
            }
            // SAFETY: exiting without running destructors is what a cloned init should do.
            unsafe { libc::_exit(status) }
        }
        match forwarded.wait() {
            Ok(Signal::SIGCHLD) | Err(_) => continue,
            Ok(sig) => {
                // The workload leads its own session and process group: signal the whole group,
                // as a terminal would have.
                if kill(Pid::from_raw(-child.as_raw()), sig).is_err() {
                    let _ = kill(child, sig);
                }
            }
        }
    }
}

/// How long pid 1 keeps killing and reaping what is left before it gives up on its report.
const END_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Kill every other process of the sandbox and reap them all: in a pid namespace `kill(-1)`
/// (only as its pid 1: elsewhere -1 would be every process the user may signal), without one
/// pid 1's descendants (it is their subreaper). Orphans of the killed come to pid 1 before
/// their parent can be reaped, so `ECHILD` means none is left: true. The kill is repeated until
/// then, for up to [`END_GRACE`]; a process that outlives it (a kill refused, say by an LSM's
/// signal rules) makes this false, and pid 1 exits without its report: the kernel's kill of
/// the pid namespace at that exit, and the supervisor's cgroup sweep, are what end it then.
fn end_the_rest(kill_tree: bool) -> bool {
    let deadline = std::time::Instant::now() + END_GRACE;
    let me = nix::unistd::getpid().as_raw();
    loop {
        if kill_tree || me != 1 {
            crate::tree::kill_descendants(me);
        } else {
            let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
        }
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => break,
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::ECHILD) => return true,
                Err(_) => return false,
            }
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        await_child_exit(std::time::Duration::from_millis(10));
    }
}

/// Wait at most `limit` for a SIGCHLD (blocked in pid 1, so it queues until taken here).
fn await_child_exit(limit: std::time::Duration) {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    let timeout = libc::timespec {
        tv_sec: i64::try_from(limit.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(limit.subsec_nanos()),
    };
    // SAFETY: `set` and `timeout` are valid for the call, and no siginfo is asked for.
    unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &timeout) };
}

/// Reap every exited child without blocking; the exit code to relay once `child` has ended.
fn reap(child: Pid) -> Option<i32> {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => return Some(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => return Some(128 + sig as i32),
            Ok(WaitStatus::StillAlive) => return None,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
}
