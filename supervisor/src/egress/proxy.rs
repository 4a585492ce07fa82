//! The egress proxy: accepts on the listener the sandbox's pid 1 created inside the sandbox's
//! network namespace, and serves each connection as HTTP (CONNECT or absolute-form) or SOCKS5,
//! told apart by the first byte. Every destination goes through [`EgressPolicy::connect`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::Egress;
use super::event::{EgressEvent, Events, Protocol};
use super::http::{self, Request};
use super::policy::{Connected, Denied};
use super::pump::{self, Counts, splice};
use super::socks;

/// Most connections served at once per sandbox; further ones wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 20;
/// Time allowed for a client to send its request head or SOCKS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection on which nothing moves this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// No connection lives longer than this.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(3600);

/// Accept and serve until the task is dropped (when the sandbox ends). Sessions live in a
/// `JoinSet`, so dropping this future ends every one of them too.
pub async fn serve(listener: TcpListener, egress: Egress) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        // Reap finished sessions so the set does not grow with the run.
        while sessions.try_join_next().is_some() {}
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, peer)) => {
                // On the host's loopback, only the sandbox's own connections are served.
                if let Some(peers) = &egress.peers
                    && !listener
                        .local_addr()
                        .is_ok_and(|local| peers.owns(peer, local))
                {
                    tracing::warn!(%peer, "egress proxy: a connection from outside the sandbox was refused");
                    continue;
                }
                stream
            }
            Err(e) => {
                tracing::warn!(error = %e, "egress proxy: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let egress = egress.clone();
        sessions.spawn(async move {
            let _ = stream.set_nodelay(true);
            pump::tune_client_side(&stream);
            // The handshake and connect have their own timeouts; `relay` stops at the total.
            session(stream, &egress, Instant::now() + TOTAL_TIMEOUT).await;
            drop(permit);
        });
    }
}

async fn session(mut stream: TcpStream, egress: &Egress, deadline: Instant) {
    let mut first = [0u8; 1];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.read(&mut first)).await {
        Ok(Ok(1)) => {}
        _ => return,
    }
    if first[0] == socks::VERSION {
        socks5_session(stream, egress, deadline).await;
    } else {
        http_session(stream, first[0], egress, deadline).await;
    }
}

async fn refused(events: &Events, protocol: Protocol, target: String, denied: &Denied) {
    // A refusal's record is never waited for: the connection is refused either way.
    let allow_with = denied.allow_with(&target);
    let _ = events
        .decision(EgressEvent::Refused {
            protocol,
            target,
            rule: denied.rule(),
            reason: denied.to_string(),
            by_policy: denied.is_refusal(),
            allow_with,
        })
        .await;
}

/// Record an allowed connection. Under `on_failure = "refuse"` a connection whose record could
/// not be written is not made: the upstream side is dropped and the reason returned.
async fn allowed(
    events: &Events,
    protocol: Protocol,
    target: &str,
    connected: &Connected,
) -> Result<(), String> {
    events
        .decision(EgressEvent::Allowed {
            protocol,
            target: target.to_string(),
            peer: connected.peer,
            rule: connected.rule.clone(),
        })
        .await
        .map_err(|refused| {
            tracing::error!(error = %refused, "egress connection refused: its audit record cannot be written");
            format!("the connection cannot be audited: {}", refused.source)
        })
}

async fn http_session(mut stream: TcpStream, first: u8, egress: &Egress, deadline: Instant) {
    let events = &egress.events;
    let mut buf = vec![first];
    let len = match tokio::time::timeout(HANDSHAKE_TIMEOUT, http::read_head(&mut stream, &mut buf))
        .await
    {
        Ok(Ok(len)) => len,
        Ok(Err(http::HeadError::Closed)) | Err(_) => return,
        Ok(Err(e)) => {
            let (status, phrase) = e.status();
            refused(
                events,
                Protocol::HttpForward,
                String::new(),
                &Denied::Protocol(e.to_string()),
            )
            .await;
            let _ = stream
                .write_all(&http::response(status, phrase, &e.to_string()))
                .await;
            return;
        }
    };
    let request = match http::interpret(&buf[..len]) {
        Ok(r) => r,
        Err(denied) => {
            refused(events, Protocol::HttpForward, String::new(), &denied).await;
            let _ = stream
                .write_all(&http::response(403, "Forbidden", &denied.to_string()))
                .await;
            return;
        }
    };
    let (protocol, host, port) = match &request {
        Request::Connect { host, port } => (Protocol::HttpConnect, host, *port),
        Request::Forward { host, port, .. } => (Protocol::HttpForward, host, *port),
    };
    let target = format!("{host}:{port}");
    let connected = match egress.policy.connect(host, port).await {
        Ok(c) => c,
        Err(denied) => {
            let (status, phrase) = if denied.is_refusal() {
                (403, "Forbidden")
            } else {
                (502, "Bad Gateway")
            };
            refused(events, protocol, target, &denied).await;
            let _ = stream
                .write_all(&http::response(status, phrase, &denied.to_string()))
                .await;
            return;
        }
    };
    if let Err(why) = allowed(events, protocol, &target, &connected).await {
        let _ = stream
            .write_all(&http::response(503, "Service Unavailable", &why))
            .await;
        return;
    }
    let mut upstream_prefix = Vec::new();
    match request {
        Request::Connect { .. } => {
            if stream
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
        }
        Request::Forward { head, .. } => upstream_prefix = head,
    }
    // Bytes the client sent after its head (a body, or an eager TLS hello) go on too.
    upstream_prefix.extend_from_slice(&buf[len..]);
    relay(
        stream,
        connected,
        upstream_prefix,
        (protocol, target),
        events,
        deadline,
    )
    .await;
}

async fn socks5_session(mut stream: TcpStream, egress: &Egress, deadline: Instant) {
    let events = &egress.events;
    let (host, port) =
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, socks::handshake(&mut stream)).await {
            Ok(Ok(dest)) => dest,
            Ok(Err(rejected)) => {
                refused(events, Protocol::Socks5, String::new(), &rejected.denied).await;
                let _ = socks::reply(&mut stream, rejected.code).await;
                return;
            }
            Err(_) => return,
        };
    let target = format!("{host}:{port}");
    let connected = match egress.policy.connect(&host, port).await {
        Ok(connected) => connected,
        Err(denied) => {
            refused(events, Protocol::Socks5, target, &denied).await;
            let _ = socks::reply(&mut stream, socks::code_for(&denied)).await;
            return;
        }
    };
    if allowed(events, Protocol::Socks5, &target, &connected)
        .await
        .is_err()
    {
        let _ = socks::reply(&mut stream, socks::GENERAL_FAILURE).await;
        return;
    }
    if socks::reply(&mut stream, socks::SUCCEEDED).await.is_ok() {
        relay(
            stream,
            connected,
            Vec::new(),
            (Protocol::Socks5, target),
            events,
            deadline,
        )
        .await;
    }
}

async fn relay(
    client: TcpStream,
    connected: Connected,
    prefix: Vec<u8>,
    (protocol, target): (Protocol, String),
    events: &Events,
    deadline: Instant,
) {
    let Connected {
        stream: mut upstream,
        peer,
        rule,
    } = connected;
    let start = Instant::now();
    let counts = Counts::default();
    let mut ended_by = None;
    if !prefix.is_empty() {
        if upstream.write_all(&prefix).await.is_err() {
            ended_by = Some("upstream write failed");
        } else {
            counts.up.fetch_add(prefix.len() as u64, Ordering::Relaxed);
        }
    }
    if ended_by.is_none() {
        ended_by =
            tokio::time::timeout_at(deadline, splice(client, upstream, IDLE_TIMEOUT, &counts))
                .await
                .unwrap_or(Some("total timeout"));
    }
    events.closed(&EgressEvent::Closed {
        protocol,
        target,
        peer,
        rule,
        bytes_up: counts.up.load(Ordering::Relaxed),
        bytes_down: counts.down.load(Ordering::Relaxed),
        duration: start.elapsed(),
        ended_by,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditConfig, LogFile, OnFailure, RunAudit, RunInfo};
    use crate::egress::{EgressPolicy, Events};

    /// CONNECT to an allowed loopback listener through a proxy whose audit log cannot be
    /// written (its directory is /dev/null): the status line the client gets.
    async fn connect_with_broken_log(on_failure: OnFailure) -> String {
        let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let up = upstream.local_addr().unwrap();
        let audit = RunAudit::new(
            &AuditConfig {
                log: Some(LogFile {
                    path: "/dev/null/audit.jsonl".into(),
                    max_size: u64::MAX,
                    keep: 1,
                }),
                on_failure,
            },
            RunInfo::default(),
        );
        let egress = Egress {
            policy: Arc::new(EgressPolicy::new(
                Vec::new(),
                vec!["127.0.0.1/32".parse().unwrap()],
                Default::default(),
            )),
            events: Events::audited(audit),
            peers: None,
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, egress));
        let mut client = TcpStream::connect(proxy).await.unwrap();
        client
            .write_all(format!("CONNECT {up} HTTP/1.1\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut answer = vec![0u8; 12];
        client.read_exact(&mut answer).await.unwrap();
        server.abort();
        String::from_utf8(answer).unwrap()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_allowed_connection_that_cannot_be_audited_is_refused_under_refuse() {
        assert_eq!(
            connect_with_broken_log(OnFailure::Refuse).await,
            "HTTP/1.1 503"
        );
        // Control: the same connection is made when a lost record only warns.
        assert_eq!(
            connect_with_broken_log(OnFailure::Warn).await,
            "HTTP/1.1 200"
        );
    }
}
