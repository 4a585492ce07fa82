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

/// Wait for the sandbox to end. Signals the supervisor receives are passed on to the sandbox.
/// With `egress` (`mode = "proxy"`), the proxy serves the listener pid 1 hands over until then.
/// With `watch` (`exec --report`), the workload's watch listener is handed to the report's
/// watcher as soon as it arrives.
pub async fn wait(
    launched: Launched,
    wall_time: Option<Duration>,
    egress: Option<crate::egress::Egress>,
    watch: Option<crate::report::watch::Handoff>,
) -> std::io::Result<Outcome> {
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
    let mount_ns = hold_mount_namespace(pid, namespaces);
    control.set_nonblocking(true)?;
    let control = tokio::net::UnixStream::from_std(control)?;
    let (watch_fd, watch_unavailable) = match watch {
        Some(w) => (Some(w.fd), Some(w.unavailable)),
        None => (None, None),
    };
    let (messages, proxy) = match (egress, watch_fd) {
        (None, None) => (tokio::spawn(control::recv_all(control)), None),
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
                tokio::spawn(control::recv_all_with_fds(control, routes)),
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
    let result = tokio::select! {
        code = exited(pid, &mut sigchld) => Ok(code),
        () = &mut deadline => Err(()),
        () = &mut forward => unreachable_forward(),
    };
    let outcome = match result {
        Ok(code) => {
            let failure = match messages.await {
                Ok(Ok(msgs)) => msgs.into_iter().find_map(|m| match m {
                    FromInit::SetupFailed(e) => Some(e),
                    FromInit::WatchUnavailable(e) => {
                        if let Some(slot) = &watch_unavailable {
                            slot.set(e);
                        }
                        None
                    }
                    FromInit::ProxyListener | FromInit::WatchListener => None,
                }),
                _ => None,
            };
            match failure {
                Some(error) => Outcome::SetupFailed {
                    error,
                    status: code,
                },
                None if cgroup.oom_kills() > 0 => Outcome::OutOfMemory(code),
                None => Outcome::Finished(code),
            }
        }
        Err(()) => {
            // Killing pid 1 makes the kernel kill everything else in its pid namespace; without
            // one, its descendants are found and killed first (pid 1 is their subreaper).
            if !namespaces {
                crate::tree::kill_descendants(pid.as_raw());
            }
            let _ = kill(pid, nix::sys::signal::Signal::SIGKILL);
            exited(pid, &mut sigchld).await;
            messages.abort();
            Outcome::TimedOut(wall_time.unwrap_or_default())
        }
    };
    if let Some((proxy, events)) = proxy {
        proxy.abort();
        // The aborted task has dropped every session once it is joined; then the decisions
        // they reported are written before the run's closing record.
        let _ = proxy.await;
        events.flush().await;
    }
    // pid 1 is reaped: every process of the sandbox is gone, only their traces remain.
    after_answer(Box::new((cgroup, mount_ns)));
    Ok(outcome)
}

/// Teardown that may wait until the run's result has been given: `None` while nobody asked
/// for that ([`answer_first`]), else what waits.
static DEFERRED: std::sync::Mutex<Option<Vec<Box<dyn std::any::Any + Send>>>> =
    std::sync::Mutex::new(None);

/// From now on, keep the teardown of each run's remains (its cgroups, removed when dropped)
/// until [`finish_teardown`], so that `serve`'s per-run
/// supervisor can answer first. The run's result is final when pid 1 is reaped.
pub fn answer_first() {
    if let Ok(mut deferred) = DEFERRED.lock() {
        deferred.get_or_insert_with(Vec::new);
    }
}

/// Tear down what [`answer_first`] kept.
pub fn finish_teardown() {
    let kept = DEFERRED
        .lock()
        .ok()
        .and_then(|mut deferred| deferred.as_mut().map(std::mem::take));
    drop(kept);
}

/// While the run's result is given first (`answer_first`): a reference to the sandbox's mount
/// namespace, so that pid 1's exit does not unmount the sandbox's whole tree before the
/// result can be given; it is released with the other remains. None otherwise, or when the
/// namespace cannot be opened (a supervisor without CAP_SYS_PTRACE cannot open a
/// non-dumpable pid 1's: the tree is then unmounted at pid 1's exit, as always).
fn hold_mount_namespace(pid: Pid, namespaces: bool) -> Option<std::fs::File> {
    let deferring = DEFERRED.lock().ok().is_some_and(|d| d.is_some());
    if !namespaces || !deferring {
        return None;
    }
    std::fs::File::open(format!("/proc/{pid}/ns/mnt")).ok()
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

fn unreachable_forward() -> Result<i32, ()> {
    // The forwarding loop never completes; this arm exists only to drive it.
    Err(())
}
