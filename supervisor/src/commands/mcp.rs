//! `missy-sandbox mcp`: load the profile (a bad one refuses to start), then serve MCP over
//! stdio on a current-thread runtime (server/mcp).

use std::sync::Arc;

use crate::cli::McpArgs;
use crate::commands::{EXIT_BAD_INPUT, context, report};
use crate::egress::fetch::DEFAULT_MAX_BYTES;
use crate::init::EXIT_SETUP_FAILED;
use crate::policy::{self, NetworkMode};
use crate::server::mcp::{self, Config, calls::Tools, runner::Runner};

#[allow(clippy::result_large_err)] // PolicyError, as in policy/mod.rs
pub fn run(args: McpArgs, audit_log: Option<&str>) -> i32 {
    let loaded = context(args.workspace.as_deref())
        .and_then(|ctx| Ok((policy::load(&args.profile, &ctx)?, ctx)));
    let (policy, ctx) = match loaded {
        Ok(p) => p,
        Err(e) => {
            report(&e);
            return EXIT_BAD_INPUT;
        }
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            report(&format!("mcp: cannot find this program's own binary: {e}"));
            return EXIT_SETUP_FAILED;
        }
    };
    let tools = Tools {
        runner: Runner {
            exe,
            profile: args.profile.clone(),
            workspace: ctx.workspace.clone(),
            audit_log: audit_log.map(str::to_string),
            vault_dir: args.vault_dir.clone(),
        },
        egress: (policy.network == NetworkMode::Proxy)
            .then(|| Arc::new(crate::egress::policy_of(&policy))),
        fetch_max: policy.fetch_max_size.map_or(DEFAULT_MAX_BYTES, |s| s.0),
        audit: crate::audit::AuditConfig::resolve(audit_log, &policy.audit, &ctx.home),
        policy: Arc::new(policy.clone()),
    };
    let config = Config {
        tools,
        server: mcp::server_info(&policy.name, &ctx.workspace),
        max_calls: args.max_calls as usize,
    };
    let runtime = match super::current_thread_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            report(&e);
            return EXIT_SETUP_FAILED;
        }
    };
    tracing::info!(profile = %policy.name, workspace = %ctx.workspace.display(), "mcp: serving on stdio");
    let served = runtime.block_on(mcp::serve(
        tokio::io::stdin(),
        tokio::io::stdout(),
        config,
        true,
    ));
    // A read of stdin may still be blocked on its helper thread: do not wait for it.
    runtime.shutdown_background();
    match served {
        Ok(()) => 0,
        Err(e) => {
            report(&format!("mcp: {e}"));
            1
        }
    }
}
