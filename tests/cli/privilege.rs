//! Nothing privileged leaves the sandbox: the less common ways of planting a setuid or
//! setgid file, file capabilities or a link to a host setuid program, each attempted by raw
//! system call in a `dev` run as root (where a planted file would be root's) and, as the
//! control, without the sandbox. `protect.rs` covers the shell commands (chmod, mknod, setcap).

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::harness::{Scratch, User, sandbox_bin};

/// One line `NAME: OK|ERRNO` per attempt. argv[1] is a setuid program of the host.
const ATTEMPTS: &str = r#"
import ctypes, errno, os, stat, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def say(name, rc):
    print(f"{name}: " + ("OK" if rc >= 0 else errno.errorcode.get(ctypes.get_errno(), "E?")))
def call(name, f):
    try:
        f(); print(f"{name}: OK")
    except OSError as e:
        print(f"{name}: {errno.errorcode.get(e.errno, 'E?')}")
class OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]
how = OpenHow(os.O_CREAT | os.O_WRONLY, 0o4755, 0)
say("openat2-setuid", libc.syscall(437, -100, b"o2", ctypes.byref(how), ctypes.c_size_t(24)))
say("tmpfile-setuid", libc.open(b".", os.O_TMPFILE | os.O_WRONLY, 0o4755))
fd = libc.open(b".", os.O_TMPFILE | os.O_WRONLY, 0o755)
say("fchmod-tmpfile-setuid", libc.fchmod(fd, 0o4755) if fd >= 0 else -1)
open("plain", "w").close()
say("fchmodat2-setuid", libc.syscall(452, -100, b"plain", 0o4755, 0))
say("fchmodat-setgid", libc.syscall(268, -100, b"plain", 0o2755, 0))
say("mknod-regular-setuid", libc.mknod(b"node", stat.S_IFREG | 0o4755, 0))
call("creat-setuid", lambda: os.close(os.open("created", os.O_CREAT | os.O_WRONLY, 0o6755)))
cap = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)  # VFS_CAP v2: cap_net_raw+ep
call("setxattr-capability", lambda: os.setxattr("plain", "security.capability", cap))
call("link-host-setuid", lambda: os.link(sys.argv[1], "linked"))
say("io_uring_setup", libc.syscall(425, 4, ctypes.byref(ctypes.create_string_buffer(120))))
"#;

const ATTEMPT_COUNT: usize = 10;

/// Errors the control may get from this kernel or filesystem instead of success: the attempt
/// is then untestable here, not a pass.
const UNTESTABLE: [&str; 3] = ["ENOSYS", "EXDEV", "EINVAL"];

fn host_setuid_program() -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    [
        "/usr/bin/su",
        "/usr/bin/passwd",
        "/usr/bin/mount",
        "/bin/su",
        "/usr/bin/newgrp",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| std::fs::metadata(p).is_ok_and(|m| m.mode() & 0o4000 != 0 && m.uid() == 0))
}

fn verdicts(out: &Output) -> Vec<(String, String)> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Setuid, setgid, device or capability-carrying files under `dir`.
fn privileged_files(dir: &Path) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("find . -perm /6000 -o -type c -o -type b; getcap -r . 2>/dev/null; true")
        .current_dir(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn raw_system_calls_plant_nothing_privileged_in_the_workspace_of_a_root_run() {
    let user = User::Root;
    let Some(python) = ["/usr/bin/python3", "/bin/python3"]
        .iter()
        .find(|p| Path::new(p).exists())
    else {
        eprintln!("SKIP: python3 is not installed (the attempts are made through its ctypes)");
        return;
    };
    let Some(setuid) = host_setuid_program() else {
        eprintln!("SKIP: no setuid-root program on this host to link to");
        return;
    };
    let setuid = setuid.to_string_lossy().into_owned();
    let control = Scratch::new(user);
    let out = user
        .command(Path::new(python))
        .args(["-c", ATTEMPTS, &setuid])
        .current_dir(control.path())
        .output()
        .unwrap();
    let outside = verdicts(&out);
    assert_eq!(outside.len(), ATTEMPT_COUNT, "{out:?}");
    let ws = Scratch::new(user);
    let out = user
        .command(&sandbox_bin())
        .args(["exec", "--profile", "dev", "--workspace"])
        .arg(ws.path())
        .args(["--", python, "-c", ATTEMPTS, &setuid])
        .current_dir(ws.path())
        .output()
        .unwrap();
    let inside = verdicts(&out);
    assert_eq!(inside.len(), ATTEMPT_COUNT, "{out:?}");
    for ((name, bare), (_, sandboxed)) in outside.iter().zip(&inside) {
        assert_ne!(
            sandboxed, "OK",
            "{name} succeeded inside the sandbox: {out:?}"
        );
        match bare.as_str() {
            "OK" => {}
            e if UNTESTABLE.contains(&e) => {
                eprintln!("SKIP part: {name} fails here even unsandboxed ({e})")
            }
            e => panic!("{name} failed unsandboxed ({e}): the check could not fail"),
        }
    }
    assert_ne!(
        privileged_files(control.path()),
        "",
        "the control planted nothing"
    );
    assert_eq!(
        privileged_files(ws.path()),
        "",
        "privileged files left in the workspace"
    );
}
