//! Secrets that could leak into the sandbox: another process's environment through /proc,
//! descriptors inherited across exec, and the sandbox's own environment variables.
//!
//! Secret values are never printed: only sizes and whether a marker matched.

use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::stat::{Mode, SFlag, fstat};
use nix::sys::uio::pread;
use nix::unistd::read;

use super::sys::errno_name;
use super::{Args, Outcome, Probe, ProbeResult};

pub const PROBES: &[Probe] = &[
    Probe {
        name: "proc-environ",
        args: &["PID", "MARKER"],
        about: "read /proc/PID/environ; ESCAPED only if it contains MARKER",
        run: proc_environ,
    },
    Probe {
        name: "inherited-fd",
        args: &["N"],
        about: "fstat descriptor N and read up to 64 bytes from it",
        run: inherited_fd,
    },
    Probe {
        name: "env",
        args: &["NAME"],
        about: "is environment variable NAME set? (prints its length only)",
        run: env,
    },
    Probe {
        name: "env-value",
        args: &["GIVEN", "MARKER"],
        about: "GIVEN must be set; ESCAPED if any environment variable's value holds MARKER",
        run: env_value,
    },
    Probe {
        name: "print-env",
        args: &["NAME"],
        about: "print NAME's value, plain and base64-encoded, to stdout and stderr (SENT)",
        run: print_env,
    },
];

/// Read at most this much of an environ file (the kernel caps it at the arg+env area anyway).
const ENVIRON_MAX: usize = 4 << 20;

fn proc_environ(a: &Args) -> ProbeResult {
    let pid: u32 = a.parse(0)?;
    let marker = a.get(1)?;
    if marker.is_empty() {
        return Err(a.usage_error("MARKER must not be empty"));
    }
    let path = format!("/proc/{pid}/environ");
    // Permission (PTRACE_MODE_READ) is checked at open for environ.
    let fd = open(
        path.as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Outcome::denied(format!("open {path}"), e))?;
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    while data.len() < ENVIRON_MAX {
        match read(&fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Outcome::denied(format!("read {path}"), e)),
        }
    }
    let found = data.windows(marker.len()).any(|w| w == marker.as_bytes());
    if found {
        Ok(Outcome::escaped(format!(
            "found the marker in {} bytes of {path}",
            data.len()
        )))
    } else {
        Ok(Outcome::blocked(format!(
            "no marker: read {} bytes of {path} (a different process?)",
            data.len()
        )))
    }
}

fn inherited_fd(a: &Args) -> ProbeResult {
    let n: i32 = a.parse(0)?;
    if n < 0 {
        return Err(a.usage_error("N must not be negative"));
    }
    // SAFETY: the descriptor is only borrowed for this function and never closed; if it is not
    // open, fstat reports EBADF, which is the expected (BLOCKED) answer.
    let fd = unsafe { BorrowedFd::borrow_raw(n) };
    let st = fstat(fd).map_err(|e| Outcome::denied(format!("fstat({n})"), e))?;
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    let what = match kind {
        SFlag::S_IFREG => "regular file",
        SFlag::S_IFDIR => "directory",
        SFlag::S_IFIFO => "pipe",
        SFlag::S_IFSOCK => "socket",
        SFlag::S_IFCHR => "char device",
        SFlag::S_IFBLK => "block device",
        SFlag::S_IFLNK => "symlink",
        _ => "unknown type",
    };
    let got = peek(fd, kind);
    Ok(Outcome::escaped(format!("fd {n} is open ({what}, {got})")))
}

/// Read up to 64 bytes without blocking: pread at offset 0 for regular files (the shared offset
/// stays put), otherwise only if poll says data is ready within 100 ms.
fn peek(fd: BorrowedFd<'_>, kind: SFlag) -> String {
    let mut buf = [0u8; 64];
    let res = if kind == SFlag::S_IFREG {
        pread(fd, &mut buf, 0)
    } else {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(100u8)) {
            Ok(0) => return "nothing to read within 100 ms".into(),
            Ok(_) => read(fd, &mut buf),
            Err(e) => Err(e),
        }
    };
    match res {
        Ok(k) => format!("read {k} bytes"),
        Err(e) => format!("read errno={}", errno_name(e)),
    }
}

fn env(a: &Args) -> ProbeResult {
    let name = a.get(0)?;
    if name.is_empty() || name.contains('=') {
        return Err(a.usage_error("NAME must be non-empty and contain no '='"));
    }
    match std::env::var_os(name) {
        Some(v) => Ok(Outcome::escaped(format!(
            "{name} is set (length {})",
            v.len()
        ))),
        None => Ok(Outcome::blocked(format!("getenv: {name} is not set"))),
    }
}

/// The run must have been given GIVEN (so the vault was read at all); does any variable hold
/// MARKER, a value it was not given?
fn env_value(a: &Args) -> ProbeResult {
    let (given, marker) = (a.get(0)?, a.get(1)?);
    if marker.is_empty() {
        return Err(a.usage_error("MARKER must not be empty"));
    }
    if std::env::var_os(given).is_none() {
        return Ok(Outcome::error(format!(
            "{given} is not set: the run was not given the value it names"
        )));
    }
    let vars: Vec<(std::ffi::OsString, std::ffi::OsString)> = std::env::vars_os().collect();
    let holder = vars.iter().find(|(_, v)| {
        v.as_encoded_bytes()
            .windows(marker.len())
            .any(|w| w == marker.as_bytes())
    });
    match holder {
        Some((name, _)) => Ok(Outcome::escaped(format!(
            "{} holds the marker",
            name.to_string_lossy()
        ))),
        None => Ok(Outcome::blocked(format!(
            "{given} is set; the marker is in none of {} variables",
            vars.len()
        ))),
    }
}

/// Print the value where the caller would see it; only the caller can tell whether it arrived
/// censored, so the verdict is SENT.
fn print_env(a: &Args) -> ProbeResult {
    let name = a.get(0)?;
    let Some(value) = std::env::var_os(name) else {
        return Ok(Outcome::error(format!("{name} is not set")));
    };
    let value = value.as_encoded_bytes();
    let encoded = base64(value);
    println!("plain: {}", String::from_utf8_lossy(value));
    println!("base64: {encoded}");
    eprintln!("plain: {}", String::from_utf8_lossy(value));
    eprintln!("base64: {encoded}");
    Ok(Outcome::sent(format!(
        "printed {name} (length {}) plain and base64 to stdout and stderr",
        value.len()
    )))
}

/// Standard base64 without padding (what a tool trying to slip a value past a censor would
/// print; the suite looks for the same string in the output).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(plain.as_bytes()), encoded);
        }
    }
}
