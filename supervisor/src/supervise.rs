//! Supervisor side of a running sandbox: wait for it, enforce the wall clock, forward signals,
//! collect setup failures from the control socket, and turn the result into an exit status.

use std::time::Duration;

use nix::sys::signal::kill;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::confine::ConfineError;
use crate::control::{self, FromInit};
use crate::spawn::Launched;

/// Exit status when the wall-time limit killed the sandbox (as timeout(1) uses it).
pub const EXIT_TIMED_OUT: i32 = 124;

#[derive(Debug)]
pub enum Outcome {
    /// The workload ran; its status (128+N for signal N).
    Finished(i32),
    /// The workload ran and the memory limit was reached: the kernel's OOM killer ended at least
    /// one process of the sandbox. The workload's status.
    OutOfMemory(i32),
    /// A confinement step failed before the workload ran.
    SetupFailed { error: ConfineError, status: i32 },
    /// The wall-time limit was reached and the whole sandbox was killed.
    TimedOut(Duration),
}

impl Outcome {
    pub fn exit_status(&self) -> i32 {
        match self {
            Outcome::Finished(code) | Outcome::OutOfMemory(code) => *code,
            Outcome::SetupFailed { status, .. } => *status,
            Outcome::TimedOut(_) => EXIT_TIMED_OUT,
        }
    }
}

/// Reap `pid` if it has exited: its status as a shell reports it.
fn try_reap(pid: Pid) -> Option<i32> {
    match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Some(code),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(128 + sig as i32),
        Ok(_) => None,
        // ECHILD: already reaped elsewhere; nothing more to learn.
        Err(_) => Some(crate::init::EXIT_SETUP_FAILED),
    }
}

/// Wait for the sandbox's init to exit (SIGCHLD wakes us; waitpid is only ever asked about
/// this one pid, never -1).
async fn exited(pid: Pid, sigchld: &mut Signal) -> i32 {
    loop {
        if let Some(code) = try_reap(pid) {
            return code;
        }
        sigchld.recv().await;
    }
}

/// How a run ended.
#[derive(Debug)]
pub struct Waited {
    pub outcome: Outcome,
    /// What the sandbox's processes used, as pid 1 reported it with the workload's end; `None`
    /// when pid 1 did not report (a setup failure, a timeout): the supervisor's own accounting
    /// of its children then stands in.
    pub usage: Option<crate::audit::record::Resources>,
}

/// Wait for the sandbox to end: pid 1's report that the workload ended and every other process
/// of the sandbox is gone, or pid 1's exit. Signals the supervisor receives are passed on to
/// the sandbox.
/// With `egress` (`mode = "proxy"`), the proxy serves the listener pid 1 hands over until then.
/// With `watch` (`exec --report`), the workload's watch listener is handed to the report's
/// watcher as soon as it arrives.
pub async fn wait(
    launched: Launched,
    wall_time: Option<Duration>,
    egress: Option<crate::egress::Egress>,
    watch: Option<crate::report::watch::Handoff>,
) -> std::io::Result<Waited> {
    let Launched {
        pid,
        control,
        cgroup,
        namespaces,
        // Held to the end of the run: the directory is removed when this is dropped.
        run_tmp: _run_tmp,
        host_proxy,
    } = launched;
    // Installed before the first waitpid, so an exit between the two cannot be missed.
    let mut sigchld = signal(SignalKind::child())?;
    control.set_nonblocking(true)?;
    let control = tokio::net::UnixStream::from_std(control)?;
    let (watch_fd, watch_unavailable) = match watch {
        Some(w) => (Some(w.fd), Some(w.unavailable)),
        None => (None, None),
    };
    let (mut messages, proxy) = match (egress, watch_fd) {
        (None, None) => (
            tokio::spawn(control::recv_until_end(
                control,
                control::FdRoutes::default(),
            )),
            None,
        ),
        (egress, watch) => {
            let mut routes = control::FdRoutes { proxy: None, watch };
            let proxy = egress.map(|mut egress| {
                let (tx, rx) = tokio::sync::oneshot::channel();
                // Without namespaces the supervisor bound the listener itself, on the host's
                // loopback: it serves only this sandbox's processes.
                match host_proxy.as_ref().map(|l| l.try_clone()) {
                    Some(Ok(listener)) => {
                        egress.peers =
                            Some(crate::egress::peer::SandboxPeers { root: pid.as_raw() });
                        let _ = tx.send(std::os::fd::OwnedFd::from(listener));
                    }
                    Some(Err(e)) => {
                        tracing::error!(error = %e, "egress proxy: cannot use the host listener")
                    }
                    None => routes.proxy = Some(tx),
                }
                let events = egress.events.clone();
                let proxy = tokio::spawn(crate::egress::serve_handed_over(rx, egress));
                (proxy, events)
            });
            (
                tokio::spawn(control::recv_until_end(control, routes)),
                proxy,
            )
        }
    };
    let mut streams = Vec::new();
    for kind in [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
        SignalKind::quit(),
        SignalKind::user_defined1(),
        SignalKind::user_defined2(),
        SignalKind::window_change(),
    ] {
        streams.push((kind, signal(kind)?));
    }
    let deadline = async {
        match wall_time {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    let forward = async {
        loop {
            let recv = streams
                .iter_mut()
                .map(|(kind, s)| Box::pin(async move { s.recv().await.map(|_| *kind) }));
            let (got, _, _) = futures_util::future::select_all(recv).await;
            if let Some(kind) = got
                && let Ok(sig) = nix::sys::signal::Signal::try_from(kind.as_raw_value())
            {
                if kind == SignalKind::window_change() {
                    // The new size first: the workload reads it when the signal arrives.
                    crate::secrets::relay::sync_window_size();
                }
                let _ = kill(pid, sig);
            }
        }
    };
    tokio::pin!(forward);
    // pid 1's exit status once reaped: then its pid is no longer ours to signal.
    let mut pid1_exit = None;
    let result = tokio::select! {
        ended = ended(pid, &mut sigchld, &mut messages, &mut pid1_exit) => Ok(ended),
        () = &mut deadline => Err(()),
        () = &mut forward => unreachable_forward(),
    };
    let (outcome, usage, reaped) = match result {
        Ok(Ended {
            status,
            messages,
            usage,
            reaped,
        }) => {
            let failure = messages.into_iter().find_map(|m| match m {
                FromInit::SetupFailed(e) => Some(e),
                FromInit::WatchUnavailable(e) => {
                    if let Some(slot) = &watch_unavailable {
                        slot.set(e);
                    }
                    None
                }
                FromInit::ProxyListener | FromInit::WatchListener | FromInit::Ended { .. } => None,
            });
            let outcome = match failure {
                Some(error) => Outcome::SetupFailed { error, status },
                None if cgroup.oom_kills() > 0 => Outcome::OutOfMemory(status),
                None => Outcome::Finished(status),
            };
            (outcome, usage, reaped)
        }
        Err(()) => {
            // Killing pid 1 makes the kernel kill everything else in its pid namespace; without
            // one, its descendants are found and killed first (pid 1 is their subreaper). Not
            // when pid 1 was reaped already (the deadline came while its last messages were
            // read): its pid may belong to another process by now.
            if pid1_exit.is_none() {
                if !namespaces {
                    crate::tree::kill_descendants(pid.as_raw());
                }
                let _ = kill(pid, nix::sys::signal::Signal::SIGKILL);
                exited(pid, &mut sigchld).await;
            }
            messages.abort();
            (Outcome::TimedOut(wall_time.unwrap_or_default()), None, true)
        }
    };
    if let Some((proxy, events)) = proxy {
        proxy.abort();
        // The aborted task has dropped every session once it is joined; then the decisions
        // they reported are written before the run's closing record.
        let _ = proxy.await;
        events.flush().await;
    }
    // Every process of the sandbox but a reporting pid 1 is gone: only their traces remain,
    // and pid 1's exit, which releases the namespaces.
    let pid1 = (!reaped).then(|| Reap {
        pid,
        wait: !deferring(),
    });
    after_answer(Box::new((cgroup, pid1)));
    Ok(Waited { outcome, usage })
}

/// How the sandbox ended (before any wall-time limit).
struct Ended {
    /// The workload's status (128+N for signal N); pid 1's own when it did not report.
    status: i32,
    /// Every message pid 1 and the workload sent.
    messages: Vec<FromInit>,
    /// From pid 1's report.
    usage: Option<crate::audit::record::Resources>,
    /// pid 1 has been reaped; else it reported and is still exiting.
    reaped: bool,
}

/// pid 1 reports the workload's end ([`FromInit::Ended`]) once it has killed and reaped every
/// other process of the sandbox, then exits; that exit, the release of the sandbox's
/// namespaces, need not delay the result. Without a report (a setup failure, or pid 1 killed)
/// the end is pid 1's exit.
async fn ended(
    pid: Pid,
    sigchld: &mut Signal,
    messages: &mut tokio::task::JoinHandle<Result<Vec<FromInit>, control::ControlError>>,
    exit_status: &mut Option<i32>,
) -> Ended {
    let received = loop {
        tokio::select! {
            received = &mut *messages => break received,
            status = exited(pid, sigchld), if exit_status.is_none() => *exit_status = Some(status),
        }
    };
    // A control socket that cannot be read is as good as closed: pid 1's exit tells the end.
    let messages = received.ok().and_then(Result::ok).unwrap_or_default();
    let report = messages.iter().find_map(|m| match m {
        FromInit::Ended { status, usage } => Some((*status, usage.clone())),
        _ => None,
    });
    let reaped = exit_status.is_some() || report.is_none();
    let (status, usage) = match (report, *exit_status) {
        (Some((status, usage)), _) => (status, Some(usage)),
        (None, Some(status)) => (status, None),
        (None, None) => (exited(pid, sigchld).await, None),
    };
    Ended {
        status,
        messages,
        usage,
        reaped,
    }
}

/// pid 1, after its report: every other process of the sandbox is gone, and pid 1 is exiting
/// (releasing the sandbox's namespaces). With the teardown deferred ([`defer_teardown`]: `exec`
/// and `serve`'s per-run supervisor, each about to exit) it is reaped if its exit is complete;
/// otherwise this process does not wait for it: when it exits itself, the exiting pid 1 passes
/// to the host's init (or the nearest subreaper), which reaps it, as any orphan. Without the
/// deferral (a caller that lives on) it is waited for.
struct Reap {
    pid: Pid,
    wait: bool,
}

impl Drop for Reap {
    fn drop(&mut self) {
        let flags = (!self.wait).then_some(WaitPidFlag::WNOHANG);
        let _ = waitpid(self.pid, flags);
    }
}

/// Whether [`defer_teardown`] is in force.
fn deferring() -> bool {
    DEFERRED.lock().is_ok_and(|d| d.is_some())
}

/// Teardown that may wait until the run's result has been given: `None` while nobody asked
/// for that ([`defer_teardown`]), else what waits.
static DEFERRED: std::sync::Mutex<Option<Vec<Box<dyn std::any::Any + Send>>>> =
    std::sync::Mutex::new(None);

/// From now on, keep the teardown of each run's remains (its cgroups, removed when dropped,
/// and a reporting pid 1, reaped when dropped) until [`finish_teardown`], so that `exec` can
/// record the run's end and `serve`'s per-run supervisor answer while pid 1 is still exiting.
/// The run's result is final once pid 1 has reported (or exited).
pub fn defer_teardown() {
    if let Ok(mut deferred) = DEFERRED.lock() {
        deferred.get_or_insert_with(Vec::new);
    }
}

/// Tear down what [`defer_teardown`] kept.
pub fn finish_teardown() {
    let kept = DEFERRED
        .lock()
        .ok()
        .and_then(|mut deferred| deferred.as_mut().map(std::mem::take));
    drop(kept);
}

fn after_answer(remains: Box<dyn std::any::Any + Send>) {
    let mut deferred = match DEFERRED.lock() {
        Ok(d) => d,
        Err(_) => return,
    };
    match deferred.as_mut() {
        Some(kept) => kept.push(remains),
        None => {
            drop(deferred);
            drop(remains);
        }
    }
}

fn unreachable_forward() -> Result<Ended, ()> {
    // The forwarding loop never completes; this arm exists only to drive it.
    Err(())
}
