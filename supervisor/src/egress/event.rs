//! What the egress path reports about each connection. Every decision and every finished
//! connection passes through an [`Events`] handle: it emits a `tracing` event with structured
//! fields and, for a run with an audit log, queues the decision for the run's [`AuditTrail`].
//!
//! The trail writes on a thread of its own, so the proxy's single-threaded runtime never waits on
//! the log's lock or the disk; a session waits for its record only when it must (an allowed
//! connection under `[audit] on_failure = "refuse"` is not made unless its record was written).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::audit::{Decision, OnFailure, Refused, RunAudit, WriteError};

/// Denials recorded in the audit log per run; further ones are counted and summarised in one
/// record when the trail closes. A workload can ask for refused destinations as fast as the proxy
/// answers: without a cap it could rotate the log's history away.
pub const MAX_DENIAL_RECORDS: u64 = 1000;

/// Decisions queued for the trail's thread before senders wait (backpressure on the workload).
const QUEUE: usize = 256;

/// The protocol a client used to ask for a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    HttpConnect,
    HttpForward,
    Socks5,
    Fetch,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::HttpConnect => "http-connect",
            Protocol::HttpForward => "http-forward",
            Protocol::Socks5 => "socks5",
            Protocol::Fetch => "fetch",
        }
    }
}

/// One decision, or one finished connection.
#[derive(Debug, Clone)]
pub enum EgressEvent {
    /// The rules allowed the destination and the connection to a vetted address is made.
    Allowed {
        protocol: Protocol,
        target: String,
        peer: SocketAddr,
        /// The `allow` entry or `allow_cidrs` range that allowed it.
        rule: String,
    },
    /// Refused by the rules, or an allowed destination that could not be reached.
    Refused {
        protocol: Protocol,
        /// What the client asked for, as far as it was understood.
        target: String,
        /// The rule that decided, or why there is none to name.
        rule: String,
        reason: String,
        /// False when the rules allowed the destination but it could not be resolved or
        /// connected to (recorded as `error`, not `deny`).
        by_policy: bool,
        /// The profile line that would allow it (`Denied::allow_with`), for the denial report.
        allow_with: Option<String>,
    },
    Closed {
        protocol: Protocol,
        target: String,
        peer: SocketAddr,
        rule: String,
        bytes_up: u64,
        bytes_down: u64,
        duration: Duration,
        /// Why it ended when not by either side closing (idle or total timeout).
        ended_by: Option<&'static str>,
    },
}

/// A per-process observer of egress events (`exec --report` collects the refusals of its one run).
pub type Observer = Box<dyn Fn(&EgressEvent) + Send + Sync>;

static OBSERVER: std::sync::RwLock<Option<Observer>> = std::sync::RwLock::new(None);

/// Have `observer` see every event from now on (None: stop). One per process: `exec` runs one
/// sandbox; a front end serving several runs would route by run instead.
pub fn observe(observer: Option<Observer>) {
    if let Ok(mut slot) = OBSERVER.write() {
        *slot = observer;
    }
}

/// Every event passes here: the observer, if any, then tracing.
fn trace(event: &EgressEvent) {
    if let Ok(slot) = OBSERVER.read()
        && let Some(observer) = slot.as_ref()
    {
        observer(event);
    }
    match event {
        EgressEvent::Allowed {
            protocol,
            target,
            peer,
            rule,
        } => tracing::info!(
            event = "egress.allowed",
            protocol = protocol.as_str(),
            target = %target,
            peer = %peer,
            rule = %rule,
            "egress to {target} allowed by {rule}"
        ),
        EgressEvent::Refused {
            protocol,
            target,
            rule,
            reason,
            ..
        } => tracing::warn!(
            event = "egress.refused",
            protocol = protocol.as_str(),
            target = %target,
            rule = %rule,
            reason = %reason,
            "egress refused: {reason}"
        ),
        EgressEvent::Closed {
            protocol,
            target,
            peer,
            rule,
            bytes_up,
            bytes_down,
            duration,
            ended_by,
        } => tracing::info!(
            event = "egress.closed",
            protocol = protocol.as_str(),
            target = %target,
            peer = %peer,
            rule = %rule,
            bytes_up = *bytes_up,
            bytes_down = *bytes_down,
            duration_ms = duration.as_millis() as u64,
            ended_by = ended_by.unwrap_or("close"),
            "egress connection to {target} closed"
        ),
    }
}

/// Where a component's egress events go. Cheap to clone; one per proxy or fetch.
#[derive(Debug, Clone, Default)]
pub struct Events {
    trail: Option<AuditTrail>,
}

impl Events {
    /// Events for tracing only (no run to audit, or auditing off).
    pub fn tracing_only() -> Events {
        Events::default()
    }

    /// Events that also go to `audit`'s log (nothing more when its auditing is off).
    pub fn audited(audit: RunAudit) -> Events {
        Events {
            trail: audit.log().is_some().then(|| AuditTrail::start(audit)),
        }
    }

    /// Report a decision. `Err` only for an allowed destination whose record could not be
    /// written under `on_failure = "refuse"`: the caller must then not connect the client.
    pub async fn decision(&self, event: EgressEvent) -> Result<(), Refused> {
        trace(&event);
        match &self.trail {
            Some(trail) => trail.decision(event).await,
            None => Ok(()),
        }
    }

    /// Report a finished connection (tracing only: the decision is what the audit log keeps).
    pub fn closed(&self, event: &EgressEvent) {
        trace(event);
    }

    /// Wait until every decision reported so far is in the log, and write the summary of the
    /// denials beyond [`MAX_DENIAL_RECORDS`]. Call once the proxy has stopped.
    pub async fn flush(&self) {
        if let Some(trail) = &self.trail {
            trail.flush().await;
        }
    }
}

#[derive(Debug)]
enum Job {
    Record {
        event: EgressEvent,
        done: Option<oneshot::Sender<Result<(), Refused>>>,
    },
    Flush(oneshot::Sender<()>),
}

/// A run's audit log, written by its own thread in the order decisions were reported.
#[derive(Debug, Clone)]
pub struct AuditTrail {
    jobs: mpsc::Sender<Job>,
    on_failure: OnFailure,
    denials: Arc<AtomicU64>,
}

impl AuditTrail {
    fn start(audit: RunAudit) -> AuditTrail {
        let (jobs, mut rx) = mpsc::channel::<Job>(QUEUE);
        let on_failure = audit.on_failure();
        let denials = Arc::new(AtomicU64::new(0));
        let counted = denials.clone();
        let spawned = std::thread::Builder::new()
            .name("egress-audit".into())
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    match job {
                        Job::Record { event, done } => {
                            let written = record_decision(&audit, &event);
                            if let Some(done) = done {
                                let _ = done.send(written);
                            }
                        }
                        Job::Flush(done) => {
                            let beyond = counted.load(Ordering::Relaxed);
                            if beyond > MAX_DENIAL_RECORDS {
                                let _ = audit.proxy_decision(
                                    "",
                                    Decision::Deny,
                                    "audit: denial records per run",
                                    &format!(
                                        "{} further proxy denials were not recorded (at most {MAX_DENIAL_RECORDS} per run)",
                                        beyond - MAX_DENIAL_RECORDS
                                    ),
                                );
                                counted.store(MAX_DENIAL_RECORDS, Ordering::Relaxed);
                            }
                            let _ = done.send(());
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            // Without the thread the queue is closed: every send fails and is handled as a
            // failed write (refused under on_failure = "refuse").
            tracing::error!(error = %e, "egress audit: cannot start the writer thread");
        }
        AuditTrail {
            jobs,
            on_failure,
            denials,
        }
    }

    async fn decision(&self, event: EgressEvent) -> Result<(), Refused> {
        let allowed = matches!(event, EgressEvent::Allowed { .. });
        if !allowed && self.denials.fetch_add(1, Ordering::Relaxed) >= MAX_DENIAL_RECORDS {
            return Ok(());
        }
        // Only an allowed connection under "refuse" depends on its record: the others are
        // queued and the session goes on.
        let must_wait = allowed && self.on_failure == OnFailure::Refuse;
        let (done, written) = if must_wait {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let sent = self.jobs.send(Job::Record { event, done }).await;
        let Some(written) = written else {
            return Ok(());
        };
        if sent.is_err() {
            return Err(writer_gone());
        }
        written.await.unwrap_or_else(|_| Err(writer_gone()))
    }

    async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.jobs.send(Job::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

fn writer_gone() -> Refused {
    Refused {
        source: WriteError::Write {
            path: "(egress audit writer)".into(),
            source: std::io::Error::other("the audit writer thread is gone"),
        },
    }
}

/// One decision as a `proxy-decision` record.
fn record_decision(audit: &RunAudit, event: &EgressEvent) -> Result<(), Refused> {
    match event {
        EgressEvent::Allowed {
            protocol,
            target,
            peer,
            rule,
        } => audit.proxy_decision(
            target,
            Decision::Allow,
            rule,
            &format!("{}: connected to {peer}", protocol.as_str()),
        ),
        EgressEvent::Refused {
            protocol,
            target,
            rule,
            reason,
            by_policy,
            ..
        } => audit.proxy_decision(
            target,
            if *by_policy {
                Decision::Deny
            } else {
                Decision::Error
            },
            rule,
            &format!("{}: {reason}", protocol.as_str()),
        ),
        EgressEvent::Closed { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::Chained;
    use crate::audit::{AuditConfig, LogFile, RunInfo};

    #[tokio::test(flavor = "current_thread")]
    async fn denials_beyond_the_cap_are_summarised_in_one_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let audit = RunAudit::new(
            &AuditConfig {
                log: Some(LogFile {
                    path: path.clone(),
                    max_size: u64::MAX,
                    keep: 1,
                }),
                on_failure: OnFailure::Refuse,
            },
            RunInfo::default(),
        );
        let events = Events::audited(audit);
        for i in 0..MAX_DENIAL_RECORDS + 5 {
            let _ = events
                .decision(EgressEvent::Refused {
                    protocol: Protocol::Socks5,
                    target: format!("evil{i}.test:443"),
                    rule: "network.allow (no entry matches)".into(),
                    reason: "not allowed".into(),
                    by_policy: true,
                    allow_with: None,
                })
                .await;
        }
        let peer = "127.0.0.1:1".parse().unwrap();
        events
            .decision(EgressEvent::Allowed {
                protocol: Protocol::HttpConnect,
                target: "ok.test:443".into(),
                peer,
                rule: "allow ok.test:443".into(),
            })
            .await
            .unwrap();
        events.flush().await;
        let recs: Vec<Chained> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // The anchor, the capped denials, the allowed connection, the summary.
        assert_eq!(recs.len() as u64, 1 + MAX_DENIAL_RECORDS + 2);
        let allowed = &recs[recs.len() - 2].record;
        assert_eq!(allowed.decision, Some(Decision::Allow));
        assert_eq!(allowed.target.as_deref(), Some("ok.test:443"));
        let summary = &recs[recs.len() - 1].record;
        assert_eq!(
            summary.message.as_deref(),
            Some("5 further proxy denials were not recorded (at most 1000 per run)")
        );
    }
}
