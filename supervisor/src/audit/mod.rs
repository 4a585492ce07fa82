//! The audit trail: an append-only, hash-chained JSON Lines log with one record per event
//! (schema and shipping in docs/audit.md). Supervisor side only.
//!
//! - [`record`]: the versioned record schema and the chain seal.
//! - [`writer`]: one locked `write(2)` per record, rotation with a per-file anchor.
//! - [`verify`]: checks a chain and names the first broken, missing or reordered record.
//! - [`config`]: where the log is and what to do when it cannot be written.
//! - [`usage`]: the run's resource use.
//! - [`denials`]: what the sandbox refused (`exec --report`).
//!
//! # For other parts of the supervisor
//!
//! A run's [`RunAudit`] is the handle. The egress proxy reports each decision with
//! [`RunAudit::proxy_decision`], the vault each access with [`RunAudit::vault_access`]; both
//! write one record at once (a few microseconds, blocking while another writer holds the lock).
//! Every string that may come from the caller or the workload goes through [`censor_text`].

pub mod config;
pub mod denials;
pub mod record;
pub mod usage;
pub mod verify;
pub mod writer;

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

pub use config::{AuditConfig, OnFailure};
pub use record::{Decision, Denial, Kind, Record, Resources, SCHEMA_VERSION};
pub use writer::{LogFile, WriteError};

/// Replace what looks like a secret in `text` before it is written anywhere (the audit log,
/// the tracing output). For now: the value of any `NAME=value` or `--name=value` word whose
/// name looks like a credential (plan::env's heuristics). The secrets censor replaces this
/// function's body when it lands; every caller already goes through here.
pub fn censor_text(text: &str) -> Cow<'_, str> {
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
            denials: None,
            message: None,
        }
    }
}

/// Who ran what: the fields shared by every record of one run.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub run: String,
    pub profile: String,
    pub profile_sha256: String,
    pub argv: Vec<String>,
    pub cwd: String,
}

/// The audit handle of one run: where its records go and what they share.
#[derive(Debug)]
pub struct RunAudit {
    log: Option<LogFile>,
    on_failure: OnFailure,
    info: RunInfo,
    uid: u32,
    pid: u32,
}

/// What a write that failed means for the caller.
#[derive(Debug, thiserror::Error)]
#[error("{source}; the run is refused ([audit] on_failure = \"refuse\")")]
pub struct Refused {
    #[source]
    pub source: WriteError,
}

impl RunAudit {
    /// `config.log` None means auditing is off (`--audit-log off`).
    pub fn new(config: &AuditConfig, info: RunInfo) -> RunAudit {
        let info = RunInfo {
            argv: info
                .argv
                .iter()
                .map(|a| censor_text(a).into_owned())
                .collect(),
            cwd: censor_text(&info.cwd).into_owned(),
            ..info
        };
        RunAudit {
            log: config.log.clone(),
            on_failure: config.on_failure,
            info,
            uid: nix::unistd::getuid().as_raw(),
            pid: std::process::id(),
        }
    }

    pub fn run_id(&self) -> &str {
        &self.info.run
    }

    /// A record of this run, of kind `event`.
    pub fn record(&self, event: Kind) -> Record {
        Record {
            event,
            run: Some(self.info.run.clone()),
            profile: Some(self.info.profile.clone()),
            profile_sha256: Some(self.info.profile_sha256.clone()),
            argv: Some(self.info.argv.clone()),
            cwd: Some(self.info.cwd.clone()),
            ..Record::empty(self.uid, self.pid)
        }
    }

    /// Write `record`. A failure is an error under `on_failure = "refuse"`; under `"warn"` it
    /// is printed and the run goes on.
    pub fn write(&self, mut record: Record) -> Result<(), Refused> {
        let Some(log) = &self.log else {
            return Ok(());
        };
        record.message = record.message.map(|m| censor_text(&m).into_owned());
        match log.append(&record) {
            Ok(_) => Ok(()),
            Err(source) if self.on_failure == OnFailure::Refuse => Err(Refused { source }),
            Err(e) => {
                eprintln!(
                    "missy-sandbox: WARNING: {e}; the run goes on unaudited (on_failure = \"warn\")"
                );
                tracing::warn!(error = %e, "audit record lost");
                Ok(())
            }
        }
    }

    /// The egress proxy's decision about `target` (`host:port`), and the allow-list entry (or
    /// default) that made it.
    pub fn proxy_decision(&self, target: &str, allowed: bool, rule: &str) -> Result<(), Refused> {
        self.write(Record {
            decision: Some(if allowed {
                Decision::Allow
            } else {
                Decision::Deny
            }),
            rule: Some(censor_text(rule).into_owned()),
            target: Some(censor_text(target).into_owned()),
            ..self.record(Kind::ProxyDecision)
        })
    }

    /// The vault gave (or refused) secret `name` to this run; `rule` is the profile entry that
    /// asked for it. Never pass the value.
    pub fn vault_access(&self, name: &str, allowed: bool, rule: &str) -> Result<(), Refused> {
        self.write(Record {
            decision: Some(if allowed {
                Decision::Allow
            } else {
                Decision::Deny
            }),
            rule: Some(rule.to_string()),
            target: Some(name.to_string()),
            ..self.record(Kind::VaultAccess)
        })
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
