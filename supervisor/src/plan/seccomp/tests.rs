//! The deny-list compiles for both architectures and, installed on a throwaway thread, denies
//! what it says while the same calls reach the kernel without it.

use super::*;

#[test]
fn compiles_for_both_architectures_within_the_kernel_limit() {
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let programs = compile_default(arch).unwrap_or_else(|e| panic!("{}: {e}", arch.name()));
        assert_eq!(programs.len(), 1, "the parts are chained into one program");
        for p in &programs {
            assert!(
                !p.instructions.is_empty() && p.instructions.len() <= 4096,
                "{} {}",
                arch.name(),
                p.name
            );
            assert_eq!(
                SeccompProgram::from_bpf(&p.name, &p.to_bpf()),
                *p,
                "round trip"
            );
        }
    }
}

/// Argument values worth trying against `test`: its own values and bits, their neighbours,
/// zero, all ones, and each with the upper half set (which the kernel ignores for these calls).
fn interesting_values(test: &ArgTest) -> Vec<u64> {
    let own: Vec<u32> = match test {
        ArgTest::AnyBit(mask) => (0..32)
            .map(|b| 1u32 << b)
            .filter(|b| mask & b != 0)
            .chain([*mask, !*mask])
            .collect(),
        ArgTest::OneOf(values) | ArgTest::NoneOf(values) => values.clone(),
    };
    let mut values: Vec<u64> = own
        .iter()
        .flat_map(|v| [*v, v.wrapping_add(1), v.wrapping_sub(1)])
        .chain([0, u32::MAX])
        .map(u64::from)
        .collect();
    let high: Vec<u64> = values.iter().map(|v| v | 1 << 32).collect();
    values.extend(high);
    values.push(1 << 63);
    values.sort_unstable();
    values.dedup();
    values
}

#[test]
fn compact_program_gives_seccompilers_verdict_for_every_call_and_argument() {
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let rules = rules(arch).unwrap();
        let compact = compile_default(arch).unwrap().remove(0).to_bpf();
        let oracle = reference::compile(arch, &rules);
        let other_arch = match arch {
            Arch::X86_64 => Arch::Aarch64.audit_arch(),
            Arch::Aarch64 => Arch::X86_64.audit_arch(),
        };
        let check = |nr: u32, data_arch: u32, args: [u64; 6]| {
            let data = reference::data(nr, data_arch, args);
            assert_eq!(
                reference::run(&compact, &data),
                reference::reference_verdict(arch, &oracle, &data),
                "{} nr {nr} arch {data_arch:#x} args {args:x?}",
                arch.name()
            );
        };
        let mut tried = 0;
        for nr in (0..1024).chain([0x4000_0000, 0x4000_0001, 0x4000_0065, u32::MAX]) {
            for data_arch in [arch.audit_arch(), other_arch, 0x4000_0003] {
                check(nr, data_arch, [0; 6]);
                check(nr, data_arch, [u64::MAX; 6]);
                tried += 2;
            }
        }
        for (nr, rule) in &rules {
            check(nr | 0x4000_0000, arch.audit_arch(), [0; 6]);
            for alternative in &rule.alternatives {
                // Every combination of interesting values on the arguments this rule reads.
                let mut cases = vec![[0u64; 6]];
                for (index, test) in alternative {
                    cases = cases
                        .iter()
                        .flat_map(|case| {
                            interesting_values(test).into_iter().map(move |v| {
                                let mut c = *case;
                                c[usize::from(*index)] = v;
                                c
                            })
                        })
                        .collect();
                }
                for args in cases {
                    check(*nr, arch.audit_arch(), args);
                    tried += 1;
                }
            }
        }
        assert!(tried > 6000, "{tried} cases");
    }
}

#[test]
fn compact_program_is_small_and_denies_what_the_table_names() {
    let arch = Arch::X86_64;
    let compact = compile_default(arch).unwrap().remove(0).to_bpf();
    let reference_len: usize = reference::compile(arch, &rules(arch).unwrap())
        .iter()
        .map(Vec::len)
        .sum();
    // The point of the compact layout: the kernel's install cost grows with the program.
    assert!(
        compact.len() * 3 < reference_len,
        "{} vs {reference_len}",
        compact.len()
    );
    let verdict = |nr: i64, args: [u64; 6]| {
        reference::run(
            &compact,
            &reference::data(nr as u32, arch.audit_arch(), args),
        )
    };
    let eperm = 0x0005_0000 | libc::EPERM as u32;
    assert_eq!(verdict(libc::SYS_ptrace, [0; 6]), eperm);
    assert_eq!(verdict(libc::SYS_getpid, [0; 6]), reference::RET_ALLOW);
    assert_eq!(
        verdict(libc::SYS_ioctl, [0, 0x1_0000_5412, 0, 0, 0, 0]),
        eperm,
        "TIOCSTI with the upper half set is still TIOCSTI to the kernel"
    );
    assert_eq!(
        verdict(libc::SYS_ioctl, [0, 0x5413, 0, 0, 0, 0]),
        reference::RET_ALLOW
    );
}

#[test]
fn every_entry_has_a_reason_and_the_required_calls_are_listed() {
    for e in deny_table() {
        assert!(!e.reason.is_empty(), "{}", e.syscall);
    }
    for required in [
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "mount",
        "umount2",
        "pivot_root",
        "move_mount",
        "open_tree",
        "fsopen",
        "fsmount",
        "fspick",
        "unshare",
        "setns",
        "clone",
        "clone3",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "keyctl",
        "add_key",
        "request_key",
        "kexec_load",
        "kexec_file_load",
        "init_module",
        "finit_module",
        "delete_module",
        "reboot",
        "swapon",
        "swapoff",
        "open_by_handle_at",
        "name_to_handle_at",
        "personality",
        "ioctl",
        "socket",
    ] {
        assert!(
            deny_table().iter().any(|e| e.syscall == required),
            "{required} missing"
        );
    }
}

fn errno_of(rc: libc::c_long) -> i32 {
    if rc < 0 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    } else {
        0
    }
}

/// Issue each probe (with harmless arguments) and return the errno (0 = success).
fn probes() -> Vec<(&'static str, i32)> {
    // SAFETY: raw syscalls with null or invalid pointers/fds chosen so that an unfiltered kernel
    // fails them early (EFAULT, EBADF, EINVAL) without side effects on this process.
    unsafe {
        let tty_request = libc::TIOCSTI | (1u64 << 32);
        vec![
            (
                "ptrace",
                errno_of(libc::syscall(
                    libc::SYS_ptrace,
                    libc::PTRACE_PEEKDATA,
                    0,
                    0,
                    0,
                )),
            ),
            (
                "io_uring_setup",
                errno_of(libc::syscall(libc::SYS_io_uring_setup, 0, 0)),
            ),
            ("clone3", errno_of(libc::syscall(libc::SYS_clone3, 0, 0))),
            ("socket-netlink", {
                let fd = libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, 0);
                if fd >= 0 {
                    libc::close(fd);
                }
                errno_of(fd as libc::c_long)
            }),
            (
                "ioctl-tiocsti-high-bits",
                errno_of(libc::syscall(libc::SYS_ioctl, -1, tty_request, 0)),
            ),
            (
                "personality-no-aslr",
                errno_of(libc::syscall(
                    libc::SYS_personality,
                    0x0040000u64 | 0x0010000u64 << 4,
                )),
            ),
            (
                "unshare-user",
                errno_of(libc::syscall(
                    libc::SYS_unshare,
                    0x1000_0000u64 | 0x8000_0000u64,
                )),
            ),
            (
                "x32-getpid",
                errno_of(libc::syscall(libc::SYS_getpid | 0x4000_0000)),
            ),
        ]
    }
}

#[test]
fn installed_filters_deny_and_unfiltered_calls_reach_the_kernel() {
    let Some(arch) = Arch::native() else { return };
    let programs = compile_default(arch).unwrap();
    let before = std::thread::spawn(probes).join().unwrap();
    let after = std::thread::spawn(move || {
        crate::confine::seccomp::install(&programs).unwrap();
        let socket_inet = {
            // SAFETY: plain socket creation, closed at once.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
            if fd >= 0 {
                // SAFETY: fd was just created by us.
                unsafe { libc::close(fd) };
            }
            fd >= 0
        };
        (probes(), socket_inet)
    })
    .join()
    .unwrap();
    let (after, inet_ok) = after;
    assert!(inet_ok, "AF_INET sockets stay allowed");
    let expect = |name: &str| match name {
        "clone3" => libc::ENOSYS,
        "socket-netlink" => libc::EAFNOSUPPORT,
        _ => libc::EPERM,
    };
    for ((name, unfiltered), (_, filtered)) in before.iter().zip(after.iter()) {
        assert_eq!(*filtered, expect(name), "{name}: filtered errno");
        // The same call must not already fail with that errno without the filter, or the test
        // could not tell the filter worked (x32 is compiled out of this kernel: ENOSYS).
        assert_ne!(
            *unfiltered,
            expect(name),
            "{name}: unfiltered errno {unfiltered}"
        );
    }
}
