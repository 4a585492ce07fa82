//! Nothing started in the sandbox outlives it: workload exit, wall-time kill, supervisor SIGKILL.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::faults::sleep_token;
use crate::harness::*;
use crate::host_state::{
    GRACE, ProcStat, cgroup_procs, cmdline, ns_inode, processes_in_pid_ns, processes_matching,
    run_cgroups, still_exists,
};

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// True if `file` is still growing (a heartbeat writer is alive).
fn still_growing(file: &Path) -> bool {
    std::thread::sleep(Duration::from_millis(400));
    let a = size(file);
    std::thread::sleep(Duration::from_millis(600));
    size(file) > a
}

#[test]
fn a_daemonized_child_does_not_survive_the_sandbox() {
    for user in USERS {
        let ws = Scratch::new(user);
        let control = ws.path().join("control-heartbeat");
        let out = unsandboxed(user, &ws, &["daemonize", control.to_str().unwrap(), "30"]);
        assert!(out.is("SENT"), "{out:?}");
        assert!(
            control_daemon_outlives_probe(&out.line, &control),
            "as {user:?}: the unsandboxed daemon must keep running"
        );
        let beat = ws.path().join("heartbeat");
        let inside = sandboxed(
            user,
            &ws,
            "strict",
            &["daemonize", beat.to_str().unwrap(), "30"],
        );
        assert!(inside.is("SENT"), "{inside:?}");
        assert!(
            !still_growing(&beat),
            "as {user:?}: a daemon outlived the sandbox"
        );
    }
}

#[test]
fn the_wall_time_limit_kills_the_whole_tree() {
    for user in USERS {
        let ws = Scratch::new(user);
        let beat = ws.path().join("beat");
        let script = format!(
            "(while :; do echo x >> '{}'; sleep 0.1; done) & sleep 30",
            beat.display()
        );
        let started = Instant::now();
        let status = exec_command(
            user,
            &ws,
            "strict",
            // Long enough for the writer to start on a loaded machine (the clock runs while
            // the sandbox is built), far below the `sleep 30` the kill must cut short.
            &["--timeout", "5s", "--", "sh", "-c", &script],
        )
        .stderr(Stdio::piped())
        .output()
        .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(
            status.status.code(),
            Some(124),
            "as {user:?}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        assert!(String::from_utf8_lossy(&status.stderr).contains("wall-time limit"));
        assert!(
            elapsed < Duration::from_secs(20),
            "as {user:?}: took {elapsed:?}"
        );
        assert!(size(&beat) > 0, "the background writer ran");
        assert!(
            !still_growing(&beat),
            "as {user:?}: a process outlived the timeout kill"
        );
        // Without the limit the same command would run to completion.
        let ok = exec_command(user, &ws, "strict", &["--", "sh", "-c", "sleep 1.5"])
            .status()
            .unwrap();
        assert_eq!(ok.code(), Some(0));
    }
}

/// The supervisor is SIGKILLed while the workload has forked sleepers, a heartbeat writer and
/// two double-forked daemons (a shell one and the probe's, which re-executes from memory).
/// Afterwards no process of the sandbox exists: not one of those seen running before the kill,
/// none in the sandbox's pid namespace, none with the run's markers. A killed supervisor cannot
/// remove its cgroups (root): they must be empty, and the next run sweeps them away.
#[test]
fn killing_the_supervisor_with_sigkill_ends_the_sandbox() {
    for user in USERS {
        let ws = Scratch::new(user);
        let probe = ws.with_probe(user);
        let (beat, daemon_beat, ready) = (
            ws.path().join("beat"),
            ws.path().join("daemon-beat"),
            ws.path().join("ready"),
        );
        let token = sleep_token();
        let script = format!(
            "for i in 1 2 3; do sleep {token} >/dev/null 2>&1 & done
             (while :; do echo x >> '{beat}'; sleep 0.1; done) >/dev/null 2>&1 &
             ( setsid sh -c 'while :; do sleep {token}; done' >/dev/null 2>&1 & )
             '{probe}' daemonize '{daemon_beat}' 600 >/dev/null
             echo ready > '{ready}'
             while :; do sleep 1; done",
            beat = beat.display(),
            probe = probe.display(),
            daemon_beat = daemon_beat.display(),
            ready = ready.display(),
        );
        // Killed and reaped on drop, should an assertion fail before the kill below.
        let mut child = HostProcess {
            child: exec_command(user, &ws, "strict", &["--", "sh", "-c", &script])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        };
        // setpriv execs the supervisor, so this pid is the supervisor's own.
        let supervisor = child.pid() as i32;
        let wsp = ws.path().to_string_lossy().into_owned();
        // Ready: the daemons beat and the four marked sleepers (three, and the shell daemon's)
        // run.
        let deadline = Instant::now() + Duration::from_secs(10);
        let marked_sleep = format!("sleep {token}");
        let sleepers = || {
            processes_matching(&[&marked_sleep])
                .into_iter()
                .filter(|(p, cmd)| p.state != 'Z' && *cmd == marked_sleep)
                .count()
        };
        while !(ready.exists() && size(&beat) > 0 && size(&daemon_beat) > 0 && sleepers() >= 4)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            ready.exists() && size(&beat) > 0 && size(&daemon_beat) > 0,
            "as {user:?}: the sandbox never started"
        );
        assert_eq!(sleepers(), 4, "as {user:?}: the marked sleepers");
        // Everything of the sandbox as the host sees it: the supervisor's forks (its command
        // line), the workload's processes (workspace path or token), the whole pid namespace.
        let pid_ns = processes_matching(&[&marked_sleep])
            .iter()
            .find(|(_, cmd)| *cmd == marked_sleep)
            .and_then(|(p, _)| ns_inode(p.pid, "pid"))
            .expect("the sleepers' pid namespace");
        assert_ne!(
            Some(pid_ns),
            ns_inode(std::process::id() as i32, "pid"),
            "as {user:?}: the sleepers run in the host's pid namespace"
        );
        let mut sandbox: Vec<ProcStat> = processes_matching(&[&wsp, &token])
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| p.pid != supervisor)
            .collect();
        sandbox.extend(processes_in_pid_ns(pid_ns));
        sandbox.sort_by_key(|p| p.pid);
        sandbox.dedup();
        assert!(
            sandbox.len() >= 8,
            "as {user:?}: expected monitor, init, shell, 3 sleepers and 2 daemons: {sandbox:?}"
        );

        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(supervisor),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let _ = child.child.wait();

        let deadline = Instant::now() + GRACE;
        let alive = || -> Vec<String> {
            let mut alive: Vec<String> = sandbox
                .iter()
                .filter(|p| still_exists(p))
                .map(|p| format!("{} {:?}", p.pid, cmdline(p.pid)))
                .collect();
            alive.extend(
                processes_in_pid_ns(pid_ns)
                    .iter()
                    .map(|p| format!("{} in the pid namespace", p.pid)),
            );
            alive.extend(
                processes_matching(&[&wsp, &token])
                    .iter()
                    .map(|(p, cmd)| format!("{} {cmd:?}", p.pid)),
            );
            alive
        };
        while !alive().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left = alive();
        assert!(
            left.is_empty(),
            "as {user:?}: the sandbox survived its supervisor: {left:?}"
        );
        assert!(
            !still_growing(&beat) && !still_growing(&daemon_beat),
            "as {user:?}: a heartbeat goes on"
        );

        // The cgroups the supervisor could not remove hold nothing, and the next run (which
        // creates its own next to them) removes them.
        let stale = run_cgroups(|pid| pid == supervisor);
        eprintln!(
            "supervisor SIGKILL as {user:?}: {} sandbox processes ended; cgroups left: {stale:?}",
            sandbox.len()
        );
        for dir in &stale {
            assert!(
                cgroup_procs(dir).is_empty(),
                "as {user:?}: {} still holds {:?}",
                dir.display(),
                cgroup_procs(dir)
            );
        }
        if user == User::Root {
            let ok = exec_command(user, &ws, "strict", &["--", "true"])
                .status()
                .unwrap();
            assert_eq!(ok.code(), Some(0));
            let stale = run_cgroups(|pid| pid == supervisor);
            assert!(
                stale.is_empty(),
                "as {user:?}: stale run cgroups not swept: {stale:?}"
            );
        }
    }
}
