//! The audit trail: an append-only, hash-chained JSON Lines log with one record per event
//! (schema and shipping in docs/audit.md). Supervisor side only.
//!
//! - [`record`]: the versioned record schema and the chain seal.
//! - [`writer`]: one locked `write(2)` per record, rotation with a per-file anchor.
//! - [`verify`]: checks a chain and names the first broken, missing or reordered record.
//! - [`config`]: where the log is and what to do when it cannot be written.
//! - [`usage`]: the run's resource use.
//!
//! # For other parts of the supervisor
//!
//! A run's [`RunAudit`] is the handle. The egress proxy reports each decision with
//! [`RunAudit::proxy_decision`] (from a writer thread of its own, `egress::event::AuditTrail`, so
//! its runtime never blocks on the lock), the vault each access with [`RunAudit::vault_access`];
//! both write one record at once (a few microseconds, blocking while another writer holds the
//! lock).
//! Every string that may come from the caller or the workload goes through [`censor_text`].

pub mod config;
pub mod record;
pub mod run;
pub mod usage;
pub mod verify;
pub mod writer;

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

pub use config::{AuditConfig, OnFailure};
pub use record::{
    Decision, Denial, DenialReport, Kind, McpCall, Record, ReportSource, Resources, SCHEMA_VERSION,
};
pub use run::{Ending, Refused, RunAudit, RunInfo};
pub use writer::{LogFile, WriteError};

/// Replace what looks like a secret in `text` before it is written anywhere (the audit log):
/// the value of any `NAME=value` or `--name=value` word whose name looks like a credential
/// (plan::env's heuristics), then everything the secrets censor finds (its patterns and this
/// run's vault values).
pub fn censor_text(text: &str) -> Cow<'_, str> {
    let named = censor_named_values(text);
    let guarded = crate::secrets::guard::censor(&named);
    if guarded == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(guarded)
    }
}

fn censor_named_values(text: &str) -> Cow<'_, str> {
    let needs = text
        .split_whitespace()
        .any(|word| secret_assignment(word).is_some());
    if !needs {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match secret_assignment(word) {
            Some(name_len) => {
                out.push_str(&word[..=name_len]);
                out.push_str("[REDACTED]");
            }
            None => out.push_str(word),
        }
    }
    Cow::Owned(out)
}

/// If `word` is `NAME=value` (or `--name=value`) with a secret-looking name and a value, the
/// byte index of its `=`.
fn secret_assignment(word: &str) -> Option<usize> {
    let eq = word.find('=')?;
    let name = word[..eq].trim_start_matches('-').replace('-', "_");
    (eq + 1 < word.len() && !name.is_empty() && crate::plan::env::looks_secret(&name)).then_some(eq)
}

/// RFC 3339 in UTC with microseconds, as every record's `time`.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// A new run id: a UUID version 7 (time-ordered, so ids sort by start time).
pub fn new_run_id() -> String {
    let millis = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let mut rand = [0u8; 10];
    // SAFETY: getrandom writes at most `rand.len()` bytes into the buffer we own.
    let got = unsafe { libc::getrandom(rand.as_mut_ptr().cast(), rand.len(), 0) };
    if got != rand.len() as isize {
        // Never fails for 10 bytes once the pool is initialised; fall back to the clock.
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        rand[..4].copy_from_slice(&nanos.to_le_bytes());
        rand[4..8].copy_from_slice(&std::process::id().to_le_bytes());
    }
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    b[6..].copy_from_slice(&rand);
    b[6] = 0x70 | (b[6] & 0x0f);
    b[8] = 0x80 | (b[8] & 0x3f);
    let h = record::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The SHA-256 of a resolved profile (its JSON form, fields in declaration order).
pub fn profile_hash(policy: &crate::policy::Policy) -> String {
    match serde_json::to_vec(policy) {
        Ok(bytes) => record::sha256_hex(&bytes),
        Err(_) => String::new(),
    }
}

impl Record {
    /// A record with only the always-present fields set.
    pub fn empty(uid: u32, pid: u32) -> Record {
        Record {
            v: SCHEMA_VERSION,
            time: timestamp(SystemTime::now()),
            run: None,
            event: Kind::Anchor,
            profile: None,
            profile_sha256: None,
            argv: None,
            cwd: None,
            uid,
            pid,
            decision: None,
            rule: None,
            target: None,
            exit_status: None,
            duration_ms: None,
            resources: None,
            report: None,
            message: None,
            mcp: None,
        }
    }
}

/// Milliseconds, as `duration_ms`.
pub fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_assignments_are_censored_and_the_rest_is_kept() {
        assert_eq!(
            censor_text("cargo build --release"),
            "cargo build --release"
        );
        assert!(matches!(censor_text("ls -la"), Cow::Borrowed(_)));
        assert_eq!(
            censor_text("GITHUB_TOKEN=ghp_abc make"),
            "GITHUB_TOKEN=[REDACTED] make"
        );
        assert_eq!(
            censor_text("--api-key=sk-123 --name=x"),
            "--api-key=[REDACTED] --name=x"
        );
    }

    #[test]
    fn run_ids_are_uuid_v7_and_distinct() {
        let a = new_run_id();
        let b = new_run_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "7");
    }
}
