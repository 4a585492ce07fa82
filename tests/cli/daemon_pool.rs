//! `serve`'s launcher: its spares (per-run supervisors forked ahead, each with its sandbox's
//! pid 1 cloned) are refilled after every run and none serves two runs; its profile cache
//! never serves a profile whose files changed. As root and as uid 65534.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use missy_agent::client::{Client, ExecRequest};

use crate::daemon::{Daemon, workspace};
use crate::harness::{Scratch, USERS};

fn run(client: &mut Client, id: &str, script: &str, ws: &Scratch) -> String {
    let done = client
        .run(&ExecRequest::new(
            id,
            "mine",
            ["sh", "-c", script],
            ws.path().to_str().unwrap(),
        ))
        .unwrap();
    assert_eq!(done.exit.status, 0, "{id}: {done:?}");
    String::from_utf8_lossy(&done.stdout).trim().to_string()
}

fn write(path: &std::path::Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn marked(extends: &str, mark: &str) -> String {
    format!("extends = \"{extends}\"\n[env]\nset = {{ MARK = \"{mark}\" }}\n")
}

#[test]
fn an_edited_profile_takes_effect_on_the_next_run() {
    for user in USERS {
        // The daemon's directory (its ./sandbox-profiles/ is searched first) and its
        // $XDG_CONFIG_HOME (searched next).
        let cwd = Scratch::new(user);
        let config = Scratch::new(user);
        let xdg = config.path().join("missy-sandbox/profiles");
        write(&xdg.join("parent.toml"), &marked("strict", "a1"));
        write(&xdg.join("mine.toml"), "extends = \"parent\"\n");
        let d = Daemon::start_with(user, &[], |c| {
            c.current_dir(cwd.path())
                .env("XDG_CONFIG_HOME", config.path());
        });
        let w = workspace();
        let mut client = d.client();
        let mut n = 0;
        let mut mark = |client: &mut Client| {
            n += 1;
            run(client, &format!("m{n}"), "echo $MARK", &w)
        };
        // Enough runs that later ones use spares forked with the profile cached.
        for _ in 0..4 {
            assert_eq!(mark(&mut client), "a1", "{user:?}");
        }
        // A parent edited in place, to a text of the same length, right before each run (a
        // timestamp of the same tick would not tell).
        for value in ["b2", "c3", "d4", "e5"] {
            write(&xdg.join("parent.toml"), &marked("strict", value));
            assert_eq!(mark(&mut client), value, "{user:?}");
        }
        // A file that now comes first in the search path.
        let shadow = cwd.path().join("sandbox-profiles/mine.toml");
        write(&shadow, &marked("strict", "s6"));
        assert_eq!(mark(&mut client), "s6", "{user:?}");
        assert_eq!(mark(&mut client), "s6", "{user:?}");
        std::fs::remove_file(&shadow).unwrap();
        assert_eq!(mark(&mut client), "e5", "{user:?}");
        // A parent that is gone: the run is refused as a fresh load would refuse it.
        std::fs::remove_file(xdg.join("parent.toml")).unwrap();
        let refused = client
            .run(&ExecRequest::new(
                "gone",
                "mine",
                ["true"],
                w.path().to_str().unwrap(),
            ))
            .unwrap();
        assert_ne!(refused.exit.status, 0, "{user:?}: {refused:?}");
    }
}

/// Pids whose parent is `parent`.
fn children(parent: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                let after = &stat[stat.rfind(')').unwrap_or(0) + 1..];
                after.split_whitespace().nth(1) == Some(&parent.to_string())
            })
        })
        .collect()
}

#[test]
fn every_run_gets_a_fresh_sandbox_and_the_pool_refills() {
    for user in USERS {
        let config = Scratch::new(user);
        write(
            &config.path().join("missy-sandbox/profiles/mine.toml"),
            "extends = \"strict\"\n",
        );
        let d = Daemon::start_with(user, &[], |c| {
            c.env("XDG_CONFIG_HOME", config.path());
        });
        let w = workspace();
        let mut client = d.client();
        let mut pids = HashSet::new();
        for n in 0..6 {
            // A sandbox used twice would show a file an earlier run left in its private /tmp,
            // and its workload's pid would not be the one every fresh sandbox gives it (pids
            // in a pid namespace are handed out in increasing order).
            let out = run(
                &mut client,
                &format!("r{n}"),
                "ls -A /tmp; touch /tmp/left-by-a-run; echo pid=$$",
                &w,
            );
            assert!(!out.contains("left-by-a-run"), "{user:?} run {n}: {out}");
            pids.insert(out.lines().last().unwrap_or_default().to_string());
        }
        assert_eq!(pids.len(), 1, "{user:?}: {pids:?}");
        // The zygote (the daemon's one child) holds three spares again, each with its pid 1:
        // two built ahead for the runs' profile and workspace, one not (for other runs).
        let zygote = children(d.pid());
        assert_eq!(zygote.len(), 1, "{user:?}: {zygote:?}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let spares = children(zygote[0]);
            let ready = spares.len() == 3 && spares.iter().all(|s| children(*s).len() == 1);
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{user:?}: spares {spares:?} never became three, each with its pid 1"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
