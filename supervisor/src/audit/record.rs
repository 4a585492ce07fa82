//! One audit record: the versioned schema (docs/audit.md), its serialisation to one JSON line,
//! and the chain fields that seal it.
//!
//! A record is serialised once, before the log's lock is taken ([`Record::body`]); under the lock
//! the writer appends `seq` and `prev` and seals the line with the SHA-256 of everything before
//! the `hash` field ([`seal`]). Verification needs only the line's bytes: strip the trailing
//! `,"hash":"…"}` and hash the rest ([`Sealed::parse`]). No canonical re-serialisation, so a
//! shipper that reads the file cannot disturb the chain and any byte changed inside a record is
//! caught.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The schema version written in every record's `v` field. Bump it when a field changes meaning
/// or disappears; adding a field is compatible. 2: `denials` (a reserved array, always null in
/// 1) became `report`, the denial report with the sources that produced it.
pub const SCHEMA_VERSION: u32 = 2;

/// `prev` of the first record of a new chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened. Serialised in kebab-case (`exec-start`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// First record of every file: where the chain comes from (rotation keeps it unbroken).
    Anchor,
    /// A profile was loaded (written when loading fails, and by long-lived front ends).
    ProfileLoad,
    /// The profile cannot be enforced here and the run was refused before it started.
    PolicyRefusal,
    /// The sandbox is about to receive its Plan: the workload has not run yet.
    ExecStart,
    /// A confinement step failed; the workload never ran.
    SetupFailure,
    /// The workload ran and the sandbox is gone.
    ExecEnd,
    /// The egress proxy allowed or denied a destination.
    ProxyDecision,
    /// A secret was read from (or refused by) the vault.
    VaultAccess,
    /// An MCP request passed through (or refused by) `mcp-gateway`.
    McpCall,
}

/// `allow`, `deny` or `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Allow,
    Deny,
    Error,
}

/// What the run used, from the kernel's accounting of the sandbox's processes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Largest resident set of any process of the run, KiB.
    pub max_rss_kib: Option<u64>,
    pub user_cpu_ms: Option<u64>,
    pub sys_cpu_ms: Option<u64>,
    /// Bytes the workload wrote to its stdout and stderr, when they pass through the
    /// supervisor (null when the workload writes to the caller's descriptors directly).
    pub output_bytes: Option<u64>,
}

/// One thing the sandbox refused, and the profile change that would allow it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Denial {
    /// `file` or `network`.
    pub kind: String,
    /// What was asked for: `read`, `write`, `exec`, `connect`.
    pub access: String,
    /// The path, or `host:port`.
    pub target: String,
    /// The profile rule that would allow it, e.g. `add "/opt/data" to [filesystem] read`.
    pub allow_with: String,
    /// The source that saw it (a [`ReportSource::name`]).
    pub source: String,
}

/// One source of denials and whether it watched this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSource {
    /// `seccomp-notify`, `egress-proxy`, `landlock-audit`.
    pub name: String,
    pub active: bool,
    /// What it sees (when active), or why it is not (when inactive).
    pub detail: String,
}

/// What a run watched with `exec --report` was refused. Never complete by construction: it
/// lists what the active sources saw, and `sources` says which were active and what each sees.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenialReport {
    pub sources: Vec<ReportSource>,
    /// Distinct denials, in the order first seen.
    pub denials: Vec<Denial>,
    /// Denials not listed because the list reached its limit.
    pub dropped: u64,
    /// Watched calls whose arguments could not be read (the process was gone, or its memory was
    /// not readable): what they asked for is unknown.
    pub unreadable: u64,
}

/// The fields every record has (null where they do not apply), in the order they are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub v: u32,
    /// RFC 3339, UTC, microseconds.
    pub time: String,
    pub run: Option<String>,
    pub event: Kind,
    pub profile: Option<String>,
    /// SHA-256 of the resolved profile (after `extends` and placeholders).
    pub profile_sha256: Option<String>,
    /// The command, each argument censored.
    pub argv: Option<Vec<String>>,
    pub cwd: Option<String>,
    /// The invoking user's uid (the supervisor's real uid).
    pub uid: u32,
    /// The supervisor's pid.
    pub pid: u32,
    pub decision: Option<Decision>,
    /// The rule that made the decision.
    pub rule: Option<String>,
    /// What the decision was about: a `host:port`, a secret's name, a profile file.
    pub target: Option<String>,
    pub exit_status: Option<i32>,
    pub duration_ms: Option<f64>,
    pub resources: Option<Resources>,
    /// `exec --report`: what the sandbox refused, and which sources watched.
    pub report: Option<DenialReport>,
    /// A human-readable explanation (errors, warnings), censored.
    pub message: Option<String>,
    /// `mcp-call` records only: the call's details.
    #[serde(default)]
    pub mcp: Option<McpCall>,
}

/// What `mcp-gateway` records of one request (the tool is in `target`, as `server__tool`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpCall {
    /// The downstream server's name.
    pub server: String,
    /// `tools/call`, `prompts/get`, `resources/read`, …
    pub method: String,
    /// SHA-256 of the arguments as JSON, secret-looking values censored first (equal
    /// arguments give equal hashes; the values are not in the log).
    pub arguments_sha256: String,
    /// Bytes of the result the server sent (before screening).
    pub result_bytes: u64,
    /// What the screening found: `{"secrets": {pattern: count}, "injections": {pattern: family}}`.
    pub screening: serde_json::Value,
    /// `flag` or `block`: what the server's screen mode did with a finding.
    pub screen: String,
}

/// A record as read back from the log, with its chain fields.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Chained {
    #[serde(flatten)]
    pub record: Record,
    pub seq: u64,
    pub prev: String,
    pub hash: String,
}

/// Where a record sits in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub seq: u64,
    pub hash: String,
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

impl Record {
    /// The record as a JSON object, without the chain fields: what is serialised before the
    /// lock is taken.
    pub fn body(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// Append `seq` and `prev` to a serialised body, and seal it with its hash. Returns the line
/// (with its newline) and the new record's link.
pub fn seal(body: &str, seq: u64, prev: &str) -> (String, Link) {
    // `body` is a JSON object: replace its closing brace.
    let open = body.strip_suffix('}').unwrap_or(body);
    let mut line = format!("{open},\"seq\":{seq},\"prev\":\"{prev}\"}}");
    let hash = sha256_hex(line.as_bytes());
    line.pop();
    line.push_str(&format!(",\"hash\":\"{hash}\"}}\n"));
    (line, Link { seq, hash })
}

/// The line's own claims about itself, checked against its bytes.
#[derive(Debug)]
pub struct Sealed {
    pub chained: Chained,
    /// The hash of the line's bytes before its `hash` field.
    pub computed: String,
}

impl Sealed {
    /// Parse one line (without its newline).
    pub fn parse(line: &str) -> Result<Sealed, String> {
        let chained: Chained =
            serde_json::from_str(line).map_err(|e| format!("not a valid record: {e}"))?;
        let suffix = format!(",\"hash\":\"{}\"}}", chained.hash);
        let unsealed = line
            .strip_suffix(&suffix)
            .ok_or("the `hash` field is not the record's last")?;
        let computed = sha256_hex(format!("{unsealed}}}").as_bytes());
        Ok(Sealed { chained, computed })
    }
}

/// The chain link at the end of a log's last line, read from its tail bytes only: `seq` and
/// `hash` are the last fields of every record, and a `"` inside a JSON string is always escaped,
/// so the last `"seq":` and `"hash":"` in the tail are the record's own.
pub fn last_link(tail: &[u8]) -> Option<Link> {
    let text = std::str::from_utf8(tail).ok().or_else(|| {
        // The tail may start inside a multi-byte character; skip to a boundary.
        (1..4).find_map(|i| std::str::from_utf8(tail.get(i..)?).ok())
    })?;
    let line = text.trim_end_matches('\n');
    let line = &line[line.rfind('\n').map_or(0, |i| i + 1)..];
    let hash_at = line.rfind("\"hash\":\"")? + 8;
    let hash = line.get(hash_at..hash_at + 64)?;
    if !hash.bytes().all(|b| b.is_ascii_hexdigit()) || !line.ends_with("\"}") {
        return None;
    }
    let seq_at = line.rfind("\"seq\":")? + 6;
    let digits: String = line[seq_at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some(Link {
        seq: digits.parse().ok()?,
        hash: hash.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            time: "2025-01-01T00:00:00.000000Z".into(),
            run: Some("r".into()),
            event: Kind::ExecStart,
            profile: Some("strict".into()),
            profile_sha256: Some("ab".into()),
            argv: Some(vec!["echo".into(), "\"seq\":9,\"hash\":\"x\"}".into()]),
            cwd: Some("/w".into()),
            decision: Some(Decision::Allow),
            ..Record::empty(0, 1)
        }
    }

    #[test]
    fn a_sealed_line_verifies_and_any_change_is_caught() {
        let (line, link) = seal(&record().body().unwrap(), 7, GENESIS);
        let sealed = Sealed::parse(line.trim_end()).unwrap();
        assert_eq!(sealed.computed, link.hash);
        assert_eq!(sealed.chained.hash, link.hash);
        assert_eq!(sealed.chained.seq, 7);
        assert_eq!(sealed.chained.record, record());
        let edited = line.replace("strict", "strixt");
        let sealed = Sealed::parse(edited.trim_end()).unwrap();
        assert_ne!(sealed.computed, sealed.chained.hash);
    }

    #[test]
    fn the_last_link_is_read_from_the_tail_even_with_tricky_argv() {
        let (a, _) = seal(&record().body().unwrap(), 1, GENESIS);
        let (b, link) = seal(&record().body().unwrap(), 2, "ff");
        let log = format!("{a}{b}");
        assert_eq!(last_link(log.as_bytes()), Some(link.clone()));
        // Only the end of a long line.
        let tail = &log.as_bytes()[log.len() - 120..];
        assert_eq!(last_link(tail), Some(link));
        assert_eq!(last_link(b"{\"partial"), None);
        assert_eq!(last_link(b""), None);
    }
}
