//! Scenarios: processes, memory, disk, open files, file size and wall time.

use super::*;

pub(super) static SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "fork-bomb",
        probe: Some("fork-bomb"),
        area: Area::Resources,
        threat: "fork bomb",
        mechanism: "limits.processes: pids cgroup (root) or RLIMIT_NPROC",
        pending: None,
        exclusive: true,
        prepare: |_, side| {
            let n = limit(side, side.limits().processes, "processes")? + 64;
            Ok(Attempt::new(&[n.to_string()]))
        },
    },
    Scenario {
        name: "memory-bomb",
        probe: Some("mem-bomb"),
        area: Area::Resources,
        threat: "exhaust memory",
        mechanism: "limits.memory: memory cgroup with OOM kill (root) or RLIMIT_DATA",
        pending: None,
        exclusive: true,
        prepare: |_, side| {
            let bytes = limit(side, side.limits().memory, "memory")? + 64 * MIB;
            let room = mem_available().unwrap_or(0) * 3 / 4;
            if bytes > room {
                return Err(Skip::Reason(format!(
                    "{} MiB is more than this host can spare for the attempt ({} MiB)",
                    bytes / MIB,
                    room / MIB
                )));
            }
            let mut a = Attempt::new(&[(bytes / MIB).to_string()]);
            a.forced_stops
                .push((137, "killed (SIGKILL) by the memory cgroup's OOM killer"));
            Ok(a)
        },
    },
    Scenario {
        name: "open-files",
        probe: Some("open-files"),
        area: Area::Resources,
        threat: "exhaust file descriptors (raising the soft limit first)",
        mechanism: "limits.open_files: RLIMIT_NOFILE, soft = hard",
        pending: None,
        exclusive: false,
        prepare: |_, side| {
            let n = limit(side, side.limits().open_files, "open_files")? + 16;
            if side.is_control() {
                let hard =
                    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                        .map(|(_, h)| h)
                        .unwrap_or(0);
                if hard < n + 16 {
                    return Err(Skip::Reason(format!(
                        "this host's descriptor limit ({hard}) is below {n}"
                    )));
                }
            }
            Ok(Attempt::new(&[n.to_string()]))
        },
    },
    Scenario {
        name: "file-size",
        probe: Some("sparse-file"),
        area: Area::Resources,
        threat: "one huge file (fill the disk)",
        mechanism: "limits.file_size: RLIMIT_FSIZE",
        pending: None,
        exclusive: false,
        prepare: |fx, side| {
            let bytes = limit(side, side.limits().file_size, "file_size")? + MIB;
            Ok(Attempt::new(&[
                bytes.to_string(),
                s(&fx.dir.ws.join("sparse")),
            ]))
        },
    },
    Scenario {
        name: "tmp-fill",
        probe: Some("file-size"),
        area: Area::Resources,
        threat: "fill /tmp",
        mechanism: "limits.tmp_size: the private /tmp is a tmpfs of that size",
        pending: None,
        exclusive: true,
        prepare: |fx, side| {
            let bytes = limit(side, side.limits().tmp_size, "tmp_size")? + 16 * MIB;
            let mib = (bytes / MIB).to_string();
            if side.is_control() {
                // Unsandboxed, the same write goes to the host's temporary directory.
                let room = disk_available(&fx.dir.root).unwrap_or(0) / 2;
                if bytes > room {
                    return Err(Skip::Reason(format!(
                        "{mib} MiB is more than this host's disk can spare"
                    )));
                }
                Ok(Attempt::new(&[mib, s(&fx.dir.root.join("fill"))]))
            } else {
                // A tmpfs lives in memory.
                let room = mem_available().unwrap_or(0) / 2;
                if bytes > room {
                    return Err(Skip::Reason(format!(
                        "{mib} MiB of tmpfs is more than this host can spare"
                    )));
                }
                Ok(Attempt::new(&[mib, "/tmp/missy-fill".to_string()]))
            }
        },
    },
];
