//! missy-agent: what an agent runtime needs to run its tool calls under `missy-sandbox`.
//!
//! Three parts:
//!
//! - **A client for `missy-sandbox serve`** ([`client`]): run tool calls through the daemon (or a
//!   brokered agent's `$MISSY_SANDBOX_SOCKET`), output streamed and censored.
//! - **Running a tool call** in a sandbox: [`SandboxCommand`] builds the `missy-sandbox exec`
//!   command line, [`RunStatus`] decodes how it ended.
//! - **The in-process first layer**, run before a tool call is asked for and on what it returns:
//!   - [`ShellPolicy`]: parses a shell command line as `sh -c` would, refuses constructs that can
//!     hide a command (`$(...)`, backquotes, process substitution, subshells, here-documents),
//!     requires every program to be on an allowlist and warns about launchers (`bash`, `python`,
//!     `xargs`, `sudo`, ...);
//!   - [`sanitize`]: normalises tool output (NFKC, zero-width and bidi controls removed) and
//!     scans it, and its base64-, percent- and HTML-entity-decoded forms, for prompt-injection
//!     phrasings;
//!   - [`ApprovalGate`]: asks a human (or a test double) to approve a command with its warnings.
//!
//! **These checks are advisory.** They catch the obvious and explain it, but a parser and a
//! phrase list can be outwitted. The enforcement is the kernel: Landlock, seccomp, namespaces
//! and limits applied by `missy-sandbox` to every tool run, which still hold when this layer
//! is bypassed by a prompt injection or a bug.
//!
//! ```no_run
//! use missy_agent::{ApprovalGate, ApprovalRequest, Decision, RunStatus, SandboxCommand, ShellPolicy};
//!
//! let policy = ShellPolicy::new(["cargo", "git", "ls"]);
//! let line = "cargo test && git status";
//! let verdict = policy.check(line)?;
//! let mut gate = missy_agent::TerminalGate::open_tty()?;
//! let request = ApprovalRequest::new(line, &verdict.warnings);
//! if gate.ask(&request)? == Decision::Approve {
//!     let out = SandboxCommand::new(["sh", "-c", line]).profile("dev").workspace(".").output()?;
//!     let report = missy_agent::sanitize(&String::from_utf8_lossy(&out.stdout));
//!     for finding in &report.findings {
//!         eprintln!("possible prompt injection: {finding}");
//!     }
//!     assert!(matches!(RunStatus::from_exit(out.status), RunStatus::Exited(_)));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod approval;
pub mod client;
mod exec;
mod policy;
mod sanitize;
pub mod shell;

pub use approval::{
    AlwaysAllow, AlwaysDeny, ApprovalError, ApprovalGate, ApprovalRequest, Decision, TerminalGate,
};
pub use exec::{RunStatus, SandboxCommand};
pub use policy::{CheckedCommand, PolicyError, ShellPolicy, Verdict, Warning, WarningKind};
pub use sanitize::{Category, Finding, Layer, Sanitized, sanitize};
