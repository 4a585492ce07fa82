//! The HTTP side of the proxy: read one bounded request head, and turn it into either a CONNECT
//! tunnel or an absolute-form request forwarded in origin form. Parsing is `httparse` and `url`;
//! this module only bounds the input and rewrites the head.

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::policy::{Denied, Host, parse_host};

/// Longest request target accepted.
pub const MAX_URL: usize = 8192;
/// Largest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 32 << 10;
/// Most header fields in a request head.
pub const MAX_HEADERS: usize = 64;

/// Headers that describe one hop and must not be passed on (RFC 9110 §7.6.1), plus the
/// proxy's own credentials and `Host`, which is rewritten from the URL.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
    "host",
];

/// A request head that could not be accepted; the status to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("the request target is longer than {MAX_URL} bytes")]
    UrlTooLong,
    #[error(
        "the request head is larger than {MAX_HEAD} bytes or has more than {MAX_HEADERS} fields"
    )]
    HeadTooLarge,
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("the client closed the connection")]
    Closed,
}

impl HeadError {
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            HeadError::UrlTooLong => (414, "URI Too Long"),
            HeadError::HeadTooLarge => (431, "Request Header Fields Too Large"),
            HeadError::Malformed(_) | HeadError::Closed => (400, "Bad Request"),
        }
    }
}

/// What the client asked for.
#[derive(Debug)]
pub enum Request {
    /// `CONNECT host:port`: a tunnel.
    Connect { host: Host, port: u16 },
    /// `METHOD http://host[:port]/path`: `head` is the rewritten head to send upstream.
    Forward {
        host: Host,
        port: u16,
        head: Vec<u8>,
    },
}

/// Read until the end of the request head. Returns the head's length within `buf` (which may
/// hold bytes after it: the start of a body or of tunnelled data).
pub async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize, HeadError> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(n) = head_len(buf)? {
            return Ok(n);
        }
        let want = chunk.len().min(MAX_HEAD - buf.len());
        let n = stream
            .read(&mut chunk[..want])
            .await
            .map_err(|e| HeadError::Malformed(e.to_string()))?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The length of the request head at the start of `buf` once it is complete, `None` while
/// more bytes are needed, or why it cannot be accepted. The parsing step of [`read_head`], public
/// for the fuzz targets.
pub fn head_len(buf: &[u8]) -> Result<Option<usize>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => {
            if req.path.is_some_and(|p| p.len() > MAX_URL) {
                return Err(HeadError::UrlTooLong);
            }
            return Ok(Some(n));
        }
        Ok(httparse::Status::Partial) => {}
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::HeadTooLarge),
        Err(e) => return Err(HeadError::Malformed(e.to_string())),
    }
    if buf.len() >= MAX_HEAD {
        let first_line = buf.split(|&b| b == b'\n').next().map_or(0, <[u8]>::len);
        return Err(if first_line > MAX_URL {
            HeadError::UrlTooLong
        } else {
            HeadError::HeadTooLarge
        });
    }
    Ok(None)
}

/// Split `host:port` (a CONNECT target); IPv6 addresses are bracketed.
fn authority(target: &str) -> Result<(Host, u16), Denied> {
    let bad = || {
        Denied::Protocol(format!(
            "CONNECT target `{}` is not host:port",
            clip(target)
        ))
    };
    let (host, port) = target.rsplit_once(':').ok_or_else(bad)?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let port: u16 = port.parse().map_err(|_| bad())?;
    if port == 0 {
        return Err(bad());
    }
    Ok((parse_host(host)?, port))
}

/// Keep refusal messages one line and short, whatever the client sent.
pub fn clip(s: &str) -> String {
    s.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Interpret a complete head (`buf[..len]`).
pub fn interpret(head: &[u8]) -> Result<Request, Denied> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    req.parse(head)
        .map_err(|e| Denied::Protocol(format!("malformed request: {e}")))?;
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(Denied::Protocol("incomplete request head".into()));
    };
    if method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = authority(target)?;
        return Ok(Request::Connect { host, port });
    }
    let url = url::Url::parse(target).map_err(|_| {
        Denied::Protocol(format!(
            "`{}` is not an absolute http:// URL; this is a proxy: use CONNECT for https",
            clip(target)
        ))
    })?;
    if url.scheme() != "http" {
        return Err(Denied::Protocol(format!(
            "only http:// URLs are forwarded (got {}:); use CONNECT for https",
            clip(url.scheme())
        )));
    }
    let raw_host = url
        .host_str()
        .ok_or_else(|| Denied::Protocol("the URL has no host".into()))?;
    let host = parse_host(raw_host)?;
    let port = url.port_or_known_default().unwrap_or(80);
    let mut out = Vec::with_capacity(head.len() + 64);
    let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
    out.extend_from_slice(format!("{method} {path} HTTP/1.{version}\r\n").as_bytes());
    match url.port() {
        Some(p) => out.extend_from_slice(format!("Host: {raw_host}:{p}\r\n").as_bytes()),
        None => out.extend_from_slice(format!("Host: {raw_host}\r\n").as_bytes()),
    }
    // Fields named in `Connection` are hop-by-hop too.
    let listed: Vec<String> = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| {
            String::from_utf8_lossy(h.value)
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect();
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        if HOP_BY_HOP.contains(&name.as_str()) || listed.contains(&name) {
            continue;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    // One request per upstream connection: the tunnel that follows carries this exchange only.
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    Ok(Request::Forward {
        host,
        port,
        head: out,
    })
}

/// A complete response carrying a one-line reason, then the connection closes.
pub fn response(status: u16, phrase: &str, reason: &str) -> Vec<u8> {
    let body = format!("missy-sandbox egress: {reason}\n");
    format!(
        "HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nX-Missy-Sandbox: {}\r\n\r\n{body}",
        body.len(),
        if status == 403 { "refused" } else { "error" },
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_form_is_rewritten_to_origin_form() {
        let head = b"GET http://Allowed.Test:8080/a/b?q=1 HTTP/1.1\r\nHost: x\r\nProxy-Connection: keep-alive\r\nConnection: X-Hop\r\nX-Hop: 1\r\nAccept: */*\r\n\r\n";
        let Ok(Request::Forward { host, port, head }) = interpret(head) else {
            panic!("not a forward")
        };
        assert_eq!(host, Host::Name("allowed.test".into()));
        assert_eq!(port, 8080);
        let text = String::from_utf8(head).unwrap();
        assert_eq!(
            text,
            "GET /a/b?q=1 HTTP/1.1\r\nHost: allowed.test:8080\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn connect_targets_are_parsed_with_every_ip_spelling() {
        for (target, want) in [
            ("allowed.test:443", Host::Name("allowed.test".into())),
            ("2130706433:443", Host::Ip("127.0.0.1".parse().unwrap())),
            (
                "[::ffff:127.0.0.1]:443",
                Host::Ip("127.0.0.1".parse().unwrap()),
            ),
        ] {
            let head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
            let Ok(Request::Connect { host, port }) = interpret(head.as_bytes()) else {
                panic!("{target}")
            };
            assert_eq!((host, port), (want, 443));
        }
        for bad in [
            "host",
            "host:",
            "host:0",
            "host:99999",
            "user@host:443",
            "[::1:443",
        ] {
            let head = format!("CONNECT {bad} HTTP/1.1\r\n\r\n");
            assert!(interpret(head.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn other_schemes_and_origin_form_are_refused() {
        for target in [
            "https://a.test/",
            "ftp://a.test/",
            "/index.html",
            "file:///etc/passwd",
        ] {
            let head = format!("GET {target} HTTP/1.1\r\n\r\n");
            assert!(interpret(head.as_bytes()).is_err(), "{target}");
        }
    }
}
