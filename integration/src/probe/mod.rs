//! The probe catalogue, the verdict line every probe prints, and argument handling.
//!
//! # Output contract
//!
//! Exactly one line on stdout: `<VERDICT> <probe-name> <detail>`, where the verdict is
//!
//! | verdict | exit | meaning |
//! |---|---|---|
//! | `BLOCKED` | 0 | the attempt was denied; the detail names the call and the errno (`open errno=EACCES`) |
//! | `ESCAPED` | 10 | the attempt succeeded; the detail says what was achieved |
//! | `SKIP` | 20 | the attempt cannot be made here (for instance the kernel lacks the feature) |
//! | `SENT` | 30 | fire-and-forget; only the host can tell whether it arrived or survived |
//! | `ERROR` | 40 | bad usage, or the probe's own setup failed (not the attempt) |
//!
//! Errnos are printed by name. Diagnostics go to stderr only.
//!
//! A `BLOCKED` detail containing `inconclusive:` means the kernel itself refuses this caller
//! (for example uid 65534 lacks `CAP_SYS_MODULE`), so the denial says nothing about a sandbox:
//! a test should skip the positive control for that user instead of asserting `ESCAPED`.
//!
//! Probes are grouped by concern, one module each; every module exports `PROBES`.

mod daemon;
mod egress;
mod fs;
mod net;
mod ns;
mod proc_;
mod resources;
pub(crate) mod secrets;
mod sys;
mod syscalls;

use std::ffi::OsString;
use std::fmt::Display;
use std::io::Write;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::OnceLock;

pub use sys::errno_name;

/// The first word of the verdict line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Blocked,
    Escaped,
    Skip,
    Sent,
    Error,
}

impl Verdict {
    /// The word printed on stdout.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Blocked => "BLOCKED",
            Verdict::Escaped => "ESCAPED",
            Verdict::Skip => "SKIP",
            Verdict::Sent => "SENT",
            Verdict::Error => "ERROR",
        }
    }

    /// The process exit status for this verdict.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Blocked => 0,
            Verdict::Escaped => 10,
            Verdict::Skip => 20,
            Verdict::Sent => 30,
            Verdict::Error => 40,
        }
    }
}

/// A verdict with its detail text (one line; newlines are flattened when printed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    pub detail: String,
}

impl Outcome {
    pub fn new(verdict: Verdict, detail: impl Into<String>) -> Outcome {
        Outcome {
            verdict,
            detail: detail.into(),
        }
    }
    pub fn blocked(detail: impl Into<String>) -> Outcome {
        Outcome::new(Verdict::Blocked, detail)
    }
    pub fn escaped(detail: impl Into<String>) -> Outcome {
        Outcome::new(Verdict::Escaped, detail)
    }
    pub fn skip(detail: impl Into<String>) -> Outcome {
        Outcome::new(Verdict::Skip, detail)
    }
    pub fn sent(detail: impl Into<String>) -> Outcome {
        Outcome::new(Verdict::Sent, detail)
    }
    pub fn error(detail: impl Into<String>) -> Outcome {
        Outcome::new(Verdict::Error, detail)
    }

    /// `BLOCKED <call> errno=<NAME>`: the usual shape of a denial.
    pub fn denied(call: impl Display, errno: nix::errno::Errno) -> Outcome {
        Outcome::blocked(format!("{call} errno={}", errno_name(errno)))
    }

    /// Append ` (note)` to the detail.
    pub fn note(mut self, note: Option<String>) -> Outcome {
        if let Some(n) = note {
            self.detail = format!("{} ({n})", self.detail);
        }
        self
    }
}

/// A probe either reaches its verdict or bails out early with one (`?` on either side).
pub type ProbeResult = Result<Outcome, Outcome>;

/// One entry of the catalogue.
#[derive(Debug)]
pub struct Probe {
    /// The subcommand name, also the second word of the verdict line.
    pub name: &'static str,
    /// Argument names; a name in `[brackets]` is optional and must come last.
    pub args: &'static [&'static str],
    /// One line for `missy-probe list`.
    pub about: &'static str,
    pub run: fn(&Args) -> ProbeResult,
}

impl Probe {
    fn usage(&self) -> String {
        let mut u = format!("usage: missy-probe {}", self.name);
        for a in self.args {
            u.push(' ');
            u.push_str(a);
        }
        u
    }
    fn required(&self) -> usize {
        self.args.iter().filter(|a| !a.starts_with('[')).count()
    }
}

/// The positional arguments after the probe name, already checked against the probe's arity.
#[derive(Debug)]
pub struct Args<'a> {
    probe: &'a Probe,
    values: &'a [String],
}

impl Args<'_> {
    /// Argument `i` (checked to exist when it is required).
    pub fn get(&self, i: usize) -> Result<&str, Outcome> {
        self.values
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| self.usage_error("missing argument"))
    }

    /// Optional argument `i`.
    pub fn opt(&self, i: usize) -> Option<&str> {
        self.values.get(i).map(String::as_str)
    }

    /// Argument `i` parsed as a number (or anything `FromStr`).
    pub fn parse<T: FromStr>(&self, i: usize) -> Result<T, Outcome> {
        let raw = self.get(i)?;
        let name = self.probe.args.get(i).copied().unwrap_or("argument");
        raw.parse()
            .map_err(|_| self.usage_error(&format!("{name} must be a number, got {raw:?}")))
    }

    /// An ERROR outcome carrying the probe's usage line.
    pub fn usage_error(&self, why: &str) -> Outcome {
        Outcome::error(format!("{why}; {}", self.probe.usage()))
    }
}

/// Every probe, in catalogue order.
pub fn catalogue() -> impl Iterator<Item = &'static Probe> {
    fs::PROBES
        .iter()
        .chain(secrets::PROBES)
        .chain(proc_::PROBES)
        .chain(daemon::PROBES)
        .chain(ns::PROBES)
        .chain(syscalls::PROBES)
        .chain(net::PROBES)
        .chain(egress::PROBES)
        .chain(resources::PROBES)
}

/// Find a probe by name.
pub fn find(name: &str) -> Option<&'static Probe> {
    catalogue().find(|p| p.name == name)
}

/// Run the probe named by `args[0]` and return its name and outcome (never panics on bad input).
pub fn run(args: &[String]) -> (String, Outcome) {
    let Some(name) = args.first() else {
        return (
            "usage".into(),
            Outcome::error("missing probe name; run 'missy-probe list'"),
        );
    };
    let Some(probe) = find(name) else {
        return (
            "usage".into(),
            Outcome::error(format!("unknown probe {name:?}; run 'missy-probe list'")),
        );
    };
    let values = &args[1..];
    if values.len() < probe.required() || values.len() > probe.args.len() {
        let got = values.len();
        return (
            probe.name.into(),
            Outcome::error(format!(
                "wrong number of arguments ({got}); {}",
                probe.usage()
            )),
        );
    }
    let outcome = match (probe.run)(&Args { probe, values }) {
        Ok(o) | Err(o) => o,
    };
    (probe.name.into(), outcome)
}

/// The verdict line, with the detail flattened to one line.
pub fn format_line(name: &str, outcome: &Outcome) -> String {
    let detail: String = outcome
        .detail
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let detail = if detail.trim().is_empty() {
        "-".to_string()
    } else {
        detail
    };
    format!("{} {name} {detail}", outcome.verdict.word())
}

/// The hidden subcommand `setuid-exec` runs in its setuid copy: print `ruid=R euid=E`.
pub const IDS_COMMAND: &str = "__ids";

/// The arguments that come before a probe name when this program runs itself again: empty for
/// `missy-probe`, `["__probe"]` inside `missy-sandbox`.
static SELF_PREFIX: OnceLock<Vec<String>> = OnceLock::new();

/// See [`SELF_PREFIX`].
pub fn self_prefix() -> &'static [String] {
    SELF_PREFIX.get().map_or(&[], Vec::as_slice)
}

/// [`main`] for a binary that embeds the probes behind `prefix` (`missy-sandbox __probe NAME`):
/// probes that re-execute themselves (`daemonize`, `setuid-exec`) pass `prefix` again.
pub fn main_with_prefix(prefix: &[&str], raw: &[OsString]) -> ExitCode {
    let _ = SELF_PREFIX.set(prefix.iter().map(|s| s.to_string()).collect());
    main(raw)
}

/// `missy-probe` called through a link named after a probe (`read-file PATH`): the link's name
/// is the probe. `argv0` is the program name as invoked; `None` when it names no probe.
pub fn probe_named_by(argv0: &std::ffi::OsStr) -> Option<&'static str> {
    let base = std::path::Path::new(argv0).file_name()?.to_str()?;
    find(base).map(|p| p.name)
}

/// The whole program: `list`, or one probe and its verdict line.
pub fn main(raw: &[OsString]) -> ExitCode {
    let mut args = Vec::with_capacity(raw.len());
    for (i, a) in raw.iter().enumerate() {
        match a.to_str() {
            Some(s) => args.push(s.to_string()),
            None => {
                let o = Outcome::error(format!("argument {} is not valid UTF-8", i + 1));
                say(&format_line("usage", &o));
                return ExitCode::from(o.verdict.exit_code());
            }
        }
    }
    if args.first().map(String::as_str) == Some(daemon::LOOP_COMMAND) {
        daemon::loop_main(&args[1..]);
    }
    if args.first().map(String::as_str) == Some(IDS_COMMAND) {
        let (uid, euid) = (nix::unistd::getuid(), nix::unistd::geteuid());
        say(&format!("ruid={uid} euid={euid}"));
        return ExitCode::SUCCESS;
    }
    if matches!(
        args.first().map(String::as_str),
        Some("list" | "help" | "--help" | "-h")
    ) {
        for p in catalogue() {
            if !say(&format!(
                "{:<16} {:<20} {}",
                p.name,
                p.args.join(" "),
                p.about
            )) {
                return ExitCode::from(Verdict::Error.exit_code());
            }
        }
        return ExitCode::SUCCESS;
    }
    let (name, outcome) = run(&args);
    say(&format_line(&name, &outcome));
    ExitCode::from(outcome.verdict.exit_code())
}

/// One line to stdout, flushed. Unlike `println!` this does not panic when stdout is closed;
/// the exit status still carries the verdict.
fn say(line: &str) -> bool {
    let mut out = std::io::stdout().lock();
    let ok = writeln!(out, "{line}").and_then(|()| out.flush()).is_ok();
    if !ok {
        sys::diag(&format!("cannot write to stdout: {line}"));
    }
    ok
}
