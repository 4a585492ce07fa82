//! The agent crate's shell-command policy (`missy_agent::ShellPolicy`, `missy_agent::shell`):
//! arbitrary text as a command line, checked against a fixed allowlist that holds plain
//! programs, wrappers (`env`, `timeout`, `nice`, ...), `find` and launchers (`sh`, `xargs`).
//!
//! Asserts: no panic; every span and error offset lies inside the line on a character
//! boundary; a line that passes runs only allowlisted bare names (never a path, never a name
//! with non-ASCII or control characters), has one checked command per parsed simple command,
//! and its warnings point at commands that exist.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use missy_agent::{PolicyError, ShellPolicy, shell};

const ALLOWED: &[&str] = &[
    "ls", "cat", "echo", "git", "cargo", "grep", "find", "env", "timeout", "nice", "nohup",
    "command", "xargs", "sh", "export", "true",
];

static POLICY: LazyLock<ShellPolicy> = LazyLock::new(|| ShellPolicy::new(ALLOWED.iter().copied()));

fn at_boundary(line: &str, offset: usize) -> bool {
    offset <= line.len() && line.is_char_boundary(offset)
}

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = shell::parse(line);
    match &parsed {
        Ok(commands) => {
            for c in commands {
                assert!(at_boundary(line, c.span.start) && at_boundary(line, c.span.end));
                assert!(c.span.start <= c.span.end);
                for w in &c.words {
                    assert!(at_boundary(line, w.span.start) && at_boundary(line, w.span.end));
                }
            }
        }
        Err(e) => {
            assert!(
                at_boundary(line, e.offset),
                "parse error offset {}",
                e.offset
            );
            let _ = e.to_string();
        }
    }
    match POLICY.check(line) {
        Ok(verdict) => {
            let commands = parsed.expect("a line that passes parses");
            assert_eq!(verdict.commands.len(), commands.len());
            for checked in &verdict.commands {
                for program in &checked.programs {
                    assert!(ALLOWED.contains(&program.as_str()), "ran {program:?}");
                }
            }
            for w in &verdict.warnings {
                assert!(w.command < verdict.commands.len());
                let _ = w.to_string();
            }
        }
        Err(err) => {
            let offset = match &err {
                PolicyError::NotAllowed { offset, .. }
                | PolicyError::PathQualified { offset, .. }
                | PolicyError::NonAsciiProgram { offset, .. }
                | PolicyError::Dynamic { offset, .. }
                | PolicyError::ForbiddenAssignment { offset, .. }
                | PolicyError::WrapperOption { offset, .. } => Some(*offset),
                PolicyError::Parse(e) => Some(e.offset),
                _ => None,
            };
            if let Some(offset) = offset {
                assert!(at_boundary(line, offset), "error offset {offset}: {err}");
            }
            let _ = err.to_string();
        }
    }
});
