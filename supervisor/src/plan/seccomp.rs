//! The default seccomp deny-list, compiled to BPF before any fork (supervisor side).
//!
//! The table below *is* the documentation: every entry says why it is denied. Matching calls
//! fail with an errno (EPERM unless noted), never a kill, so tools report a readable error.
//! Names are resolved per architecture by seccompiler's own syscall tables (through its JSON
//! front end), so one table serves x86_64 and aarch64. One seccompiler filter has one match
//! action, so the list compiles to one part per errno; the parts are then chained into a single
//! program (see `chain`). `build.rs` runs this at build time.

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

/// Join programs into one: every "allow" verdict of a program but the last becomes a jump to
/// the start of the next, so a call is allowed only when every part allows it, and the first
/// part that matches gives the errno. One filter costs the kernel one JIT at install and one
/// filter run per system call, where separate filters cost one each.
fn chain(name: &str, parts: &[SeccompProgram]) -> SeccompProgram {
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    let mut joined: BpfProgram = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let mut bpf = part.to_bpf();
        if index + 1 < parts.len() {
            let len = bpf.len();
            for (i, insn) in bpf.iter_mut().enumerate() {
                if insn.code == RET_K && insn.k == SECCOMP_RET_ALLOW {
                    // Classic BPF jumps forward only, relative to the next instruction.
                    *insn = sock_filter {
                        code: JA,
                        jt: 0,
                        jf: 0,
                        k: (len - i - 1) as u32,
                    };
                }
            }
        }
        joined.extend(bpf);
    }
    SeccompProgram::from_bpf(name, &joined)
}

/// Compile the default deny-list for `arch`: its parts (one per errno, and on x86_64 the x32
/// guard) chained into the single program the workload installs.
pub fn compile_default(arch: Arch) -> Result<Vec<SeccompProgram>, SeccompPlanError> {
    let mut parts = vec![
        compile_program("deny-list", Program::Deny, libc::EPERM, arch)?,
        compile_program("clone3-enosys", Program::Enosys, libc::ENOSYS, arch)?,
        compile_program("socket-families", Program::Family, libc::EAFNOSUPPORT, arch)?,
        compile_numbered(arch)?,
    ];
    if arch == Arch::X86_64 {
        parts.push(x32_guard());
    }
    let name = parts
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(" + ");
    let program = chain(&name, &parts);
    if program.instructions.len() > 4096 {
        return Err(SeccompPlanError::TooLong {
            program: "default",
            len: program.instructions.len(),
        });
    }
    Ok(vec![program])
}

// An explicit path, so `build.rs` can include this file as it is.
#[path = "seccomp/table.rs"]
mod table;

pub use table::DenyEntry;
use table::{
    AF_INET, AF_INET6, AF_UNIX, CLONE_NS_FLAGS, PERSONALITY_ALLOWED, Program, S_ISGID, S_ISUID,
    TABLE,
};

#[cfg(test)]
#[path = "seccomp/tests.rs"]
mod tests;
