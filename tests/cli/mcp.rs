//! `missy-sandbox mcp`: a session driven by the official MCP Python client (`mcp` from PyPI,
//! installed by this test into a virtual environment; SKIP when that cannot be done), in both
//! protocol eras; raw JSON-RPC (malformed, out-of-order and oversized lines get clear errors
//! and the server keeps serving); the golden tool list; a cancelled call, a killed server and a
//! terminated one leaving no sandboxed process. The server runs as root and as uid 65534.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{LinePeer, Scratch, USERS, User, sandbox_bin, wait_until};

/// The `mcp` release the session test installs (its LATEST_PROTOCOL_VERSION is 2026-07-28).
const MCP_PACKAGE: &str = "mcp==2.3.0";
/// Longest wait for one answer (a call starts a sandbox; debug builds are slow).
const ANSWER: Duration = Duration::from_secs(60);

/// The argv that runs `missy-sandbox ARGS` as `user`.
fn server_argv(user: User, args: &[&str]) -> Vec<String> {
    let mut argv = user.argv_prefix();
    argv.push(sandbox_bin().to_string_lossy().into_owned());
    argv.extend(["--audit-log", "off", "mcp"].map(String::from));
    argv.extend(args.iter().map(|a| a.to_string()));
    argv
}

/// A server on pipes, killed on drop.
struct Server(LinePeer);

impl Server {
    fn start(user: User, workspace: &Path, profile: &str) -> Server {
        Server::start_with(user, workspace, profile, &[])
    }

    fn start_with(user: User, workspace: &Path, profile: &str, extra: &[&str]) -> Server {
        let ws = workspace.to_str().unwrap();
        let mut args = vec!["--profile", profile, "--workspace", ws];
        args.extend_from_slice(extra);
        let argv = server_argv(user, &args);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).stderr(Stdio::null());
        Server(LinePeer::spawn(cmd))
    }

    fn send(&mut self, line: &str) {
        self.0.send(line);
    }

    fn recv(&self) -> Value {
        self.0.recv_json(ANSWER)
    }

    fn ask(&mut self, line: &str) -> Value {
        self.send(line);
        self.recv()
    }

    fn initialize(&mut self) {
        let r = self.ask(
            r#"{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"0"}}}"#,
        );
        assert_eq!(r["result"]["protocolVersion"], "2025-06-18", "{r}");
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    }
}

fn error_code(v: &Value) -> i64 {
    v["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("expected an error: {v}"))
}

#[test]
fn malformed_out_of_order_and_oversized_messages_get_errors_and_serving_goes_on() {
    let _fds = crate::harness::holding_fds();
    for user in USERS {
        let ws = Scratch::new(user);
        let mut s = Server::start(user, ws.path(), "strict");
        let ping = r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#;
        // Before the handshake: refused with the request's id, and a ping still answered.
        let r = s.ask(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
        assert_eq!(
            (error_code(&r), &r["id"]),
            (-32003, &json!(1)),
            "{user:?}: {r}"
        );
        assert!(
            r["error"]["message"]
                .as_str()
                .unwrap()
                .contains("initialize")
        );
        assert_eq!(s.ask(ping)["result"], json!({}), "{user:?}");
        // Not JSON, a batch, a non-object, a wrong version: each answered, id null or kept.
        let r = s.ask("{\"jsonrpc\": \"2.0\", \"id\": 2, \"method\": ");
        assert_eq!((error_code(&r), &r["id"]), (-32700, &Value::Null), "{r}");
        let r = s.ask(r#"[{"jsonrpc":"2.0","id":3,"method":"ping"}]"#);
        assert_eq!(error_code(&r), -32600, "{r}");
        assert!(r["error"]["message"].as_str().unwrap().contains("batch"));
        assert_eq!(error_code(&s.ask("17")), -32600);
        let r = s.ask(r#"{"jsonrpc":"1.0","id":4,"method":"ping"}"#);
        assert_eq!((error_code(&r), &r["id"]), (-32600, &json!(4)), "{r}");
        // A line over the limit is skipped whole, and said so.
        let big = format!(
            r#"{{"jsonrpc":"2.0","id":5,"method":"ping","params":{{"pad":"{}"}}}}"#,
            "x".repeat(9 << 20)
        );
        let r = s.ask(&big);
        assert_eq!(error_code(&r), -32600, "{user:?}");
        assert_eq!(r["error"]["data"]["limit"], json!(8 << 20));
        assert_eq!(
            s.ask(ping)["id"],
            "p",
            "{user:?}: still serving after the long line"
        );
        // The handshake, once.
        s.initialize();
        let r = s.ask(
            r#"{"jsonrpc":"2.0","id":6,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}}"#,
        );
        assert_eq!(error_code(&r), -32600, "{r}");
        assert!(
            r["error"]["message"]
                .as_str()
                .unwrap()
                .contains("already initialized")
        );
        // Unknown methods and tools, missing names: protocol errors.
        let r = s.ask(r#"{"jsonrpc":"2.0","id":7,"method":"resources/list"}"#);
        assert_eq!(error_code(&r), -32601, "{r}");
        let r = s.ask(r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"format_disk","arguments":{}}}"#);
        assert_eq!(error_code(&r), -32602, "{r}");
        let r =
            s.ask(r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"arguments":{}}}"#);
        assert_eq!(error_code(&r), -32602, "{r}");
        // Unknown notifications and stray responses get no answer: the next line is the ping's.
        s.send(r#"{"jsonrpc":"2.0","method":"notifications/whatever","params":{}}"#);
        s.send(r#"{"jsonrpc":"2.0","id":99,"result":{}}"#);
        assert_eq!(s.ask(ping)["id"], "p", "{user:?}");
        // Still a working server.
        let r = s.ask(r#"{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"run_command","arguments":{"argv":["echo","still here"]}}}"#);
        assert_eq!(r["result"]["isError"], false, "{user:?}: {r}");
        assert!(
            r["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("still here")
        );
    }
}

#[test]
fn versions_are_negotiated_in_both_eras() {
    let _fds = crate::harness::holding_fds();
    let ws = Scratch::new(User::Root);
    let mut s = Server::start(User::Root, ws.path(), "strict");
    // An unknown handshake version is answered with the latest handshake revision.
    let r = s.ask(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1999-01-01","capabilities":{}}}"#);
    assert_eq!(r["result"]["protocolVersion"], "2025-11-25", "{r}");
    assert!(r["result"]["capabilities"]["tools"].is_object(), "{r}");
    drop(s);
    // 2026-07-28: discover, then requests carrying the envelope; another version is named.
    let mut s = Server::start(User::Root, ws.path(), "strict");
    let envelope = |v: &str| json!({"io.modelcontextprotocol/protocolVersion": v, "io.modelcontextprotocol/clientCapabilities": {}});
    let r = s.ask(&json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta": envelope("2025-06-18")}}).to_string());
    assert_eq!(error_code(&r), -32022, "{r}");
    assert_eq!(
        r["error"]["data"]["supported"],
        json!(["2026-07-28"]),
        "{r}"
    );
    let r = s.ask(&json!({"jsonrpc":"2.0","id":2,"method":"server/discover","params":{"_meta": envelope("2026-07-28")}}).to_string());
    assert!(
        r["result"]["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28")),
        "{r}"
    );
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    let r = s.ask(&json!({"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"_meta": envelope("2026-07-28")}}).to_string());
    assert_eq!(r["result"]["tools"].as_array().unwrap().len(), 5, "{r}");
    let r = s.ask(r#"{"jsonrpc":"2.0","id":4,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}}"#);
    assert_eq!(
        error_code(&r),
        -32022,
        "a modern connection refuses a late handshake: {r}"
    );
}

#[test]
fn tool_names_descriptions_and_schemas_match_the_golden_copy() {
    let _fds = crate::harness::holding_fds();
    let golden: Value =
        serde_json::from_str(include_str!("data/mcp_tools.json")).expect("golden file is JSON");
    let ws = Scratch::new(User::Root);
    let mut s = Server::start(User::Root, ws.path(), "strict");
    s.initialize();
    let r = s.ask(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#);
    assert_eq!(
        r["result"]["tools"],
        golden,
        "tools/list changed; if on purpose, update tests/cli/data/mcp_tools.json with:\n{}",
        serde_json::to_string_pretty(&r["result"]["tools"]).unwrap()
    );
}

/// Whether a process whose command line holds `marker` runs on the host.
fn running(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        let mut cmdline = Vec::new();
        std::fs::File::open(e.path().join("cmdline"))
            .and_then(|mut f| f.read_to_end(&mut cmdline))
            .is_ok()
            && String::from_utf8_lossy(&cmdline).contains(marker)
    })
}

#[test]
fn a_cancelled_call_and_a_killed_server_leave_no_sandboxed_process() {
    let _fds = crate::harness::holding_fds();
    for user in USERS {
        let ws = Scratch::new(user);
        let mut s = Server::start(user, ws.path(), "strict");
        s.initialize();
        let marker = format!("{}.{}", 900 + user.uid() % 7, std::process::id());
        let call = |id: u32| {
            json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"run_command","arguments":{"argv":["sleep", marker]}}}).to_string()
        };
        s.send(&call(1));
        wait_until("the call's sleep to start", ANSWER, || running(&marker));
        s.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"test"}}"#);
        wait_until(
            "the cancelled call's sandbox to end",
            Duration::from_secs(10),
            || !running(&marker),
        );
        // The cancelled request is not answered; the server goes on.
        let r = s.ask(r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#);
        assert_eq!(r["id"], "p", "{user:?}: {r}");
        // SIGKILL the server mid-call: its runs die with it.
        s.send(&call(2));
        wait_until("the second call's sleep to start", ANSWER, || {
            running(&marker)
        });
        s.0.child.kill().unwrap();
        s.0.child.wait().unwrap();
        wait_until(
            "the killed server's sandbox to end",
            Duration::from_secs(10),
            || !running(&marker),
        );
        // SIGTERM mid-call: the server kills the call and exits 0, its input still open.
        let mut s = Server::start(user, ws.path(), "strict");
        s.initialize();
        s.send(&call(3));
        wait_until("the third call's sleep to start", ANSWER, || {
            running(&marker)
        });
        let term = Command::new("kill")
            .args(["-TERM", &s.0.child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        let status = s.0.child.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(0),
            "{user:?}: SIGTERM ends the server cleanly"
        );
        wait_until(
            "the terminated server's sandbox to end",
            Duration::from_secs(10),
            || !running(&marker),
        );
    }
}

#[test]
fn calls_beyond_the_queue_are_busy_and_a_time_limit_ends_a_call() {
    let _fds = crate::harness::holding_fds();
    let ws = Scratch::new(User::Root);
    let mut s = Server::start_with(User::Root, ws.path(), "strict", &["--max-calls", "1"]);
    s.initialize();
    // A time limit: the call ends with exit status 124, an error result.
    let r = s.ask(r#"{"jsonrpc":"2.0","id":"t","method":"tools/call","params":{"name":"run_command","arguments":{"command":"sleep 30","timeout_seconds":1,"stdin":"ignored"}}}"#);
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert_eq!(r["result"]["structuredContent"]["exitStatus"], 124, "{r}");
    // One slot, 16 admitted: the 17th call waiting is refused, and the server goes on.
    for id in 0..16 {
        s.send(&json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"run_command","arguments":{"argv":["sleep","30"]}}}).to_string());
    }
    let r = s.ask(r#"{"jsonrpc":"2.0","id":16,"method":"tools/call","params":{"name":"run_command","arguments":{"argv":["true"]}}}"#);
    assert_eq!((error_code(&r), &r["id"]), (-32004, &json!(16)), "{r}");
    // An id still under way cannot be reused.
    let r = s.ask(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"run_command","arguments":{"argv":["true"]}}}"#);
    assert_eq!(error_code(&r), -32600, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already in use"),
        "{r}"
    );
    assert_eq!(
        s.ask(r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#)["id"],
        "p"
    );
}

/// A loopback HTTP server answering every request with `body`; its port.
fn http_server(body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// The virtual environment's python with the `mcp` package, made once per build directory.
fn python_with_mcp() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let target = PathBuf::from(env!("CARGO_BIN_EXE_missy-sandbox"));
            let dir = target
                .parent()
                .and_then(Path::parent)
                .ok_or("no build directory")?
                .join(format!("mcp-venv-{}", MCP_PACKAGE.replace("==", "-")));
            let python = dir.join("bin/python");
            let has_mcp = |python: &Path| {
                Command::new(python)
                    .args(["-c", "import mcp.client.stdio"])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            };
            if has_mcp(&python) {
                return Ok(python);
            }
            // Built aside and renamed into place, so a half-made environment is never used.
            let mut name = dir.file_name().unwrap_or_default().to_os_string();
            name.push(format!(".building-{}", std::process::id()));
            let building = dir.with_file_name(name);
            let _ = std::fs::remove_dir_all(&building);
            let run = |cmd: &mut Command, what: &str| -> Result<(), String> {
                let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
                if out.status.success() {
                    return Ok(());
                }
                let _ = std::fs::remove_dir_all(&building);
                // pip's last line says why; the retries' warnings come before it.
                let stderr = String::from_utf8_lossy(&out.stderr);
                let why = stderr.lines().rev().find(|l| !l.trim().is_empty());
                Err(format!(
                    "{what} failed: {}",
                    why.unwrap_or("no message").trim()
                ))
            };
            run(
                Command::new("python3").arg("-m").arg("venv").arg(&building),
                "python3 -m venv",
            )?;
            run(
                Command::new(building.join("bin/python"))
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                        // An unreachable index fails (and the test skips) instead of hanging.
                        "--timeout",
                        "60",
                        "--retries",
                        "2",
                    ])
                    .arg(MCP_PACKAGE),
                &format!("pip install {MCP_PACKAGE}"),
            )?;
            if std::fs::rename(&building, &dir).is_err() {
                // Another test process got there first.
                let _ = std::fs::remove_dir_all(&building);
            }
            if has_mcp(&python) {
                Ok(python)
            } else {
                Err(format!("{} cannot import mcp", python.display()))
            }
        })
        .clone()
}

#[test]
fn the_official_python_client_drives_a_session_in_both_eras() {
    let _fds = crate::harness::holding_fds();
    let python = match python_with_mcp() {
        Ok(p) => p,
        Err(reason) => {
            eprintln!("SKIP the_official_python_client_drives_a_session_in_both_eras: {reason}");
            return;
        }
    };
    let port = http_server("served-by-the-test");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cli/data/mcp_client.py");
    for user in USERS {
        let ws = Scratch::new(user);
        let elsewhere = Scratch::new(user);
        let secret_file = elsewhere.file("secret.txt", "top-secret-content\n", user);
        // Control: without the sandbox this user reads the file.
        let control = user
            .command(Path::new("/bin/cat"))
            .arg(&secret_file)
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&control.stdout).contains("top-secret-content"),
            "{user:?}: the control read failed, so the denial would prove nothing"
        );
        let profile = elsewhere.file(
            "mcp.toml",
            &format!(
                "extends = \"strict\"\n[network]\nmode = \"proxy\"\nallow = [\"allowed.test:{port}\"]\n\
                 allow_cidrs = [\"127.0.0.1/32\"]\nhosts = {{ \"allowed.test\" = \"127.0.0.1\" }}\n"
            ),
            user,
        );
        for (mode, version) in [("auto", "2026-07-28"), ("legacy", "2025-11-25")] {
            let argv = server_argv(
                user,
                &[
                    "--profile",
                    profile.to_str().unwrap(),
                    "--workspace",
                    ws.path().to_str().unwrap(),
                ],
            );
            let _ = std::fs::remove_file(ws.path().join("note.txt"));
            let config = json!({
                "argv": argv,
                "env": {},
                "mode": mode,
                "expect_version": version,
                "secret": "AKIAIOSFODNN7EXAMPLE",
                "denied_path": secret_file,
                "denied_text": "top-secret-content",
                "denied_write": "/usr/missy-mcp-test",
                "denied_dir": elsewhere.path(),
                "allowed_url": format!("http://allowed.test:{port}/"),
                "served_text": "served-by-the-test",
                "denied_url": format!("http://denied.test:{port}/"),
            });
            let out = Command::new(&python)
                .arg(&script)
                .arg(config.to_string())
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{user:?} {mode}:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                stdout.contains(&format!("\"version\": \"{version}\"")),
                "{stdout}"
            );
        }
    }
}

#[test]
fn the_standard_library_python_example_runs_its_loop() {
    let _fds = crate::harness::holding_fds();
    let ws = Scratch::new(User::Root);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/mcp_agent.py");
    let out = Command::new("python3")
        .arg(&example)
        .arg("--binary")
        .arg(sandbox_bin())
        .args(["--profile", "strict", "--workspace"])
        .arg(ws.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("tools: run_command, read_file, write_file, list_directory, fetch"),
        "{stdout}"
    );
    assert!(stdout.contains("written by mcp_agent.py"), "{stdout}");
    assert!(
        stdout.contains("6 tool calls, 2 refused or failed"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(ws.path().join("agent-notes.txt")).unwrap(),
        "written by mcp_agent.py\n"
    );
}
