//! The deny table itself: one documented entry per rule, and the constants the rules compare
//! arguments with. Data only; `super` turns it into BPF.

/// Which program an entry belongs to (each program has one errno).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Program {
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
    pub(super) x86_only: bool,
    pub(super) program: Program,
    /// Argument equalities (ANDed) selecting the call; `None` = match on the number alone
    /// (or, for the calls `super::tests_of` knows by name, its own argument tests).
    pub(super) args: Option<&'static [Arg]>,
}

/// One argument equality: (index, value), compared on the argument's low 32 bits.
pub(super) type Arg = (u8, u32);

// CLONE_NEWTIME (0x80) is absent on purpose: in clone()'s flags it is part of the exit-signal
// byte, and time namespaces can only be made by unshare and clone3, both denied outright.
pub(super) const CLONE_NS_FLAGS: &[(&str, u32)] = &[
    ("CLONE_NEWNS", 0x0002_0000),
    ("CLONE_NEWCGROUP", 0x0200_0000),
    ("CLONE_NEWUTS", 0x0400_0000),
    ("CLONE_NEWIPC", 0x0800_0000),
    ("CLONE_NEWUSER", 0x1000_0000),
    ("CLONE_NEWPID", 0x2000_0000),
    ("CLONE_NEWNET", 0x4000_0000),
];

pub(super) const TIOCSTI: u32 = 0x5412;
pub(super) const TIOCLINUX: u32 = 0x541C;
pub(super) const S_ISUID: u32 = 0o4000;
pub(super) const S_ISGID: u32 = 0o2000;
/// personality() values a normal program uses: PER_LINUX, PER_LINUX32 and their ADDR_* forms,
/// and 0xffffffff (query).
pub(super) const PERSONALITY_ALLOWED: [u32; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];
pub(super) const AF_UNIX: u32 = 1;
pub(super) const AF_INET: u32 = 2;
pub(super) const AF_INET6: u32 = 10;

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

pub(super) const TABLE: &[DenyEntry] = &[
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
        args: Some(&[(1, TIOCSTI)]),
        ..deny(
            "ioctl",
            "TIOCSTI pushes keystrokes into a terminal the sandbox shares with its user",
        )
    },
    DenyEntry {
        condition: "request == TIOCLINUX (low 32 bits)",
        args: Some(&[(1, TIOCLINUX)]),
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
