//! Egress escapes under a `mode = "proxy"` profile: going around the proxy, and asking the proxy
//! itself for what the profile forbids (SSRF to the host's loopback, in every spelling).
//!
//! The proxy is found the way a tool finds it, from `HTTP_PROXY` (the sandbox sets it). Without
//! it (the unsandboxed control) nothing stands between the probe and its target, so the probe
//! connects directly, as any program could. Before an attack counts as refused, the probe checks
//! that the proxy does serve an allowed destination (the canary): a proxy that refuses
//! everything, or is not there, proves nothing.
//!
//! Addresses are IP literals; names are only ever sent to the proxy, never resolved here.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use super::sys::io_errno_name;
use super::{Args, Outcome, Probe, ProbeResult};

pub const PROBES: &[Probe] = &[
    Probe {
        name: "proxy-bypass",
        args: &["IP:PORT,...", "[CANARY-HOST:PORT]"],
        about: "TCP connect straight to each address, around HTTP_PROXY (checked with CANARY first)",
        run: proxy_bypass,
    },
    Probe {
        name: "proxy-ssrf",
        args: &["127.0.0.1:PORT", "CANARY-HOST:PORT", "NAME,..."],
        about: "ask HTTP_PROXY (CONNECT, GET, SOCKS5) for loopback in every spelling and NAMEs",
        run: proxy_ssrf,
    },
];

const TIMEOUT: Duration = Duration::from_secs(3);

/// The proxy the environment names (`http://127.0.0.1:3128`), if any.
fn proxy_from_env() -> Result<Option<SocketAddr>, Outcome> {
    let Some(value) = ["HTTP_PROXY", "http_proxy"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    else {
        return Ok(None);
    };
    let authority = value
        .strip_prefix("http://")
        .unwrap_or(&value)
        .trim_end_matches('/');
    authority.parse().map(Some).map_err(|_| {
        Outcome::error(format!(
            "HTTP_PROXY={value:?} is not http://IP:PORT (names are not resolved)"
        ))
    })
}

fn connect(to: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&to, TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    Ok(s)
}

/// What the proxy answered one request.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// HTTP 403 or SOCKS5 reply 2: refused by the rules.
    Refused,
    /// Anything else: the rules let it through (a 200, a 502 from a failed connect, silence
    /// while the proxy waits on the target).
    Through(String),
}

/// The first line of an HTTP answer (at most 12 bytes are needed: `HTTP/1.1 403`).
fn http_request(proxy: SocketAddr, request: &str) -> Result<Answer, String> {
    let mut s = connect(proxy).map_err(|e| format!("proxy connect errno={}", io_errno_name(&e)))?;
    s.write_all(request.as_bytes())
        .map_err(|e| format!("write errno={}", io_errno_name(&e)))?;
    let mut status = [0u8; 12];
    match s.read_exact(&mut status) {
        Ok(()) => {
            let line = String::from_utf8_lossy(&status).into_owned();
            Ok(if line.starts_with("HTTP/1.1 403") {
                Answer::Refused
            } else {
                Answer::Through(line)
            })
        }
        Err(e) => Ok(Answer::Through(format!(
            "no answer (errno={}): the proxy went ahead",
            io_errno_name(&e)
        ))),
    }
}

/// A SOCKS5 CONNECT (no authentication) for `addr` (`atyp` and address bytes) and `port`.
fn socks5_request(proxy: SocketAddr, atyp: u8, addr: &[u8], port: u16) -> Result<Answer, String> {
    let mut s = connect(proxy).map_err(|e| format!("proxy connect errno={}", io_errno_name(&e)))?;
    let mut req = vec![5, 1, 0, 5, 1, 0, atyp];
    req.extend_from_slice(addr);
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req)
        .map_err(|e| format!("write errno={}", io_errno_name(&e)))?;
    let mut reply = [0u8; 4];
    Ok(match s.read_exact(&mut reply) {
        Ok(()) if reply == [5, 0, 5, 2] => Answer::Refused,
        Ok(()) => Answer::Through(format!("socks5 reply {reply:02x?}")),
        Err(e) => Answer::Through(format!(
            "no socks5 reply (errno={}): the proxy went ahead",
            io_errno_name(&e)
        )),
    })
}

fn socks5_name(proxy: SocketAddr, name: &str, port: u16) -> Result<Answer, String> {
    let mut addr = vec![name.len() as u8];
    addr.extend_from_slice(name.as_bytes());
    socks5_request(proxy, 3, &addr, port)
}

/// The proxy must open a tunnel to the canary, an allowed destination.
fn check_canary(proxy: SocketAddr, canary: &str) -> Result<(), Outcome> {
    let request = format!("CONNECT {canary} HTTP/1.1\r\nHost: {canary}\r\n\r\n");
    match http_request(proxy, &request) {
        Ok(Answer::Through(line)) if line.starts_with("HTTP/1.1 200") => Ok(()),
        Ok(other) => Err(Outcome::error(format!(
            "the proxy at {proxy} does not serve the allowed canary {canary} ({other:?}): \
             nothing to test against"
        ))),
        Err(e) => Err(Outcome::error(format!(
            "the proxy at {proxy} is not reachable ({e}): nothing to test against"
        ))),
    }
}

fn addrs(a: &Args, i: usize) -> Result<Vec<SocketAddr>, Outcome> {
    a.get(i)?
        .split(',')
        .map(|s| {
            s.parse()
                .map_err(|_| a.usage_error(&format!("{s:?} is not IP:PORT")))
        })
        .collect()
}

/// Connect straight to every address (TCP, no proxy). Under a proxy profile, after checking the
/// proxy serves the canary: only the netns and Landlock stand in the way.
fn proxy_bypass(a: &Args) -> ProbeResult {
    let targets = addrs(a, 0)?;
    let proxy = proxy_from_env()?;
    let via = match (proxy, a.opt(1)) {
        (Some(proxy), Some(canary)) => {
            check_canary(proxy, canary)?;
            format!("the proxy at {proxy} serves {canary}; ")
        }
        _ => "no proxy configured; ".to_string(),
    };
    let mut reached = Vec::new();
    let mut refused = Vec::new();
    for to in targets {
        match connect(to) {
            Ok(_) => reached.push(to.to_string()),
            Err(e) => refused.push(format!("{to} errno={}", io_errno_name(&e))),
        }
    }
    if reached.is_empty() {
        Ok(Outcome::blocked(format!(
            "{via}direct connect refused: {}",
            refused.join(", ")
        )))
    } else {
        Ok(Outcome::escaped(format!(
            "{via}connected directly to {}",
            reached.join(", ")
        )))
    }
}

/// Every way of writing 127.0.0.1 (and ::1) a URL parser accepts, as hosts for the proxy.
const LOOPBACK_SPELLINGS: &[&str] = &[
    "127.0.0.1",
    "2130706433",
    "0177.0.0.1",
    "0x7f000001",
    "0x7f.0.0.1",
    "127.1",
    "0177.1",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::1]",
];

/// Ask the proxy, by every protocol it speaks, for the host's loopback service at `TARGET`'s
/// port: each spelling of the address, and each NAME (allowed names that resolve to loopback).
/// Without a proxy, connect to `TARGET` directly (the control).
fn proxy_ssrf(a: &Args) -> ProbeResult {
    let target: SocketAddr = a
        .get(0)?
        .parse()
        .map_err(|_| a.usage_error("the target must be IP:PORT"))?;
    let canary = a.get(1)?;
    let names: Vec<&str> = a.get(2)?.split(',').filter(|n| !n.is_empty()).collect();
    let Some(proxy) = proxy_from_env()? else {
        return match connect(target) {
            Ok(_) => Ok(Outcome::escaped(format!(
                "no proxy configured; connected directly to {target}"
            ))),
            Err(e) => Ok(Outcome::blocked(format!(
                "no proxy configured; connect {target} errno={}",
                io_errno_name(&e)
            ))),
        };
    };
    check_canary(proxy, canary)?;
    let port = target.port();
    let mut asked = 0;
    let mut through = Vec::new();
    let mut failed = Vec::new();
    let mut record = |what: String, answer: Result<Answer, String>| {
        asked += 1;
        match answer {
            Ok(Answer::Refused) => {}
            Ok(Answer::Through(how)) => through.push(format!("{what}: {how}")),
            Err(e) => failed.push(format!("{what}: {e}")),
        }
    };
    for host in LOOPBACK_SPELLINGS
        .iter()
        .copied()
        .chain(names.iter().copied())
    {
        record(
            format!("CONNECT {host}:{port}"),
            http_request(
                proxy,
                &format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"),
            ),
        );
        record(
            format!("GET http://{host}:{port}/"),
            http_request(
                proxy,
                &format!("GET http://{host}:{port}/ HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"),
            ),
        );
        let bare = host.trim_matches(['[', ']']);
        record(format!("SOCKS5 {bare}"), socks5_name(proxy, bare, port));
    }
    // SOCKS5's own address types: IPv4, and IPv4-mapped IPv6.
    if let IpAddr::V4(v4) = target.ip() {
        record(
            format!("SOCKS5 ipv4 {v4}"),
            socks5_request(proxy, 1, &v4.octets(), port),
        );
        record(
            format!("SOCKS5 ipv6 {}", v4.to_ipv6_mapped()),
            socks5_request(proxy, 4, &v4.to_ipv6_mapped().octets(), port),
        );
    }
    if !through.is_empty() {
        return Ok(Outcome::escaped(format!(
            "the proxy let {} of {asked} requests through: {}",
            through.len(),
            through.join("; ")
        )));
    }
    if !failed.is_empty() {
        return Err(Outcome::error(format!(
            "{} of {asked} requests could not be made: {}",
            failed.len(),
            failed.join("; ")
        )));
    }
    Ok(Outcome::blocked(format!(
        "the proxy at {proxy} serves {canary} and refused all {asked} requests for {target} \
         (HTTP 403 / SOCKS5 reply 2)"
    )))
}
