//! Running one workload for a tool: `missy-sandbox exec --profile P --workspace W -- ARGV`,
//! this same binary as a child process, its output captured up to a cap. `exec` does all of
//! the sandboxing (and censors the vault values it injected); nothing of it is repeated here.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// What the tools run under.
#[derive(Debug, Clone)]
pub struct Runner {
    /// The `missy-sandbox` binary.
    pub exe: PathBuf,
    pub profile: String,
    /// Canonical workspace directory.
    pub workspace: PathBuf,
    /// `--audit-log` as given to `mcp`, passed on to every run.
    pub audit_log: Option<String>,
    /// `--vault-dir` as given to `mcp`.
    pub vault_dir: Option<PathBuf>,
}

/// The end of one run.
#[derive(Debug, Clone)]
pub struct Captured {
    /// `exec`'s exit status (the command's own, or 124-127 for the sandbox's verdicts);
    /// 128+N when `exec` itself was killed by signal N.
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Bytes left out of `stdout`/`stderr` past the cap.
    pub stdout_cut: u64,
    pub stderr_cut: u64,
    pub duration: Duration,
}

/// The run could not be started or watched.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start `{exe} exec`: {source}")]
    Spawn { exe: String, source: std::io::Error },
    #[error("lost the run's {what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
}

impl Runner {
    /// Run `argv` in a fresh sandbox with `stdin` as its input; keep at most `cap` bytes of
    /// each output stream (the rest is read and counted, so the workload never blocks on a
    /// full pipe).
    pub async fn exec(
        &self,
        argv: &[String],
        stdin: Option<Vec<u8>>,
        timeout: Option<Duration>,
        cap: usize,
    ) -> Result<Captured, RunError> {
        let mut cmd = tokio::process::Command::new(&self.exe);
        if let Some(log) = &self.audit_log {
            cmd.arg("--audit-log").arg(log);
        }
        cmd.arg("exec").arg("--profile").arg(&self.profile);
        cmd.arg("--workspace").arg(&self.workspace);
        if let Some(dir) = &self.vault_dir {
            cmd.arg("--vault-dir").arg(dir);
        }
        if let Some(t) = timeout {
            cmd.arg("--timeout")
                .arg(format!("{}ms", t.as_millis().max(1)));
        }
        cmd.arg("--").args(argv);
        // The server's own directory stays the current one, so `exec` finds the profile exactly
        // where `mcp` found it (./sandbox-profiles, a relative path).
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A call the client cancels drops its future, and with it this run.
        .kill_on_drop(true);
        // SAFETY: prctl(PR_SET_PDEATHSIG) and getppid are async-signal-safe and touch no
        // memory of the parent. The run dies with this server even when the server is
        // SIGKILLed (no destructor runs then). Calls run on the current-thread runtime, so the
        // spawning thread is the main thread, whose exit is the process's: the signal is not
        // sent early (it follows the thread that forked, not the process).
        unsafe {
            let parent = libc::getpid();
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|source| RunError::Spawn {
            exe: self.exe.display().to_string(),
            source,
        })?;
        let feed = match (child.stdin.take(), stdin) {
            (Some(mut pipe), Some(bytes)) => Some(tokio::spawn(async move {
                // A workload that does not read its input closes it: EPIPE is fine.
                let _ = pipe.write_all(&bytes).await;
            })),
            _ => None,
        };
        let out = child.stdout.take();
        let err = child.stderr.take();
        let (out, err, status) = tokio::join!(capped(out, cap), capped(err, cap), child.wait());
        if let Some(feed) = feed {
            feed.abort();
        }
        let status = status.map_err(|source| RunError::Io {
            what: "exit status",
            source,
        })?;
        let (stdout, stdout_cut) = out.map_err(|source| RunError::Io {
            what: "stdout",
            source,
        })?;
        let (stderr, stderr_cut) = err.map_err(|source| RunError::Io {
            what: "stderr",
            source,
        })?;
        use std::os::unix::process::ExitStatusExt;
        let status = status
            .code()
            .or_else(|| status.signal().map(|s| 128 + s))
            .unwrap_or(1);
        Ok(Captured {
            status,
            stdout,
            stderr,
            stdout_cut,
            stderr_cut,
            duration: started.elapsed(),
        })
    }
}

/// Read `pipe` to its end, keeping the first `cap` bytes; also how many were left out.
async fn capped<R: AsyncRead + Unpin>(
    pipe: Option<R>,
    cap: usize,
) -> std::io::Result<(Vec<u8>, u64)> {
    let Some(mut pipe) = pipe else {
        return Ok((Vec::new(), 0));
    };
    let mut kept = Vec::new();
    let mut cut = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = pipe.read(&mut buf).await?;
        if n == 0 {
            return Ok((kept, cut));
        }
        let room = cap.saturating_sub(kept.len()).min(n);
        kept.extend_from_slice(&buf[..room]);
        cut += (n - room) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_past_the_cap_is_counted_not_kept() {
        let input: &[u8] = &[b'x'; 100];
        let (kept, cut) = capped(Some(input), 30).await.unwrap();
        assert_eq!((kept.len(), cut), (30, 70));
        let (kept, cut) = capped(Some(&b"ab"[..]), 30).await.unwrap();
        assert_eq!((kept, cut), (b"ab".to_vec(), 0));
    }
}
