//! Portability (docs/portability.md): the sandbox where the kernel gives less.
//!
//! "Really denied" tests run the supervisor inside a user namespace whose
//! `user.max_user_namespaces` is 0, so creating another fails as it does on a host that denies
//! them; the other tests cap the probe with `MISSY_SANDBOX_CAP_FEATURES` (Landlock ABI 1, 3, 5,
//! no user namespaces, no cgroup). Each runs as root and as uid 65534.

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::harness::{self, HostProcess, Scratch, USERS, User, sandbox_bin};
use missy_hardening::suite::{self, Column, Config, Mode, ProbeProgram, Status, report};

const CAP: &str = "MISSY_SANDBOX_CAP_FEATURES";

/// `program args` as `user`, inside a new user namespace that may create no further one.
fn without_userns(user: User, program: &Path) -> Command {
    let mut c = user.command(Path::new("unshare"));
    c.args([
        "--user",
        "--map-root-user",
        "sh",
        "-c",
        "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" \"$@\"",
    ])
    .arg(program);
    c
}

/// Can this machine run the "really denied" tests? `Some(reason)` when not.
fn userns_denial_unavailable() -> Option<String> {
    let out = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "sh",
            "-c",
            "echo 0 > /proc/sys/user/max_user_namespaces && ! unshare --user true 2>/dev/null",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "cannot build a namespace without user namespaces here: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("unshare(1) is unavailable: {e}")),
    }
}

/// A profile file in `dir` extending `strict`, readable by `user`.
fn profile(dir: &Scratch, user: User, name: &str, body: &str) -> String {
    let text = format!("extends = \"strict\"\n{body}");
    dir.file(name, &text, user).to_string_lossy().into_owned()
}

/// Best-effort, audited into the workspace (the default log of a supervisor that is root in
/// its user namespace, /var/log, is not writable by uid 65534).
const BEST_EFFORT: &str =
    "[kernel]\nrequire = \"best-effort\"\n[audit]\npath = \"{workspace}/audit.jsonl\"\n";

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The probe's verdict word (the first word of the last line of stdout).
fn verdict(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or("");
    line.split_whitespace().next().unwrap_or("").to_string()
}

/// Run the probe with `args`, unsandboxed and under `profile`, both without user namespaces.
fn both_ways(user: User, ws: &Scratch, profile: &str, args: &[&str]) -> (Output, Output) {
    let probe = ws.with_probe(user);
    let outside = without_userns(user, &probe)
        .args(args)
        .current_dir(ws.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let inside = without_userns(user, &sandbox_bin())
        .args(["exec", "--profile", profile, "--workspace"])
        .arg(ws.path())
        .arg("--")
        .arg(&probe)
        .args(args)
        .current_dir(ws.path())
        .env("HOME", ws.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (outside, inside)
}

fn assert_denied(user: User, what: &str, (outside, inside): &(Output, Output)) {
    assert_eq!(
        verdict(outside),
        "ESCAPED",
        "{what} as {user:?}: the unsandboxed control must succeed\n{}",
        text(outside)
    );
    assert_eq!(
        verdict(inside),
        "BLOCKED",
        "{what} as {user:?}: must be blocked in the sandbox\n{}",
        text(inside)
    );
}

/// Processes whose command line holds `marker`.
fn survivors(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(marker)
        {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

#[test]
fn strict_refuses_without_user_namespaces_naming_the_control_and_the_remedy() {
    if let Some(why) = userns_denial_unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    for user in USERS {
        let ws = Scratch::new(user);
        let out = without_userns(user, &sandbox_bin())
            .args(["exec", "--profile", "strict", "--workspace"])
            .arg(ws.path())
            .args(["--", "true"])
            .current_dir(ws.path())
            .env("HOME", ws.path())
            .output()
            .unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(125), "{user:?}: {all}");
        for needle in [
            "requires every control",
            "pid-namespace",
            "mount-namespace",
            "user.max_user_namespaces is 0",
            "remedy: sysctl -w user.max_user_namespaces=",
            "[kernel] optional",
        ] {
            assert!(all.contains(needle), "{user:?}: missing `{needle}`:\n{all}");
        }
    }
}

#[test]
fn best_effort_without_user_namespaces_still_blocks_files_network_signals_seccomp_and_leftovers() {
    if let Some(why) = userns_denial_unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    for user in USERS {
        let ws = Scratch::new(user);
        let elsewhere = Scratch::new(user);
        let be = profile(&ws, user, "be.toml", BEST_EFFORT);
        let secret = elsewhere.file("secret.txt", "top secret\n", user);
        let secret = secret.to_str().unwrap();
        assert_denied(
            user,
            "read-file",
            &both_ways(user, &ws, &be, &["read-file", secret]),
        );

        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = tcp.local_addr().unwrap().to_string();
        assert_denied(
            user,
            "tcp-connect",
            &both_ways(user, &ws, &be, &["tcp-connect", &addr]),
        );

        // UDP: the probe says SENT when sendto worked; only the listener knows it arrived.
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let uaddr = udp.local_addr().unwrap().to_string();
        let (outside, inside) = both_ways(user, &ws, &be, &["udp-send", &uaddr, "marker"]);
        let mut buf = [0u8; 64];
        assert!(
            udp.recv(&mut buf).is_ok(),
            "{user:?}: the unsandboxed datagram must arrive\n{}",
            text(&outside)
        );
        assert_eq!(verdict(&inside), "BLOCKED", "{user:?}: {}", text(&inside));
        assert!(udp.recv(&mut buf).is_err(), "{user:?}: a datagram arrived");

        let victim = HostProcess::sleep(user, &[]);
        let pid = victim.pid().to_string();
        assert_denied(user, "kill", &both_ways(user, &ws, &be, &["kill", &pid]));
        drop(victim);

        assert_denied(user, "keyctl", &both_ways(user, &ws, &be, &["keyctl"]));

        // Cleanup: a double-forked, setsid daemon must not outlive the run; unsandboxed, it
        // does (until it is killed once seen).
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let grows = |p: &Path| {
            let a = size(p);
            std::thread::sleep(Duration::from_millis(500));
            (a, size(p))
        };
        let control_log = ws.path().join("control.log");
        let probe = ws.with_probe(user);
        let control = without_userns(user, &probe)
            .args(["daemonize", control_log.to_str().unwrap(), "30"])
            .current_dir(ws.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            harness::control_daemon_outlives_probe(
                &String::from_utf8_lossy(&control.stdout),
                &control_log
            ),
            "{user:?}: the unsandboxed daemon must outlive its parent\n{}",
            text(&control)
        );
        let log = ws.path().join("daemon.log");
        let inside = without_userns(user, &sandbox_bin())
            .args(["exec", "--profile", &be, "--workspace"])
            .arg(ws.path())
            .arg("--")
            .arg(&probe)
            .args(["daemonize", log.to_str().unwrap(), "20"])
            .current_dir(ws.path())
            .env("HOME", ws.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&inside.stdout).contains("SENT daemonize daemon pid"),
            "{user:?}: the daemon never started\n{}",
            text(&inside)
        );
        let (a, b) = grows(&log);
        assert_eq!(
            a,
            b,
            "{user:?}: the daemon outlived the run\n{}",
            text(&inside)
        );
        assert_eq!(
            survivors(log.to_str().unwrap()),
            Vec::<String>::new(),
            "{user:?}"
        );
        let audit = std::fs::read_to_string(ws.path().join("audit.jsonl")).unwrap_or_default();
        assert!(
            audit.contains("not enforced: mount-namespace (") && audit.contains("remedy: sysctl"),
            "{user:?}: the exec-start record names what is not enforced:\n{audit}"
        );
        let stderr = String::from_utf8_lossy(&inside.stderr);
        assert!(
            stderr
                .contains("WARNING: not enforced on this machine: mount-namespace, pid-namespace"),
            "{user:?}: one warning line naming what is not enforced:\n{stderr}"
        );
    }
}

#[test]
fn the_suite_without_namespaces_blocks_everything_it_does_not_list() {
    let config = Config {
        sandbox: harness::sandbox_bin(),
        probe: ProbeProgram::missy_probe(harness::probe_bin()),
        profiles: vec!["strict".into()],
        users: vec![suite::User::Current, suite::User::Nobody],
        jobs: 4,
        only: Vec::new(),
        mode: Mode::NoNamespaces,
    };
    let r = suite::run(&config).expect("the suite runs");
    let table = report::text(&r);
    assert_eq!(r.count(Status::Fail), 0, "{table}");
    let column = Column::Profile("strict".into());
    for s in &r.scenarios {
        for user in [suite::User::Current, suite::User::Nobody] {
            let c = r.cell(s.name, user, &column).expect("every cell ran");
            if c.word == "expected" {
                assert!(
                    suite::scenarios::nons::expected_escape(s.name).is_some(),
                    "{table}"
                );
            }
        }
    }
    assert!(table.contains("launch path: no-namespace"), "{table}");
}

/// `profile explain` and `exec` of `strict` and of a best-effort profile, capped.
#[test]
fn capped_landlock_abis_show_the_right_degradations_and_strict_refuses_where_it_must() {
    for user in USERS {
        let ws = Scratch::new(user);
        let be = profile(&ws, user, "be.toml", BEST_EFFORT);
        for abi in [1u8, 3, 5] {
            for userns in [true, false] {
                let caps = if userns {
                    format!("landlock-abi={abi}")
                } else {
                    format!("landlock-abi={abi},no-userns")
                };
                let run = |profile: &str, args: &[&str]| {
                    let mut c = user.command(&sandbox_bin());
                    c.args(args)
                        .args(["--profile", profile, "--workspace"])
                        .arg(ws.path())
                        .current_dir(ws.path())
                        .env("HOME", ws.path())
                        .env(CAP, &caps);
                    c
                };
                let explain = user
                    .command(&sandbox_bin())
                    .args(["profile", "explain", "strict", "--workspace"])
                    .arg(ws.path())
                    .current_dir(ws.path())
                    .env(CAP, &caps)
                    .output()
                    .unwrap();
                let shown = text(&explain);
                let filesystem = if abi == 1 {
                    "filesystem         NOT ENFORCED: Landlock ABI 1 cannot deny truncating"
                        .to_string()
                } else {
                    format!("filesystem         enforced by Landlock ABI {abi}")
                };
                assert!(shown.contains(&filesystem), "{caps} {user:?}: {shown}");
                let network = if userns {
                    "network            enforced by network namespace (loopback only)"
                } else if abi < 4 {
                    "has no TCP rules (ABI 4)"
                } else {
                    "Landlock denies every TCP bind and connect"
                };
                assert!(shown.contains(network), "{caps} {user:?}: {shown}");
                let scope = if userns {
                    "signal-scope       enforced by pid and network namespaces"
                } else {
                    "signal-scope       NOT ENFORCED"
                };
                assert!(shown.contains(scope), "{caps} {user:?}: {shown}");
                let must_refuse = abi == 1 || !userns;
                assert_eq!(
                    shown.contains("exec REFUSES this strict profile here"),
                    must_refuse,
                    "{caps} {user:?}: {shown}"
                );

                let strict = run("strict", &["exec"])
                    .args(["--", "true"])
                    .output()
                    .unwrap();
                let expected = if must_refuse { 125 } else { 0 };
                assert_eq!(
                    strict.status.code(),
                    Some(expected),
                    "{caps} {user:?}: {}",
                    text(&strict)
                );
                let best = run(&be, &["exec"])
                    .args(["--", "sh", "-c", "echo ran > ran.txt"])
                    .output()
                    .unwrap();
                assert_eq!(
                    best.status.code(),
                    Some(0),
                    "{caps} {user:?}: {}",
                    text(&best)
                );
                let warned =
                    String::from_utf8_lossy(&best.stderr).contains("WARNING: not enforced");
                assert_eq!(warned, must_refuse, "{caps} {user:?}: {}", text(&best));
            }
        }
    }
}

#[test]
fn optional_controls_let_a_strict_profile_run_and_unknown_names_are_rejected() {
    for user in USERS {
        let ws = Scratch::new(user);
        let optional = profile(
            &ws,
            user,
            "optional.toml",
            "[kernel]\noptional = [\"mount-namespace\", \"pid-namespace\", \"ipc-namespace\", \"network\", \"limit-tmp-size\"]\n",
        );
        let out = user
            .command(&sandbox_bin())
            .args(["exec", "--profile", &optional, "--workspace"])
            .arg(ws.path())
            .args(["--", "true"])
            .current_dir(ws.path())
            .env("HOME", ws.path())
            .env(CAP, "no-userns")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{user:?}: {}", text(&out));
        // The warning still names what is not enforced.
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not enforced on this machine"),
            "{}",
            text(&out)
        );
        // Capped harder (no scopes), one more control is missing and strict refuses again.
        let out = user
            .command(&sandbox_bin())
            .args(["exec", "--profile", &optional, "--workspace"])
            .arg(ws.path())
            .args(["--", "true"])
            .current_dir(ws.path())
            .env("HOME", ws.path())
            .env(CAP, "no-userns,landlock-abi=5")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125), "{user:?}: {}", text(&out));
        assert!(text(&out).contains("signal-scope"), "{}", text(&out));

        let bad = profile(
            &ws,
            user,
            "bad.toml",
            "[kernel]\noptional = [\"pid-namespace\", \"pid-ns\"]\n",
        );
        let out = user
            .command(&sandbox_bin())
            .args(["profile", "validate", &bad])
            .output()
            .unwrap();
        let err = text(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        for needle in ["bad.toml:3", "kernel.optional", "`pid-ns`", "pid-namespace"] {
            assert!(err.contains(needle), "missing `{needle}`: {err}");
        }
    }
}

/// `check --json` with the machine-specific values replaced, compared with a golden file
/// (`UPDATE_GOLDEN=1` rewrites them).
fn golden(name: &str, out: &Output) {
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {}", text(out)));
    v["machine"]["release"] = "<release>".into();
    for key in ["pids", "memory"] {
        if v["cgroups"][key].is_string() {
            v["cgroups"][key] = "<cgroup dir>".into();
        }
    }
    let got = serde_json::to_string_pretty(&v).unwrap() + "\n";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/cli/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
    }
    let mut want = String::new();
    std::fs::File::open(&path)
        .and_then(|mut f| f.read_to_string(&mut want))
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert!(
        got == want,
        "{name} differs from {} (UPDATE_GOLDEN=1 rewrites it):\n{got}",
        path.display()
    );
}

fn check_json(cmd: &mut Command) -> Output {
    let out = cmd.args(["check", "--json"]).output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    out
}

#[test]
fn check_json_matches_the_golden_files() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP: the golden files are of a run as root");
        return;
    }
    let host = check_json(&mut Command::new(sandbox_bin()));
    golden("check-host.json", &host);
    let capped =
        check_json(Command::new(sandbox_bin()).env(CAP, "landlock-abi=3,no-userns,no-cgroup"));
    golden("check-capped-abi3-no-userns-no-cgroup.json", &capped);
    let v: serde_json::Value = serde_json::from_slice(&capped.stdout).unwrap();
    assert_eq!(v["launch_path"], "no-namespaces");
    assert_eq!(v["landlock"]["abi"], 3);
    assert_eq!(v["landlock"]["missing"][0]["abi"], 4);
    assert_eq!(capped.status.code(), Some(1), "strict cannot run: exit 1");
    match userns_denial_unavailable() {
        Some(why) => eprintln!("SKIP the no-userns golden: {why}"),
        None => {
            let denied = check_json(&mut without_userns(User::Root, &sandbox_bin()));
            golden("check-no-userns.json", &denied);
            let v: serde_json::Value = serde_json::from_slice(&denied.stdout).unwrap();
            assert_eq!(v["user_namespaces"]["available"], false);
            assert!(
                v["user_namespaces"]["remedy"]
                    .as_str()
                    .is_some_and(|r| r.contains("sysctl -w user.max_user_namespaces="))
            );
        }
    }
}

#[test]
fn check_as_nobody_without_user_namespaces_names_the_cause() {
    if let Some(why) = userns_denial_unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    let out = check_json(&mut without_userns(User::Nobody, &sandbox_bin()));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], 1);
    assert_eq!(v["launch_path"], "no-namespaces");
    assert!(
        v["user_namespaces"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("max_user_namespaces is 0")),
        "{v}"
    );
    let strict = v["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["profile"] == "strict")
        .unwrap();
    assert_eq!(strict["runs"], false);
    let pid = strict["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "pid-namespace")
        .unwrap();
    assert_eq!(pid["status"], "degraded");
    assert!(pid["remedy"].is_string(), "{pid}");
    assert_eq!(out.status.code(), Some(1));
}

/// A server on the host's loopback answering every request with `hello`, until it is dropped
/// (the test holds it however long its runs take).
struct HelloServer {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl HelloServer {
    fn start() -> HelloServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        use std::io::Write;
                        s.set_nonblocking(false).unwrap();
                        let mut buf = [0u8; 1024];
                        let _ = s.read(&mut buf);
                        let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello");
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        HelloServer { port, stop }
    }
}

impl Drop for HelloServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[test]
fn the_proxy_without_namespaces_serves_the_sandbox_and_refuses_host_processes() {
    if !Path::new("/usr/bin/curl").exists() {
        eprintln!("SKIP: /usr/bin/curl is needed inside the sandbox");
        return;
    }
    let server = HelloServer::start();
    let port = server.port;
    for user in USERS {
        let ws = Scratch::new(user);
        let px = profile(
            &ws,
            user,
            "px.toml",
            &format!(
                "[network]\nmode = \"proxy\"\nallow = [\"allowed.test:{port}\"]\n\
                 allow_cidrs = [\"127.0.0.1/32\"]\nhosts = {{ \"allowed.test\" = \"127.0.0.1\" }}\n\
                 {BEST_EFFORT}"
            ),
        );
        let script = format!(
            "echo \"$HTTP_PROXY\" > proxy.txt; \
             curl -s http://allowed.test:{port}/ > through-proxy.txt; \
             curl -s --noproxy '*' --max-time 3 http://127.0.0.1:{port}/ > direct.txt; \
             sleep 3"
        );
        let child = user
            .command(&sandbox_bin())
            .args(["exec", "--profile", &px, "--workspace"])
            .arg(ws.path())
            .args(["--", "sh", "-c", &script])
            .current_dir(ws.path())
            .env("HOME", ws.path())
            .env(CAP, "no-userns")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // While the sandbox sleeps, a host process tries its proxy.
        let proxy_file = ws.path().join("proxy.txt");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut proxy = String::new();
        while proxy.trim().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            proxy = std::fs::read_to_string(&proxy_file).unwrap_or_default();
        }
        let proxy_port = proxy.trim().rsplit(':').next().unwrap_or("").to_string();
        assert!(
            proxy.starts_with("http://127.0.0.1:"),
            "{user:?}: {proxy:?}"
        );
        assert_ne!(proxy_port, "3128", "an ephemeral port per run on the host");
        let from_host = {
            use std::io::Write;
            let mut s = std::net::TcpStream::connect(format!("127.0.0.1:{proxy_port}")).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = s.write_all(
                format!("GET http://allowed.test:{port}/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n")
                    .as_bytes(),
            );
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got);
            String::from_utf8_lossy(&got).into_owned()
        };
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{user:?}: {}", text(&out));
        let read = |f: &str| std::fs::read_to_string(ws.path().join(f)).unwrap_or_default();
        assert_eq!(
            read("through-proxy.txt"),
            "hello",
            "{user:?}: {}",
            text(&out)
        );
        assert_eq!(
            read("direct.txt"),
            "",
            "{user:?}: a direct connection got through"
        );
        assert!(
            !from_host.contains("hello"),
            "{user:?}: a host process used the sandbox's proxy: {from_host:?}"
        );
        // Control: the same request from the host straight to the server works.
        let mut s = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        std::io::Write::write_all(&mut s, b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).unwrap();
        assert!(got.contains("hello"));
    }
}

/// The probe sees user namespaces but the clone into them is refused (as under a container
/// runtime's seccomp policy; simulated with `userns-clone-fails`): strict is refused with the
/// reason, best-effort runs on the no-namespace path, still confined.
#[test]
fn a_refused_clone_falls_back_to_the_no_namespace_path() {
    for user in USERS {
        let ws = Scratch::new(user);
        let be = profile(&ws, user, "be.toml", BEST_EFFORT);
        let run = |profile: &str, script: &str| {
            user.command(&sandbox_bin())
                .args(["exec", "--profile", profile, "--workspace"])
                .arg(ws.path())
                .args(["--", "sh", "-c", script])
                .current_dir(ws.path())
                .env("HOME", ws.path())
                .env(CAP, "userns-clone-fails")
                .output()
                .unwrap()
        };
        let strict = run("strict", "true");
        assert_eq!(
            strict.status.code(),
            Some(125),
            "{user:?}: {}",
            text(&strict)
        );
        assert!(
            text(&strict).contains("creating a user namespace failed: EPERM"),
            "{}",
            text(&strict)
        );
        let best = run(
            &be,
            "echo ran > ran.txt; ls / > /dev/null 2>&1 && echo listed; true",
        );
        assert_eq!(best.status.code(), Some(0), "{user:?}: {}", text(&best));
        assert!(text(&best).contains("not enforced on this machine: mount-namespace"));
        assert_eq!(
            std::fs::read_to_string(ws.path().join("ran.txt")).unwrap(),
            "ran\n"
        );
        // The host's root is not listable there (no grant of `/` on that path).
        assert!(!text(&best).contains("listed"), "{}", text(&best));
    }
}
