//! Egress through the proxy (`mode = "proxy"`) and `fetch`, against a loopback server this test
//! starts itself. Names resolve only through the profile's `hosts` map, and `MISSY_EGRESS_DNS=off`
//! makes any other name fail instead of reaching a DNS server: no packet leaves loopback.
//!
//! Runs as root and as uid 65534, each with an unsandboxed control where a denial is asserted.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use crate::harness::{Scratch, USERS, User, exec_command, sandbox_bin};

const BODY: &str = "hello-egress";
/// Size of `/big`, above the 1 KiB `fetch_max_size` of the test profile.
const BIG: usize = 10 * 1024;

/// A tiny HTTP/1.1 server on 127.0.0.1 for the whole test binary: `/` answers [`BODY`],
/// `/redirect` a 302 to another host, `/big` [`BIG`] bytes. One request per connection.
fn upstream_port() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || answer(stream));
            }
        });
        port
    })
}

fn answer(mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16384 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let response = match path {
        "/redirect" => "HTTP/1.1 302 Found\r\nLocation: http://elsewhere.test/next\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
        "/big" => format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {BIG}\r\nConnection: close\r\n\r\n{}",
            "x".repeat(BIG)
        ),
        _ => format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
            BODY.len()
        ),
    };
    let _ = stream.write_all(response.as_bytes());
}

/// The proxy profile: `allowed.test` on the upstream port; `rebind.test` allowed by name too.
/// Both names are pinned to 127.0.0.1; with `cidrs` the loopback address is allowed explicitly.
fn profile(scratch: &Scratch, user: User, cidrs: bool) -> String {
    let port = upstream_port();
    let cidr_line = if cidrs {
        "allow_cidrs = [\"127.0.0.1/32\"]\n"
    } else {
        ""
    };
    let text = format!(
        "extends = \"strict\"\n[network]\nmode = \"proxy\"\nallow = [\"allowed.test:{port}\", \"rebind.test:{port}\"]\n{cidr_line}hosts = {{ \"allowed.test\" = \"127.0.0.1\", \"rebind.test\" = \"127.0.0.1\" }}\nfetch_max_size = \"1KiB\"\n"
    );
    let name = if cidrs {
        "egress.toml"
    } else {
        "egress-nocidr.toml"
    };
    scratch
        .file(name, &text, user)
        .to_string_lossy()
        .into_owned()
}

/// Run `sh -c script` in the sandbox.
fn sandboxed_sh(user: User, scratch: &Scratch, profile: &str, script: &str) -> Output {
    exec_command(user, scratch, profile, &["--", "sh", "-c", script])
        .env("MISSY_EGRESS_DNS", "off")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn an_allowed_name_reaches_its_server_over_http_connect_and_socks5() {
    let port = upstream_port();
    for user in USERS {
        let scratch = Scratch::new(user);
        let p = profile(&scratch, user, true);
        let script = format!(
            "curl -sS http://allowed.test:{port}/ && echo && \
             curl -sS --proxytunnel http://allowed.test:{port}/ && echo && \
             curl -sS --socks5-hostname 127.0.0.1:3128 http://allowed.test:{port}/ && echo"
        );
        let out = sandboxed_sh(user, &scratch, &p, &script);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout.lines().filter(|l| *l == BODY).count(),
            3,
            "{user:?}: {}",
            text(&out)
        );
        assert_eq!(out.status.code(), Some(0), "{user:?}: {}", text(&out));
    }
}

#[test]
fn a_name_not_on_the_list_is_refused_with_the_rule() {
    let port = upstream_port();
    for user in USERS {
        let scratch = Scratch::new(user);
        let p = profile(&scratch, user, true);
        let script = format!(
            "curl -sS -w ' %{{http_code}}' http://evil.test:{port}/; echo; \
             curl -sS --proxytunnel http://evil.test:{port}/; echo \"connect=$?\"; \
             curl -sS --socks5-hostname 127.0.0.1:3128 http://evil.test:{port}/; echo \"socks=$?\""
        );
        let out = sandboxed_sh(user, &scratch, &p, &script);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("evil.test:{port} is not allowed by network.allow"))
                && stdout.contains(" 403"),
            "{user:?}: {}",
            text(&out)
        );
        // curl: 56 = the proxy refused the CONNECT; 97 = the SOCKS5 request was refused.
        assert!(stdout.contains("connect=56"), "{user:?}: {}", text(&out));
        assert!(stdout.contains("socks=97"), "{user:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("(2)") || stderr.contains("not allowed"),
            "{user:?}: SOCKS5 reply 2 (not allowed by ruleset) expected: {}",
            text(&out)
        );
    }
}

#[test]
fn a_direct_connection_that_bypasses_the_proxy_fails() {
    let port = upstream_port();
    let direct = format!("curl -sS --noproxy '*' http://127.0.0.1:{port}/");
    for user in USERS {
        let scratch = Scratch::new(user);
        let p = profile(&scratch, user, true);
        // Control: the same request, unsandboxed, reaches the server.
        let outside = user
            .command(std::path::Path::new("/bin/sh"))
            .args(["-c", &direct])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&outside.stdout),
            BODY,
            "{user:?} control: {}",
            text(&outside)
        );
        let out = sandboxed_sh(user, &scratch, &p, &format!("{direct}; echo \"rc=$?\""));
        let stdout = String::from_utf8_lossy(&out.stdout);
        // 7: could not connect (Landlock allows only the proxy port; the netns has only lo).
        assert!(
            stdout.contains("rc=7") && !stdout.contains(BODY),
            "{user:?}: {}",
            text(&out)
        );
    }
}

#[test]
fn a_name_resolving_to_loopback_is_refused_unless_allow_cidrs_names_it() {
    let port = upstream_port();
    for user in USERS {
        let scratch = Scratch::new(user);
        let script = format!("curl -sS -w ' %{{http_code}}' http://rebind.test:{port}/");
        let strict = profile(&scratch, user, false);
        let out = sandboxed_sh(user, &scratch, &strict, &script);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("rebind.test resolves to 127.0.0.1, a blocked address")
                && stdout.ends_with(" 403"),
            "{user:?}: {}",
            text(&out)
        );
        let open = profile(&scratch, user, true);
        let out = sandboxed_sh(user, &scratch, &open, &script);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{BODY} 200"),
            "{user:?}: {}",
            text(&out)
        );
    }
}

/// Raw requests (bash's /dev/tcp), so the proxy sees each spelling exactly as written; curl
/// would normalise them first.
#[test]
fn every_spelling_of_a_loopback_address_is_refused() {
    let port = upstream_port();
    let spellings = [
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
        "localhost",
    ];
    let mut script = String::from(
        "ask() { exec 3<>/dev/tcp/127.0.0.1/3128; printf \"$1\" >&3; head -c 12 <&3; echo; exec 3>&-; }\n",
    );
    for s in spellings {
        script.push_str(&format!(
            "ask 'CONNECT {s}:{port} HTTP/1.1\\r\\nHost: {s}:{port}\\r\\n\\r\\n'\n\
             ask 'GET http://{s}:{port}/ HTTP/1.1\\r\\nHost: {s}:{port}\\r\\n\\r\\n'\n"
        ));
        let name = s.trim_matches(['[', ']']);
        script.push_str(&format!(
            "exec 3<>/dev/tcp/127.0.0.1/3128; printf '\\x05\\x01\\x00\\x05\\x01\\x00\\x03\\x{:02x}{name}\\x{:02x}\\x{:02x}' >&3; head -c 4 <&3 | od -An -tx1; exec 3>&-\n",
            name.len(),
            port >> 8,
            port & 0xff
        ));
    }
    for user in USERS {
        let scratch = Scratch::new(user);
        let p = profile(&scratch, user, false);
        let out = exec_command(user, &scratch, &p, &["--", "bash", "-c", &script])
            .env("MISSY_EGRESS_DNS", "off")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let http: Vec<&str> = stdout.lines().filter(|l| l.starts_with("HTTP/")).collect();
        assert_eq!(http.len(), 2 * spellings.len(), "{user:?}: {}", text(&out));
        assert!(
            http.iter().all(|l| l.starts_with("HTTP/1.1 403")),
            "{user:?}: every HTTP answer must be 403: {}",
            text(&out)
        );
        let socks: Vec<&str> = stdout
            .lines()
            .filter(|l| l.trim().starts_with("05 00 05"))
            .collect();
        assert_eq!(socks.len(), spellings.len(), "{user:?}: {}", text(&out));
        assert!(
            socks.iter().all(|l| l.trim() == "05 00 05 02"),
            "{user:?}: every SOCKS5 reply must be 2 (not allowed by ruleset): {}",
            text(&out)
        );
        assert!(!stdout.contains(BODY), "{user:?}: {}", text(&out));

        // Control: with 127.0.0.1/32 in allow_cidrs the nine spellings of it get through, so
        // the refusals above come from the address rules, not from a broken request.
        let open = profile(&scratch, user, true);
        let out = exec_command(user, &scratch, &open, &["--", "bash", "-c", &script])
            .env("MISSY_EGRESS_DNS", "off")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let ok = stdout
            .lines()
            .filter(|l| l.starts_with("HTTP/1.1 200"))
            .count();
        assert_eq!(ok, 2 * 9, "{user:?} control: {}", text(&out));
        let socks_ok = stdout.lines().filter(|l| l.trim() == "05 00 05 00").count();
        assert_eq!(socks_ok, 7, "{user:?} control: {}", text(&out));
    }
}

fn fetch(user: User, scratch: &Scratch, profile: &str, url: &str, output: bool) -> Output {
    let mut c: Command = user.command(&sandbox_bin());
    c.args(["fetch", "--profile", profile, "--workspace"])
        .arg(scratch.path());
    if output {
        c.arg("-o").arg(scratch.path().join("out"));
    }
    c.arg(url)
        .env("MISSY_EGRESS_DNS", "off")
        .current_dir(scratch.path())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn fetch_follows_the_policy_reports_redirects_and_cuts_oversized_responses() {
    let port = upstream_port();
    for user in USERS {
        let scratch = Scratch::new(user);
        let p = profile(&scratch, user, true);
        let out = fetch(
            user,
            &scratch,
            &p,
            &format!("http://allowed.test:{port}/"),
            false,
        );
        assert_eq!(out.status.code(), Some(0), "{user:?}: {}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), BODY);

        let out = fetch(
            user,
            &scratch,
            &p,
            &format!("http://allowed.test:{port}/redirect"),
            true,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{user:?}: {}", text(&out));
        assert!(
            stderr.contains("302 redirect to http://elsewhere.test/next (not followed)"),
            "{user:?}: {}",
            text(&out)
        );

        let out = fetch(
            user,
            &scratch,
            &p,
            &format!("http://allowed.test:{port}/big"),
            true,
        );
        assert_eq!(out.status.code(), Some(5), "{user:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("larger than the limit of 1024 bytes"),
            "{user:?}: {}",
            text(&out)
        );
        assert!(
            !scratch.path().join("out").exists(),
            "a cut body is not left behind"
        );

        for url in [
            format!("http://evil.test:{port}/"),
            format!("http://2130706433:{port}/"),
            format!("http://[::ffff:127.0.0.1]:{port}/"),
        ] {
            let nocidr = profile(&scratch, user, false);
            let out = fetch(user, &scratch, &nocidr, &url, false);
            assert_eq!(out.status.code(), Some(4), "{user:?} {url}: {}", text(&out));
            assert!(out.stdout.is_empty());
        }
        let nocidr = profile(&scratch, user, false);
        let out = fetch(
            user,
            &scratch,
            &nocidr,
            &format!("http://rebind.test:{port}/"),
            false,
        );
        assert_eq!(out.status.code(), Some(4), "{user:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("a blocked address"),
            "{user:?}: {}",
            text(&out)
        );
    }
}

/// The run's audit log holds one `proxy-decision` record per decision, with the rule and the
/// address connected to, before the run's closing record; the chain still verifies. Every
/// destination is on loopback, so even a broken proxy would send nothing further.
#[test]
fn proxy_decisions_are_in_the_runs_audit_log() {
    let port = upstream_port();
    for user in USERS {
        let scratch = Scratch::new(user);
        let toml = format!(
            "extends = \"strict\"\n[network]\nmode = \"proxy\"\n\
             allow = [\"allowed.test:{port}\", \"rebind.test:{port}\"]\n\
             allow_cidrs = [\"127.0.0.1/32\"]\n\
             hosts = {{ \"allowed.test\" = \"127.0.0.1\", \"rebind.test\" = \"127.0.0.2\" }}\n"
        );
        let p = scratch
            .file("egress-audit.toml", &toml, user)
            .to_string_lossy()
            .into_owned();
        let log = scratch.path().join("state/audit.jsonl");
        let script = format!(
            "curl -sS --proxytunnel http://allowed.test:{port}/ -o /dev/null; \
             curl -sS --socks5-hostname 127.0.0.1:3128 http://evil.test:{port}/; \
             curl -sS http://127.0.0.3:{port}/; curl -sS http://rebind.test:{port}/; true"
        );
        let out = exec_command(user, &scratch, &p, &["--audit-log"])
            .arg(&log)
            .args(["--", "sh", "-c", &script])
            .env("MISSY_EGRESS_DNS", "off")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{user:?}: {}", text(&out));
        let recs: Vec<serde_json::Value> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let events: Vec<&str> = recs.iter().map(|r| r["event"].as_str().unwrap()).collect();
        assert_eq!(
            events,
            [
                "anchor",
                "exec-start",
                "proxy-decision",
                "proxy-decision",
                "proxy-decision",
                "proxy-decision",
                "exec-end"
            ],
            "{user:?}: {recs:#?}"
        );
        let run = &recs[1]["run"];
        let d = &recs[2..6];
        assert!(d.iter().all(|r| &r["run"] == run), "{d:#?}");
        let expect = [
            (
                "allow",
                format!("allowed.test:{port}"),
                format!("allow allowed.test:{port}"),
                format!("http-connect: connected to 127.0.0.1:{port}"),
            ),
            (
                "deny",
                format!("evil.test:{port}"),
                "network.allow (no entry matches)".to_string(),
                format!("socks5: evil.test:{port} is not allowed by network.allow"),
            ),
            (
                "deny",
                format!("127.0.0.3:{port}"),
                "blocked range loopback (127.0.0.0/8), not in network.allow_cidrs".to_string(),
                "http-forward: 127.0.0.3 is not allowed by network.allow_cidrs (blocked range: loopback (127.0.0.0/8))".to_string(),
            ),
            (
                "deny",
                format!("rebind.test:{port}"),
                "blocked range loopback (127.0.0.0/8) (resolved), not in network.allow_cidrs"
                    .to_string(),
                "http-forward: rebind.test resolves to 127.0.0.2, a blocked address (loopback (127.0.0.0/8)) not in network.allow_cidrs".to_string(),
            ),
        ];
        for (r, (decision, target, rule, message)) in d.iter().zip(expect) {
            assert_eq!(
                (
                    r["decision"].as_str(),
                    r["target"].as_str(),
                    r["rule"].as_str(),
                    r["message"].as_str()
                ),
                (
                    Some(decision),
                    Some(target.as_str()),
                    Some(rule.as_str()),
                    Some(message.as_str())
                ),
                "{user:?}"
            );
        }
        let verify = user
            .command(&sandbox_bin())
            .args(["audit", "verify"])
            .arg(&log)
            .output()
            .unwrap();
        assert_eq!(verify.status.code(), Some(0), "{user:?}: {verify:?}");
    }
}

/// A CA made for this test, and an https server on 127.0.0.1 whose certificate (for
/// `tls.test`) it signed: `/` answers [`TLS_BODY`]. Returns the port and the CA's PEM.
fn tls_upstream() -> &'static (u16, String) {
    static SERVER: OnceLock<(u16, String)> = OnceLock::new();
    SERVER.get_or_init(|| {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "missy-sandbox test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["tls.test".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
            )
            .unwrap();
        let config = std::sync::Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let config = config.clone();
                std::thread::spawn(move || {
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut tls = rustls::StreamOwned::new(conn, stream);
                    // A client that rejects the certificate ends the handshake here.
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match tls.read(&mut byte) {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let _ = write!(
                        tls,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{TLS_BODY}",
                        TLS_BODY.len()
                    );
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        (port, ca_cert.pem())
    })
}

const TLS_BODY: &str = "hello-over-tls";

/// `fetch` verifies https certificates: one signed by an unknown CA is refused with a clear
/// error, the same server is trusted once its CA is given (`--ca-file`, or `SSL_CERT_FILE`),
/// and the name is still checked. The loopback server is reachable only because `allow_cidrs`
/// names its address: without it the same fetch is refused before any handshake.
#[test]
fn fetch_verifies_https_certificates_and_trusts_a_given_ca() {
    let (port, ca_pem) = tls_upstream();
    let port = *port;
    for user in USERS {
        let scratch = Scratch::new(user);
        let ca = scratch.file("ca.pem", ca_pem, user);
        let ca = ca.to_str().unwrap();
        let write_profile = |name: &str, cidrs: &str| {
            let toml = format!(
                "extends = \"strict\"\n[network]\nmode = \"proxy\"\n\
                 allow = [\"tls.test:{port}\", \"other.test:{port}\"]\n{cidrs}\
                 hosts = {{ \"tls.test\" = \"127.0.0.1\", \"other.test\" = \"127.0.0.1\" }}\n"
            );
            scratch
                .file(name, &toml, user)
                .to_string_lossy()
                .into_owned()
        };
        let open = write_profile("tls.toml", "allow_cidrs = [\"127.0.0.1/32\"]\n");
        let closed = write_profile("tls-nocidr.toml", "");
        let url = format!("https://tls.test:{port}/");
        let run = |profile: &str, url: &str, extra: &[&str], env: Option<&str>| {
            let mut c: Command = user.command(&sandbox_bin());
            c.args(["fetch", "--profile", profile, "--workspace"])
                .arg(scratch.path())
                .args(extra)
                .arg(url)
                .env("MISSY_EGRESS_DNS", "off")
                .env_remove("SSL_CERT_FILE")
                .env_remove("SSL_CERT_DIR")
                .current_dir(scratch.path())
                .stdin(Stdio::null());
            if let Some(file) = env {
                c.env("SSL_CERT_FILE", file);
            }
            c.output().unwrap()
        };

        let out = run(&open, &url, &[], None);
        assert_eq!(out.status.code(), Some(1), "{user:?}: {}", text(&out));
        assert!(out.stdout.is_empty(), "{user:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("the server's certificate is not trusted: UnknownIssuer")
                && stderr.contains("--ca-file"),
            "{user:?}: {}",
            text(&out)
        );

        let out = run(&open, &url, &["--ca-file", ca], None);
        assert_eq!(out.status.code(), Some(0), "{user:?}: {}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), TLS_BODY);

        let out = run(&open, &url, &[], Some(ca));
        assert_eq!(out.status.code(), Some(0), "{user:?}: {}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), TLS_BODY);

        // A trusted CA does not make the certificate good for another name.
        let other = format!("https://other.test:{port}/");
        let out = run(&open, &other, &["--ca-file", ca], None);
        assert_eq!(out.status.code(), Some(1), "{user:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("NotValidForName"),
            "{user:?}: {}",
            text(&out)
        );

        let out = run(&closed, &url, &["--ca-file", ca], None);
        assert_eq!(out.status.code(), Some(4), "{user:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("a blocked address"),
            "{user:?}: {}",
            text(&out)
        );

        let out = run(&open, &url, &["--ca-file", "/nonexistent/ca.pem"], None);
        assert_eq!(out.status.code(), Some(2), "{user:?}: {}", text(&out));
    }
}

/// `fetch` runs outside any sandbox, so its decision is audited as a run of its own.
#[test]
fn fetch_decisions_are_audited() {
    let port = upstream_port();
    for user in USERS {
        let scratch = Scratch::new(user);
        let p = profile(&scratch, user, true);
        let log = scratch.path().join("audit.jsonl");
        for (url, code) in [
            (format!("http://allowed.test:{port}/"), 0),
            (format!("http://evil.test:{port}/"), 4),
        ] {
            let out = user
                .command(&sandbox_bin())
                .arg("--audit-log")
                .arg(&log)
                .args(["fetch", "--profile", &p, "--workspace"])
                .arg(scratch.path())
                .arg(&url)
                .env("MISSY_EGRESS_DNS", "off")
                .current_dir(scratch.path())
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(code),
                "{user:?} {url}: {}",
                text(&out)
            );
        }
        let records: Vec<serde_json::Value> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|r: &serde_json::Value| r["event"] == "proxy-decision")
            .collect();
        assert_eq!(records.len(), 2, "{user:?}: {records:?}");
        assert_eq!(records[0]["decision"], "allow", "{user:?}: {records:?}");
        assert_eq!(records[0]["target"], format!("allowed.test:{port}"));
        assert_eq!(records[1]["decision"], "deny", "{user:?}: {records:?}");
        // A refused URL is recorded as it was asked for.
        assert!(
            records[1]["target"]
                .as_str()
                .unwrap()
                .contains(&format!("evil.test:{port}"))
        );
        assert_eq!(records[0]["argv"][0], "fetch", "{:?}", records[0]);
    }
}
