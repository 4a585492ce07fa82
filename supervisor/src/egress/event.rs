//! What the egress path reports about each connection. [`record`] is the single hook: today it
//! emits a `tracing` event with structured fields; the audit log attaches here.

use std::net::SocketAddr;
use std::time::Duration;

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
    Refused {
        protocol: Protocol,
        /// What the client asked for, as far as it was understood.
        target: String,
        rule: &'static str,
        reason: String,
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

/// Audit hook for egress decisions: every refusal and every finished connection passes here.
pub fn record(event: &EgressEvent) {
    if let Ok(slot) = OBSERVER.read()
        && let Some(observer) = slot.as_ref()
    {
        observer(event);
    }
    match event {
        EgressEvent::Refused {
            protocol,
            target,
            rule,
            reason,
        } => tracing::warn!(
            event = "egress.refused",
            protocol = protocol.as_str(),
            target = %target,
            rule = *rule,
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
