//! Install the precompiled seccomp programs. Runs in the workload as the very last step before
//! execve, so the filter never has to allow anything the setup itself needed.

use super::{ConfineError, Step};
use crate::plan::seccomp::SeccompProgram;

/// Install `programs` in order on the calling thread (inherited across fork and execve).
/// seccompiler sets no_new_privs first, as the kernel requires without CAP_SYS_ADMIN.
pub fn install(programs: &[SeccompProgram]) -> Result<(), ConfineError> {
    for program in programs {
        seccompiler::apply_filter(&program.to_bpf()).map_err(|e| {
            let errno = match &e {
                seccompiler::Error::Prctl(io) | seccompiler::Error::Seccomp(io) => {
                    io.raw_os_error()
                }
                _ => None,
            };
            ConfineError {
                step: Step::Seccomp,
                errno,
                detail: format!("install `{}`: {e}", program.name),
            }
        })?;
    }
    Ok(())
}
