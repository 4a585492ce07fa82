//! Egress: the sandbox's single, policed way out (`[network] mode = "proxy"`).
//!
//! ```text
//! sandbox netns                      supervisor (host netns)
//!   workload ──TCP──▶ 127.0.0.1:3128 ═══ listener fd (SCM_RIGHTS from pid 1) ═══▶ proxy
//!                                        rules · vetted DNS · blocked ranges ──▶ upstream
//! ```
//!
//! - [`rules`]: `allow` entries (exact, `*.` wildcards, ports).
//! - [`addr`]: the blocked address ranges and `allow_cidrs`.
//! - [`dns`]: resolution by the supervisor (profile `hosts` first).
//! - [`policy`]: the decision and the vetted connect, shared by the proxy and `fetch`.
//! - [`proxy`], [`http`], [`socks`], [`pump`]: the proxy itself.
//! - [`event`]: where every decision goes: tracing, and the run's audit log.
//! - [`fetch`]: the policy HTTP client behind `missy-sandbox fetch`.

pub mod addr;
pub mod dns;
pub mod event;
pub mod fetch;
pub mod http;
pub mod peer;
pub mod policy;
pub mod proxy;
pub mod pump;
pub mod rules;
pub mod socks;

use std::os::fd::OwnedFd;
use std::sync::Arc;

pub use event::Events;
pub use policy::EgressPolicy;

use crate::audit::{AuditConfig, RunAudit, RunInfo};
use crate::policy::Policy;

/// The events of one fetch made outside any sandbox run (`missy-sandbox fetch`, the MCP
/// `fetch` tool): its decision is audited as a run of its own, with `argv` `["fetch", URL]`.
/// Flush them before the process ends.
pub fn fetch_events(audit: &AuditConfig, policy: &Policy, url: &str) -> Events {
    Events::audited(RunAudit::new(
        audit,
        RunInfo {
            run: crate::audit::new_run_id(),
            profile: policy.name.clone(),
            profile_sha256: None,
            argv: vec!["fetch".into(), url.to_string()],
            cwd: std::env::current_dir()
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_default(),
        },
    ))
}

/// The port pid 1 binds on 127.0.0.1 inside the sandbox's own network namespace, where nothing
/// else can hold it; also the only port Landlock lets the workload connect to.
pub const PROXY_PORT: u16 = 3128;

/// The decision rules of a `mode = "proxy"` profile.
pub fn policy_of(policy: &Policy) -> EgressPolicy {
    EgressPolicy::new(
        policy.allow.clone(),
        policy.allow_cidrs.clone(),
        policy.hosts.clone(),
    )
}

/// What one run's proxy needs: the rules, and where its decisions go.
#[derive(Debug, Clone)]
pub struct Egress {
    pub policy: Arc<EgressPolicy>,
    pub events: Events,
    /// On the host's loopback (no network namespace): serve only connections a process of
    /// this sandbox holds (`peer`).
    pub peers: Option<peer::SandboxPeers>,
}

impl Egress {
    /// The proxy of a run with `policy`, its decisions recorded in `audit`'s log.
    pub fn for_run(policy: &Policy, audit: crate::audit::RunAudit) -> Egress {
        Egress {
            policy: Arc::new(policy_of(policy)),
            events: Events::audited(audit),
            peers: None,
        }
    }
}

/// The proxy variables the workload gets, upper and lower case (tools read one or the other).
pub fn proxy_env(port: u16) -> Vec<(String, String)> {
    let http = format!("http://127.0.0.1:{port}");
    let socks = format!("socks5h://127.0.0.1:{port}");
    let mut vars = Vec::new();
    for (name, value) in [
        ("HTTP_PROXY", http.as_str()),
        ("HTTPS_PROXY", http.as_str()),
        ("ALL_PROXY", socks.as_str()),
        ("NO_PROXY", "localhost"),
    ] {
        vars.push((name.to_string(), value.to_string()));
        vars.push((name.to_ascii_lowercase(), value.to_string()));
    }
    vars
}

/// Serve the proxy on the listener pid 1 hands over (it arrives on `listener` once pid 1 has
/// bound it), until the task is aborted at the end of the run. If pid 1 fails before sending
/// it, the channel closes and there is nothing to serve.
pub async fn serve_handed_over(listener: tokio::sync::oneshot::Receiver<OwnedFd>, egress: Egress) {
    let Ok(fd) = listener.await else {
        return;
    };
    let listener = std::net::TcpListener::from(fd);
    let listener = listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpListener::from_std(listener));
    match listener {
        Ok(listener) => proxy::serve(listener, egress).await,
        Err(e) => tracing::error!(error = %e, "egress proxy: cannot use the sandbox's listener"),
    }
}
