//! `missy-sandbox fetch`: load the profile, fetch one URL under its egress rules, report.

use std::io::Write;
use std::sync::Arc;

use crate::cli::FetchArgs;
use crate::commands::{EXIT_BAD_INPUT, context, report};
use crate::egress::fetch::{self, FetchError, FetchRequest, Fetched};
use crate::policy::{self, NetworkMode};

/// A redirect was reported, not followed.
pub const EXIT_REDIRECT: i32 = 3;
/// The profile's rules refused the destination.
pub const EXIT_REFUSED: i32 = 4;
/// The response exceeded `fetch_max_size`.
pub const EXIT_TOO_LARGE: i32 = 5;

#[allow(clippy::result_large_err)] // PolicyError, as in policy/mod.rs
pub fn run(args: FetchArgs, audit_flag: Option<&str>) -> i32 {
    let loaded = context(args.workspace.as_deref())
        .and_then(|ctx| Ok((policy::load(&args.profile, &ctx)?, ctx)));
    let (policy, ctx) = match loaded {
        Ok(p) => p,
        Err(e) => {
            report(&e);
            return EXIT_BAD_INPUT;
        }
    };
    if policy.network != NetworkMode::Proxy {
        report(&format!(
            "fetch: profile `{}` has no egress rules (network.mode must be \"proxy\")",
            policy.name
        ));
        return EXIT_BAD_INPUT;
    }
    let extra_roots = match args.ca_file.as_deref().map(fetch::read_ca_file) {
        None => Vec::new(),
        Some(Ok(certs)) => certs,
        Some(Err(e)) => {
            report(&format!("fetch: {e}"));
            return EXIT_BAD_INPUT;
        }
    };
    let request = FetchRequest {
        url: args.url.clone(),
        max_bytes: policy
            .fetch_max_size
            .map_or(fetch::DEFAULT_MAX_BYTES, |s| s.0),
        timeout: args.timeout.map_or(fetch::DEFAULT_TIMEOUT, |d| {
            std::time::Duration::from_millis(d.0)
        }),
        extra_roots,
    };
    let mut sink: Box<dyn Write> = match &args.output {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Box::new(std::io::BufWriter::new(f)),
            Err(e) => {
                report(&format!("fetch: cannot create {}: {e}", path.display()));
                return EXIT_BAD_INPUT;
            }
        },
        None => Box::new(std::io::stdout().lock()),
    };
    let runtime = match super::current_thread_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            report(&e);
            return 1;
        }
    };
    let egress = Arc::new(crate::egress::policy_of(&policy));
    let audit = crate::audit::AuditConfig::resolve(audit_flag, &policy.audit, &ctx.home);
    let events = crate::egress::fetch_events(&audit, &policy, &args.url);
    let result = runtime.block_on(async {
        let result = fetch::fetch(egress, &events, &request, &mut sink).await;
        events.flush().await;
        result
    });
    drop(sink);
    let discard = |code: i32| {
        // A body that is not the answer asked for must not look like one.
        if let Some(path) = &args.output {
            let _ = std::fs::remove_file(path);
        }
        code
    };
    match result {
        Ok(Fetched::Body { status, .. }) if (200..300).contains(&status) => 0,
        Ok(Fetched::Body { status, .. }) => {
            report(&format!("fetch: {}: HTTP status {status}", args.url));
            1
        }
        Ok(Fetched::Redirect { status, location }) => {
            report(&format!(
                "fetch: {}: HTTP {status} redirect to {} (not followed)",
                args.url,
                location.as_deref().unwrap_or("(no Location header)")
            ));
            discard(EXIT_REDIRECT)
        }
        Err(e) => {
            report(&format!("fetch: {}: {e}", args.url));
            discard(match e {
                FetchError::Refused(_) => EXIT_REFUSED,
                FetchError::TooLarge { .. } => EXIT_TOO_LARGE,
                FetchError::BadUrl(_)
                | FetchError::UrlTooLong
                | FetchError::Scheme(_)
                | FetchError::CaFile { .. } => EXIT_BAD_INPUT,
                FetchError::Untrusted(_) | FetchError::Http(_) | FetchError::Write(_) => 1,
            })
        }
    }
}
