//! The audit trail: records of every event kind with every field, chain verification on a real
//! log, refusal when the log cannot be written, concurrent writers, and the denial report.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::harness::{Scratch, USERS, User, exec_command, sandbox_bin};

/// Every field of schema version 2, in order.
const FIELDS: [&str; 22] = [
    "v",
    "time",
    "run",
    "event",
    "profile",
    "profile_sha256",
    "argv",
    "cwd",
    "uid",
    "pid",
    "decision",
    "rule",
    "target",
    "exit_status",
    "duration_ms",
    "resources",
    "report",
    "message",
    "mcp",
    "seq",
    "prev",
    "hash",
];

/// `missy-sandbox exec` as `user`, recording to `log`, running `cmd`.
fn exec(user: User, ws: &Scratch, log: &Path, profile: &str, cmd: &[&str]) -> Output {
    exec_command(user, ws, profile, &["--audit-log"])
        .arg(log)
        .arg("--")
        .args(cmd)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn audit_cli(user: User, args: &[&str], log: &Path) -> Output {
    user.command(&sandbox_bin())
        .arg("audit")
        .args(args)
        .arg(log)
        .output()
        .unwrap()
}

fn records(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn events(recs: &[Value]) -> Vec<String> {
    recs.iter()
        .map(|r| r["event"].as_str().unwrap().to_string())
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A profile file in `ws` that extends strict with `extra`.
fn profile(ws: &Scratch, user: User, name: &str, extra: &str) -> String {
    ws.file(name, &format!("extends = \"strict\"\n{extra}\n"), user)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_exec_event_is_written_with_every_field_and_the_log_verifies() {
    for user in USERS {
        let ws = Scratch::new(user);
        let log = ws.path().join("state/audit.jsonl");
        let ok = exec(user, &ws, &log, "strict", &["/bin/sh", "-c", "echo hi"]);
        assert_eq!(ok.status.code(), Some(0), "as {user:?}: {}", stderr(&ok));
        let bad = exec(user, &ws, &log, "no-such-profile", &["/bin/true"]);
        assert_eq!(bad.status.code(), Some(2), "as {user:?}");
        // One process: the unprivileged user's RLIMIT_NPROC counts the sandbox's init too, so
        // the init cannot fork the workload, a setup failure. Root's pids cgroup holds the
        // workload only, which then runs.
        let one = profile(&ws, user, "one.toml", "[limits]\nprocesses = 1");
        let failed = exec(user, &ws, &log, &one, &["/bin/true"]);
        let (status, last) = match user {
            User::Nobody => (125, "setup-failure"),
            User::Root => (0, "exec-end"),
        };
        assert_eq!(
            failed.status.code(),
            Some(status),
            "as {user:?}: {}",
            stderr(&failed)
        );
        let recs = records(&log);
        assert_eq!(
            events(&recs),
            [
                "anchor",
                "exec-start",
                "exec-end",
                "profile-load",
                "exec-start",
                last
            ],
            "as {user:?}"
        );
        for r in &recs {
            let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
            let mut want = FIELDS.to_vec();
            want.sort_unstable();
            assert_eq!(keys, want, "as {user:?}: {r}");
            assert_eq!(r["v"], 2);
            assert!(r["time"].as_str().unwrap().ends_with('Z'), "{r}");
        }
        let (start, end) = (&recs[1], &recs[2]);
        assert_eq!(start["run"], end["run"]);
        assert_eq!(start["uid"], user.uid());
        assert_eq!(start["profile"], "strict");
        assert_eq!(start["profile_sha256"].as_str().unwrap().len(), 64);
        assert_eq!(
            start["argv"],
            serde_json::json!(["/bin/sh", "-c", "echo hi"])
        );
        assert_eq!(start["cwd"], ws.path().to_str().unwrap());
        assert_eq!(start["decision"], "allow");
        assert!(start["rule"].as_str().unwrap().contains("strict"));
        assert_eq!(end["exit_status"], 0);
        assert!(end["duration_ms"].as_f64().unwrap() > 0.0);
        assert!(
            end["resources"]["max_rss_kib"].as_u64().unwrap() > 0,
            "{end}"
        );
        assert!(end["resources"]["user_cpu_ms"].is_u64());
        assert!(end["resources"]["sys_cpu_ms"].is_u64());
        assert_eq!(recs[3]["decision"], "deny");
        assert!(recs[3]["message"].as_str().unwrap().contains("not found"));
        if user == User::Nobody {
            let setup = &recs[5];
            assert_eq!(setup["decision"], "error");
            assert_eq!(setup["rule"], "fork-workload");
            assert_eq!(setup["exit_status"], 125);
        }

        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&log).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "as {user:?}");
        let verify = audit_cli(user, &["verify"], &log);
        assert_eq!(verify.status.code(), Some(0), "as {user:?}: {verify:?}");
        let run = start["run"].as_str().unwrap();
        let shown = user
            .command(&sandbox_bin())
            .args(["--audit-log"])
            .arg(&log)
            .args(["audit", "show", "--run", run])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&shown.stdout).lines().count(), 2);
    }
}

#[test]
fn verify_pinpoints_an_edited_a_deleted_and_a_reordered_record() {
    let user = User::Root;
    let ws = Scratch::new(user);
    let log = ws.path().join("audit.jsonl");
    for _ in 0..3 {
        let out = exec(user, &ws, &log, "strict", &["/bin/true"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let good = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = good.lines().collect();
    assert_eq!(lines.len(), 7);
    let cases: [(&str, Vec<String>, &str); 3] = [
        (
            "edited",
            lines
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    if i == 3 {
                        l.replace("\"exit_status\":null", "\"exit_status\":1")
                    } else {
                        l.to_string()
                    }
                })
                .collect(),
            ":4: record 4 was edited",
        ),
        (
            "deleted",
            lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != 4)
                .map(|(_, l)| l.to_string())
                .collect(),
            ":5: record(s) missing: seq 5 deleted",
        ),
        (
            "reordered",
            {
                let mut v: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                v.swap(2, 3);
                v
            },
            ":3: records are out of order: seq 4 stands where seq 3 belongs",
        ),
    ];
    let ok = audit_cli(user, &["verify"], &log);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    for (what, lines, want) in cases {
        std::fs::write(&log, lines.join("\n") + "\n").unwrap();
        let out = audit_cli(user, &["verify"], &log);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{what}: {stdout}");
        assert!(
            stdout.contains(want),
            "{what}: expected `{want}` in {stdout}"
        );
    }
}

/// A tmpfs mounted on `dir` with `options`, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, options: &str) -> Tmpfs {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount tmpfs on {}", dir.display());
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The run is refused with a clear error, and the workload did not run.
fn assert_refused(user: User, ws: &Scratch, log: &Path, profile: &str, why: &str) {
    let marker = ws.path().join("ran");
    let out = exec(
        user,
        ws,
        log,
        profile,
        &["/bin/sh", "-c", &format!("touch {}", marker.display())],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(125), "{why}: {err}");
    assert!(
        err.contains("audit log") && err.contains("the run is refused"),
        "{why}: {err}"
    );
    assert!(!marker.exists(), "{why}: the workload ran");
}

#[test]
fn a_read_only_or_full_audit_directory_refuses_the_run() {
    for user in USERS {
        let ws = Scratch::new(user);
        // Read-only: as root a read-only mount (root ignores mode bits); as 65534 a root-owned
        // directory.
        let dir = ws.path().join("ro");
        std::fs::create_dir(&dir).unwrap();
        let _ro = (user == User::Root).then(|| Tmpfs::mount(&dir, "ro,size=64k"));
        let log = dir.join("audit.jsonl");
        assert_refused(user, &ws, &log, "strict", "read-only");
        // With on_failure = "warn" the same run goes ahead, saying so.
        let warn = profile(&ws, user, "warn.toml", "[audit]\non_failure = \"warn\"");
        let out = exec(user, &ws, &log, &warn, &["/bin/true"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stderr(&out).contains("unaudited"), "{}", stderr(&out));
    }
    // Full: a tiny tmpfs filled up (mounting needs root).
    let user = User::Root;
    let ws = Scratch::new(user);
    let dir = ws.path().join("full");
    std::fs::create_dir(&dir).unwrap();
    let _full = Tmpfs::mount(&dir, "size=16k");
    let filler = std::fs::File::create(dir.join("filler")).unwrap();
    let mut filler = std::io::BufWriter::new(filler);
    while std::io::Write::write_all(&mut filler, &[0u8; 4096]).is_ok()
        && std::io::Write::flush(&mut filler).is_ok()
    {}
    drop(filler);
    assert_refused(user, &ws, &dir.join("audit.jsonl"), "strict", "full");
}

#[test]
fn eight_concurrent_execs_write_eight_chained_pairs() {
    for user in USERS {
        let ws = Scratch::new(user);
        let log = ws.path().join("audit.jsonl");
        let children: Vec<_> = (0..8)
            .map(|i| {
                exec_command(user, &ws, "strict", &["--audit-log"])
                    .arg(&log)
                    .args(["--", "/bin/sh", "-c", &format!("echo {i}")])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in children {
            assert!(c.wait().unwrap().success(), "as {user:?}");
        }
        let recs = records(&log);
        assert_eq!(recs.len(), 17, "as {user:?}: anchor + 8 pairs");
        let mut runs = std::collections::BTreeMap::<String, Vec<String>>::new();
        for r in &recs[1..] {
            runs.entry(r["run"].as_str().unwrap().to_string())
                .or_default()
                .push(r["event"].as_str().unwrap().to_string());
        }
        assert_eq!(runs.len(), 8, "as {user:?}");
        for (run, evs) in &runs {
            assert_eq!(evs, &["exec-start", "exec-end"], "as {user:?}: run {run}");
        }
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(r["seq"], i as u64 + 1, "as {user:?}");
        }
        let verify = audit_cli(user, &["verify"], &log);
        assert_eq!(verify.status.code(), Some(0), "as {user:?}: {verify:?}");
    }
}

#[test]
fn the_recorded_resource_use_counts_processes_killed_at_the_end() {
    // A background process that burns a fixed amount of CPU (a counted loop, so a busy machine
    // slows it without shrinking its CPU time), says so, and then sleeps: it is still running
    // when the workload ends. pid 1 kills and reaps it before it reports the end, so its CPU time
    // is in the run's record. Taken before the reaping, the record would hold only the few
    // milliseconds of the foreground shell and its sleeps.
    for user in USERS {
        let ws = Scratch::new(user);
        let log = ws.path().join("audit.jsonl");
        let script = "(i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done; : > /tmp/burnt; \
                      exec sleep 100) & \
                      while [ ! -e /tmp/burnt ]; do sleep 0.02; done; echo left";
        let out = exec(user, &ws, &log, "strict", &["/bin/sh", "-c", script]);
        assert_eq!(out.status.code(), Some(0), "as {user:?}: {}", stderr(&out));
        let recs = records(&log);
        let end = recs
            .iter()
            .find(|r| r["event"] == "exec-end")
            .expect("an exec-end record");
        let cpu = end["resources"]["user_cpu_ms"].as_u64().unwrap()
            + end["resources"]["sys_cpu_ms"].as_u64().unwrap();
        assert!(cpu >= 150, "as {user:?}: {cpu} ms of CPU recorded: {end}");
        assert_eq!(end["resources"]["output_bytes"], 5, "{end}");
    }
}
