//! Where the audit log is, how it rotates, and what a failed write means. Sources, first one
//! that says wins: `--audit-log`, `MISSY_AUDIT_LOG`, the profile's `[audit]`, the default
//! location (root: /var/log/missy-sandbox/audit.jsonl; others: $XDG_STATE_HOME/missy-sandbox/).
//! `off` (flag or environment) turns auditing off.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::writer::{LogFile, default_path};

/// Rotate at 64 MiB, keep 8 rotated files.
pub const DEFAULT_MAX_SIZE: u64 = 64 << 20;
pub const DEFAULT_KEEP: u32 = 8;

/// The environment variable that names the log (or `off`).
pub const ENV_LOG: &str = "MISSY_AUDIT_LOG";

/// `[audit] on_failure`: a run whose record cannot be written does not start (`refuse`, the
/// default), or starts with a warning (`warn`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    #[default]
    Refuse,
    Warn,
}

/// The profile's `[audit]` section, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditSettings {
    pub path: Option<PathBuf>,
    pub on_failure: Option<OnFailure>,
    pub max_size: Option<u64>,
    pub keep: Option<u32>,
}

/// The resolved configuration. `log` is None when auditing is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    pub log: Option<LogFile>,
    pub on_failure: OnFailure,
}

/// An explicit location: `off`, or a path.
fn explicit(value: &str) -> Option<Option<PathBuf>> {
    match value {
        "" => None,
        "off" | "none" => Some(None),
        path => Some(Some(PathBuf::from(path))),
    }
}

impl AuditConfig {
    /// Resolve from the flag, the environment, the profile and the default.
    pub fn resolve(flag: Option<&str>, settings: &AuditSettings, home: &Path) -> AuditConfig {
        let env = std::env::var(ENV_LOG).ok();
        let chosen = flag
            .and_then(explicit)
            .or_else(|| env.as_deref().and_then(explicit))
            .unwrap_or_else(|| {
                Some(
                    settings
                        .path
                        .clone()
                        .unwrap_or_else(|| default_path(nix::unistd::geteuid().as_raw(), home)),
                )
            });
        AuditConfig {
            log: chosen.map(|path| LogFile {
                path,
                max_size: settings.max_size.unwrap_or(DEFAULT_MAX_SIZE),
                keep: settings.keep.unwrap_or(DEFAULT_KEEP),
            }),
            on_failure: settings.on_failure.unwrap_or_default(),
        }
    }
}
