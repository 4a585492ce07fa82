//! The egress proxy's request parsing: the HTTP request head (`egress::http`), the SOCKS5
//! greeting and request (`egress::socks`), and host / IP-literal / `allow` rule parsing
//! (`egress::policy::parse_host`, `egress::rules`).
//!
//! Input: the first byte picks the parser, the rest is what a client (or a profile) sent.
//! - HTTP: the head grows in reads of a fuzzer-chosen size and `http::head_len` is asked after
//!   each, as `read_head` does; a complete head goes through `http::interpret`.
//! - SOCKS5: `socks::handshake` runs on an in-memory stream holding the bytes after the version
//!   byte, delivered in reads of a fuzzer-chosen size.
//! - Host: the bytes as a host (`parse_host`) and as an `allow` entry (`HostRule`).
//!
//! Asserts: no panic, and
//! - a head found complete stays complete at the same length as more bytes arrive (the bytes
//!   after it are body or tunnel data);
//! - a forwarded head re-parses as exactly one complete request in origin form, carries exactly
//!   one `Host` (naming the host the policy judged) and one `Connection: close`, and none of the
//!   hop-by-hop or proxy-credential fields;
//! - every host that comes out of any parser is normal: a name is a valid DNS name that neither
//!   Rust nor glibc's `inet_aton` reads as an IPv4 address (no spelling of an address slips
//!   through as a name), an IPv6 address is never IPv4-mapped, and the printed form parses back
//!   to the same host;
//! - against a fixed policy, a host that is admitted is one the rules name (no spelling of an
//!   address or name gets past `allow`/`allow_cidrs`);
//! - SOCKS: the server writes `05 00` before a request is accepted and `05 ff` exactly when the
//!   client offers no method without authentication;
//! - an `allow` entry that parses prints back to an entry that parses to the same rule.

#![no_main]

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io;
use std::net::IpAddr;
use std::pin::{Pin, pin};
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use missy_supervisor::egress::EgressPolicy;
use missy_supervisor::egress::http::{self, Request};
use missy_supervisor::egress::policy::{Host, parse_host};
use missy_supervisor::egress::rules::{HostRule, valid_name};
use missy_supervisor::egress::socks;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

static POLICY: LazyLock<EgressPolicy> = LazyLock::new(|| {
    EgressPolicy::new(
        vec![
            "allowed.test".parse().unwrap(),
            "*.wild.test:*".parse().unwrap(),
        ],
        vec!["203.0.113.0/24".parse().unwrap()],
        BTreeMap::new(),
    )
});

unsafe extern "C" {
    /// glibc's (the `libc` crate does not declare it).
    fn inet_aton(cp: *const libc::c_char, inp: *mut libc::in_addr) -> libc::c_int;
}

/// Does glibc read `s` as an IPv4 address (`127.1`, `0x7f.1`, `017700000001`, ...)?
fn inet_aton_accepts(s: &str) -> bool {
    let Ok(c) = CString::new(s) else {
        return false;
    };
    let mut addr = libc::in_addr { s_addr: 0 };
    // SAFETY: `c` is a NUL-terminated string and `addr` a valid out-pointer for the call.
    unsafe { inet_aton(c.as_ptr(), &mut addr) != 0 }
}

fn check_host(host: &Host, port: u16) {
    match host {
        Host::Name(name) => {
            assert!(valid_name(name), "invalid name {name:?}");
            assert!(name.parse::<IpAddr>().is_err(), "{name:?} is an address");
            assert!(
                !inet_aton_accepts(name),
                "glibc reads {name:?} as an address"
            );
            assert_eq!(
                name.to_ascii_lowercase(),
                *name,
                "{name:?} is not normalised"
            );
        }
        Host::Ip(IpAddr::V6(ip)) => {
            assert!(ip.to_ipv4_mapped().is_none(), "{ip} is IPv4-mapped");
        }
        Host::Ip(IpAddr::V4(_)) => {}
    }
    assert_eq!(
        parse_host(&host.to_string()).as_ref(),
        Ok(host),
        "{host} does not parse back"
    );
    if POLICY.admit(host, port).is_ok() {
        let ok = match host {
            Host::Ip(IpAddr::V4(ip)) => ip.octets()[..3] == [203, 0, 113],
            Host::Ip(IpAddr::V6(_)) => false,
            Host::Name(n) => {
                (n == "allowed.test" && (port == 80 || port == 443))
                    || n.strip_suffix(".wild.test").is_some_and(|h| !h.is_empty())
            }
        };
        assert!(ok, "{host}:{port} admitted");
    }
}

fn fuzz_http(chunk: usize, data: &[u8]) {
    // The proxy has read the first byte before it calls `read_head`; start from there.
    let mut len = 1.min(data.len());
    let head = loop {
        match http::head_len(&data[..len]) {
            Ok(Some(n)) => break n,
            Ok(None) if len < data.len() => len = (len + chunk).min(data.len()),
            Ok(None) | Err(_) => return,
        }
    };
    assert!(head <= len);
    // More bytes never change where a complete head ends.
    assert_eq!(
        http::head_len(data).ok(),
        Some(Some(head)),
        "head_len changed with more input"
    );
    match http::interpret(&data[..head]) {
        Ok(Request::Connect { host, port }) => {
            assert_ne!(port, 0);
            check_host(&host, port);
        }
        Ok(Request::Forward { host, port, head }) => {
            check_host(&host, port);
            check_forwarded(&host, &head);
        }
        Err(denied) => {
            let _ = denied.to_string();
        }
    }
}

fn check_forwarded(host: &Host, head: &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; http::MAX_HEADERS + 2];
    let mut req = httparse::Request::new(&mut headers);
    let parsed = req.parse(head);
    assert!(
        matches!(parsed, Ok(httparse::Status::Complete(n)) if n == head.len()),
        "forwarded head does not re-parse: {parsed:?} {:?}",
        String::from_utf8_lossy(head)
    );
    let path = req.path.expect("path");
    assert!(path.starts_with('/'), "not origin form: {path:?}");
    let (mut hosts, mut connections) = (0, 0);
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        match name.as_str() {
            "host" => {
                hosts += 1;
                let value = std::str::from_utf8(h.value).expect("Host is text");
                let bare = if value.ends_with(']') {
                    value
                } else {
                    value.rsplit_once(':').map_or(value, |(h, _)| h)
                };
                assert_eq!(
                    parse_host(bare).as_ref(),
                    Ok(host),
                    "Host {value:?} is not the judged host"
                );
            }
            "connection" => {
                connections += 1;
                assert_eq!(h.value, b"close");
            }
            "proxy-connection"
            | "keep-alive"
            | "proxy-authorization"
            | "proxy-authenticate"
            | "te"
            | "trailer"
            | "upgrade" => panic!("hop-by-hop field {name} forwarded"),
            _ => {}
        }
    }
    assert_eq!((hosts, connections), (1, 1));
}

/// A client connection held in memory: reads come from `input` at most `chunk` bytes at a
/// time, writes are collected.
struct Mem<'a> {
    input: &'a [u8],
    chunk: usize,
    written: Vec<u8>,
}

impl AsyncRead for Mem<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.input.len().min(buf.remaining()).min(self.chunk);
        let (now, later) = self.input.split_at(n);
        buf.put_slice(now);
        self.input = later;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Mem<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn fuzz_socks(chunk: usize, data: &[u8]) {
    let mut stream = Mem {
        input: data,
        chunk,
        written: Vec::new(),
    };
    let result = {
        let mut fut = pin!(socks::handshake(&mut stream));
        let mut cx = Context::from_waker(Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(r) => r,
            Poll::Pending => panic!("an in-memory stream never waits"),
        }
    };
    // The greeting: the number of methods, then the methods.
    let greeting = data
        .split_first()
        .and_then(|(&n, rest)| rest.get(..usize::from(n)));
    let no_acceptable = greeting.is_some_and(|m| !m.contains(&0));
    assert_eq!(
        stream.written == [socks::VERSION, 0xff],
        no_acceptable,
        "method refusal written: {:?}",
        stream.written
    );
    match result {
        Ok((host, port)) => {
            assert_eq!(stream.written, [socks::VERSION, 0]);
            check_host(&host, port);
        }
        Err(rejected) => {
            let _ = rejected.denied.to_string();
        }
    }
}

fn fuzz_host(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(host) = parse_host(text) {
        check_host(&host, 443);
    }
    if let Ok(rule) = text.parse::<HostRule>() {
        let printed = rule.to_string();
        assert_eq!(printed.parse::<HostRule>(), Ok(rule), "{printed:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // Low bits: which parser; high bits: the size of each read (1-64 bytes).
    let chunk = usize::from(selector >> 2) + 1;
    match selector % 4 {
        0 | 3 => fuzz_http(chunk, rest),
        1 => fuzz_socks(chunk, rest),
        _ => fuzz_host(rest),
    }
});
