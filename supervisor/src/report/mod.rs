//! Denial reports (`exec --report`): what the sandbox refused during one run, and the profile
//! change that would allow each refusal. docs/audit.md (*Denial reports*) says which denials are
//! visible on which kernels and privilege levels.
//!
//! Sources, each optional and each named in the report with whether it watched:
//! - [`watch`]: seccomp user notification on the workload's open/exec/connect calls. The
//!   supervisor reads each call's path or address, lets the kernel continue it unchanged, and
//!   judges it against the run's grants ([`grants`]). Works for every user; installed only when
//!   `--report` is asked for.
//! - the egress proxy's own refusals (`egress::event` observer), `mode = "proxy"` only.
//! - [`kaudit`]: Landlock's ABI 7 audit records, read from the kernel audit multicast group —
//!   root only, and only when the host already has kernel audit enabled.
//!
//! [`sources`] starts and stops them around one run. A report never claims to be complete: it
//! lists what the active sources saw.

pub mod grants;
pub mod kaudit;
pub mod sources;
pub mod watch;

use std::sync::{Arc, Mutex};

use crate::audit::{Denial, DenialReport, ReportSource, censor_text};

/// Most distinct denials kept for one run: a hostile workload must not grow the supervisor's
/// memory (or the audit record) without bound. Further ones are counted in `dropped`.
pub const MAX_DENIALS: usize = 256;

/// Source names, as in the report and the audit record.
pub const SECCOMP_NOTIFY: &str = "seccomp-notify";
pub const EGRESS_PROXY: &str = "egress-proxy";
pub const LANDLOCK_AUDIT: &str = "landlock-audit";

/// The denials of one run, shared by the sources' threads.
#[derive(Debug, Default)]
pub struct Collector {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    denials: Vec<Denial>,
    dropped: u64,
    unreadable: u64,
}

impl Collector {
    pub fn new() -> Arc<Collector> {
        Arc::new(Collector::default())
    }

    /// Add `denial` unless the same (kind, access, target) is already listed.
    pub fn add(&self, denial: Denial) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let seen = state.denials.iter().any(|d| {
            d.kind == denial.kind && d.access == denial.access && d.target == denial.target
        });
        if seen {
            return;
        }
        if state.denials.len() >= MAX_DENIALS {
            state.dropped += 1;
        } else {
            state.denials.push(denial);
        }
    }

    /// A watched call whose arguments could not be read.
    pub fn unreadable(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.unreadable += 1;
        }
    }

    /// The report, every string censored (paths and hosts come from the workload).
    pub fn report(&self, sources: Vec<ReportSource>) -> DenialReport {
        let state = self.state.lock().map(|s| s.clone_out()).unwrap_or_default();
        DenialReport {
            sources,
            denials: state
                .denials
                .into_iter()
                .map(|d| Denial {
                    target: censor_text(&d.target).into_owned(),
                    allow_with: censor_text(&d.allow_with).into_owned(),
                    ..d
                })
                .collect(),
            dropped: state.dropped,
            unreadable: state.unreadable,
        }
    }
}

impl State {
    fn clone_out(&self) -> State {
        State {
            denials: self.denials.clone(),
            dropped: self.dropped,
            unreadable: self.unreadable,
        }
    }
}

/// The report as `exec --report` prints it on stderr.
pub fn render(report: &DenialReport) -> String {
    let mut out = String::from("missy-sandbox: denial report\n");
    if report.denials.is_empty() {
        out.push_str("  no denials seen by the active sources\n");
    }
    for d in &report.denials {
        out.push_str(&format!(
            "  denied {} {} {}\n    allow with: {}   (seen by {})\n",
            d.kind, d.access, d.target, d.allow_with, d.source
        ));
    }
    if report.dropped > 0 {
        out.push_str(&format!(
            "  … and {} more distinct denials (the list stops at {MAX_DENIALS})\n",
            report.dropped
        ));
    }
    if report.unreadable > 0 {
        out.push_str(&format!(
            "  {} watched calls could not be inspected (their process was gone or unreadable)\n",
            report.unreadable
        ));
    }
    out.push_str("  sources:\n");
    for s in &report.sources {
        let state = if s.active { "active" } else { "inactive" };
        out.push_str(&format!("    {} ({state}): {}\n", s.name, s.detail));
    }
    out.push_str(
        "  the list holds only what the active sources saw; it is not proof of no other denial\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denial(target: &str) -> Denial {
        Denial {
            kind: "file".into(),
            access: "read".into(),
            target: target.into(),
            allow_with: format!("add \"{target}\" to [filesystem] read"),
            source: SECCOMP_NOTIFY.into(),
        }
    }

    #[test]
    fn duplicates_are_merged_and_the_list_is_bounded() {
        let c = Collector::new();
        c.add(denial("/opt/a"));
        c.add(denial("/opt/a"));
        for i in 0..MAX_DENIALS + 5 {
            c.add(denial(&format!("/opt/{i}")));
        }
        let r = c.report(Vec::new());
        assert_eq!(r.denials.len(), MAX_DENIALS);
        assert_eq!(r.denials[0].target, "/opt/a");
        assert_eq!(r.dropped, 6);
    }

    #[test]
    fn the_rendering_names_each_denial_its_rule_and_the_sources() {
        let c = Collector::new();
        c.add(denial("/opt/data/x"));
        let text = render(&c.report(vec![ReportSource {
            name: LANDLOCK_AUDIT.into(),
            active: false,
            detail: "kernel audit is disabled".into(),
        }]));
        assert!(text.contains("denied file read /opt/data/x"), "{text}");
        assert!(
            text.contains("add \"/opt/data/x\" to [filesystem] read"),
            "{text}"
        );
        assert!(
            text.contains("landlock-audit (inactive): kernel audit is disabled"),
            "{text}"
        );
    }
}
