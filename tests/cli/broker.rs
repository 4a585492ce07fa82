//! `exec --profile agent --broker strict`: a confined agent asks for tool runs through
//! $MISSY_SANDBOX_SOCKET. It cannot use a profile it was not granted, nor a workspace outside
//! its own, nor touch another connection's runs; its own sandbox still holds (its workspace is
//! read-only to it, host loopback unreachable) while a tool run writes the workspace. As root
//! and as uid 65534. The agent is a Python script (tests/cli/data/broker_agent.py).

use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;

use crate::harness::{Scratch, USERS, exec_command};

const AGENT: &str = include_str!("data/broker_agent.py");

#[test]
fn a_brokered_agent_runs_tools_only_as_granted() {
    if !Path::new("/usr/bin/python3").exists() {
        eprintln!("SKIP a_brokered_agent_runs_tools_only_as_granted: /usr/bin/python3 is missing");
        return;
    }
    for user in USERS {
        let ws = Scratch::new(user);
        ws.file("agent.py", AGENT, user);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port().to_string();
        // The control: without the sandbox the host port is reachable, and the user can write
        // its workspace.
        assert!(std::net::TcpStream::connect(("127.0.0.1", port.parse().unwrap())).is_ok());
        let _ = listener.accept();
        let out = exec_command(user, &ws, "agent", &["--broker", "strict", "--"])
            .args(["python3", "agent.py", &port])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{user:?}: {stdout}\n{stderr}");
        let result: serde_json::Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{user:?}: {e}: {stdout}\n{stderr}"));
        assert_eq!(
            result["profiles"],
            serde_json::json!(["strict"]),
            "{user:?}"
        );
        assert_eq!(result["dev"], "forbidden", "{user:?}: {result}");
        assert_eq!(result["outside"], "forbidden", "{user:?}: {result}");
        assert_eq!(result["other_cancel"], "unknown_id", "{user:?}: {result}");
        assert_eq!(result["tool"], serde_json::json!([0, "tool\n"]), "{user:?}");
        // The tool run (a sandbox outside the agent's) wrote the workspace...
        assert_eq!(
            std::fs::read_to_string(ws.path().join("tool.txt")).unwrap(),
            "tool\n"
        );
        // ...which is read-only to the agent itself (EROFS), and the host is out of reach.
        assert_eq!(result["agent_write"], 30, "{user:?}: {result}");
        assert!(!ws.path().join("agent.txt").exists());
        assert_ne!(result["host_tcp"], "connected", "{user:?}: {result}");
        // The broker's socket directory is gone with the run (the directory is named after the
        // supervisor's pid; none may be left by a process that has ended).
        let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let pid = name
                    .strip_prefix("missy-broker-")?
                    .split('-')
                    .next()?
                    .to_string();
                (!Path::new("/proc").join(pid).exists()).then_some(name)
            })
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
