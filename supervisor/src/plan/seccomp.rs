//! The default seccomp deny-list, compiled to BPF before any fork (supervisor side).
//!
//! The table below *is* the documentation: every entry says why it is denied. Matching calls
//! fail with an errno (EPERM unless noted), never a kill, so tools report a readable error.
//! Names are resolved per architecture by seccompiler's own syscall tables, so one table serves
//! x86_64 and aarch64. The table becomes one rule per call (`rules`), compiled into a single
//! compact program (`seccomp/compact.rs`, which says why not seccompiler's code generator; the
//! unit tests hold it to seccompiler's verdicts). `build.rs` runs this at build time.

use seccompiler::{BpfProgram, TargetArch, sock_filter};
use serde::{Deserialize, Serialize};
use serde_json::json;

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

    /// The AUDIT_ARCH_* value the kernel puts in `seccomp_data.arch`.
    pub fn audit_arch(self) -> u32 {
        match self {
            Arch::X86_64 => 0xC000_003E,
            Arch::Aarch64 => 0xC000_00B7,
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

const O_CREAT: u32 = 0o100;
/// `__O_TMPFILE` without the O_DIRECTORY bit that O_TMPFILE also carries.
const O_TMPFILE_BIT: u32 = 0o20_000_000;
const SET_ID_BITS: u32 = S_ISUID | S_ISGID;

/// One test on an argument's low 32 bits. Every argument the table tests is an int, an
/// unsigned int or a mode in the kernel, which ignores the upper half: comparing all 64 bits
/// would let `ioctl(fd, TIOCSTI | 1 << 32)` through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgTest {
    /// At least one of these bits is set.
    AnyBit(u32),
    /// Equal to one of these values.
    OneOf(Vec<u32>),
    /// Equal to none of these values.
    NoneOf(Vec<u32>),
}

/// All tests of one alternative must hold for the call to be denied.
pub type Alternative = Vec<(u8, ArgTest)>;

/// What the filter does with one system call: deny it with `errno` when any alternative holds
/// (an empty list denies it always); allow it otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallRule {
    pub name: &'static str,
    pub errno: i32,
    pub alternatives: Vec<Alternative>,
}

impl SyscallRule {
    pub fn always(&self) -> bool {
        self.alternatives.is_empty()
    }
}

fn errno_of(program: Program) -> i32 {
    match program {
        Program::Deny => libc::EPERM,
        Program::Enosys => libc::ENOSYS,
        Program::Family => libc::EAFNOSUPPORT,
    }
}

/// The argument tests of one table entry; `None` when the entry denies the call outright.
fn tests_of(e: &DenyEntry) -> Option<Alternative> {
    let ns_flags = CLONE_NS_FLAGS.iter().fold(0, |all, (_, f)| all | f);
    let tests = match e.syscall {
        "clone" => vec![(0, ArgTest::AnyBit(ns_flags))],
        "personality" => vec![(0, ArgTest::NoneOf(PERSONALITY_ALLOWED.to_vec()))],
        "open" | "openat" => vec![
            (
                flags_arg(e.syscall),
                ArgTest::AnyBit(O_CREAT | O_TMPFILE_BIT),
            ),
            (mode_arg(e.syscall), ArgTest::AnyBit(SET_ID_BITS)),
        ],
        "chmod" | "fchmod" | "fchmodat" | "fchmodat2" | "creat" | "mknod" | "mknodat" => {
            vec![(mode_arg(e.syscall), ArgTest::AnyBit(SET_ID_BITS))]
        }
        "socket" => vec![(0, ArgTest::NoneOf(vec![AF_UNIX, AF_INET, AF_INET6]))],
        "socketpair" => vec![(0, ArgTest::NoneOf(vec![AF_UNIX]))],
        _ => e
            .args?
            .iter()
            .map(|(index, value)| (*index, ArgTest::OneOf(vec![*value])))
            .collect(),
    };
    Some(tests)
}

/// Calls newer than seccompiler's syscall table, by number (the same on every architecture
/// since Linux 5.1's unified numbering); denied with EPERM.
const NUMBERED: &[(u32, &str)] = &[(467, "open_tree_attr")];

/// The table's entries for `arch`, one rule per system call (entries naming the same call are
/// its alternatives), each with its number on `arch`, in ascending order of number.
pub fn rules(arch: Arch) -> Result<Vec<(u32, SyscallRule)>, SeccompPlanError> {
    let mut rules: Vec<(u32, SyscallRule)> = Vec::new();
    for e in TABLE
        .iter()
        .filter(|e| !(e.x86_only && arch != Arch::X86_64))
    {
        let errno = errno_of(e.program);
        let tests = tests_of(e);
        if let Some((_, rule)) = rules.iter_mut().find(|(_, r)| r.name == e.syscall) {
            // A second entry for a call adds an alternative; an outright entry would swallow
            // the others, and two errnos cannot share one call.
            match tests {
                Some(tests) if rule.errno == errno && !rule.always() => {
                    rule.alternatives.push(tests)
                }
                _ => {
                    return Err(SeccompPlanError::Compile {
                        program: "deny-list",
                        arch: arch.name(),
                        detail: format!("conflicting entries for `{}`", e.syscall),
                    });
                }
            }
            continue;
        }
        let nr = syscall_number(arch, e.syscall)?;
        let alternatives = tests.map(|t| vec![t]).unwrap_or_default();
        rules.push((
            nr,
            SyscallRule {
                name: e.syscall,
                errno,
                alternatives,
            },
        ));
    }
    for (nr, name) in NUMBERED {
        rules.push((
            *nr,
            SyscallRule {
                name,
                errno: libc::EPERM,
                alternatives: vec![],
            },
        ));
    }
    rules.sort_by_key(|(nr, _)| *nr);
    Ok(rules)
}

/// The number of `name` on `arch`, from seccompiler's syscall tables. They are private to the
/// crate, so this compiles a one-call filter through its JSON front end and reads the number
/// back from the filter's one comparison that is not the architecture check.
fn syscall_number(arch: Arch, name: &str) -> Result<u32, SeccompPlanError> {
    const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    let fail = |detail: String| SeccompPlanError::Compile {
        program: "deny-list",
        arch: arch.name(),
        detail: format!("number of `{name}`: {detail}"),
    };
    let text = json!({"p": {"mismatch_action": "allow", "match_action": "trap",
                            "filter": [{"syscall": name}]}})
    .to_string();
    let mut map = seccompiler::compile_from_json(text.as_bytes(), arch.target())
        .map_err(|e| fail(e.to_string()))?;
    let bpf = map.remove("p").unwrap_or_default();
    let numbers: Vec<u32> = bpf
        .iter()
        .filter(|i| i.code == JEQ_K && i.k != arch.audit_arch())
        .map(|i| i.k)
        .collect();
    match numbers[..] {
        [nr] => Ok(nr),
        _ => Err(fail(format!("expected one comparison, found {numbers:?}"))),
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

/// Compile the default deny-list for `arch` into the single program the workload installs.
pub fn compile_default(arch: Arch) -> Result<Vec<SeccompProgram>, SeccompPlanError> {
    let program =
        compact::compile(arch, &rules(arch)?).map_err(|detail| SeccompPlanError::Compile {
            program: "deny-list",
            arch: arch.name(),
            detail,
        })?;
    if program.len() > 4096 {
        return Err(SeccompPlanError::TooLong {
            program: "deny-list",
            len: program.len(),
        });
    }
    Ok(vec![SeccompProgram::from_bpf("deny-list", &program)])
}

/// The `exec --report` watch program for `arch`: `numbers` notify the supervisor, the rest is
/// allowed (see `compact::notify`).
pub fn watch_program(arch: Arch, numbers: &[u32]) -> Result<BpfProgram, SeccompPlanError> {
    compact::notify(arch, numbers).map_err(|detail| SeccompPlanError::Compile {
        program: "report-watch",
        arch: arch.name(),
        detail,
    })
}

#[path = "seccomp/compact.rs"]
mod compact;

// An explicit path, so `build.rs` can include this file as it is.
#[path = "seccomp/table.rs"]
mod table;

pub use table::DenyEntry;
use table::{
    AF_INET, AF_INET6, AF_UNIX, CLONE_NS_FLAGS, PERSONALITY_ALLOWED, Program, S_ISGID, S_ISUID,
    TABLE,
};

#[cfg(test)]
#[path = "seccomp/reference.rs"]
mod reference;

/// Run `program` on one system call in the tests' BPF interpreter (`reference::run`).
#[cfg(test)]
pub fn interpret(program: &[sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
    reference::run(program, &reference::data(nr, arch, args))
}

#[cfg(test)]
#[path = "seccomp/tests.rs"]
mod tests;
