//! The per-run supervisor of `serve`: a spare the zygote forked, once its job has come. It puts
//! the run's pipes on its fds 0-2, runs the very path of `missy-sandbox exec`
//! ([`exec::run_spec`]) or of `fetch`, answers the daemon with one JSON [`Exit`] on the result
//! socket, and only then tears the run's remains down.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use crate::commands::exec::{self, RunSpec, TimeLimit};
use crate::commands::launch::Prestarted;
use crate::policy::units::Duration as Millis;
use crate::server::profile_cache::Cached;
use crate::server::protocol::Exit;
use crate::server::zygote::{Job, JobFds};

/// The per-run supervisor: the run's pipes on fds 1 and 2 (and on 0, unless a prestarted pid 1
/// has its own stdin pipe, which the run's stdin is then copied into).
pub fn run_job(
    job: Job,
    fds: JobFds,
    prestarted: Option<Prestarted>,
    cached: Option<Cached>,
    audit_log: Option<&str>,
) -> ! {
    let JobFds {
        stdin,
        stdout,
        stderr,
        result,
        answered: _,
    } = fds;
    crate::supervise::defer_teardown();
    let (prestarted, stdin) = match (&job, prestarted) {
        // `--report` adds its watch to the Plan: not one sent ahead.
        (Job::Exec { report, .. }, Some(p)) if !(*report && p.is_built_ahead()) => {
            (Some(p), Some(stdin))
        }
        (_, p) => {
            if let Some(p) = p {
                p.abort();
            }
            // SAFETY: dup2 onto our own stdin in a single-threaded process.
            if unsafe { libc::dup2(stdin.as_raw_fd(), 0) } < 0 {
                // SAFETY: ending this forked process.
                unsafe { libc::_exit(1) };
            }
            (None, None)
        }
    };
    for (fd, target) in [(&stdout, 1), (&stderr, 2)] {
        // SAFETY: dup2 onto our own standard fds in a single-threaded process.
        if unsafe { libc::dup2(fd.as_raw_fd(), target) } < 0 {
            // SAFETY: as above.
            unsafe { libc::_exit(1) };
        }
    }
    drop((stdout, stderr));
    let started = std::time::Instant::now();
    let exit = match job {
        Job::Exec {
            profile,
            argv,
            workspace,
            env,
            timeout_ms,
            report,
        } => {
            let spec = RunSpec {
                profile,
                // The command runs in its workspace. This process stays in the daemon's
                // directory: profiles are found from there, never from a client's workspace
                // (whose ./sandbox-profiles/ would let a client write its own rules).
                cwd: Some(workspace.clone()),
                workspace: Some(workspace),
                timeout: timeout_ms.map(|ms| TimeLimit::AtMost(Millis(ms))),
                client_env: Some(env),
                argv,
                report,
                cancel: result.try_clone().ok(),
                prestarted,
                stdin,
                cached,
                ..RunSpec::default()
            };
            let done = exec::run_spec(spec, audit_log);
            let ending = done.ending.unwrap_or_default();
            Exit {
                id: String::new(),
                status: done.status,
                duration_ms: started.elapsed().as_millis() as u64,
                cancelled: done.cancelled,
                message: ending.message,
                error: done.error,
                resources: Some(ending.resources),
                report: ending.report,
            }
        }
        Job::Fetch {
            profile,
            url,
            workspace,
            timeout_ms,
        } => {
            cancel_by_exit(result.try_clone().ok());
            let status = crate::commands::fetch::run(
                crate::cli::FetchArgs {
                    profile,
                    workspace: Some(workspace),
                    output: None,
                    timeout: timeout_ms.map(Millis),
                    ca_file: None,
                    url,
                },
                audit_log,
            );
            Exit {
                id: String::new(),
                status,
                duration_ms: started.elapsed().as_millis() as u64,
                cancelled: false,
                message: None,
                error: None,
                resources: None,
                report: None,
            }
        }
    };
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // The run's output is all relayed: its pipes end here, so that the daemon need not wait
    // for this process to exit.
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        for target in [1, 2] {
            // SAFETY: dup2 onto our own standard fds; this process is single-threaded again
            // (the run's runtime is gone).
            unsafe { libc::dup2(null.as_raw_fd(), target) };
        }
    }
    // One write: the daemon wakes once for the outcome, not once per JSON token.
    let reported = serde_json::to_vec(&exit).unwrap_or_default();
    let result = UnixStream::from(result);
    let _ = (&result).write_all(&reported);
    let _ = result.shutdown(std::net::Shutdown::Both);
    // Answered: now the run's cgroups and placeholders go (pid 1 has killed and reaped every
    // other process of the sandbox; it may still be exiting itself).
    crate::supervise::finish_teardown();
    // SAFETY: the run is over and reported; end without the zygote's destructors.
    unsafe { libc::_exit(0) }
}

/// A fetch has no sandbox to kill: a cancelled one ends its process.
fn cancel_by_exit(cancel: Option<OwnedFd>) {
    let Some(cancel) = cancel else { return };
    let _ = std::thread::Builder::new()
        .name("cancel".into())
        .spawn(move || {
            let mut fds = [nix::poll::PollFd::new(
                cancel.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            while let Err(nix::errno::Errno::EINTR) =
                nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE)
            {}
            // SAFETY: ending the process from its cancel thread; the run is abandoned.
            unsafe { libc::_exit(137) };
        });
}
