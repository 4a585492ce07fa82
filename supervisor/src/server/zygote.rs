//! The launcher ("zygote") of `serve`: a single-threaded process forked before the daemon
//! starts its async runtime, because a sandbox's pid 1 can only be cloned from a
//! single-threaded process (`spawn::start` runs Rust in the child).
//!
//! For each run the daemon sends a [`Job`] with four fds attached (SCM_RIGHTS): the run's
//! stdin, stdout and stderr, and the per-run supervisor's end of a result socket. The zygote forks a
//! per-run supervisor that puts the first three on its fds 0-2 and runs the very path of
//! `missy-sandbox exec` ([`crate::commands::exec::run_spec`]; [`run_supervisor`]); its relays censor the output on the way to the
//! daemon. The result socket is the cancel signal (the daemon shuts its end: the sandbox is
//! killed) and carries the outcome back as one JSON [`crate::server::protocol::Exit`].
//!
//! The zygote keeps [`SPARES`] per-run supervisors forked ahead, each with its sandbox's pid 1
//! already cloned (namespaces built, network namespace with `lo` up), and refills the pool
//! once the run that took a spare is answered to its client (at once when none is left: the
//! daemon closes the job's `answered` pipe once the `exit` event is queued for its client's
//! writer and that task has had its turn); a spare serves
//! exactly one run. At each hand-off it loads the run's profile into its [`ProfileCache`],
//! which the new spares inherit: their runs skip loading the profile while its files are
//! unchanged. Once two runs in a row name the same profile and workspace, the new spares are
//! built ahead for them ([`prebuilt`]): a run naming them again finds its root built; one
//! spare is kept without a key, for runs of other keys.
//!
//! A per-run supervisor answers as soon as the result is final (pid 1 has reported the end,
//! after killing and reaping every other process of the sandbox; output relayed; closing audit
//! record written) and only then removes the run's cgroups; nobody waits for pid 1's own exit.
//!
//! Lifetime: the zygote and every per-run supervisor set PR_SET_PDEATHSIG(SIGKILL), and the
//! sandbox's pid 1 does too, so a daemon killed outright takes every sandbox it started with it:
//! daemon → zygote → per-run supervisor → pid 1 → the pid namespace.

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Mutex;

use nix::sys::signal::{SigHandler, Signal, signal};
use nix::unistd::{ForkResult, Pid, fork, getpid, getppid};
use serde::{Deserialize, Serialize};

use crate::commands::launch::Prestarted;
use crate::control::{self, ControlError};
use crate::policy::Context;
use crate::server::profile_cache::{Cached, ProfileCache};
use crate::server::{prebuilt, run_supervisor};

/// Per-run supervisors kept forked ahead of their runs, each with its pid 1 cloned (a burst of
/// runs finds them ready; each is used for exactly one run), built ahead for the last run's
/// key once there is one.
const SPARES: usize = 2;

/// Spares kept besides, not built ahead: a run of another key takes one of these (its
/// namespaces are ready) rather than a fresh clone.
const UNKEYED: usize = 1;

/// What a per-run supervisor runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Job {
    Exec {
        profile: String,
        argv: Vec<String>,
        workspace: PathBuf,
        env: Vec<(String, String)>,
        timeout_ms: Option<u64>,
        report: bool,
    },
    Fetch {
        profile: String,
        url: String,
        workspace: PathBuf,
        timeout_ms: Option<u64>,
    },
}

/// The fds a job carries, in this order.
#[derive(Debug)]
pub struct JobFds {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub result: OwnedFd,
    /// From the daemon to the zygote: a pipe's read end, at its end once the daemon has passed
    /// the run's outcome on to its client. The zygote refills its pool then, so that the
    /// refill's work competes with neither the run nor its answer; it keeps this fd (the
    /// per-run supervisor gets the other four).
    pub answered: Option<OwnedFd>,
}

impl JobFds {
    /// The fds of a received job: four, or five with `answered`.
    fn from_received(fds: Vec<OwnedFd>) -> Option<JobFds> {
        let mut fds = fds.into_iter();
        let mut next = || fds.next();
        let (stdin, stdout, stderr, result) = (next()?, next()?, next()?, next()?);
        let answered = next();
        Some(JobFds {
            stdin,
            stdout,
            stderr,
            result,
            answered,
        })
    }

    fn attached(&self) -> Vec<std::os::fd::BorrowedFd<'_>> {
        let mut fds = vec![
            self.stdin.as_fd(),
            self.stdout.as_fd(),
            self.stderr.as_fd(),
            self.result.as_fd(),
        ];
        fds.extend(self.answered.as_ref().map(|f| f.as_fd()));
        fds
    }
}

/// The daemon's handle on its zygote.
#[derive(Debug)]
pub struct Zygote {
    sock: Mutex<UnixStream>,
    pub pid: Pid,
}

#[derive(Debug, thiserror::Error)]
pub enum ZygoteError {
    #[error("cannot create the launcher's socket: {0}")]
    Socket(std::io::Error),
    #[error("cannot fork the launcher: {0}")]
    Fork(nix::errno::Errno),
    #[error("cannot hand the run to the launcher: {0}")]
    Send(#[from] ControlError),
    #[error("the launcher is gone")]
    Gone,
}

impl Zygote {
    /// Fork the zygote. Call while the process is single-threaded (before any runtime).
    pub fn start(audit_log: Option<String>) -> Result<Zygote, ZygoteError> {
        let (ours, theirs) = UnixStream::pair().map_err(ZygoteError::Socket)?;
        let daemon = getpid();
        // SAFETY: the caller is single-threaded, so the child may run ordinary Rust; it never
        // returns from `zygote_main`.
        match unsafe { fork() }.map_err(ZygoteError::Fork)? {
            ForkResult::Child => {
                drop(ours);
                zygote_main(theirs, daemon, audit_log.as_deref())
            }
            ForkResult::Parent { child } => Ok(Zygote {
                sock: Mutex::new(ours),
                pid: child,
            }),
        }
    }

    /// Hand one job to the zygote. Blocking, but the frame is small and the zygote reads
    /// every frame as soon as it arrives.
    pub fn submit(&self, job: &Job, fds: &JobFds) -> Result<(), ZygoteError> {
        let sock = self.sock.lock().map_err(|_| ZygoteError::Gone)?;
        control::send_with_fds(&sock, job, &fds.attached())?;
        Ok(())
    }
}

/// Die with SIGKILL when the parent goes; exit at once if it already has.
fn die_with(parent: Pid) {
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() || getppid() != parent {
        // SAFETY: _exit ends this forked process without running the parent's destructors.
        unsafe { libc::_exit(1) };
    }
}

fn zygote_main(sock: UnixStream, daemon: Pid, audit_log: Option<&str>) -> ! {
    die_with(daemon);
    // Per-run supervisors are reaped by the kernel; each restores SIGCHLD before its own
    // children exist.
    // SAFETY: changing one signal's disposition in a single-threaded process.
    let _ = unsafe { signal(Signal::SIGCHLD, SigHandler::SigIgn) };
    // Probed once, here (the user-namespace verdict the clones use with it): every spare
    // inherits the result instead of probing again.
    let _ = crate::kernel::KernelFeatures::probe();
    let me = getpid();
    let mut cache = ProfileCache::default();
    let mut pool = VecDeque::new();
    // The (profile, workspace) of the last run: what new spares are built ahead for.
    let mut ahead: Option<Key> = None;
    // The last run's key: a key is built ahead for once two runs in a row name it, so that
    // runs alternating between keys do not have spares built and retired for each.
    let mut last: Option<Key> = None;
    refill(&mut pool, &sock, me, &cache, &ahead, audit_log);
    // Read ends of the `answered` pipes of runs under way: the pool is refilled when one ends
    // (the daemon has answered its client: the refill's work competes with neither the run nor
    // the answer), or at once when it is empty.
    let mut answering: Vec<OwnedFd> = Vec::new();
    loop {
        if !answering.is_empty() && !wait_for_job(&sock, &mut answering) {
            refill(&mut pool, &sock, me, &cache, &ahead, audit_log);
            continue;
        }
        match control::recv_with_fds::<Job>(&sock) {
            Ok(Some((job, fds))) => {
                let Some(mut fds) = JobFds::from_received(fds) else {
                    continue;
                };
                let ended = fds.answered.take();
                // A spare built ahead for the run's key takes it, else the oldest (one that
                // died is skipped); without one, a fresh child does.
                let wanted = key(&job);
                let mut handed = false;
                while let Some(spare) = take(&mut pool, wanted.as_ref()) {
                    if spare.hand(&job, &fds) {
                        handed = true;
                        break;
                    }
                }
                if !handed {
                    // SAFETY: the zygote is single-threaded; the child runs `run_job` and exits.
                    if let Ok(ForkResult::Child) = unsafe { fork() } {
                        become_run_supervisor(&sock, me, &pool);
                        let cached = lookup(&cache, &job);
                        run_supervisor::run_job(job, fds, None, cached, audit_log)
                    }
                }
                // Closed before the next fork: a copy left in the next spare would keep the
                // run's pipes open after the run (the daemon waits for their end).
                drop(fds);
                // While the run goes on: load its profile for the spares forked from now on,
                // then start them (their pid 1 too).
                if let Job::Exec {
                    profile, workspace, ..
                } = &job
                    && let Ok(ctx) = crate::commands::context(Some(workspace))
                {
                    let ctx = Context {
                        cwd: workspace.clone(),
                        ..ctx
                    };
                    cache.warm(profile, &ctx);
                }
                if wanted.is_some() {
                    let steady = wanted == last;
                    last.clone_from(&wanted);
                    if !steady {
                        ahead = None;
                    } else if ahead != wanted {
                        ahead = wanted;
                        // Spares built for another key make way for ones built for this
                        // run's; dropping its socket ends a spare and its pid 1.
                        pool.retain(|s| s.ahead.is_none() || s.ahead == ahead);
                    }
                }
                match ended {
                    // Refilled at once when no spare of the kind the next run likely wants
                    // (built for the current key, or without one) is left.
                    Some(ended) if pool.iter().any(|s| s.ahead == ahead) => answering.push(ended),
                    _ => refill(&mut pool, &sock, me, &cache, &ahead, audit_log),
                }
            }
            // A frame the daemon never sends; the stream is still in step.
            Err(ControlError::Encoding(_)) => continue,
            // The daemon is gone.
            Ok(None) | Err(_) => {
                // SAFETY: ending this forked process without the daemon's destructors.
                unsafe { libc::_exit(0) }
            }
        }
    }
}

/// Wait for the daemon's next job or for a run under way to be answered. True when a job (or
/// the daemon's end) is there to read, which comes first; false when runs were answered
/// (their pipes are taken out of `answering`).
fn wait_for_job(sock: &UnixStream, answering: &mut Vec<OwnedFd>) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut fds: Vec<PollFd> = std::iter::once(sock.as_fd())
        .chain(answering.iter().map(|f| f.as_fd()))
        .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
        .collect();
    loop {
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            // Nothing to wait on: read the socket, which reports its own errors.
            Err(_) => return true,
            Ok(_) => break,
        }
    }
    let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
    if ready(&fds[0]) {
        return true;
    }
    let ended: Vec<usize> = (1..fds.len()).filter(|&i| ready(&fds[i])).collect();
    drop(fds);
    for i in ended.into_iter().rev() {
        answering.remove(i - 1);
    }
    false
}

/// What a sandbox is built ahead for: profile reference and workspace.
type Key = (String, PathBuf);

/// The key of a job a spare may be built ahead for: an `exec` without `--report` (whose
/// watch changes the Plan).
fn key(job: &Job) -> Option<Key> {
    match job {
        Job::Exec {
            profile,
            workspace,
            report: false,
            ..
        } => Some((profile.clone(), workspace.clone())),
        _ => None,
    }
}

/// The spare built ahead for `wanted`, else one not built ahead, else the oldest.
fn take(pool: &mut VecDeque<Spare>, wanted: Option<&Key>) -> Option<Spare> {
    let matching = wanted.and_then(|w| pool.iter().position(|s| s.ahead.as_ref() == Some(w)));
    let unkeyed = || pool.iter().position(|s| s.ahead.is_none());
    let at = matching.or_else(unkeyed).unwrap_or(0);
    pool.remove(at)
}

/// Fork spares until the pool holds [`SPARES`] built ahead for `ahead` and [`UNKEYED`] not
/// (before any run: [`SPARES`] not built ahead).
fn refill(
    pool: &mut VecDeque<Spare>,
    zygote_sock: &UnixStream,
    zygote: Pid,
    cache: &ProfileCache,
    ahead: &Option<Key>,
    audit_log: Option<&str>,
) {
    let (keyed, unkeyed) = match ahead {
        Some(_) => (SPARES, UNKEYED),
        None => (0, SPARES),
    };
    for (key, wanted) in [(ahead, keyed), (&None, unkeyed)] {
        while pool.iter().filter(|s| s.ahead == *key).count() < wanted {
            match Spare::fork(zygote_sock, zygote, pool, cache, key, audit_log) {
                Some(spare) => pool.push_back(spare),
                None => return,
            }
        }
    }
}

/// The cached profile of an `exec` job, if still what its files say.
fn lookup(cache: &ProfileCache, job: &Job) -> Option<Cached> {
    match job {
        Job::Exec {
            profile, workspace, ..
        } => cache.get(profile, workspace),
        Job::Fetch { .. } => None,
    }
}

/// In a child of the zygote: die with it, let its own children be waited for, and drop the
/// zygote's sockets (to the daemon, and to the other spares: a copy held here would keep a
/// spare waiting for a run after the zygote has given up on it).
fn become_run_supervisor(zygote_sock: &UnixStream, zygote: Pid, pool: &VecDeque<Spare>) {
    die_with(zygote);
    // SAFETY: restoring the default disposition in a single-threaded process, before any
    // child exists (`supervise` waits for pid 1 by SIGCHLD).
    let _ = unsafe { signal(Signal::SIGCHLD, SigHandler::SigDfl) };
    let _ = nix::unistd::close(zygote_sock.as_raw_fd());
    for spare in pool {
        let _ = nix::unistd::close(spare.sock.as_raw_fd());
    }
}

/// A per-run supervisor forked ahead of its run, with its sandbox's pid 1 already cloned
/// (`launch::Prestarted`): the namespaces are built while no one waits for them, and the
/// whole sandbox when the spare is built ahead for a key.
struct Spare {
    sock: UnixStream,
    ahead: Option<Key>,
}

impl Spare {
    fn fork(
        zygote_sock: &UnixStream,
        zygote: Pid,
        pool: &VecDeque<Spare>,
        cache: &ProfileCache,
        ahead: &Option<Key>,
        audit_log: Option<&str>,
    ) -> Option<Spare> {
        let (ours, theirs) = UnixStream::pair().ok()?;
        // SAFETY: the zygote is single-threaded; the child never returns from `spare_main`.
        match unsafe { fork() }.ok()? {
            ForkResult::Child => {
                drop(ours);
                become_run_supervisor(zygote_sock, zygote, pool);
                spare_main(theirs, cache, ahead.as_ref(), audit_log)
            }
            ForkResult::Parent { .. } => Some(Spare {
                sock: ours,
                ahead: ahead.clone(),
            }),
        }
    }

    /// Hand it the job; false if it is gone.
    fn hand(self, job: &Job, fds: &JobFds) -> bool {
        control::send_with_fds(&self.sock, job, &fds.attached()).is_ok()
    }
}

fn spare_main(
    sock: UnixStream,
    cache: &ProfileCache,
    ahead: Option<&Key>,
    audit_log: Option<&str>,
) -> ! {
    // Until the run's pipes arrive, the standard fds are /dev/null: the output channels are
    // then pipes, never a pseudo-terminal for a daemon started on one.
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for target in 0..3 {
            // SAFETY: dup2 onto our own standard fds in a single-threaded process.
            unsafe { libc::dup2(null.as_raw_fd(), target) };
        }
    }
    // A spare that cannot prestart still serves its run, with a fresh clone.
    let mut prestarted = Prestarted::start().ok();
    // Built ahead with the profile as it loads now; a run finds out whether it still does.
    // (Taken only for a key: a spare without one keeps its prestarted pid 1.)
    if let Some((profile, workspace)) = ahead
        && let Some(pre) = prestarted.take()
    {
        prestarted = match cache.get(profile, workspace) {
            Some(cached) => prebuilt::build(pre, &cached.policy, &cached.ctx),
            None => Some(pre),
        };
    }
    let job = control::recv_with_fds::<Job>(&sock)
        .ok()
        .flatten()
        .and_then(|(job, fds)| Some((job, JobFds::from_received(fds)?)));
    let Some((job, fds)) = job else {
        if let Some(p) = prestarted {
            p.abort();
        }
        // SAFETY: ending this forked process without the zygote's destructors.
        unsafe { libc::_exit(0) }
    };
    drop(sock);
    let cached = lookup(cache, &job);
    run_supervisor::run_job(job, fds, prestarted, cached, audit_log)
}
