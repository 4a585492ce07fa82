//! The audit handle of one run ([`RunAudit`]): the fields its records share, and one method per
//! event. This is the API the rest of the supervisor (and the egress proxy and vault) calls.

use std::time::Duration;

use super::config::{AuditConfig, OnFailure};
use super::record::{Decision, DenialReport, Kind, Record, Resources};
use super::writer::{LogFile, WriteError};
use super::{censor_text, millis};

/// Who ran what: the fields shared by every record of one run.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    pub run: String,
    /// The profile's name (or, when it failed to load, the reference given).
    pub profile: String,
    /// None when the profile did not load.
    pub profile_sha256: Option<String>,
    pub argv: Vec<String>,
    pub cwd: String,
}

/// Where one run's records go and what they share. A clone writes to the same log (the egress
/// proxy's writer thread holds one).
#[derive(Debug, Clone)]
pub struct RunAudit {
    log: Option<LogFile>,
    on_failure: OnFailure,
    info: RunInfo,
    uid: u32,
    pid: u32,
}

/// A record that could not be written under `on_failure = "refuse"`.
#[derive(Debug, thiserror::Error)]
#[error("{source}; the run is refused ([audit] on_failure = \"refuse\")")]
pub struct Refused {
    #[source]
    pub source: WriteError,
}

/// How a started run ended, for its closing record.
#[derive(Debug, Clone, Default)]
pub struct Ending {
    pub exit_status: i32,
    pub duration: Duration,
    pub resources: Resources,
    /// Set when the run was watched for denials (`--report`).
    pub report: Option<DenialReport>,
    /// Why the run ended abnormally (timeout, OOM), if it did.
    pub message: Option<String>,
}

fn decision(allowed: bool) -> Decision {
    if allowed {
        Decision::Allow
    } else {
        Decision::Deny
    }
}

impl RunAudit {
    /// `config.log` None means auditing is off (`--audit-log off`): every write succeeds.
    /// Argv and cwd are censored as each record is made, so a run with auditing off never
    /// builds the secrets detector for them.
    pub fn new(config: &AuditConfig, info: RunInfo) -> RunAudit {
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

    pub fn on_failure(&self) -> OnFailure {
        self.on_failure
    }

    /// Where the records go (None: auditing is off).
    pub fn log(&self) -> Option<&LogFile> {
        self.log.as_ref()
    }

    /// A record of this run, of kind `event`, with the shared fields filled in. With auditing
    /// off nothing is written, so argv and cwd are left out rather than censored for nothing.
    pub fn record(&self, event: Kind) -> Record {
        let audited = self.log.is_some();
        Record {
            event,
            run: Some(self.info.run.clone()),
            profile: Some(self.info.profile.clone()),
            profile_sha256: self.info.profile_sha256.clone(),
            argv: audited.then(|| {
                self.info
                    .argv
                    .iter()
                    .map(|a| censor_text(a).into_owned())
                    .collect()
            }),
            cwd: audited.then(|| censor_text(&self.info.cwd).into_owned()),
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

    /// The profile could not be loaded (`message` says why): nothing ran.
    pub fn profile_load_failed(&self, message: &str) -> Result<(), Refused> {
        self.write(Record {
            decision: Some(Decision::Deny),
            target: Some(self.info.profile.clone()),
            message: Some(message.to_string()),
            ..self.record(Kind::ProfileLoad)
        })
    }

    /// A profile was loaded from `origin` (front ends that keep profiles loaded).
    pub fn profile_loaded(&self, origin: &str) -> Result<(), Refused> {
        self.write(Record {
            decision: Some(Decision::Allow),
            target: Some(origin.to_string()),
            ..self.record(Kind::ProfileLoad)
        })
    }

    /// The run was refused before it started: `rule` is what could not be met.
    pub fn policy_refusal(&self, rule: &str, message: &str) -> Result<(), Refused> {
        self.write(Record {
            decision: Some(Decision::Deny),
            rule: Some(rule.to_string()),
            message: Some(message.to_string()),
            ..self.record(Kind::PolicyRefusal)
        })
    }

    /// The sandbox is about to get its Plan. `rule` says how the profile is enforced;
    /// `warnings` lists what a best-effort profile does not enforce here.
    pub fn exec_start(&self, rule: &str, warnings: Option<String>) -> Result<(), Refused> {
        self.write(Record {
            decision: Some(Decision::Allow),
            rule: Some(rule.to_string()),
            message: warnings,
            ..self.record(Kind::ExecStart)
        })
    }

    /// A confinement step (`step`) failed before the workload ran.
    pub fn setup_failure(&self, step: &str, message: &str, end: &Ending) -> Result<(), Refused> {
        self.write(Record {
            decision: Some(Decision::Error),
            rule: Some(step.to_string()),
            message: Some(message.to_string()),
            ..self.closing(Kind::SetupFailure, end)
        })
    }

    /// The workload ran and the sandbox is gone.
    pub fn exec_end(&self, end: &Ending) -> Result<(), Refused> {
        self.write(Record {
            decision: Some(Decision::Allow),
            message: end.message.clone(),
            ..self.closing(Kind::ExecEnd, end)
        })
    }

    fn closing(&self, event: Kind, end: &Ending) -> Record {
        Record {
            exit_status: Some(end.exit_status),
            duration_ms: Some(millis(end.duration)),
            resources: Some(end.resources.clone()),
            report: end.report.clone(),
            ..self.record(event)
        }
    }

    /// The egress proxy's decision about `target` (`host:port` as the client asked; empty when
    /// the request was not understood): `rule` is the allow-list entry that allowed it or the
    /// rule that refused it, `message` what happened (the protocol, the address connected to,
    /// or the reason for the refusal).
    pub fn proxy_decision(
        &self,
        target: &str,
        decision: Decision,
        rule: &str,
        message: &str,
    ) -> Result<(), Refused> {
        self.write(Record {
            decision: Some(decision),
            rule: Some(censor_text(rule).into_owned()),
            target: (!target.is_empty()).then(|| censor_text(target).into_owned()),
            message: Some(message.to_string()),
            ..self.record(Kind::ProxyDecision)
        })
    }

    /// `mcp-gateway` passed (or refused) one request to a server: `target` is the tool,
    /// prompt or resource, `rule` what decided (the screening's rules, the argument check),
    /// `message` an error when there was one.
    pub fn mcp_call(
        &self,
        target: &str,
        decision: Decision,
        rule: &str,
        duration: std::time::Duration,
        message: Option<String>,
        call: super::McpCall,
    ) -> Result<(), Refused> {
        self.write(Record {
            decision: Some(decision),
            rule: Some(rule.to_string()),
            target: Some(censor_text(target).into_owned()),
            duration_ms: Some(super::millis(duration)),
            message,
            mcp: Some(call),
            ..self.record(Kind::McpCall)
        })
    }

    /// The vault gave (or refused) secret `name` to this run; `rule` is the profile entry that
    /// asked for it. Never pass the value.
    pub fn vault_access(&self, name: &str, allowed: bool, rule: &str) -> Result<(), Refused> {
        self.write(Record {
            decision: Some(decision(allowed)),
            rule: Some(rule.to_string()),
            target: Some(name.to_string()),
            ..self.record(Kind::VaultAccess)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::Chained;

    #[test]
    fn the_api_for_other_components_writes_every_event_kind_with_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let config = AuditConfig {
            log: Some(LogFile {
                path: dir.path().join("audit.jsonl"),
                max_size: u64::MAX,
                keep: 1,
            }),
            on_failure: OnFailure::Refuse,
        };
        let audit = RunAudit::new(
            &config,
            RunInfo {
                run: "r1".into(),
                profile: "dev".into(),
                profile_sha256: Some("00".repeat(32)),
                argv: vec!["curl".into(), "API_TOKEN=abc".into()],
                cwd: "/w".into(),
            },
        );
        audit
            .profile_loaded("/etc/missy-sandbox/profiles/dev.toml")
            .unwrap();
        audit
            .policy_refusal("limit: processes", "cannot enforce")
            .unwrap();
        audit
            .proxy_decision(
                "pypi.org:443",
                Decision::Allow,
                "allow pypi.org:443",
                "http-connect: connected to 151.101.0.223:443",
            )
            .unwrap();
        audit
            .proxy_decision(
                "169.254.169.254:80",
                Decision::Deny,
                "default deny",
                "socks5: 169.254.169.254 is not allowed",
            )
            .unwrap();
        audit
            .vault_access("github", true, "env.secrets.GITHUB_TOKEN")
            .unwrap();
        audit
            .mcp_call(
                "fs__read_text_file",
                Decision::Deny,
                "injection:ignore-previous-instructions",
                std::time::Duration::from_millis(3),
                None,
                crate::audit::McpCall {
                    server: "fs".into(),
                    method: "tools/call".into(),
                    arguments_sha256: "ab".repeat(32),
                    result_bytes: 120,
                    screening: serde_json::json!({"secrets": {}, "injections": {"ignore-previous-instructions": "instruction override"}}),
                    screen: "block".into(),
                },
            )
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
        let recs: Vec<Chained> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let kinds: Vec<Kind> = recs.iter().map(|r| r.record.event).collect();
        assert_eq!(
            kinds,
            [
                Kind::Anchor,
                Kind::ProfileLoad,
                Kind::PolicyRefusal,
                Kind::ProxyDecision,
                Kind::ProxyDecision,
                Kind::VaultAccess,
                Kind::McpCall
            ]
        );
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v.as_object().unwrap().len(), 22, "{line}");
        }
        let deny = &recs[4].record;
        assert_eq!(deny.decision, Some(Decision::Deny));
        assert_eq!(deny.target.as_deref(), Some("169.254.169.254:80"));
        assert_eq!(deny.rule.as_deref(), Some("default deny"));
        assert_eq!(recs[5].record.target.as_deref(), Some("github"));
        assert_eq!(
            recs[1].record.argv.as_deref(),
            Some(&["curl".to_string(), "API_TOKEN=[REDACTED]".to_string()][..])
        );
        assert_eq!(recs[2].record.rule.as_deref(), Some("limit: processes"));
        let mcp = &recs[6].record;
        assert_eq!(mcp.target.as_deref(), Some("fs__read_text_file"));
        assert_eq!(mcp.mcp.as_ref().unwrap().result_bytes, 120);
        assert!(recs[5].record.mcp.is_none());
    }
}
