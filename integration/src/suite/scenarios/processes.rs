//! Scenarios: other processes, namespaces, dangerous system calls, the terminal, outliving the sandbox.

use super::*;

pub(super) static SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "setuid-exec",
        probe: Some("setuid-exec"),
        area: Area::Processes,
        threat: "gain another identity by executing a setuid program",
        mechanism: "no_new_privs; nosuid mounts; capabilities cleared",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let Some(src) = &fx.env.setuid_copy else {
                return Err("making a setuid file owned by another uid needs a root runner".into());
            };
            let link = fx.dir.ws.join("setuid-probe");
            std::fs::hard_link(src, &link).map_err(|e| err("link the setuid copy", e))?;
            Ok(Attempt::new(&[s(&link)]))
        },
    },
    Scenario {
        name: "ptrace-child",
        probe: Some("ptrace-child"),
        area: Area::Processes,
        threat: "ptrace (here its own child: the call itself)",
        mechanism: "seccomp: ptrace EPERM",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    Scenario {
        name: "ptrace-host",
        probe: Some("ptrace"),
        area: Area::Processes,
        threat: "ptrace a host process",
        mechanism: "pid namespace; seccomp ptrace EPERM; Landlock ptrace scope",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let victim = sleeper(fx, &[])?;
            let mut a = Attempt::new(&[victim.pid().to_string()]);
            a.victims.push(victim);
            Ok(a)
        },
    },
    Scenario {
        name: "process-vm-readv",
        probe: Some("process-vm-readv"),
        area: Area::Processes,
        threat: "read another process's memory with process_vm_readv",
        mechanism: "seccomp: process_vm_readv/writev EPERM; pid namespace",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    Scenario {
        name: "signal-host",
        probe: Some("kill"),
        area: Area::Processes,
        threat: "signal a host process",
        mechanism: "pid namespace; Landlock signal scope",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let victim = sleeper(fx, &[])?;
            let mut a = Attempt::new(&[victim.pid().to_string()]);
            a.evidence.push(Evidence::VictimDies(victim));
            Ok(a)
        },
    },
    Scenario {
        name: "unshare-user",
        probe: Some("unshare-user"),
        area: Area::Processes,
        threat: "create a new user namespace",
        mechanism: "seccomp: unshare, setns EPERM",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    Scenario {
        name: "clone-newuser",
        probe: Some("clone-newuser"),
        area: Area::Processes,
        threat: "create a new user namespace through clone",
        mechanism: "seccomp: clone with CLONE_NEW* flags EPERM",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    Scenario {
        name: "clone3",
        probe: Some("clone3"),
        area: Area::Processes,
        threat: "clone3, whose flags seccomp cannot read",
        mechanism: "seccomp: clone3 ENOSYS (libc falls back to clone)",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    Scenario {
        name: "mount",
        probe: Some("mount"),
        area: Area::Processes,
        threat: "mount a filesystem",
        mechanism: "seccomp: mount EPERM; no capabilities",
        pending: None,
        exclusive: false,
        prepare: |fx, side| {
            let dir = fx.dir.ws.join("mnt");
            std::fs::create_dir_all(&dir).map_err(|e| err("mount point", e))?;
            fx.user
                .chown(&dir)
                .map_err(|e| err("chown mount point", e))?;
            // The control mounts in a private mount namespace so the host's table is untouched.
            if side.is_control() {
                Ok(Attempt::new(&[s(&dir), "--private-ns".into()]))
            } else {
                Ok(Attempt::new(&[s(&dir)]))
            }
        },
    },
    Scenario {
        name: "io-uring",
        probe: Some("io-uring"),
        area: Area::Processes,
        threat: "io_uring (I/O without the filtered system calls)",
        mechanism: "seccomp: io_uring_setup/enter/register EPERM",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    Scenario {
        name: "tiocsti",
        probe: Some("tiocsti"),
        area: Area::Processes,
        threat: "inject keystrokes into the terminal with TIOCSTI",
        mechanism: "seccomp: ioctl TIOCSTI (low 32 bits) EPERM; new session",
        pending: None,
        exclusive: false,
        prepare: |_, _| {
            let mut a = Attempt::new(&["0"]);
            a.pty_stdin = true;
            Ok(a)
        },
    },
    Scenario {
        name: "keyctl",
        probe: Some("keyctl"),
        area: Area::Processes,
        threat: "kernel keyrings shared outside the namespaces",
        mechanism: "seccomp: keyctl, add_key, request_key EPERM",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    Scenario {
        name: "bpf",
        probe: Some("bpf"),
        area: Area::Processes,
        threat: "load BPF programs",
        mechanism: "seccomp: bpf EPERM",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    Scenario {
        name: "perf-event-open",
        probe: Some("perf-event-open"),
        area: Area::Processes,
        threat: "perf events (side channels, kernel attack surface)",
        mechanism: "seccomp: perf_event_open EPERM",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    Scenario {
        name: "userfaultfd",
        probe: Some("userfaultfd"),
        area: Area::Processes,
        threat: "userfaultfd (a kernel-exploit staple)",
        mechanism: "seccomp: userfaultfd EPERM",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    Scenario {
        name: "init-module",
        probe: Some("init-module"),
        area: Area::Processes,
        threat: "load a kernel module",
        mechanism: "seccomp: init_module, finit_module EPERM; no CAP_SYS_MODULE",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    Scenario {
        name: "personality",
        probe: Some("personality"),
        area: Area::Processes,
        threat: "disable ASLR through personality flags",
        mechanism: "seccomp: only the plain personas are allowed",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    Scenario {
        name: "x32",
        probe: Some("x32"),
        area: Area::Processes,
        threat: "x32 system call numbers slipping past the filter",
        mechanism: "seccomp x32 guard",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    Scenario {
        name: "daemon-survives",
        probe: Some("daemonize"),
        area: Area::Processes,
        threat: "a daemon (double fork + setsid) outlives the sandbox",
        mechanism: "pid namespace: pid 1 kills and reaps every process in it when the workload ends",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            // The tag is in the daemon's command line, so the host finds it in /proc whether
            // or not it can write its heartbeat (base grants nothing writable).
            let beat = fx.dir.ws.join(format!("{}-heartbeat", fx.tag));
            let mut a = Attempt::new(&[s(&beat), "10".into()]);
            a.evidence.push(Evidence::Survivor(s(&beat)));
            Ok(a)
        },
    },
    Scenario {
        name: "supervisor-killed",
        probe: Some("linger"),
        area: Area::Processes,
        threat: "the sandbox outlives a SIGKILLed supervisor",
        mechanism: "PR_SET_PDEATHSIG at every level; pid namespace",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            // Unsandboxed, killing the probe leaves its forked child running: the control.
            let tag = format!("{}-orphan", fx.tag);
            let mut a = Attempt::new(&["30".to_string(), tag.clone()]);
            a.kill_once_forked = true;
            a.evidence.push(Evidence::Survivor(tag));
            Ok(a)
        },
    },
    Scenario {
        name: "wall-time",
        probe: Some("linger"),
        area: Area::Resources,
        threat: "run forever (here: past a 1 s wall clock)",
        mechanism: "wall_time / --timeout: the supervisor kills the whole tree (exit 124)",
        pending: None,
        exclusive: false,
        prepare: |fx, side| {
            // The profiles' own wall clocks are minutes to hours; the mechanism is the same
            // with `--timeout 1s`, which the sandboxed run uses.
            let mut a = Attempt::new(&["4".to_string(), format!("{}-linger", fx.tag)]);
            // Unsandboxed the probe and its child end together after 4 s: no survivor to see.
            if !side.is_control() {
                a.timeout = Some("1s");
                a.forced_stops.push((124, "killed by the wall-time limit"));
                a.evidence
                    .push(Evidence::Survivor(format!("{}-linger", fx.tag)));
            }
            Ok(a)
        },
    },
];
