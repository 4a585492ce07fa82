//! Scenarios: reads and writes outside the grants, link and rename tricks, /proc, devices, setuid
//! files, code planted in the workspace for the host to run (protected paths).

use super::*;

pub(super) static SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "read-outside",
        probe: Some("read-file"),
        area: Area::Filesystem,
        threat: "read a file outside the grants",
        mechanism: "mount namespace (only granted paths exist); Landlock",
        pending: None,
        exclusive: false,
        prepare: |fx, _| Ok(Attempt::new(&[secret(fx)?])),
    },
    Scenario {
        name: "write-outside",
        probe: Some("write-file"),
        area: Area::Filesystem,
        threat: "create a file outside the grants",
        mechanism: "mount namespace; read-only binds; Landlock",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let target = fx.dir.outside.join("planted.txt");
            let mut a = Attempt::new(&[s(&target)]);
            a.evidence.push(Evidence::FileAppears(target));
            Ok(a)
        },
    },
    Scenario {
        name: "symlink-escape",
        probe: Some("symlink-escape"),
        area: Area::Filesystem,
        threat: "read outside through a symlink planted in the workspace",
        mechanism: "the target is not mounted; Landlock checks the resolved path",
        pending: None,
        exclusive: false,
        prepare: |fx, _| Ok(Attempt::new(&[s(&fx.dir.ws.join("link")), secret(fx)?])),
    },
    Scenario {
        name: "hardlink-escape",
        probe: Some("hardlink-escape"),
        area: Area::Filesystem,
        threat: "write outside through a hard link planted in the workspace",
        mechanism: "the target is not mounted; link() across mounts fails (EXDEV); Landlock",
        pending: None,
        exclusive: false,
        prepare: |fx, _| Ok(Attempt::new(&[s(&fx.dir.ws.join("hlink")), secret(fx)?])),
    },
    Scenario {
        name: "rename-out",
        probe: Some("rename-escape"),
        area: Area::Filesystem,
        threat: "rename a workspace file to a place outside the grants",
        mechanism: "the destination is not mounted; rename() across mounts fails (EXDEV); Landlock",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let from = fx
                .dir
                .file(fx.dir.ws.join("payload.txt"), "payload\n")
                .map_err(|e| err("workspace file", e))?;
            let to = fx.dir.outside.join("moved-out.txt");
            let mut a = Attempt::new(&[s(&from), s(&to)]);
            a.evidence.push(Evidence::FileAppears(to));
            Ok(a)
        },
    },
    Scenario {
        name: "rename-in",
        probe: Some("rename-escape"),
        area: Area::Filesystem,
        threat: "rename a host file into the workspace (steal it)",
        mechanism: "the source is not mounted; Landlock",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let from = secret(fx)?;
            let to = fx.dir.ws.join("stolen.txt");
            let mut a = Attempt::new(&[from, s(&to)]);
            a.evidence.push(Evidence::FileAppears(to));
            Ok(a)
        },
    },
    Scenario {
        name: "proc-root-traversal",
        probe: Some("read-file"),
        area: Area::Filesystem,
        threat: "read a host file through /proc/PID/root of a host process",
        mechanism: "pid namespace with its own procfs: host processes have no entry",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let path = secret(fx)?;
            let victim = sleeper(fx, &[])?;
            let mut a = Attempt::new(&[format!("/proc/{}/root{path}", victim.pid())]);
            a.victims.push(victim);
            Ok(a)
        },
    },
    Scenario {
        name: "proc-environ",
        probe: Some("proc-environ"),
        area: Area::Filesystem,
        threat: "read a host process's environment through /proc/PID/environ",
        mechanism: "pid namespace with its own procfs; Landlock ptrace scope",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let marker = format!("MISSY_MARKER_{}", fx.tag);
            let victim = sleeper(fx, &[("MISSY_TEST_MARKER", &marker)])?;
            let mut a = Attempt::new(&[victim.pid().to_string(), marker]);
            a.victims.push(victim);
            Ok(a)
        },
    },
    Scenario {
        name: "open-by-handle",
        probe: Some("open-by-handle"),
        area: Area::Filesystem,
        threat: "open a file by handle, bypassing path checks",
        mechanism: "seccomp: open_by_handle_at, name_to_handle_at EPERM; no CAP_DAC_READ_SEARCH",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let f = fx
                .dir
                .file(fx.dir.ws.join("handle.txt"), "by handle\n")
                .map_err(|e| err("workspace file", e))?;
            Ok(Attempt::new(&[s(&f)]))
        },
    },
    Scenario {
        name: "mknod",
        probe: Some("mknod"),
        area: Area::Filesystem,
        threat: "create a device node",
        mechanism: "no CAP_MKNOD in the initial user namespace; nodev mounts",
        pending: None,
        exclusive: false,
        prepare: |fx, _| Ok(Attempt::new(&[s(&fx.dir.ws.join("node"))])),
    },
    Scenario {
        name: "device-read",
        probe: Some("device-read"),
        area: Area::Filesystem,
        threat: "open a host device node (the disk) and read it",
        mechanism: "mount namespace: a minimal /dev without host devices; no capabilities",
        pending: None,
        exclusive: false,
        prepare: |fx, _| match &fx.env.device {
            Some(d) => Ok(Attempt::new(&[s(d)])),
            None => Err("this host has no device node to try".into()),
        },
    },
    Scenario {
        name: "proc-sys-write",
        probe: Some("proc-sys-write"),
        area: Area::Filesystem,
        threat: "write a sysctl through /proc/sys",
        mechanism: "/proc/sys sysctls belong to the initial user namespace; Landlock /proc read-only",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    Scenario {
        name: "setuid-plant",
        probe: Some("setuid-plant"),
        area: Area::Filesystem,
        threat: "plant a setuid program in the workspace for the host to run",
        mechanism: "seccomp: chmod/open/mknod with S_ISUID|S_ISGID EPERM; nosuid binds",
        pending: None,
        exclusive: false,
        prepare: |fx, side| {
            let path = fx.dir.ws.join("planted-suid");
            let mut a = Attempt::new(&[s(&path)]);
            // The probe removes its copy; the host looks for one that stayed setuid (the
            // control's own copy is removed by design, so there is nothing to see there).
            if !side.is_control() {
                a.evidence.push(Evidence::SetuidFile(path));
            }
            Ok(a)
        },
    },
    Scenario {
        name: "git-hook-plant",
        probe: Some("write-file"),
        area: Area::Filesystem,
        threat: "plant a git hook in the workspace's repository for the host's next git command",
        mechanism: "protect: .git/hooks bound read-only over itself (EROFS), .git pinned",
        pending: None,
        exclusive: false,
        prepare: |fx, side| {
            protected(side, ".git/hooks/")?;
            let hooks = fx.dir.ws.join(".git/hooks");
            for d in [fx.dir.ws.join(".git"), hooks.clone()] {
                std::fs::create_dir_all(&d).map_err(|e| err(".git/hooks", e))?;
                fx.user.chown(&d).map_err(|e| err("chown .git/hooks", e))?;
            }
            let hook = hooks.join("pre-commit");
            let mut a = Attempt::new(&[s(&hook)]);
            a.evidence.push(Evidence::FileAppears(hook));
            Ok(a)
        },
    },
    Scenario {
        name: "envrc-plant",
        probe: Some("write-file"),
        area: Area::Filesystem,
        threat: "plant an .envrc that direnv runs when the host's user enters the workspace",
        mechanism: "protect: an absent protected path is held by a read-only placeholder for the run (EISDIR), removed afterwards",
        pending: None,
        exclusive: false,
        prepare: |fx, side| {
            protected(side, ".envrc")?;
            let envrc = fx.dir.ws.join(".envrc");
            let mut a = Attempt::new(&[s(&envrc)]);
            a.evidence.push(Evidence::FileAppears(envrc));
            Ok(a)
        },
    },
];
