//! `exec --report`: a run denied a file read and a network destination shows both, each with the
//! profile line that would allow it, on stderr and in its `exec-end` audit record; the sources
//! say which watched. As root and as uid 65534 (docs/audit.md: the seccomp watch and the proxy
//! work for every user; Landlock's audit records need root and kernel audit already enabled).

use std::net::TcpListener;
use std::process::Stdio;

use serde_json::Value;

use crate::harness::{Scratch, USERS, User, exec_command};

#[test]
fn a_denied_file_read_and_destination_are_reported_with_the_rule_that_allows_them() {
    // A loopback listener the proxy is never allowed to reach: the destination is refused
    // before any connection is made.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    for user in USERS {
        let ws = Scratch::new(user);
        // Outside every grant: another directory on the host, hidden from the sandbox.
        let outside = Scratch::new(user);
        let secret = outside.file("secret.txt", "not for the sandbox\n", user);
        let real = std::fs::canonicalize(&secret).unwrap();
        let profile = ws.file(
            "report.toml",
            &format!(
                "extends = \"strict\"\n[network]\nmode = \"proxy\"\nallow = [\"allowed.test:{port}\"]\nhosts = {{ \"allowed.test\" = \"127.0.0.1\", \"blocked.test\" = \"127.0.0.1\" }}\n"
            ),
            user,
        );
        let log = ws.path().join("audit.jsonl");
        let script = format!(
            "cat {}; curl -sS http://blocked.test:{port}/; echo done",
            secret.display()
        );
        let out = exec_command(user, &ws, profile.to_str().unwrap(), &["--report"])
            .arg("--audit-log")
            .arg(&log)
            .args(["--", "sh", "-c", &script])
            .env("MISSY_EGRESS_DNS", "off")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("done"), "{user:?}: {stdout}\n{stderr}");
        assert!(
            !stdout.contains("not for the sandbox"),
            "{user:?}: {stdout}"
        );
        // The report on stderr.
        let file_rule = format!("add \"{}\" to [filesystem] read", real.display());
        let net_rule = format!("add \"blocked.test:{port}\" to [network] allow");
        for want in [
            format!("denied file read {}", secret.display()),
            file_rule.clone(),
            format!("denied network connect blocked.test:{port}"),
            net_rule.clone(),
            "seccomp-notify (active)".into(),
            "egress-proxy (active)".into(),
            "it is not proof of no other denial".into(),
        ] {
            assert!(
                stderr.contains(&want),
                "{user:?}: no `{want}` in:\n{stderr}"
            );
        }
        if user == User::Nobody {
            assert!(
                stderr.contains("landlock-audit (inactive)") && stderr.contains("needs root"),
                "{stderr}"
            );
        }
        // The same in the exec-end record.
        let text = std::fs::read_to_string(&log).unwrap();
        let end: Value = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|r| r["event"] == "exec-end")
            .unwrap_or_else(|| panic!("{user:?}: no exec-end in {text}"));
        assert_eq!(end["v"], 2);
        assert!(
            end["resources"]["output_bytes"].as_u64().unwrap() >= 5,
            "{end}"
        );
        let report = &end["report"];
        let denials = report["denials"].as_array().unwrap();
        let has = |target: &str, rule: &str, source: &str| {
            denials
                .iter()
                .any(|d| d["target"] == target && d["allow_with"] == rule && d["source"] == source)
        };
        assert!(
            has(&secret.display().to_string(), &file_rule, "seccomp-notify"),
            "{user:?}: {report}"
        );
        assert!(
            has(&format!("blocked.test:{port}"), &net_rule, "egress-proxy"),
            "{user:?}: {report}"
        );
        let sources: Vec<&str> = report["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            sources,
            ["seccomp-notify", "egress-proxy", "landlock-audit"]
        );
    }
    drop(listener);
}

#[test]
fn without_report_the_record_has_no_report_but_counts_output() {
    let user = User::Root;
    let ws = Scratch::new(user);
    let log = ws.path().join("audit.jsonl");
    let out = exec_command(user, &ws, "strict", &["--audit-log"])
        .arg(&log)
        .args(["--", "sh", "-c", "printf 12345; printf 678 >&2"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("denial report"));
    let text = std::fs::read_to_string(&log).unwrap();
    let end: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["event"] == "exec-end")
        .unwrap();
    assert_eq!(end["report"], Value::Null);
    assert_eq!(end["resources"]["output_bytes"], 8);
}
