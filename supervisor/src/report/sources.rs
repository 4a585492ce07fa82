//! `exec --report`'s sources for one run: before the launch the collector, the proxy's
//! observer and the kernel audit group ([`Watching`]); during the run the seccomp watcher and
//! the kernel audit reader ([`Running`]); after it, the report with what each source saw.

use crate::audit;
use crate::plan;
use crate::policy;

/// `--report` before the launch: the collector and every source that can start early.
#[derive(Debug)]
pub struct Watching {
    collector: std::sync::Arc<super::Collector>,
    grants: super::grants::Grants,
    kernel_audit: Result<super::kaudit::Joined, String>,
    proxy: bool,
}

/// `--report` during the run.
#[derive(Debug)]
pub struct Running {
    collector: std::sync::Arc<super::Collector>,
    watcher: super::watch::Watcher,
    kernel_audit: Result<super::kaudit::KernelAudit, String>,
    proxy: bool,
    network: policy::NetworkMode,
}

impl Watching {
    /// Ask the sandbox for the watch and Landlock's logging, observe the proxy, and join the
    /// kernel audit group.
    pub fn start(policy: &policy::Policy, compiled: &mut plan::Compiled) -> Watching {
        compiled.plan.watch = true;
        compiled.plan.landlock.log_new_exec = true;
        let collector = super::Collector::new();
        let proxy = policy.network == policy::NetworkMode::Proxy;
        if proxy {
            let seen = std::sync::Arc::clone(&collector);
            crate::egress::event::observe(Some(Box::new(move |event| {
                if let crate::egress::event::EgressEvent::Refused {
                    target,
                    allow_with: Some(allow_with),
                    ..
                } = event
                {
                    seen.add(audit::Denial {
                        kind: "network".into(),
                        access: "connect".into(),
                        target: target.clone(),
                        allow_with: allow_with.clone(),
                        source: super::EGRESS_PROXY.into(),
                    });
                }
            })));
        }
        Watching {
            collector,
            grants: super::grants::Grants {
                rules: compiled.plan.landlock.rules.clone(),
                network: policy.network,
                proxy_port: compiled.plan.proxy_port,
            },
            kernel_audit: super::kaudit::join(),
            proxy,
        }
    }

    /// The sandbox's pid 1 is `pid1`: start the watcher and the kernel audit reader.
    pub fn running(self, pid1: i32) -> (Running, super::watch::Handoff) {
        let (handoff, watcher) =
            super::watch::start(self.grants.clone(), std::sync::Arc::clone(&self.collector));
        let kernel_audit = self.kernel_audit.and_then(|joined| {
            super::kaudit::start(joined, pid1, std::sync::Arc::clone(&self.collector))
        });
        (
            Running {
                collector: self.collector,
                watcher,
                kernel_audit,
                proxy: self.proxy,
                network: self.grants.network,
            },
            handoff,
        )
    }
}

impl Running {
    /// The sandbox has ended: stop every source and make the report.
    pub fn finish(self) -> audit::DenialReport {
        crate::egress::event::observe(None);
        let mut sources = vec![self.watcher.finish()];
        sources.push(audit::ReportSource {
            name: super::EGRESS_PROXY.into(),
            active: self.proxy,
            detail: if self.proxy {
                "every destination asked of the egress proxy (HTTP CONNECT, HTTP, SOCKS5)".into()
            } else {
                format!(
                    "no proxy runs with [network] mode = \"{}\"",
                    match self.network {
                        policy::NetworkMode::None => "none",
                        policy::NetworkMode::Host => "host",
                        policy::NetworkMode::Proxy => "proxy",
                    }
                )
            },
        });
        sources.push(match self.kernel_audit {
            Ok(reader) => reader.finish(),
            Err(why) => audit::ReportSource {
                name: super::LANDLOCK_AUDIT.into(),
                active: false,
                detail: why,
            },
        });
        self.collector.report(sources)
    }
}
