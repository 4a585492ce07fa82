//! Resource limits: which mechanism enforces each profile limit on this host.
//!
//! A cgroup is preferred (it bounds the whole sandbox), rlimits otherwise (they bound each
//! process). Root inside the sandbox is host root when the supervisor runs as root, and root is
//! exempt from RLIMIT_NPROC, so there the process limit needs the pids cgroup.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::kernel::KernelFeatures;
use crate::policy::Limits;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RlimitKind {
    Nproc,
    Data,
    Nofile,
    Fsize,
    Core,
    Cpu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    pub kind: RlimitKind,
    pub value: u64,
}

impl RlimitKind {
    pub fn name(self) -> &'static str {
        match self {
            RlimitKind::Nproc => "RLIMIT_NPROC",
            RlimitKind::Data => "RLIMIT_DATA",
            RlimitKind::Nofile => "RLIMIT_NOFILE",
            RlimitKind::Fsize => "RLIMIT_FSIZE",
            RlimitKind::Core => "RLIMIT_CORE",
            RlimitKind::Cpu => "RLIMIT_CPU",
        }
    }
}

/// The supervisor's side of the limits: the cgroup it creates and the wall clock it runs.
#[derive(Debug, Clone, Default)]
pub struct LimitPlan {
    pub rlimits: Vec<Rlimit>,
    /// (parent cgroup directory, pids.max) when the pids controller is used.
    pub cgroup_pids: Option<(PathBuf, u64)>,
    /// (parent cgroup directory, bytes) when the memory controller is used.
    pub cgroup_memory: Option<(PathBuf, u64)>,
    pub wall_time: Option<std::time::Duration>,
    /// Limit name → mechanism, or why it cannot be enforced.
    pub mechanisms: Vec<(&'static str, Result<String, String>)>,
}

pub fn compile(limits: &Limits, kernel: &KernelFeatures) -> LimitPlan {
    let mut plan = LimitPlan {
        wall_time: limits.wall_time.map(|d| d.as_std()),
        ..Default::default()
    };
    let root = kernel.euid == 0;
    // Core dumps would write the sandbox's memory (maybe secrets) to disk: always off.
    plan.rlimits.push(Rlimit {
        kind: RlimitKind::Core,
        value: 0,
    });

    if let Some(n) = limits.processes {
        match &kernel.cgroups.pids {
            Some(dir) => {
                plan.cgroup_pids = Some((dir.clone(), n));
                plan.mechanisms
                    .push(("processes", Ok(format!("cgroup pids.max={n} (v1)"))));
            }
            None if !root => plan
                .mechanisms
                .push(("processes", Ok(format!("RLIMIT_NPROC={n} (per host uid)")))),
            None => plan.mechanisms.push((
                "processes",
                Err("no pids cgroup, and root (host uid 0) is exempt from RLIMIT_NPROC".into()),
            )),
        }
        if !root {
            plan.rlimits.push(Rlimit {
                kind: RlimitKind::Nproc,
                value: n,
            });
        }
    }
    if let Some(mem) = limits.memory {
        match &kernel.cgroups.memory {
            Some(dir) => {
                plan.cgroup_memory = Some((dir.clone(), mem.0));
                plan.mechanisms.push((
                    "memory",
                    Ok(format!(
                        "cgroup memory limit {mem} for all the workload's processes (v1)"
                    )),
                ));
            }
            None => {
                plan.rlimits.push(Rlimit {
                    kind: RlimitKind::Data,
                    value: mem.0,
                });
                plan.mechanisms
                    .push(("memory", Ok(format!("RLIMIT_DATA={mem} per process"))));
            }
        }
    }
    if let Some(n) = limits.open_files {
        plan.rlimits.push(Rlimit {
            kind: RlimitKind::Nofile,
            value: n,
        });
        plan.mechanisms
            .push(("open_files", Ok(format!("RLIMIT_NOFILE={n}"))));
    }
    if let Some(size) = limits.file_size {
        plan.rlimits.push(Rlimit {
            kind: RlimitKind::Fsize,
            value: size.0,
        });
        plan.mechanisms
            .push(("file_size", Ok(format!("RLIMIT_FSIZE={size}"))));
    }
    if let Some(cpu) = limits.cpu_time {
        let secs = cpu.0.div_ceil(1000);
        plan.rlimits.push(Rlimit {
            kind: RlimitKind::Cpu,
            value: secs,
        });
        plan.mechanisms
            .push(("cpu_time", Ok(format!("RLIMIT_CPU={secs}s per process"))));
    }
    if let Some(wall) = limits.wall_time {
        plan.mechanisms.push((
            "wall_time",
            Ok(format!("supervisor kills the whole sandbox after {wall}")),
        ));
    }
    if let Some(size) = limits.tmp_size {
        plan.mechanisms.push((
            "tmp_size",
            Ok(format!("tmpfs size={size} on the private /tmp")),
        ));
    }
    plan
}
