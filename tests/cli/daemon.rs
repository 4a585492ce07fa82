//! `missy-sandbox serve`: the protocol (malformed, oversized and out-of-order lines get clear
//! errors and the daemon keeps serving), grants, 32 concurrent runs with unmixed output, cancel
//! and disconnect killing a run, and a SIGKILLed daemon leaving no sandboxed process. The daemon
//! runs as root and as uid 65534; the tests' client is root (a grant names it for the
//! unprivileged daemon, which must then find the workspace owned by root).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use missy_agent::client::{Client, ClientError, Event, ExecRequest};

use crate::harness::{Scratch, USERS, User, sandbox_bin, two_cpus_or_skip, wait_until};

/// A running daemon, killed on drop.
pub struct Daemon {
    pub child: Child,
    pub socket: PathBuf,
    _dir: Scratch,
}

impl Daemon {
    pub fn start(user: User, extra: &[&str]) -> Daemon {
        Daemon::start_with(user, extra, |_| {})
    }

    /// `start`, with the daemon's command adjusted by `configure` (its directory, its
    /// environment) before it is spawned.
    pub fn start_with(
        user: User,
        extra: &[&str],
        configure: impl FnOnce(&mut std::process::Command),
    ) -> Daemon {
        let dir = Scratch::new(user);
        let socket = dir.path().join("missy.sock");
        let mut cmd = user.command(&sandbox_bin());
        cmd.args(["--audit-log", "off", "serve", "--socket"])
            .arg(&socket)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        configure(&mut cmd);
        if user == User::Nobody {
            // The tests' client is root: grant it, unless the test sets its own grants.
            if !extra.contains(&"--allow-uid") {
                cmd.args(["--allow-uid", "0"]);
            }
        }
        let child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "the daemon did not start listening"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        Daemon {
            child,
            socket,
            _dir: dir,
        }
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.socket).unwrap()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A workspace the client (root) owns and every user can read.
pub fn workspace() -> Scratch {
    Scratch::new(User::Root)
}

fn ws(s: &Scratch) -> String {
    s.path().to_str().unwrap().to_string()
}

/// A raw connection, for lines the client library never sends.
struct Raw {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Raw {
    fn connect(path: &Path) -> Raw {
        let s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Raw {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    fn send(&mut self, line: &[u8]) {
        self.writer.write_all(line).unwrap();
        self.writer.write_all(b"\n").unwrap();
    }

    fn recv(&mut self) -> serde_json::Value {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }

    fn expect_error(&mut self, line: &[u8], code: &str) -> serde_json::Value {
        self.send(line);
        let reply = self.recv();
        assert_eq!(reply["type"], "error", "{reply}");
        assert_eq!(reply["code"], code, "{reply}");
        assert!(!reply["message"].as_str().unwrap().is_empty());
        reply
    }
}

/// Host pids of processes whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
        .collect()
}

#[test]
fn bad_lines_get_clear_errors_and_the_daemon_keeps_serving() {
    for user in USERS {
        let d = Daemon::start(user, &[]);
        let w = workspace();
        let mut raw = Raw::connect(&d.socket);
        // Out of order: anything before hello.
        raw.expect_error(br#"{"type":"health"}"#, "out_of_order");
        raw.expect_error(
            br#"{"type":"hello","versions":[99]}"#,
            "unsupported_version",
        );
        raw.send(br#"{"type":"hello","versions":[1,99]}"#);
        assert_eq!(raw.recv()["version"], 1);
        raw.expect_error(br#"{"type":"hello","versions":[1]}"#, "out_of_order");
        raw.expect_error(b"{not json", "malformed");
        raw.expect_error(b"[1,2,3]", "malformed");
        let r = raw.expect_error(br#"{"type":"launch","id":"x"}"#, "malformed");
        assert_eq!(r["id"], "x");
        raw.expect_error(br#"{"type":"health","surprise":true}"#, "malformed");
        raw.expect_error(
            br#"{"type":"exec","id":"e","profile":"strict","argv":[],"workspace":"/"}"#,
            "bad_request",
        );
        raw.expect_error(
            br#"{"type":"exec","id":"e","profile":"strict","argv":["true"],"workspace":"relative"}"#,
            "bad_request",
        );
        raw.expect_error(br#"{"type":"cancel","id":"nothing"}"#, "unknown_id");
        // A profile given as a path is never granted by name.
        let evil = format!(
            r#"{{"type":"exec","id":"p","profile":"/tmp/x.toml","argv":["true"],"workspace":"{}"}}"#,
            ws(&w)
        );
        raw.expect_error(evil.as_bytes(), "forbidden");
        // Oversized: more than the line limit, skipped to its newline.
        let mut big = br#"{"type":"exec","id":"big","stdin":""#.to_vec();
        big.extend(std::iter::repeat_n(b'a', (1 << 20) + 10));
        big.extend_from_slice(br#""}"#);
        raw.expect_error(&big, "too_large");
        // Invalid UTF-8.
        raw.expect_error(b"{\"type\":\"health\",\"id\":\"\xff\"}", "malformed");
        // And the connection still works.
        let run = format!(
            r#"{{"type":"exec","id":"ok","profile":"strict","argv":["echo","still serving"],"workspace":"{}"}}"#,
            ws(&w)
        );
        raw.send(run.as_bytes());
        let mut out = String::new();
        loop {
            let e = raw.recv();
            match e["type"].as_str().unwrap() {
                "stdout" => out.push_str(e["data"].as_str().unwrap()),
                "exit" => {
                    assert_eq!(e["status"], 0, "{user:?}: {e}");
                    break;
                }
                "started" | "stderr" | "queued" => {}
                other => panic!("{user:?}: unexpected {other}: {e}"),
            }
        }
        assert_eq!(out, "still serving\n", "{user:?}");
        // A duplicate id while the first run is unfinished.
        let sleep = format!(
            r#"{{"type":"exec","id":"dup","profile":"strict","argv":["sleep","5"],"workspace":"{}"}}"#,
            ws(&w)
        );
        raw.send(sleep.as_bytes());
        raw.expect_error(sleep.as_bytes(), "duplicate_id");
        drop(raw);
        // Other clients are unaffected.
        let h = d.client().health().unwrap();
        assert!(h.ok);
    }
}

#[test]
fn runs_stream_output_and_report_status_env_and_timeout() {
    for user in USERS {
        let d = Daemon::start(user, &[]);
        let w = workspace();
        let mut c = d.client();
        let mut req = ExecRequest::new(
            "a",
            "strict",
            ["sh", "-c", "cat; echo to-err >&2; printf '\\377'; exit 3"],
            &ws(&w),
        );
        req.stdin = Some("from stdin\n".into());
        let done = c.run(&req).unwrap();
        assert_eq!(done.exit.status, 3, "{user:?}: {:?}", done);
        assert_eq!(done.stdout, b"from stdin\n\xff", "{user:?}");
        assert_eq!(done.stderr, b"to-err\n", "{user:?}");
        assert!(done.exit.resources.is_some());
        // env: only what the profile passes.
        let mut req = ExecRequest::new("b", "strict", ["sh", "-c", "echo $LANG"], &ws(&w));
        req.env.insert("LANG".into(), "C.UTF-8".into());
        let done = c.run(&req).unwrap();
        assert_eq!(
            (done.exit.status, done.stdout.as_slice()),
            (0, &b"C.UTF-8\n"[..])
        );
        let mut req = ExecRequest::new("c", "strict", ["true"], &ws(&w));
        req.env.insert("LD_PRELOAD".into(), "/tmp/x.so".into());
        let done = c.run(&req).unwrap();
        assert_eq!(done.exit.status, 2, "{user:?}: {done:?}");
        assert!(done.exit.error.unwrap().contains("LD_PRELOAD"));
        // timeout: shortens the profile's limit.
        let mut req = ExecRequest::new("d", "strict", ["sleep", "30"], &ws(&w));
        req.timeout_ms = Some(300);
        let started = Instant::now();
        let done = c.run(&req).unwrap();
        assert_eq!(done.exit.status, 124, "{user:?}: {done:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        // A missing workspace is bad input, said clearly.
        let req = ExecRequest::new("e", "strict", ["true"], "/nonexistent/ws");
        match c.run(&req) {
            Err(ClientError::Refused { code, message, .. }) => {
                assert_eq!(code, "bad_request");
                assert!(message.contains("/nonexistent/ws"), "{message}");
            }
            other => panic!("{user:?}: {other:?}"),
        }
    }
}

#[test]
fn grants_limit_uids_and_profiles() {
    // Root daemon, root granted only `strict`.
    let d = Daemon::start(User::Root, &["--allow-uid", "0:strict"]);
    let w = workspace();
    let mut c = d.client();
    let names: Vec<String> = c.profiles().unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["strict"]);
    let ok = c
        .run(&ExecRequest::new("a", "strict", ["true"], &ws(&w)))
        .unwrap();
    assert_eq!(ok.exit.status, 0);
    match c.run(&ExecRequest::new("b", "dev", ["true"], &ws(&w))) {
        Err(ClientError::Refused { code, .. }) => assert_eq!(code, "forbidden"),
        other => panic!("{other:?}"),
    }
    // An unprivileged daemon with its default grant (only its own uid) refuses root.
    let d = Daemon::start(User::Nobody, &["--allow-uid", "65534"]);
    match Client::connect(&d.socket) {
        Err(ClientError::Refused { code, message, .. }) => {
            assert_eq!(code, "forbidden");
            assert!(message.contains("uid 0"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let mode = std::fs::metadata(&d.socket).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    // A client other than the daemon's uid must own the workspace it names.
    let d = Daemon::start(User::Nobody, &["--allow-uid", "0"]);
    let theirs = Scratch::new(User::Nobody);
    match d
        .client()
        .run(&ExecRequest::new("c", "strict", ["true"], &ws(&theirs)))
    {
        Err(ClientError::Refused { code, .. }) => assert_eq!(code, "forbidden"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn thirty_two_concurrent_runs_keep_their_outputs_apart() {
    for user in USERS {
        let d = Daemon::start(user, &["--max-runs", "16"]);
        let w = workspace();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let socket = d.socket.clone();
                let w = ws(&w);
                std::thread::spawn(move || {
                    let mut c = Client::connect(&socket).unwrap();
                    let ids: Vec<String> = (0..8).map(|i| format!("run-{t}-{i}")).collect();
                    for id in &ids {
                        let script = format!("for i in $(seq 1 300); do echo {id}-$i; done");
                        c.exec(&ExecRequest::new(id, "strict", ["sh", "-c", &script], &w))
                            .unwrap();
                    }
                    for id in &ids {
                        let mut out = Vec::new();
                        let exit = c.wait(id, |_, b| out.extend_from_slice(b)).unwrap();
                        assert_eq!(exit.status, 0, "{id}: {exit:?}");
                        let want: String = (1..=300).map(|i| format!("{id}-{i}\n")).collect();
                        assert_eq!(String::from_utf8(out).unwrap(), want, "{id}");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join()
                .unwrap_or_else(|_| panic!("{user:?}: a client thread failed"));
        }
    }
}

#[test]
fn cancel_and_disconnect_kill_the_run() {
    for user in USERS {
        let d = Daemon::start(user, &[]);
        let w = workspace();
        let mut c = d.client();
        // Unique in this process: no other test's `sleep` matches it.
        let marker = crate::faults::sleep_token();
        c.exec(&ExecRequest::new(
            "s",
            "strict",
            ["sleep", &marker],
            &ws(&w),
        ))
        .unwrap();
        wait_until("the run to start", Duration::from_secs(10), || {
            !processes_with(&format!("sleep\0{marker}")).is_empty()
        });
        c.cancel("s").unwrap();
        let exit = c.wait("s", |_, _| {}).unwrap();
        assert!(exit.cancelled, "{user:?}: {exit:?}");
        wait_until("the cancelled run to die", Duration::from_secs(5), || {
            processes_with(&format!("sleep\0{marker}")).is_empty()
        });
        // A client that goes away mid-run takes its run with it.
        let mut c = d.client();
        c.exec(&ExecRequest::new(
            "s",
            "strict",
            ["sleep", &marker],
            &ws(&w),
        ))
        .unwrap();
        wait_until("the run to start", Duration::from_secs(10), || {
            !processes_with(&format!("sleep\0{marker}")).is_empty()
        });
        drop(c);
        wait_until(
            "the disconnected client's run to die",
            Duration::from_secs(5),
            || processes_with(&format!("sleep\0{marker}")).is_empty(),
        );
        assert!(d.client().health().unwrap().ok);
    }
}

#[test]
fn a_killed_daemon_leaves_no_sandboxed_process() {
    for user in USERS {
        let mut d = Daemon::start(user, &[]);
        let w = workspace();
        let mut c = d.client();
        let marker = format!("87654{}", user.uid() % 10);
        for i in 0..3 {
            c.exec(&ExecRequest::new(
                &format!("k{i}"),
                "strict",
                ["sh", "-c", &format!("sleep {marker} & sleep {marker}")],
                &ws(&w),
            ))
            .unwrap();
        }
        wait_until("the runs to start", Duration::from_secs(10), || {
            processes_with(&format!("sleep\0{marker}")).len() == 6
        });
        let socket = d.socket.to_str().unwrap().to_string();
        // The daemon and its zygote (both name the socket), and the per-run supervisors.
        assert!(processes_with(&socket).len() >= 2);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(d.pid()),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let _ = d.child.wait();
        wait_until(
            "every sandboxed process to die with the daemon",
            Duration::from_secs(5),
            || processes_with(&format!("sleep\0{marker}")).is_empty(),
        );
        wait_until("the zygote to die", Duration::from_secs(5), || {
            processes_with(&socket).is_empty()
        });
        match c.next_event() {
            Err(_) => {}
            Ok(e) => assert!(matches!(e, Event::Started { .. }), "{e:?}"),
        }
    }
}

#[test]
fn real_messages_match_the_schema() {
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&schema_path).unwrap()).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource("protocol.schema.json", schema)
        .unwrap();
    let request = compiler
        .compile("protocol.schema.json#/$defs/request", &mut schemas)
        .unwrap();
    let event = compiler
        .compile("protocol.schema.json#/$defs/event", &mut schemas)
        .unwrap();
    let d = Daemon::start(User::Root, &["--max-runs", "1", "--queue", "1"]);
    let w = workspace();
    let requests = [
        r#"{"type":"hello","versions":[1],"client":"schema-test","id":"h"}"#.to_string(),
        r#"{"type":"profiles","id":"p"}"#.to_string(),
        r#"{"type":"health"}"#.to_string(),
        format!(
            r#"{{"type":"exec","id":"one","profile":"strict","argv":["sh","-c","sleep 0.3; echo out; echo err >&2; printf '\\377'"],"workspace":"{}","env":{{"LANG":"C"}},"timeout_ms":5000,"stdin":"x"}}"#,
            ws(&w)
        ),
        format!(
            r#"{{"type":"exec","id":"two","profile":"strict","argv":["true"],"workspace":"{}","stdin_b64":"aGk=","report":true}}"#,
            ws(&w)
        ),
        format!(
            r#"{{"type":"exec","id":"three","profile":"strict","argv":["true"],"workspace":"{}"}}"#,
            ws(&w)
        ),
        r#"{"type":"cancel","id":"two"}"#.to_string(),
        r#"{"type":"fetch","id":"f","profile":"strict","url":"http://127.0.0.1:9/","workspace":"/"}"#
            .to_string(),
        r#"{"type":"bogus"}"#.to_string(),
    ];
    let mut raw = Raw::connect(&d.socket);
    for line in &requests {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        if value["type"] != "bogus" {
            assert!(
                schemas.validate(&value, request).is_ok(),
                "request does not match the schema: {line}"
            );
        }
        raw.send(line.as_bytes());
    }
    // Every event until the three runs and the fetch have ended.
    let mut seen = std::collections::BTreeSet::new();
    let mut ends = 0;
    while ends < 4 {
        let e = raw.recv();
        if let Err(err) = schemas.validate(&e, event) {
            panic!("event does not match the schema: {e}\n{err}");
        }
        seen.insert(e["type"].as_str().unwrap().to_string());
        let id = e["id"].as_str().unwrap_or("");
        if e["type"] == "exit" || (e["type"] == "error" && ["two", "three", "f"].contains(&id)) {
            ends += 1;
        }
    }
    for kind in [
        "hello", "profiles", "health", "queued", "started", "stdout", "stderr", "exit", "error",
    ] {
        assert!(seen.contains(kind), "no {kind} event seen: {seen:?}");
    }
}

#[test]
fn profiles_are_never_read_from_a_clients_workspace() {
    // A workspace that carries its own `strict` (./sandbox-profiles/ is searched first).
    let w = workspace();
    std::fs::create_dir(w.path().join("sandbox-profiles")).unwrap();
    w.file(
        "sandbox-profiles/strict.toml",
        "extends = \"base\"\n[env]\nset = { PLANTED = \"yes\" }\n",
        User::Root,
    );
    // The control: `exec` started in that directory does take it.
    let out = crate::harness::exec_command(
        User::Root,
        &w,
        "strict",
        &["--", "sh", "-c", "echo ${PLANTED:-no}"],
    )
    .stdin(Stdio::null())
    .output()
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "yes\n");
    for user in USERS {
        let d = Daemon::start(user, &[]);
        let done = d
            .client()
            .run(&ExecRequest::new(
                "p",
                "strict",
                ["sh", "-c", "echo ${PLANTED:-no}"],
                &ws(&w),
            ))
            .unwrap();
        assert_eq!(
            (
                done.exit.status,
                String::from_utf8_lossy(&done.stdout).as_ref()
            ),
            (0, "no\n"),
            "{user:?}: {done:?}"
        );
    }
}

/// The daemon's sandboxes (spares cloned ahead, then built ahead for a repeated workspace) take
/// back their inherited CPUs too: every run's workload may run wherever the daemon may.
#[test]
fn every_runs_workload_may_run_on_every_cpu_the_daemon_may() {
    if !two_cpus_or_skip() {
        return;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let outside = status
        .lines()
        .find(|l| l.starts_with("Cpus_allowed_list"))
        .unwrap()
        .to_string();
    for user in USERS {
        let d = Daemon::start(user, &[]);
        let w = workspace();
        let mut c = d.client();
        // The third and later runs of one workspace find their sandbox built ahead.
        for n in 0..4 {
            let req = ExecRequest::new(
                &format!("cpus{n}"),
                "strict",
                ["grep", "Cpus_allowed_list", "/proc/self/status"],
                &ws(&w),
            );
            let done = c.run(&req).unwrap();
            assert_eq!(done.exit.status, 0, "{user:?}: {done:?}");
            assert_eq!(
                String::from_utf8_lossy(&done.stdout).trim(),
                outside,
                "{user:?}, run {n}"
            );
        }
    }
}
