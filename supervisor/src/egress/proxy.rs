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

use super::event::{EgressEvent, Protocol, record};
use super::http::{self, Request};
use super::policy::{Connected, Denied, EgressPolicy};
use super::pump::{Counts, splice};
use super::socks;

/// Most connections served at once per sandbox; further ones wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 20;
/// Time allowed for a client to send its request head or SOCKS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection on which nothing moves this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// No connection lives longer than this.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(3600);

/// Accept and serve until the task is dropped (when the sandbox ends).
pub async fn serve(listener: TcpListener, policy: Arc<EgressPolicy>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "egress proxy: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let policy = policy.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            // The handshake and connect have their own timeouts; `relay` stops at the total.
            session(stream, &policy, Instant::now() + TOTAL_TIMEOUT).await;
            drop(permit);
        });
    }
}

async fn session(mut stream: TcpStream, policy: &EgressPolicy, deadline: Instant) {
    let mut first = [0u8; 1];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.read(&mut first)).await {
        Ok(Ok(1)) => {}
        _ => return,
    }
    if first[0] == socks::VERSION {
        socks5_session(stream, policy, deadline).await;
    } else {
        http_session(stream, first[0], policy, deadline).await;
    }
}

fn refused(protocol: Protocol, target: String, denied: &Denied) {
    record(&EgressEvent::Refused {
        protocol,
        target,
        rule: denied.rule(),
        reason: denied.to_string(),
    });
}

async fn http_session(mut stream: TcpStream, first: u8, policy: &EgressPolicy, deadline: Instant) {
    let mut buf = vec![first];
    let len = match tokio::time::timeout(HANDSHAKE_TIMEOUT, http::read_head(&mut stream, &mut buf))
        .await
    {
        Ok(Ok(len)) => len,
        Ok(Err(http::HeadError::Closed)) | Err(_) => return,
        Ok(Err(e)) => {
            let (status, phrase) = e.status();
            refused(
                Protocol::HttpForward,
                String::new(),
                &Denied::Protocol(e.to_string()),
            );
            let _ = stream
                .write_all(&http::response(status, phrase, &e.to_string()))
                .await;
            return;
        }
    };
    let request = match http::interpret(&buf[..len]) {
        Ok(r) => r,
        Err(denied) => {
            refused(Protocol::HttpForward, String::new(), &denied);
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
    let connected = match policy.connect(host, port).await {
        Ok(c) => c,
        Err(denied) => {
            let (status, phrase) = if denied.is_refusal() {
                (403, "Forbidden")
            } else {
                (502, "Bad Gateway")
            };
            refused(protocol, target, &denied);
            let _ = stream
                .write_all(&http::response(status, phrase, &denied.to_string()))
                .await;
            return;
        }
    };
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
        protocol,
        target,
        deadline,
    )
    .await;
}

async fn socks5_session(mut stream: TcpStream, policy: &EgressPolicy, deadline: Instant) {
    let (host, port) =
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, socks::handshake(&mut stream)).await {
            Ok(Ok(dest)) => dest,
            Ok(Err(rejected)) => {
                refused(Protocol::Socks5, String::new(), &rejected.denied);
                let _ = socks::reply(&mut stream, rejected.code).await;
                return;
            }
            Err(_) => return,
        };
    let target = format!("{host}:{port}");
    match policy.connect(&host, port).await {
        Ok(connected) => {
            if socks::reply(&mut stream, socks::SUCCEEDED).await.is_ok() {
                relay(
                    stream,
                    connected,
                    Vec::new(),
                    Protocol::Socks5,
                    target,
                    deadline,
                )
                .await;
            }
        }
        Err(denied) => {
            refused(Protocol::Socks5, target, &denied);
            let _ = socks::reply(&mut stream, socks::code_for(&denied)).await;
        }
    }
}

async fn relay(
    client: TcpStream,
    connected: Connected,
    prefix: Vec<u8>,
    protocol: Protocol,
    target: String,
    deadline: Instant,
) {
    let Connected {
        stream: mut upstream,
        peer,
        rule,
    } = connected;
    let start = Instant::now();
    let counts = Arc::new(Counts::default());
    let mut ended_by = None;
    if !prefix.is_empty() {
        if upstream.write_all(&prefix).await.is_err() {
            ended_by = Some("upstream write failed");
        } else {
            counts.up.fetch_add(prefix.len() as u64, Ordering::Relaxed);
        }
    }
    if ended_by.is_none() {
        ended_by = tokio::time::timeout_at(
            deadline,
            splice(client, upstream, IDLE_TIMEOUT, counts.clone()),
        )
        .await
        .unwrap_or(Some("total timeout"));
    }
    record(&EgressEvent::Closed {
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
