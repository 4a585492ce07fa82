//! The policy HTTP client behind `missy-sandbox fetch`: one GET under a profile's egress rules,
//! for agents that want a fetch tool without running a process. Same host rules, the same
//! vetted resolver, no redirects followed (reported with their target), a size cap, timeouts,
//! and certificate verification against the system's roots (`SSL_CERT_FILE` / `SSL_CERT_DIR`
//! replace them) plus any CA the caller gives.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::event::{EgressEvent, Events, Protocol};
use super::http::{MAX_URL, clip};
use super::policy::{Denied, EgressPolicy, parse_host};
use super::rules::normalize_name;

/// Response size cap when the profile sets none.
pub const DEFAULT_MAX_BYTES: u64 = 50 << 20;
/// Time allowed for the whole exchange when the caller sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub url: String,
    pub max_bytes: u64,
    pub timeout: Duration,
    /// CA certificates (PEM) trusted besides the system's roots.
    pub extra_roots: Vec<reqwest::Certificate>,
}

/// Read a PEM file of CA certificates for [`FetchRequest::extra_roots`].
pub fn read_ca_file(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, FetchError> {
    let bad = |reason: String| FetchError::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// How a fetch ended without an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// A final response; its body was written (any status but 3xx).
    Body { status: u16, bytes: u64 },
    /// A redirect, not followed.
    Redirect {
        status: u16,
        location: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("`{0}` is not a URL")]
    BadUrl(String),
    #[error("the URL is longer than {MAX_URL} bytes")]
    UrlTooLong,
    #[error("only http and https URLs can be fetched (got `{0}`)")]
    Scheme(String),
    #[error("refused: {0}")]
    Refused(Denied),
    #[error("the response is larger than the limit of {limit} bytes{}; it was cut", .declared.map(|d| format!(" (it declares {d})")).unwrap_or_default())]
    TooLarge { limit: u64, declared: Option<u64> },
    #[error(
        "the server's certificate is not trusted: {0} (for a private CA, pass --ca-file or set SSL_CERT_FILE)"
    )]
    Untrusted(String),
    #[error("cannot use the CA file {}: {reason}", path.display())]
    CaFile {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("{0}")]
    Http(String),
    #[error("cannot write the response: {0}")]
    Write(std::io::Error),
}

/// reqwest's resolver, replaced by the vetted one: names resolve only to addresses the policy
/// allows, and the connection goes to exactly those.
struct VettedResolver(Arc<EgressPolicy>);

impl reqwest::dns::Resolve for VettedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let name = normalize_name(name.as_str());
        Box::pin(async move {
            let ips = policy
                .vetted_addresses(&name, 0)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            let addrs: reqwest::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The innermost cause of a reqwest error: its own message is often just "error sending
/// request".
fn describe(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg = format!("{msg}: {s}");
        source = s.source();
    }
    if e.is_timeout() {
        msg.push_str(" (timed out)");
    }
    msg
}

/// Check the URL against the policy before anything is sent. IP-literal URLs never reach the
/// resolver, so the address rules are applied here too. Returns the URL, its `host:port` and
/// the rule that allows it.
fn admit(policy: &EgressPolicy, raw: &str) -> Result<(url::Url, String, String), FetchError> {
    if raw.len() > MAX_URL {
        return Err(FetchError::UrlTooLong);
    }
    let url = url::Url::parse(raw).map_err(|_| FetchError::BadUrl(clip(raw)))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(FetchError::Scheme(clip(url.scheme())));
    }
    let host_str = url
        .host_str()
        .ok_or_else(|| FetchError::BadUrl(clip(raw)))?;
    let host = parse_host(host_str).map_err(FetchError::Refused)?;
    let port = url.port_or_known_default().unwrap_or(443);
    let target = format!("{host}:{port}");
    let rule = policy.admit(&host, port).map_err(FetchError::Refused)?;
    Ok((url, target, rule))
}

/// The certificate error inside a reqwest error, if that is why the handshake failed. rustls's
/// error arrives wrapped in `io::Error`s (hyper's inside tokio-rustls's), whose `source()`
/// skips what they wrap: each one is opened with `get_ref`.
fn certificate_error(e: &reqwest::Error) -> Option<String> {
    let mut next = std::error::Error::source(e);
    while let Some(s) = next {
        if let Some(rustls::Error::InvalidCertificate(why)) = s.downcast_ref::<rustls::Error>() {
            return Some(format!("{why:?}"));
        }
        next = match s.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|i| i as &(dyn std::error::Error + 'static)),
            None => s.source(),
        };
    }
    None
}

/// The refusal a reqwest error carries from the vetted resolver, if it is one.
fn refusal_in(e: &reqwest::Error) -> Option<&Denied> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(denied) = s.downcast_ref::<Denied>()
            && denied.is_refusal()
        {
            return Some(denied);
        }
        source = s.source();
    }
    None
}

async fn refused(events: &Events, target: String, denied: &Denied) {
    let allow_with = denied.allow_with(&target);
    let _ = events
        .decision(EgressEvent::Refused {
            protocol: Protocol::Fetch,
            target,
            rule: denied.rule(),
            reason: denied.to_string(),
            by_policy: true,
            allow_with,
        })
        .await;
}

/// Fetch `req.url` into `out`; decisions go to `events`.
pub async fn fetch(
    policy: Arc<EgressPolicy>,
    events: &Events,
    req: &FetchRequest,
    out: &mut dyn Write,
) -> Result<Fetched, FetchError> {
    let (url, target, rule) = match admit(&policy, &req.url) {
        Ok(admitted) => admitted,
        Err(FetchError::Refused(denied)) => {
            refused(events, clip(&req.url), &denied).await;
            return Err(FetchError::Refused(denied));
        }
        Err(e) => return Err(e),
    };
    // The process-wide TLS provider (reqwest is built without one); an error means it is
    // already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .tls_certs_merge(req.extra_roots.iter().cloned())
        // Never through a proxy from the environment: that proxy would resolve the name itself.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(VettedResolver(policy.clone())))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .timeout(req.timeout)
        .build()
        .map_err(|e| FetchError::Http(describe(&e)))?;
    let start = Instant::now();
    let mut response = match client.get(url.clone()).send().await {
        Ok(r) => r,
        // A refusal from the vetted resolver travels inside reqwest's error.
        Err(e) => match refusal_in(&e) {
            Some(denied) => {
                refused(events, target, denied).await;
                return Err(FetchError::Refused(denied.clone()));
            }
            None => {
                return Err(match certificate_error(&e) {
                    Some(why) => FetchError::Untrusted(why),
                    None => FetchError::Http(describe(&e)),
                });
            }
        },
    };
    let status = response.status().as_u16();
    let peer = response.remote_addr();
    if let Some(peer) = peer {
        // Recorded once the vetted connection answered (the HTTP client connects by itself);
        // a record that cannot be written under `on_failure = "refuse"` keeps the body out.
        let allowed = EgressEvent::Allowed {
            protocol: Protocol::Fetch,
            target: target.clone(),
            peer,
            rule: rule.clone(),
        };
        if let Err(e) = events.decision(allowed).await {
            return Err(FetchError::Http(format!(
                "not audited, so not delivered: {e}"
            )));
        }
    }
    if response.status().is_redirection() {
        let location = response.headers().get(reqwest::header::LOCATION).map(|v| {
            // Relative targets are reported resolved, so the caller sees where it leads.
            let raw = String::from_utf8_lossy(v.as_bytes()).into_owned();
            url.join(&raw).map_or(raw, |u| u.to_string())
        });
        return Ok(Fetched::Redirect { status, location });
    }
    if let Some(declared) = response.content_length()
        && declared > req.max_bytes
    {
        return Err(FetchError::TooLarge {
            limit: req.max_bytes,
            declared: Some(declared),
        });
    }
    let mut bytes = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FetchError::Http(describe(&e)))?
    {
        let room = req.max_bytes - bytes;
        let take = chunk.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        out.write_all(&chunk[..take]).map_err(FetchError::Write)?;
        bytes += take as u64;
        if take < chunk.len() {
            return Err(FetchError::TooLarge {
                limit: req.max_bytes,
                declared: None,
            });
        }
    }
    out.flush().map_err(FetchError::Write)?;
    if let Some(peer) = peer {
        events.closed(&EgressEvent::Closed {
            protocol: Protocol::Fetch,
            target,
            peer,
            rule,
            bytes_up: 0,
            bytes_down: bytes,
            duration: start.elapsed(),
            ended_by: None,
        });
    }
    Ok(Fetched::Body { status, bytes })
}
