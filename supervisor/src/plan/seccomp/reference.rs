//! The test oracle for `compact.rs`: the same rules compiled by seccompiler (one filter per
//! errno, as seccompiler gives one match action per filter), and a classic-BPF interpreter
//! that runs both on the same `seccomp_data` the way the kernel would.

use super::{Arch, ArgTest, SyscallRule};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};
use std::collections::BTreeMap;

pub const RET_ALLOW: u32 = 0x7fff_0000;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// seccompiler's programs for `rules`, one per errno.
pub fn compile(arch: Arch, rules: &[(u32, SyscallRule)]) -> Vec<BpfProgram> {
    let mut by_errno: BTreeMap<i32, BTreeMap<i64, Vec<SeccompRule>>> = BTreeMap::new();
    for (nr, rule) in rules {
        let filter_rules = rule
            .alternatives
            .iter()
            .flat_map(|alternative| seccompiler_rules(alternative))
            .collect();
        by_errno
            .entry(rule.errno)
            .or_default()
            .insert(i64::from(*nr), filter_rules);
    }
    by_errno
        .into_iter()
        .map(|(errno, map)| {
            let filter = SeccompFilter::new(
                map,
                SeccompAction::Allow,
                SeccompAction::Errno(errno as u32),
                arch.target(),
            )
            .expect("seccompiler accepts the rules");
            filter.try_into().expect("seccompiler compiles the rules")
        })
        .collect()
}

/// One alternative as seccompiler rules (ORed), each a list of conditions (ANDed): "any bit of
/// a mask" and "one of these values" become one rule per bit or value.
fn seccompiler_rules(alternative: &[(u8, ArgTest)]) -> Vec<SeccompRule> {
    let mut products: Vec<Vec<SeccompCondition>> = vec![vec![]];
    for (index, test) in alternative {
        let cond = |op, value: u32| {
            SeccompCondition::new(*index, SeccompCmpArgLen::Dword, op, u64::from(value))
                .expect("valid condition")
        };
        let choices: Vec<Vec<SeccompCondition>> = match test {
            ArgTest::AnyBit(mask) => (0..32)
                .map(|bit| 1u32 << bit)
                .filter(|bit| mask & bit != 0)
                .map(|bit| vec![cond(SeccompCmpOp::MaskedEq(u64::from(bit)), bit)])
                .collect(),
            ArgTest::OneOf(values) => values
                .iter()
                .map(|v| vec![cond(SeccompCmpOp::Eq, *v)])
                .collect(),
            ArgTest::NoneOf(values) => {
                vec![values.iter().map(|v| cond(SeccompCmpOp::Ne, *v)).collect()]
            }
        };
        products = products
            .iter()
            .flat_map(|sofar| {
                choices.iter().map(move |choice| {
                    let mut all = sofar.clone();
                    all.extend(choice.iter().cloned());
                    all
                })
            })
            .collect();
    }
    products
        .into_iter()
        .map(|conditions| SeccompRule::new(conditions).expect("valid rule"))
        .collect()
}

/// The verdict of the reference filters together, as the kernel combines separately attached
/// filters (each call is denied by at most one of them), plus the x32 rule.
pub fn reference_verdict(arch: Arch, programs: &[BpfProgram], data: &[u8; 64]) -> u32 {
    let nr = u32::from_le_bytes(data[0..4].try_into().unwrap());
    let data_arch = u32::from_le_bytes(data[4..8].try_into().unwrap());
    let verdicts: Vec<u32> = programs.iter().map(|p| run(p, data)).collect();
    if let Some(kill) = verdicts.iter().find(|v| **v == 0x8000_0000) {
        return *kill;
    }
    if let Some(deny) = verdicts.iter().find(|v| **v != RET_ALLOW) {
        return *deny;
    }
    if arch == Arch::X86_64 && data_arch == arch.audit_arch() && nr >= X32_SYSCALL_BIT {
        return 0x0005_0000 | libc::EPERM as u32;
    }
    RET_ALLOW
}

/// Run a classic BPF program the way the kernel's seccomp does (the subset seccompiler and
/// `compact.rs` emit; anything else fails the test).
pub fn run(program: &[seccompiler::sock_filter], data: &[u8; 64]) -> u32 {
    let mut acc: u32 = 0;
    let mut pc = 0usize;
    loop {
        let insn = &program[pc];
        let class = u32::from(insn.code) & 0x07;
        let op = u32::from(insn.code) & 0xf0;
        pc += 1;
        match class {
            libc::BPF_LD => {
                assert_eq!(
                    u32::from(insn.code),
                    libc::BPF_LD | libc::BPF_W | libc::BPF_ABS
                );
                let at = insn.k as usize;
                acc = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
            }
            libc::BPF_ALU => match op {
                libc::BPF_AND => acc &= insn.k,
                libc::BPF_OR => acc |= insn.k,
                _ => panic!("ALU op {:#x}", insn.code),
            },
            libc::BPF_JMP => {
                if op == libc::BPF_JA {
                    pc += insn.k as usize;
                    continue;
                }
                let taken = match op {
                    libc::BPF_JEQ => acc == insn.k,
                    libc::BPF_JGT => acc > insn.k,
                    libc::BPF_JGE => acc >= insn.k,
                    libc::BPF_JSET => acc & insn.k != 0,
                    _ => panic!("JMP op {:#x}", insn.code),
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            libc::BPF_RET => return insn.k,
            _ => panic!("instruction class {:#x}", insn.code),
        }
    }
}

/// A `seccomp_data` for the interpreter.
pub fn data(nr: u32, arch: u32, args: [u64; 6]) -> [u8; 64] {
    let mut d = [0u8; 64];
    d[0..4].copy_from_slice(&nr.to_le_bytes());
    d[4..8].copy_from_slice(&arch.to_le_bytes());
    for (i, a) in args.iter().enumerate() {
        d[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
    }
    d
}
