//! Finding and executing the workload. The PATH search happens inside the sandbox's view, with
//! the workload's own PATH, so "not found" means not found *in the sandbox*.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::{ConfineError, Step};

/// Exit status for "found but cannot be executed" and "not found", as a shell uses them.
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
pub const EXIT_NOT_FOUND: i32 = 127;

/// The exit status matching an exec failure.
pub fn exit_status_for(errno: Option<i32>) -> i32 {
    if errno == Some(libc::ENOENT) {
        EXIT_NOT_FOUND
    } else {
        EXIT_CANNOT_EXECUTE
    }
}

/// Resolve `program` against `path_var` like execvp, returning the file to execve.
pub fn resolve(program: &str, path_var: Option<&str>) -> Result<PathBuf, ConfineError> {
    if program.is_empty() {
        return Err(ConfineError::os(Step::Exec, Errno::ENOENT, "empty command"));
    }
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    let search = path_var.unwrap_or(crate::plan::env::DEFAULT_PATH);
    let mut denied = None;
    for dir in search.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(program);
        match nix::unistd::access(&candidate, nix::unistd::AccessFlags::X_OK) {
            Ok(()) if candidate.is_file() => return Ok(candidate),
            Ok(()) => {}
            Err(Errno::EACCES) if candidate.exists() => denied = Some(candidate),
            Err(_) => {}
        }
    }
    match denied {
        Some(path) => Ok(path),
        None => Err(ConfineError::os(
            Step::Exec,
            Errno::ENOENT,
            format!("{program}: command not found in the sandbox"),
        )),
    }
}

fn cstring(bytes: &[u8], what: &str) -> Result<CString, ConfineError> {
    CString::new(bytes).map_err(|_| {
        ConfineError::os(
            Step::Exec,
            Errno::EINVAL,
            format!("{what} contains a NUL byte"),
        )
    })
}

/// Prepared argv and envp, built before seccomp so only execve follows it.
#[derive(Debug)]
pub struct Prepared {
    pub program: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
}

pub fn prepare(
    program: &Path,
    argv: &[String],
    env: &[(String, String)],
) -> Result<Prepared, ConfineError> {
    Ok(Prepared {
        program: cstring(program.as_os_str().as_bytes(), "program path")?,
        argv: argv
            .iter()
            .map(|a| cstring(a.as_bytes(), "an argument"))
            .collect::<Result<_, _>>()?,
        envp: env
            .iter()
            .map(|(k, v)| cstring(format!("{k}={v}").as_bytes(), "an environment variable"))
            .collect::<Result<_, _>>()?,
    })
}

/// execve; returns only on failure.
pub fn exec(prepared: &Prepared) -> ConfineError {
    let e = nix::unistd::execve(&prepared.program, &prepared.argv, &prepared.envp).unwrap_err();
    ConfineError::os(
        Step::Exec,
        e,
        prepared.program.to_string_lossy().into_owned(),
    )
}
