//! `missy-sandbox mcp-gateway`: real third-party MCP servers installed from the registries
//! (`@modelcontextprotocol/server-filesystem` from npm, `mcp-server-git` from PyPI) and a test
//! server that misbehaves (tests/cli/data/gateway/raw_server.py), driven through the gateway by
//! the official Python `mcp` client (tests/cli/data/gateway/drive.py), as root and as uid 65534;
//! then the gateway's own protocol handling, fed malformed, oversized and out-of-order lines.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{LinePeer, Scratch, USERS, User, chown, sandbox_bin, wait_until};

const NPM_SERVER: &str = "@modelcontextprotocol/server-filesystem@2026.8.31";
const PYPI_PACKAGES: [&str; 2] = ["mcp==2.3.0", "mcp-server-git==2026.10.19"];
/// Shared by test runs (installing takes half a minute), readable by every user, outside any
/// home directory; versioned by what it holds.
const DEPS: &str = "/var/tmp/missy-test-gateway-deps-2026.8.31-2026.10.19-2.3.0";

/// The installed servers and client: (python of the venv, the filesystem server's script).
fn deps() -> Result<(PathBuf, PathBuf), String> {
    static DEPS_DIR: OnceLock<Result<(PathBuf, PathBuf), String>> = OnceLock::new();
    DEPS_DIR
        .get_or_init(|| {
            let dir = PathBuf::from(DEPS);
            let python = dir.join("venv/bin/python");
            let fs_server =
                dir.join("npm/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
            let ready = |d: &Path| d.join("ready").exists();
            if ready(&dir) {
                return Ok((python, fs_server));
            }
            // A venv's scripts name its path, so it is made where it stays; `ready` is written
            // last, and a half-made directory is made again.
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("npm")).map_err(|e| e.to_string())?;
            let run = |cmd: &mut Command, what: &str| -> Result<(), String> {
                let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
                if out.status.success() {
                    return Ok(());
                }
                let stderr = String::from_utf8_lossy(&out.stderr);
                let why = stderr.lines().rev().find(|l| !l.trim().is_empty());
                Err(format!(
                    "{what} failed: {}",
                    why.unwrap_or("no message").trim()
                ))
            };
            // The system python, so the venv works for every user and inside the sandbox.
            run(
                Command::new("/usr/bin/python3")
                    .args(["-m", "venv"])
                    .arg(dir.join("venv")),
                "python3 -m venv",
            )?;
            run(
                Command::new(&python)
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                    ])
                    // An unreachable index fails (and the test skips) instead of hanging.
                    .args(["--timeout", "60", "--retries", "2"])
                    .args(PYPI_PACKAGES),
                "pip install",
            )?;
            run(
                Command::new("npm")
                    .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
                    .arg(dir.join("npm"))
                    .arg(NPM_SERVER),
                "npm install",
            )?;
            std::fs::write(dir.join("ready"), "").map_err(|e| e.to_string())?;
            Ok((python, fs_server))
        })
        .clone()
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/cli/data/gateway")
        .join(name)
}

/// The gateway's command line as `user`.
fn gateway_argv(user: User, args: &[String]) -> Vec<String> {
    let mut argv = user.argv_prefix();
    argv.push(sandbox_bin().to_string_lossy().into_owned());
    argv.extend(["--audit-log", "off", "mcp-gateway"].map(String::from));
    argv.extend(args.iter().cloned());
    argv
}

/// A loopback listener that counts the connections it accepts, closed on drop.
struct Listener {
    port: u16,
    seen: Arc<AtomicUsize>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Listener {
    fn start() -> Listener {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (counter, stopped) = (Arc::clone(&seen), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok(_) => {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Listener { port, seen, stop }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[test]
fn real_servers_are_confined_screened_and_restarted_through_the_gateway() {
    let _fds = crate::harness::holding_fds();
    let (python, fs_server) = match deps() {
        Ok(d) => d,
        Err(reason) => {
            eprintln!(
                "SKIP real_servers_are_confined_screened_and_restarted_through_the_gateway: cannot install the servers: {reason}"
            );
            return;
        }
    };
    for user in USERS {
        let ws = Scratch::new(user);
        let outside = Scratch::new(user);
        let home = Scratch::new(user);
        let hello = ws.file("hello.txt", "hello from the workspace\n", user);
        let outside_file = outside.file("secret.txt", "outside-secret-text\n", user);
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        chown(&home.path().join(".ssh"), user);
        let ssh_key = home.file(".ssh/id_ed25519", "ssh-private-test-key\n", user);
        // The git server's repository: the workspace, committed.
        let git = |args: &[&str]| {
            let out = user
                .command(Path::new("/usr/bin/git"))
                .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
                .args(args)
                .current_dir(ws.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "git {args:?}: {out:?}");
        };
        git(&["init", "-q"]);
        git(&["add", "hello.txt"]);
        git(&["commit", "-qm", "init"]);
        let tools = Scratch::new(user);
        let raw_server = tools.path().join("raw_server.py");
        std::fs::copy(data("raw_server.py"), &raw_server).unwrap();
        let listener = Listener::start();
        let (port, seen) = (listener.port, Arc::clone(&listener.seen));
        let profile = tools.file(
            "servers.toml",
            &format!(
                "extends = \"dev\"\n[filesystem]\nexec = [\"{DEPS}\", \"{}\"]\n",
                tools.path().display()
            ),
            user,
        );
        let server_entry = |name: &str, command: Vec<String>, extra: &str| {
            format!(
                "[servers.{name}]\ncommand = {}\nprofile = \"{}\"\nworkspace = \"{}\"\n{extra}\n",
                json!(command),
                profile.display(),
                ws.path().display()
            )
        };
        let fs_command = |dirs: &[&Path]| {
            let mut c = vec!["node".to_string(), fs_server.to_string_lossy().into_owned()];
            c.extend(dirs.iter().map(|d| d.to_string_lossy().into_owned()));
            c
        };
        let raw = |marker: &str| {
            vec![
                "python3".to_string(),
                raw_server.to_string_lossy().into_owned(),
                marker.to_string(),
            ]
        };
        let git_command = vec![
            Path::new(DEPS)
                .join("venv/bin/mcp-server-git")
                .to_string_lossy()
                .into_owned(),
            "--repository".into(),
            ws.path().to_string_lossy().into_owned(),
        ];
        let config = tools.file(
            "gateway.toml",
            &[
                server_entry(
                    "fs",
                    fs_command(&[ws.path()]),
                    "tools = [\"read_text_file\", \"list_directory\"]",
                ),
                server_entry("git", git_command, ""),
                server_entry("evil", raw("evil"), "check_arguments = false"),
                server_entry("evilblock", raw("evilblock"), "screen = \"block\""),
            ]
            .concat(),
            user,
        );
        // The filesystem server told it may read `outside` too, and no argument check.
        let forged = tools.file(
            "forged.toml",
            &server_entry(
                "fs",
                fs_command(&[ws.path(), outside.path()]),
                "check_arguments = false",
            ),
            user,
        );
        let direct_prefix = user.argv_prefix();
        let mut fs_direct = direct_prefix.clone();
        fs_direct.extend(fs_command(&[ws.path(), outside.path()]));
        let mut raw_direct = vec![
            "/usr/bin/python3".to_string(),
            raw_server.to_string_lossy().into_owned(),
        ];
        raw_direct.push("direct".into());
        let cfg = json!({
            "argv": gateway_argv(user, &["--config".into(), config.to_string_lossy().into_owned()]),
            "forged_argv": gateway_argv(user, &["--config".into(), forged.to_string_lossy().into_owned()]),
            "env": {
                "HOME": home.path(),
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "XDG_STATE_HOME": home.path(),
            },
            "ws": ws.path(),
            "hello": hello,
            "outside_file": outside_file,
            "outside_text": "outside-secret-text",
            "ssh_key": ssh_key,
            "ssh_text": "ssh-private-test-key",
            "port": port,
            "raw_server": raw_direct,
            "direct_prefix": direct_prefix,
            "fs_direct": fs_direct,
        });
        let out = Command::new(&python)
            .arg(data("drive.py"))
            .arg(cfg.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("all checks passed"),
            "{user:?}:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Host-side evidence: only the unsandboxed control reached the listener.
        assert_eq!(
            seen.load(Ordering::SeqCst),
            1,
            "{user:?}: the sandboxed server reached the listener"
        );
    }
}

/// A gateway on pipes, killed on drop.
struct Gateway(LinePeer);

impl Gateway {
    fn start(args: &[&str], dir: &Path) -> Gateway {
        let mut cmd = Command::new(sandbox_bin());
        cmd.args(["--audit-log", "off", "mcp-gateway"])
            .args(args)
            .current_dir(dir)
            .env("HOME", dir)
            .stderr(Stdio::inherit());
        Gateway(LinePeer::spawn(cmd))
    }

    fn send(&mut self, line: &str) {
        self.0.send(line);
    }

    fn next(&self) -> Value {
        self.0.recv_json(Duration::from_secs(30))
    }

    /// Send a request and return the answer with its id (notifications on the way are skipped).
    fn ask(&mut self, id: i64, method: &str, params: Value) -> Value {
        self.send(
            &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string(),
        );
        loop {
            let v = self.next();
            if v["id"] == json!(id) {
                return v;
            }
        }
    }
}

fn initialize(gw: &mut Gateway) {
    let init = gw.ask(1, "initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}));
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    gw.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
}

fn text(answer: &Value) -> String {
    answer["result"]["content"]
        .as_array()
        .map(|c| c.iter().filter_map(|b| b["text"].as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn malformed_oversized_and_out_of_order_messages_get_errors_and_the_gateway_keeps_serving() {
    let _fds = crate::harness::holding_fds();
    let ws = Scratch::new(User::Root);
    std::fs::copy(data("raw_server.py"), ws.path().join("raw_server.py")).unwrap();
    let config = ws.file(
        "gateway.toml",
        "max_message = \"64KiB\"\n[servers.t]\ncommand = [\"python3\", \"raw_server.py\"]\nprofile = \"dev\"\nworkspace = \".\"\n",
        User::Root,
    );
    let mut gw = Gateway::start(&["--config", config.to_str().unwrap()], ws.path());
    // Out of order: a request before the handshake.
    let early = gw.ask(7, "tools/list", json!({}));
    assert_eq!(early["error"]["code"], -32003, "{early}");
    // Malformed.
    gw.send("{not json");
    let v = gw.next();
    assert_eq!(v["error"]["code"], -32700, "{v}");
    gw.send(r#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#);
    assert_eq!(gw.next()["error"]["code"], -32600);
    // Oversized from the client.
    gw.send(&format!(
        r#"{{"jsonrpc":"2.0","id":8,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(100 << 10)
    ));
    let v = gw.next();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exceeds the gateway's limit"),
        "{v}"
    );
    initialize(&mut gw);
    // A response to nothing the gateway asked: ignored.
    gw.send(r#"{"jsonrpc":"2.0","id":99,"result":{}}"#);
    let listed = gw.ask(2, "tools/list", json!({}));
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"t__echo") && names.contains(&"t__big"),
        "{names:?}"
    );
    let unknown = gw.ask(3, "tools/call", json!({"name": "t__nope"}));
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    let unnamespaced = gw.ask(4, "tools/call", json!({"name": "echo"}));
    assert_eq!(unnamespaced["error"]["code"], -32602, "{unnamespaced}");
    // From the server: a malformed line, then its answer.
    let after = gw.ask(
        5,
        "tools/call",
        json!({"name": "t__garbage", "arguments": {}}),
    );
    assert_eq!(text(&after), "after garbage", "{after}");
    // From the server, out of order: an answer to nothing, a request of its own (refused).
    let stray = gw.ask(
        12,
        "tools/call",
        json!({"name": "t__stray", "arguments": {}}),
    );
    assert_eq!(text(&stray), "after stray", "{stray}");
    // From the server: an answer over its limit fails that call only.
    let big = gw.ask(
        6,
        "tools/call",
        json!({"name": "t__big", "arguments": {"bytes": 200000}}),
    );
    assert!(
        big["error"]["message"]
            .as_str()
            .unwrap()
            .contains("over its limit"),
        "{big}"
    );
    let small = gw.ask(
        9,
        "tools/call",
        json!({"name": "t__big", "arguments": {"bytes": 10}}),
    );
    assert_eq!(text(&small), "x".repeat(10), "{small}");
    // Still serving, and cancellation is passed on without an answer to the cancelled call.
    // The server takes one request at a time and finishes its sleep despite the cancellation,
    // so its answer to the sleep comes before the echo's: the gateway must drop it. The sleep
    // is cancelled once it runs, and lasts long enough for the gateway to read the cancellation.
    let sleeping = ws.path().join("sleeping");
    gw.send(&json!({"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {"name": "t__sleep", "arguments": {"seconds": 10}}}).to_string());
    wait_until(
        "the server's sleep to start",
        Duration::from_secs(30),
        || sleeping.exists(),
    );
    gw.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":10}}"#);
    gw.send(&json!({"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {"name": "t__echo", "arguments": {"a": 1}}}).to_string());
    let echo = loop {
        let v = gw.next();
        assert_ne!(v["id"], json!(10), "the cancelled call was answered: {v}");
        if v["id"] == json!(11) {
            break v;
        }
    };
    assert_eq!(text(&echo), "{\"a\": 1}", "{echo}");
    // The server read the cancellation, naming the sleep's id, before the echo request.
    let downstream = std::fs::read_to_string(&sleeping).unwrap();
    let cancelled = std::fs::read_to_string(ws.path().join("cancelled")).unwrap_or_default();
    assert_eq!(
        cancelled,
        format!("{downstream}\n"),
        "the cancellation was not passed on"
    );
}

#[test]
fn bad_configurations_are_refused_with_the_line_and_key() {
    let ws = Scratch::new(User::Root);
    std::fs::copy(data("raw_server.py"), ws.path().join("raw_server.py")).unwrap();
    let run = |config: &str| {
        let path = ws.file("bad.toml", config, User::Root);
        Command::new(sandbox_bin())
            .args(["--audit-log", "off", "mcp-gateway", "--config"])
            .arg(&path)
            .current_dir(ws.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = run("[servers.t]\ncommand = [\"python3\", \"raw_server.py\"]\nscreen = \"loud\"\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bad.toml:3") && stderr.contains("screen"),
        "{stderr}"
    );
    // A server listing one tool twice: a collision is an error at start.
    let out = run(
        "[servers.t]\ncommand = [\"python3\", \"raw_server.py\", \"x\", \"--duplicate\"]\nprofile = \"dev\"\nworkspace = \".\"\n",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`t__echo` is offered twice"), "{stderr}");
    // A server that does not start: exit 125, with its own words.
    let out = run(
        "[servers.t]\ncommand = [\"python3\", \"no_such_server.py\"]\nprofile = \"dev\"\nworkspace = \".\"\n",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(
        stderr.contains("no_such_server.py") && stderr.contains("did not start"),
        "{stderr}"
    );
}

#[test]
fn config_snippets_point_each_client_at_the_gateway() {
    let ws = Scratch::new(User::Root);
    let config = ws.file("gw.toml", "", User::Root);
    let snippet = |client: &str| {
        let out = Command::new(sandbox_bin())
            .args([
                "mcp-gateway",
                "config-snippet",
                "--client",
                client,
                "--config",
            ])
            .arg(&config)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let claude: Value = serde_json::from_str(&snippet("claude-code")).unwrap();
    let entry = &claude["mcpServers"]["missy-gateway"];
    assert_eq!(entry["type"], "stdio");
    assert_eq!(entry["args"], json!(["mcp-gateway", "--config", config]));
    assert!(Path::new(entry["command"].as_str().unwrap()).exists());
    let codex: toml::Table = toml::from_str(&snippet("codex")).unwrap();
    assert_eq!(
        codex["mcp_servers"]["missy-gateway"]["args"][2].as_str(),
        Some(config.to_str().unwrap())
    );
    let generic: Value = serde_json::from_str(&snippet("generic")).unwrap();
    assert!(generic["mcpServers"]["missy-gateway"]["command"].is_string());
}
