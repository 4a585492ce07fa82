//! The approval gate: a human (or a test double) approves or denies a command or tool call.

use std::fmt::Display;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};

use thiserror::Error;

use crate::sanitize::is_invisible;

/// What is asked: the action and why it deserves a look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    /// The command line or tool call, as it will run.
    pub action: String,
    /// Warnings and findings to show with it.
    pub reasons: Vec<String>,
}

impl ApprovalRequest {
    /// A request for `action` with these reasons (policy [`Warning`](crate::Warning)s, sanitizer
    /// [`Finding`](crate::Finding)s or plain strings).
    pub fn new<R: Display>(
        action: impl Into<String>,
        reasons: impl IntoIterator<Item = R>,
    ) -> Self {
        ApprovalRequest {
            action: action.into(),
            reasons: reasons.into_iter().map(|r| r.to_string()).collect(),
        }
    }
}

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
}

/// Why no answer could be had. Callers should treat it as [`Decision::Deny`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ApprovalError {
    #[error("cannot open the terminal /dev/tty: {0}")]
    OpenTty(#[source] io::Error),
    #[error("cannot talk to the approver: {0}")]
    Io(#[from] io::Error),
}

/// Something that approves or denies actions.
pub trait ApprovalGate {
    /// Ask about one action. Implementations deny whenever in doubt.
    fn ask(&mut self, request: &ApprovalRequest) -> Result<Decision, ApprovalError>;
}

/// Approves everything (for tests and for runs where the sandbox alone is the control).
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysAllow;

/// Denies everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysDeny;

impl ApprovalGate for AlwaysAllow {
    fn ask(&mut self, _: &ApprovalRequest) -> Result<Decision, ApprovalError> {
        Ok(Decision::Approve)
    }
}

impl ApprovalGate for AlwaysDeny {
    fn ask(&mut self, _: &ApprovalRequest) -> Result<Decision, ApprovalError> {
        Ok(Decision::Deny)
    }
}

/// Asks on a terminal: prints the action and its reasons, reads `y`/`yes` to approve; anything
/// else, including an empty line or end of input, denies.
#[derive(Debug)]
pub struct TerminalGate<R, W> {
    input: R,
    output: W,
}

impl TerminalGate<BufReader<File>, File> {
    /// Ask on the controlling terminal, not on stdin/stdout, which a tool's output or a pipe
    /// could be feeding.
    pub fn open_tty() -> Result<Self, ApprovalError> {
        let tty = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .map_err(ApprovalError::OpenTty)?;
        let output = tty.try_clone().map_err(ApprovalError::OpenTty)?;
        Ok(TerminalGate::new(BufReader::new(tty), output))
    }
}

impl<R: BufRead, W: Write> TerminalGate<R, W> {
    /// Ask on any reader and writer (tests use in-memory buffers).
    pub fn new(input: R, output: W) -> Self {
        TerminalGate { input, output }
    }
}

impl<R: BufRead, W: Write> ApprovalGate for TerminalGate<R, W> {
    fn ask(&mut self, request: &ApprovalRequest) -> Result<Decision, ApprovalError> {
        let out = &mut self.output;
        writeln!(out, "missy-agent: approval needed")?;
        writeln!(out, "  action: {}", displayable(&request.action))?;
        for reason in &request.reasons {
            writeln!(out, "  warning: {}", displayable(reason))?;
        }
        write!(out, "Approve? [y/N] ")?;
        out.flush()?;
        let mut answer = String::new();
        self.input.read_line(&mut answer)?;
        let answer = answer.trim().to_ascii_lowercase();
        Ok(if answer == "y" || answer == "yes" {
            Decision::Approve
        } else {
            Decision::Deny
        })
    }
}

/// The text with control, zero-width and bidi characters escaped, so an action cannot redraw
/// the prompt (`\r`, ANSI escapes) or reorder what the approver reads.
fn displayable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || is_invisible(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(answer: &str) -> (Decision, String) {
        let mut output = Vec::new();
        let mut gate = TerminalGate::new(answer.as_bytes(), &mut output);
        let request = ApprovalRequest::new("rm -rf build", ["`rm` is dangerous"]);
        let decision = gate.ask(&request).unwrap();
        (decision, String::from_utf8(output).unwrap())
    }

    #[test]
    fn yes_approves_and_the_prompt_shows_action_and_reasons() {
        let (decision, shown) = ask("y\n");
        assert_eq!(decision, Decision::Approve);
        assert!(shown.contains("action: rm -rf build"), "{shown}");
        assert!(shown.contains("warning: `rm` is dangerous"), "{shown}");
        assert!(shown.ends_with("[y/N] "), "{shown}");
        assert_eq!(ask(" YES \n").0, Decision::Approve);
    }

    #[test]
    fn anything_but_yes_denies() {
        for answer in ["\n", "", "n\n", "no\n", "yess\n", "sure\n", "y es\n"] {
            assert_eq!(ask(answer).0, Decision::Deny, "{answer:?}");
        }
    }

    #[test]
    fn control_and_bidi_characters_are_escaped_in_the_prompt() {
        let mut output = Vec::new();
        let mut gate = TerminalGate::new(&b"n\n"[..], &mut output);
        let request =
            ApprovalRequest::new("ls\r\x1b[2Kecho safe\u{202e}txt.exe", Vec::<String>::new());
        gate.ask(&request).unwrap();
        let shown = String::from_utf8(output).unwrap();
        assert!(
            shown.contains(r"ls\u{d}\u{1b}[2Kecho safe\u{202e}txt.exe"),
            "{shown}"
        );
    }

    #[test]
    fn fixed_gates() {
        let request = ApprovalRequest::new("ls", Vec::<String>::new());
        assert_eq!(AlwaysAllow.ask(&request).unwrap(), Decision::Approve);
        assert_eq!(AlwaysDeny.ask(&request).unwrap(), Decision::Deny);
    }

    #[test]
    fn a_broken_writer_is_an_error_not_an_approval() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("closed"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut gate = TerminalGate::new(&b"y\n"[..], Broken);
        let request = ApprovalRequest::new("ls", Vec::<String>::new());
        assert!(matches!(gate.ask(&request), Err(ApprovalError::Io(_))));
    }
}
