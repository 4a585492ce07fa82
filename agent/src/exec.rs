//! Build the `missy-sandbox exec` command line for a tool call and read its exit status back as a
//! typed [`RunStatus`].

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Output};
use std::time::Duration;

/// A tool call to run inside the sandbox.
#[derive(Debug, Clone)]
pub struct SandboxCommand {
    binary: PathBuf,
    profile: Option<String>,
    workspace: Option<PathBuf>,
    timeout: Option<Duration>,
    env: Vec<(String, String)>,
    argv: Vec<OsString>,
}

impl SandboxCommand {
    /// `argv[0]` is the program, looked up on the sandbox's PATH.
    pub fn new<I, S>(argv: I) -> SandboxCommand
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        SandboxCommand {
            binary: PathBuf::from("missy-sandbox"),
            profile: None,
            workspace: None,
            timeout: None,
            env: Vec::new(),
            argv: argv.into_iter().map(Into::into).collect(),
        }
    }

    /// Path to the `missy-sandbox` binary (default: found on PATH).
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = path.into();
        self
    }

    /// The sandbox profile to run under (default: the supervisor's default profile).
    pub fn profile(mut self, name: impl Into<String>) -> Self {
        self.profile = Some(name.into());
        self
    }

    /// The workspace directory granted to the tool.
    pub fn workspace(mut self, dir: impl Into<PathBuf>) -> Self {
        self.workspace = Some(dir.into());
        self
    }

    /// Wall-clock limit; whole milliseconds are passed on.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Set a variable inside the sandbox (explicit, so secret-looking names are allowed).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The `std::process::Command` that runs this tool call.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("exec");
        if let Some(p) = &self.profile {
            cmd.arg("--profile").arg(p);
        }
        if let Some(w) = &self.workspace {
            cmd.arg("--workspace").arg(w);
        }
        if let Some(t) = self.timeout {
            cmd.arg("--timeout")
                .arg(format!("{}ms", t.as_millis().max(1)));
        }
        for (k, v) in &self.env {
            cmd.arg("--env").arg(format!("{k}={v}"));
        }
        cmd.arg("--").args(&self.argv);
        cmd
    }

    /// Run it, capturing stdout and stderr.
    pub fn output(&self) -> std::io::Result<Output> {
        self.command().output()
    }
}

/// How a sandboxed run ended, decoded from `missy-sandbox exec`'s exit status. Codes 124–127
/// are reserved by missy-sandbox; a tool that itself exits with one of them is indistinguishable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// The tool ran and exited with this code.
    Exited(i32),
    /// The tool was killed by this signal.
    Signaled(i32),
    /// The wall-time limit ended the run.
    TimedOut,
    /// The sandbox could not be set up (details on stderr); the tool never ran.
    SetupFailed,
    /// The program was found but could not be executed.
    CannotExecute,
    /// The program does not exist inside the sandbox.
    NotFound,
}

impl RunStatus {
    /// Decode a finished `missy-sandbox exec` process's status.
    pub fn from_exit(status: ExitStatus) -> RunStatus {
        use std::os::unix::process::ExitStatusExt;
        match status.code() {
            Some(code) => RunStatus::from_code(code),
            None => RunStatus::Signaled(status.signal().unwrap_or(0)),
        }
    }

    /// Decode an exit code (a shell's `$?` after running `missy-sandbox exec`).
    pub fn from_code(code: i32) -> RunStatus {
        match code {
            124 => RunStatus::TimedOut,
            125 => RunStatus::SetupFailed,
            126 => RunStatus::CannotExecute,
            127 => RunStatus::NotFound,
            129..=192 => RunStatus::Signaled(code - 128),
            other => RunStatus::Exited(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_has_every_option_before_the_separator() {
        let cmd = SandboxCommand::new(["ls", "-l"])
            .profile("dev")
            .workspace("/w")
            .timeout(Duration::from_secs(2))
            .env("A", "1")
            .command();
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "exec",
                "--profile",
                "dev",
                "--workspace",
                "/w",
                "--timeout",
                "2000ms",
                "--env",
                "A=1",
                "--",
                "ls",
                "-l"
            ]
        );
    }

    #[test]
    fn exit_codes_decode() {
        assert_eq!(RunStatus::from_code(0), RunStatus::Exited(0));
        assert_eq!(RunStatus::from_code(124), RunStatus::TimedOut);
        assert_eq!(RunStatus::from_code(127), RunStatus::NotFound);
        assert_eq!(RunStatus::from_code(137), RunStatus::Signaled(9));
        // 2 is also what missy-sandbox returns for bad input, but tools exit 2 too often to guess.
        assert_eq!(RunStatus::from_code(2), RunStatus::Exited(2));
    }
}
