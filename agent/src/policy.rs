//! Shell-command policy: every program a command line would run must be on an allowlist.
//!
//! Decisions, each fail-closed:
//! - **What is compared.** The program name as the shell would see it after quote removal, so
//!   `r''m`, `"r"m` and `$'\x72m'` are all `rm`. Names are compared exactly (ASCII, case
//!   sensitive), never normalised: a name with any non-ASCII or control character is refused,
//!   so Cyrillic `г`, fullwidth `ｒｍ` or a zero-width space never matches `rm`.
//! - **Paths.** A program given with a `/` (`/usr/bin/rm`, `./rm`, `../x`) is refused: the
//!   allowlist names programs found on the sandbox's `PATH`, nothing else.
//! - **Unknown values.** A program word with an expansion (`$x`, `${IFS}`, `~`, globs, bash brace
//!   expansion) is refused, and so is such a word anywhere before the program (a wrapper's
//!   options) or among `find`'s arguments. Arguments of other programs may expand.
//! - **Assignments.** `NAME=value cmd` (and `export`/`declare`/`typeset`/`readonly`/`local`
//!   arguments) are allowed, except for variables that change which program
//!   runs or what it loads: `PATH`, `IFS`, `ENV`, `BASH_ENV`, `SHELLOPTS`, `BASHOPTS`, `PS4`,
//!   `PROMPT_COMMAND`, `GCONV_PATH`, `LD_*`, `DYLD_*`, `BASH_FUNC_*`. Other variables that name
//!   programs (`EDITOR`, `GIT_SSH_COMMAND`, ...) are not inspected.
//! - **Wrappers.** `env`, `command`, `exec`, `nice`, `nohup`, `timeout`, `time`, `stdbuf`,
//!   `setsid`, `sudo` and `doas` run the program named after their options: the wrapper *and*
//!   that program must be allowlisted. An option the policy does not know (such as `env -S`,
//!   which splits a string into a command) is refused. `find -exec/-execdir/-ok/-okdir` programs
//!   are checked the same way.
//! - **Launchers** (shells, interpreters, `xargs`, `su`, `ssh`, `eval`-like builtins, the wrappers
//!   above) are allowed when allowlisted, with a [`Warning`]: what they run is not checked.
//! - **Redirections** are allowed; writing a file (`>`, `>>`, `&>`, ...) gives a warning.
//!   Here-documents and here-strings are refused by the parser. **`&`** is allowed with a
//!   warning (the sandbox still ends the whole process tree).

use std::collections::BTreeSet;
use std::fmt;

use thiserror::Error;

use crate::shell::{self, Connector, Dynamic, ParseError, SimpleCommand, Word};

/// An allowlist of program names, and the check of a command line against it.
#[derive(Debug, Clone, Default)]
pub struct ShellPolicy {
    allowed: BTreeSet<String>,
}

/// A command line that passed: what it runs and what deserves a second look.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Each simple command, in order.
    pub commands: Vec<CheckedCommand>,
    /// Allowed but worth showing to whoever approves the command.
    pub warnings: Vec<Warning>,
}

/// One simple command of a checked command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedCommand {
    /// Every program it runs, outermost first: `timeout 5 cargo test` gives `[timeout, cargo]`,
    /// `find . -exec rm {} ;` gives `[find, rm]`. Empty for a bare assignment or redirection.
    pub programs: Vec<String>,
    /// The words after any leading assignments, quotes removed.
    pub argv: Vec<String>,
    /// The operator after it.
    pub connector: Option<Connector>,
}

/// Something allowed that deserves a second look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Index into [`Verdict::commands`].
    pub command: usize,
    /// The program concerned (empty for a command with no program).
    pub program: String,
    /// What it is.
    pub kind: WarningKind,
}

/// The kinds of [`Warning`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarningKind {
    /// The program runs other programs or code that this policy does not see; the reason says how.
    Launcher(&'static str),
    /// The command runs in the background (`&`).
    Background,
    /// Output is redirected into this file.
    WritesFile(String),
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let program = if self.program.is_empty() {
            "(no program)"
        } else {
            &self.program
        };
        match &self.kind {
            WarningKind::Launcher(why) => write!(f, "`{program}` {why}"),
            WarningKind::Background => write!(f, "`{program}` runs in the background (`&`)"),
            WarningKind::WritesFile(target) => {
                write!(f, "`{program}` writes its output to the file `{target}`")
            }
        }
    }
}

/// Why a command line was refused. Offsets are bytes into the command line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("the command line cannot be checked: {0}")]
    Parse(#[from] ParseError),
    #[error("the command line is empty")]
    Empty,
    #[error("program `{program}` (byte {offset}) is not on the allowlist")]
    NotAllowed { program: String, offset: usize },
    #[error("program `{program}` (byte {offset}) is given by path; only allowlisted names are run")]
    PathQualified { program: String, offset: usize },
    #[error(
        "program name {program:?} (byte {offset}) has non-ASCII or control characters; look-alikes never match the allowlist"
    )]
    NonAsciiProgram { program: String, offset: usize },
    #[error(
        "`{word}` (byte {offset}) has {what}, so the program it runs is unknown until run time"
    )]
    Dynamic {
        word: String,
        offset: usize,
        what: Dynamic,
    },
    #[error("assigning `{name}` (byte {offset}) could change which program runs or what it loads")]
    ForbiddenAssignment { name: String, offset: usize },
    #[error(
        "`{wrapper}` option `{option}` (byte {offset}) is not understood, so the program it runs is unknown"
    )]
    WrapperOption {
        wrapper: &'static str,
        option: String,
        offset: usize,
    },
}

impl ShellPolicy {
    /// A policy that allows exactly these program names (bare names such as `cargo`, `git`).
    pub fn new<I, S>(allowlist: I) -> ShellPolicy
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ShellPolicy {
            allowed: allowlist.into_iter().map(Into::into).collect(),
        }
    }

    /// Check a command line as `sh -c` would run it. Advisory: the sandbox is the enforcement.
    pub fn check(&self, command_line: &str) -> Result<Verdict, PolicyError> {
        let commands = shell::parse(command_line)?;
        if commands.is_empty() {
            return Err(PolicyError::Empty);
        }
        let mut verdict = Verdict::default();
        for (index, command) in commands.iter().enumerate() {
            let checked = self.check_command(index, command, &mut verdict.warnings)?;
            verdict.commands.push(checked);
        }
        Ok(verdict)
    }

    fn check_command(
        &self,
        index: usize,
        command: &SimpleCommand,
        warnings: &mut Vec<Warning>,
    ) -> Result<CheckedCommand, PolicyError> {
        let words = &command.words;
        let mut first = 0;
        while let Some((name, _)) = words.get(first).and_then(Word::assignment) {
            check_assignment(name, &words[first])?;
            first += 1;
        }
        let mut programs = Vec::new();
        self.resolve(index, &words[first..], &mut programs, warnings)?;
        let mut warn = |program: &str, kind| {
            warnings.push(Warning {
                command: index,
                program: program.to_owned(),
                kind,
            })
        };
        let main = programs.first().map_or("", String::as_str);
        if command.connector == Some(Connector::Background) {
            warn(main, WarningKind::Background);
        }
        for r in command.redirects.iter().filter(|r| r.writes_file()) {
            warn(main, WarningKind::WritesFile(r.target.value.clone()));
        }
        Ok(CheckedCommand {
            programs,
            argv: words[first..].iter().map(|w| w.value.clone()).collect(),
            connector: command.connector,
        })
    }

    /// Follow wrappers and `find -exec` to every program the words would run. Iterative, so a
    /// long chain cannot exhaust the stack.
    fn resolve(
        &self,
        index: usize,
        words: &[Word],
        programs: &mut Vec<String>,
        warnings: &mut Vec<Warning>,
    ) -> Result<(), PolicyError> {
        let mut pending = vec![words];
        while let Some(mut rest) = pending.pop() {
            while let Some(word) = rest.first() {
                let program = self.program(word)?;
                programs.push(program.to_owned());
                let mut warn = |why| {
                    warnings.push(Warning {
                        command: index,
                        program: program.to_owned(),
                        kind: WarningKind::Launcher(why),
                    })
                };
                if let Some(why) = launcher(program) {
                    warn(why);
                }
                let args = &rest[1..];
                // `export PATH=/tmp` changes what the rest of the line runs, like `PATH=/tmp`.
                if matches!(
                    program,
                    "export" | "declare" | "typeset" | "readonly" | "local"
                ) {
                    for w in args {
                        if let Some((name, _)) = w.value.split_once('=') {
                            check_assignment(name, w)?;
                        }
                    }
                }
                if program == "find" {
                    let execs = find_execs(args)?;
                    if !execs.is_empty() {
                        warn("runs a command for each file it finds (`-exec`)");
                    }
                    pending.extend(execs);
                    break;
                }
                match WRAPPERS.iter().find(|w| w.name == program) {
                    Some(wrapper) => rest = wrapper.wrapped(args)?,
                    None => break,
                }
            }
        }
        Ok(())
    }

    /// The program a word names, if it may run.
    fn program<'w>(&self, word: &'w Word) -> Result<&'w str, PolicyError> {
        let name = word.value.as_str();
        let offset = word.span.start;
        let program = name.to_owned();
        static_word(word)?;
        if !name.chars().all(|c| c.is_ascii_graphic()) {
            return Err(PolicyError::NonAsciiProgram { program, offset });
        }
        if name.contains('/') {
            return Err(PolicyError::PathQualified { program, offset });
        }
        if !self.allowed.contains(name) {
            return Err(PolicyError::NotAllowed { program, offset });
        }
        Ok(name)
    }
}

fn static_word(word: &Word) -> Result<(), PolicyError> {
    match word.dynamic {
        Some(what) => Err(PolicyError::Dynamic {
            word: word.value.clone(),
            offset: word.span.start,
            what,
        }),
        None => Ok(()),
    }
}

fn check_assignment(name: &str, word: &Word) -> Result<(), PolicyError> {
    const EXACT: &[&str] = &[
        "PATH",
        "IFS",
        "ENV",
        "BASH_ENV",
        "SHELLOPTS",
        "BASHOPTS",
        "PS4",
        "PROMPT_COMMAND",
        "GCONV_PATH",
    ];
    const PREFIXES: &[&str] = &["LD_", "DYLD_", "BASH_FUNC_"];
    if EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p)) {
        return Err(PolicyError::ForbiddenAssignment {
            name: name.to_owned(),
            offset: word.span.start,
        });
    }
    Ok(())
}

/// The command words after each `-exec`, `-execdir`, `-ok` or `-okdir`, up to `;` or `+`.
/// Every argument must be static: an expansion could produce `-exec` itself.
fn find_execs(args: &[Word]) -> Result<Vec<&[Word]>, PolicyError> {
    let mut execs = Vec::new();
    let mut i = 0;
    while let Some(w) = args.get(i) {
        static_word(w)?;
        i += 1;
        if matches!(w.value.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
            let rest = &args[i..];
            let end = rest
                .iter()
                .position(|w| w.value == ";" || w.value == "+")
                .unwrap_or(rest.len());
            execs.push(&rest[..end]);
            i += end;
        }
    }
    Ok(execs)
}

/// Why an allowlisted program still deserves a warning: it runs code this policy does not see.
fn launcher(program: &str) -> Option<&'static str> {
    const TABLE: &[(&[&str], &str)] = &[
        (
            &[
                "sh", "bash", "dash", "zsh", "ksh", "mksh", "yash", "fish", "csh", "tcsh",
                "busybox",
            ],
            "is a shell: it runs whatever script it is given",
        ),
        (
            &[
                "node", "nodejs", "deno", "bun", "awk", "gawk", "mawk", "nawk", "tclsh", "wish",
                "Rscript", "julia", "irb", "ipython",
            ],
            "is an interpreter: it runs whatever code it is given",
        ),
        (
            &[
                "env", "command", "exec", "nice", "nohup", "timeout", "time", "stdbuf", "setsid",
            ],
            "runs another program (also checked against the allowlist)",
        ),
        (
            &["sudo", "doas"],
            "runs another program as another user (also checked against the allowlist)",
        ),
        (
            &["su", "runuser", "pkexec"],
            "runs a command as another user",
        ),
        (
            &["xargs", "parallel", "watch"],
            "runs a command built from its arguments or input",
        ),
        (&["ssh"], "runs commands on another host"),
        (
            &["eval", "source", ".", "trap", "alias", "builtin"],
            "is a shell builtin that runs its arguments as code",
        ),
        (
            &["hash", "enable"],
            "is a shell builtin that can change what a command name runs",
        ),
    ];
    // Versioned interpreter names: python3, python3.12, perl5.36, ...
    const FAMILIES: &[&str] = &["python", "pypy", "perl", "ruby", "php", "lua", "luajit"];
    if let Some((_, why)) = TABLE.iter().find(|(names, _)| names.contains(&program)) {
        return Some(why);
    }
    FAMILIES
        .iter()
        .any(|f| {
            program
                .strip_prefix(f)
                .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
        })
        .then_some("is an interpreter: it runs whatever code it is given")
}

#[path = "policy/wrappers.rs"]
mod wrappers;
use wrappers::WRAPPERS;

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
