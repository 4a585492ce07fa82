//! The default seccomp deny-list, compiled to BPF before any fork (supervisor side).
//!
//! The table below *is* the documentation: every entry says why it is denied. Matching calls
//! fail with an errno (EPERM unless noted), never a kill, so tools report a readable error.
//! Names are resolved per architecture by seccompiler's own syscall tables (through its JSON
//! front end), so one table serves x86_64 and aarch64. One seccompiler filter has one match
//! action, so the list compiles to several programs; the kernel applies the strictest result.

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch, sock_filter};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One compiled BPF program, serialisable so it can cross the control channel to the init.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeccompProgram {
    /// What this program does ("deny-list", "clone3-enosys", "socket-families", "x32-guard").
    pub name: String,
    /// Each sock_filter packed as code<<48 | jt<<40 | jf<<32 | k.
    pub instructions: Vec<u64>,
}

impl SeccompProgram {
    pub fn from_bpf(name: &str, prog: &BpfProgram) -> SeccompProgram {
        let instructions = prog
            .iter()
            .map(|f| {
                (u64::from(f.code) << 48)
                    | (u64::from(f.jt) << 40)
                    | (u64::from(f.jf) << 32)
                    | u64::from(f.k)
            })
            .collect();
        SeccompProgram {
            name: name.to_string(),
            instructions,
        }
    }

    pub fn to_bpf(&self) -> BpfProgram {
        self.instructions
            .iter()
            .map(|&i| sock_filter {
                code: (i >> 48) as u16,
                jt: (i >> 40) as u8,
                jf: (i >> 32) as u8,
                k: i as u32,
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub fn native() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    fn target(self) -> TargetArch {
        match self {
            Arch::X86_64 => TargetArch::x86_64,
            Arch::Aarch64 => TargetArch::aarch64,
        }
    }
}

/// Which program an entry belongs to (each program has one errno).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Program {
    /// EPERM.
    Deny,
    /// ENOSYS, so the C library falls back to an older call whose arguments BPF can read.
    Enosys,
    /// EAFNOSUPPORT, what a kernel without the address family would say.
    Family,
}

/// One documented entry of the deny table.
#[derive(Debug, Clone, Copy)]
pub struct DenyEntry {
    pub syscall: &'static str,
    /// The errno returned.
    pub action: &'static str,
    /// Empty when the call is always denied, else the argument test that selects it.
    pub condition: &'static str,
    pub reason: &'static str,
    /// Architectures that have the call (legacy calls are x86_64 only).
    x86_only: bool,
    program: Program,
    /// seccompiler JSON conditions (ANDed); `None` = match on the number alone.
    args: Option<&'static [Arg]>,
}

/// One argument comparison: (index, 32-bit?, op, value); op "masked" compares `arg & value == value`.
type Arg = (u8, &'static str, u64);

// CLONE_NEWTIME (0x80) is absent on purpose: in clone()'s flags it is part of the exit-signal
// byte, and time namespaces can only be made by unshare and clone3, both denied outright.
const CLONE_NS_FLAGS: &[(&str, u64)] = &[
    ("CLONE_NEWNS", 0x0002_0000),
    ("CLONE_NEWCGROUP", 0x0200_0000),
    ("CLONE_NEWUTS", 0x0400_0000),
    ("CLONE_NEWIPC", 0x0800_0000),
    ("CLONE_NEWUSER", 0x1000_0000),
    ("CLONE_NEWPID", 0x2000_0000),
    ("CLONE_NEWNET", 0x4000_0000),
];

const TIOCSTI: u64 = 0x5412;
const TIOCLINUX: u64 = 0x541C;
const S_ISUID: u64 = 0o4000;
const S_ISGID: u64 = 0o2000;
/// personality() values a normal program uses: PER_LINUX, PER_LINUX32 and their ADDR_* forms,
/// and 0xffffffff (query).
const PERSONALITY_ALLOWED: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];
const AF_UNIX: u64 = 1;
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;

const fn deny(syscall: &'static str, reason: &'static str) -> DenyEntry {
    DenyEntry {
        syscall,
        action: "EPERM",
        condition: "",
        reason,
        x86_only: false,
        program: Program::Deny,
        args: None,
    }
}

const fn deny_x86(syscall: &'static str, reason: &'static str) -> DenyEntry {
    DenyEntry {
        x86_only: true,
        ..deny(syscall, reason)
    }
}

const TABLE: &[DenyEntry] = &[
    deny(
        "ptrace",
        "tracing another process reads and rewrites its memory and registers",
    ),
    deny(
        "process_vm_readv",
        "reads another process's memory directly",
    ),
    deny(
        "process_vm_writev",
        "writes another process's memory directly",
    ),
    deny(
        "kcmp",
        "compares kernel objects of other processes: an information leak",
    ),
    deny(
        "pidfd_getfd",
        "steals a file descriptor from another process",
    ),
    deny(
        "mount",
        "mounting can remap the filesystem view the rules were built on",
    ),
    deny("umount2", "unmounting can uncover what a mask hides"),
    deny("pivot_root", "changes the root the rules were built on"),
    deny(
        "chroot",
        "a new root is a classic step in escaping a filesystem jail",
    ),
    deny("move_mount", "new mount API: same as mount"),
    deny(
        "open_tree",
        "new mount API: clones mounts, can reach hidden trees",
    ),
    deny("fsopen", "new mount API: creates filesystems"),
    deny("fsconfig", "new mount API: configures filesystems"),
    deny("fsmount", "new mount API: turns a filesystem into a mount"),
    deny("fspick", "new mount API: reconfigures an existing mount"),
    deny(
        "mount_setattr",
        "could make a read-only mount writable again",
    ),
    deny(
        "unshare",
        "new namespaces give back capabilities and a fresh attack surface",
    ),
    deny("setns", "entering other namespaces"),
    DenyEntry {
        condition: "flags contain any CLONE_NEW* namespace flag",
        args: None,
        ..deny(
            "clone",
            "clone with namespace flags is unshare by another name",
        )
    },
    DenyEntry {
        action: "ENOSYS",
        program: Program::Enosys,
        ..deny(
            "clone3",
            "its flags sit in memory BPF cannot read; ENOSYS makes libc fall back to clone, which is filtered",
        )
    },
    DenyEntry {
        action: "ENOSYS",
        program: Program::Enosys,
        ..deny(
            "openat2",
            "its flags and mode sit in a struct BPF cannot read (setuid bits at creation); ENOSYS makes callers fall back to openat, which is filtered",
        )
    },
    deny(
        "bpf",
        "loads programs into the kernel: a large attack surface",
    ),
    deny(
        "perf_event_open",
        "performance counters: kernel attack surface and side channels",
    ),
    deny(
        "userfaultfd",
        "lets a process stall the kernel mid-copy, a staple of kernel exploits",
    ),
    deny(
        "io_uring_setup",
        "io_uring performs I/O (even socket creation) without the filtered system calls",
    ),
    deny("io_uring_enter", "io_uring: as io_uring_setup"),
    deny("io_uring_register", "io_uring: as io_uring_setup"),
    deny(
        "keyctl",
        "the kernel keyring is shared outside the sandbox's namespaces",
    ),
    deny("add_key", "kernel keyring: as keyctl"),
    deny("request_key", "kernel keyring: as keyctl"),
    deny("kexec_load", "replaces the running kernel"),
    deny("kexec_file_load", "replaces the running kernel"),
    deny("init_module", "loads kernel code"),
    deny("finit_module", "loads kernel code"),
    deny("delete_module", "unloads kernel code"),
    deny("reboot", "reboots the host (or its pid namespace)"),
    deny("swapon", "changes the host's swap"),
    deny("swapoff", "changes the host's swap"),
    deny(
        "open_by_handle_at",
        "opens files by handle, bypassing path-based rules (the shocker escape)",
    ),
    deny(
        "name_to_handle_at",
        "produces the handles open_by_handle_at consumes",
    ),
    deny("acct", "process accounting writes host-wide records"),
    deny("settimeofday", "sets the host clock"),
    deny("clock_settime", "sets the host clock"),
    deny("clock_adjtime", "adjusts the host clock"),
    deny(
        "syslog",
        "reads the kernel log (addresses, other tenants' messages)",
    ),
    deny("quotactl", "manipulates filesystem quotas"),
    deny("quotactl_fd", "manipulates filesystem quotas"),
    deny("vhangup", "hangs up the controlling terminal"),
    deny("fanotify_init", "watches filesystem events host-wide"),
    deny("lookup_dcookie", "kernel profiling interface"),
    deny("nfsservctl", "kernel NFS server control"),
    deny_x86("iopl", "raw I/O port access"),
    deny_x86("ioperm", "raw I/O port access"),
    deny_x86("uselib", "obsolete loader call with a history of exploits"),
    deny_x86("ustat", "obsolete filesystem statistics call"),
    deny_x86("sysfs", "obsolete filesystem-type enumeration"),
    DenyEntry {
        condition: "persona not one of 0, 0x8, 0x20000, 0x20008, 0xffffffff",
        ..deny(
            "personality",
            "flags such as ADDR_NO_RANDOMIZE or READ_IMPLIES_EXEC weaken exploit mitigations",
        )
    },
    DenyEntry {
        condition: "request == TIOCSTI (low 32 bits)",
        args: Some(&[(1, "dword_eq", TIOCSTI)]),
        ..deny(
            "ioctl",
            "TIOCSTI pushes keystrokes into a terminal the sandbox shares with its user",
        )
    },
    DenyEntry {
        condition: "request == TIOCLINUX (low 32 bits)",
        args: Some(&[(1, "dword_eq", TIOCLINUX)]),
        ..deny(
            "ioctl",
            "TIOCLINUX can paste console selections into the terminal",
        )
    },
    DenyEntry {
        condition: "mode has S_ISUID or S_ISGID",
        x86_only: true,
        ..deny(
            "chmod",
            "a setuid file planted in a shared workspace would run with its owner's rights on the host",
        )
    },
    DenyEntry {
        condition: "mode has S_ISUID or S_ISGID",
        ..deny("fchmod", "setuid planting: as chmod")
    },
    DenyEntry {
        condition: "mode has S_ISUID or S_ISGID",
        ..deny("fchmodat", "setuid planting: as chmod")
    },
    DenyEntry {
        condition: "mode has S_ISUID or S_ISGID",
        ..deny("fchmodat2", "setuid planting: as chmod")
    },
    DenyEntry {
        condition: "O_CREAT or O_TMPFILE with a mode that has S_ISUID or S_ISGID",
        x86_only: true,
        ..deny(
            "open",
            "setuid planting: creating a file with the bits set, as chmod",
        )
    },
    DenyEntry {
        condition: "O_CREAT or O_TMPFILE with a mode that has S_ISUID or S_ISGID",
        ..deny(
            "openat",
            "setuid planting: creating a file with the bits set, as chmod",
        )
    },
    DenyEntry {
        condition: "mode has S_ISUID or S_ISGID",
        x86_only: true,
        ..deny(
            "creat",
            "setuid planting: creating a file with the bits set, as chmod",
        )
    },
    DenyEntry {
        condition: "mode has S_ISUID or S_ISGID",
        x86_only: true,
        ..deny(
            "mknod",
            "setuid planting: creating a file with the bits set, as chmod",
        )
    },
    DenyEntry {
        condition: "mode has S_ISUID or S_ISGID",
        ..deny(
            "mknodat",
            "setuid planting: creating a file with the bits set, as chmod",
        )
    },
    DenyEntry {
        action: "EAFNOSUPPORT",
        condition: "domain not AF_UNIX, AF_INET or AF_INET6",
        program: Program::Family,
        ..deny(
            "socket",
            "netlink, packet, vsock, alg and other families are kernel attack surface or reach the host",
        )
    },
    DenyEntry {
        action: "EAFNOSUPPORT",
        condition: "domain not AF_UNIX",
        program: Program::Family,
        ..deny("socketpair", "socket pairs are only needed for AF_UNIX")
    },
];

/// Argument position of `mode` for the calls that set file modes.
fn mode_arg(syscall: &str) -> u8 {
    match syscall {
        "chmod" | "fchmod" | "creat" | "mknod" => 1,
        "openat" => 3,
        _ => 2,
    }
}

/// Argument position of `flags` for the open calls.
fn flags_arg(syscall: &str) -> u8 {
    if syscall == "openat" { 2 } else { 1 }
}

const O_CREAT: u64 = 0o100;
/// `__O_TMPFILE` without the O_DIRECTORY bit that O_TMPFILE also carries.
const O_TMPFILE_BIT: u64 = 0o20_000_000;

/// The JSON conditions (one inner Vec per rule; rules are ORed, conditions ANDed).
fn rules_for(e: &DenyEntry) -> Vec<Vec<Value>> {
    let cond = |index: u8, op: Value, val: u64| json!({"index": index, "type": "dword", "op": op, "val": val});
    match e.syscall {
        "clone" => CLONE_NS_FLAGS
            .iter()
            .map(|(_, f)| vec![cond(0, json!({"masked_eq": f}), *f)])
            .collect(),
        "personality" => vec![
            PERSONALITY_ALLOWED
                .iter()
                .map(|v| cond(0, json!("ne"), *v))
                .collect(),
        ],
        "open" | "openat" => [O_CREAT, O_TMPFILE_BIT]
            .iter()
            .flat_map(|create| [S_ISUID, S_ISGID].map(|bit| (*create, bit)))
            .map(|(create, bit)| {
                vec![
                    cond(flags_arg(e.syscall), json!({"masked_eq": create}), create),
                    cond(mode_arg(e.syscall), json!({"masked_eq": bit}), bit),
                ]
            })
            .collect(),
        "chmod" | "fchmod" | "fchmodat" | "fchmodat2" | "creat" | "mknod" | "mknodat" => {
            [S_ISUID, S_ISGID]
                .iter()
                .map(|bit| vec![cond(mode_arg(e.syscall), json!({"masked_eq": bit}), *bit)])
                .collect()
        }
        "socket" => vec![
            [AF_UNIX, AF_INET, AF_INET6]
                .iter()
                .map(|v| cond(0, json!("ne"), *v))
                .collect(),
        ],
        "socketpair" => vec![vec![cond(0, json!("ne"), AF_UNIX)]],
        _ => match e.args {
            Some(args) => vec![
                args.iter()
                    .map(|(i, _, v)| cond(*i, json!("eq"), *v))
                    .collect(),
            ],
            None => vec![],
        },
    }
}

pub fn deny_table() -> &'static [DenyEntry] {
    TABLE
}

#[derive(Debug, thiserror::Error)]
pub enum SeccompPlanError {
    #[error("seccomp filter `{program}` for {arch}: {detail}")]
    Compile {
        program: &'static str,
        arch: &'static str,
        detail: String,
    },
    #[error("seccomp filter `{program}` is {len} instructions, over the kernel's limit of 4096")]
    TooLong { program: &'static str, len: usize },
}

/// The seccompiler JSON for one program of the table on `arch`.
fn program_json(program: Program, errno: i32, arch: Arch) -> Value {
    let mut filter = Vec::new();
    for entry in TABLE
        .iter()
        .filter(|e| e.program == program && !(e.x86_only && arch != Arch::X86_64))
    {
        let rules = rules_for(entry);
        if rules.is_empty() {
            filter.push(json!({"syscall": entry.syscall}));
        }
        for args in rules {
            filter.push(json!({"syscall": entry.syscall, "args": args}));
        }
    }
    json!({"p": {"mismatch_action": "allow", "match_action": {"errno": errno}, "filter": filter}})
}

fn compile_program(
    name: &'static str,
    program: Program,
    errno: i32,
    arch: Arch,
) -> Result<SeccompProgram, SeccompPlanError> {
    let text = program_json(program, errno, arch).to_string();
    let fail = |detail: String| SeccompPlanError::Compile {
        program: name,
        arch: arch.name(),
        detail,
    };
    let mut map = seccompiler::compile_from_json(text.as_bytes(), arch.target())
        .map_err(|e| fail(e.to_string()))?;
    let bpf = map
        .remove("p")
        .ok_or_else(|| fail("compiler returned no program".into()))?;
    if bpf.len() > 4096 {
        return Err(SeccompPlanError::TooLong {
            program: name,
            len: bpf.len(),
        });
    }
    Ok(SeccompProgram::from_bpf(name, &bpf))
}

/// Calls newer than seccompiler's syscall table, by number (the same on every architecture
/// since Linux 5.1's unified numbering).
const NUMBERED: &[(i64, &str)] = &[(467, "open_tree_attr")];

fn compile_numbered(arch: Arch) -> Result<SeccompProgram, SeccompPlanError> {
    let rules = NUMBERED.iter().map(|(nr, _)| (*nr, vec![])).collect();
    let fail = |detail: String| SeccompPlanError::Compile {
        program: "new-mount-api",
        arch: arch.name(),
        detail,
    };
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch.target(),
    )
    .map_err(|e| fail(e.to_string()))?;
    let bpf: BpfProgram = filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| fail(e.to_string()))?;
    Ok(SeccompProgram::from_bpf("new-mount-api", &bpf))
}

/// x32 guard (x86_64 only). seccompiler checks the architecture but not the x32 bit: a call
/// numbered `nr | 0x40000000` carries AUDIT_ARCH_X86_64 and would dodge every rule above on a
/// kernel with x32 enabled. Other architectures are already killed by the main programs.
fn x32_guard() -> SeccompProgram {
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    const RET_ALLOW: u32 = 0x7fff_0000;
    let ret_errno = 0x0005_0000 | libc::EPERM as u32;
    let ld = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    let jeq = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    let jge = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
    let ret = (libc::BPF_RET | libc::BPF_K) as u16;
    let prog = vec![
        sock_filter {
            code: ld,
            jt: 0,
            jf: 0,
            k: 4,
        }, // seccomp_data.arch
        sock_filter {
            code: jeq,
            jt: 1,
            jf: 0,
            k: AUDIT_ARCH_X86_64,
        },
        sock_filter {
            code: ret,
            jt: 0,
            jf: 0,
            k: RET_ALLOW,
        },
        sock_filter {
            code: ld,
            jt: 0,
            jf: 0,
            k: 0,
        }, // seccomp_data.nr
        sock_filter {
            code: jge,
            jt: 0,
            jf: 1,
            k: X32_SYSCALL_BIT,
        },
        sock_filter {
            code: ret,
            jt: 0,
            jf: 0,
            k: ret_errno,
        },
        sock_filter {
            code: ret,
            jt: 0,
            jf: 0,
            k: RET_ALLOW,
        },
    ];
    SeccompProgram::from_bpf("x32-guard", &prog)
}

/// Compile the default deny-list for `arch` into the ordered list of programs to install.
pub fn compile_default(arch: Arch) -> Result<Vec<SeccompProgram>, SeccompPlanError> {
    let mut programs = vec![
        compile_program("deny-list", Program::Deny, libc::EPERM, arch)?,
        compile_program("clone3-enosys", Program::Enosys, libc::ENOSYS, arch)?,
        compile_program("socket-families", Program::Family, libc::EAFNOSUPPORT, arch)?,
        compile_numbered(arch)?,
    ];
    if arch == Arch::X86_64 {
        programs.push(x32_guard());
    }
    Ok(programs)
}

#[cfg(test)]
mod tests;
