//! File descriptor hygiene: nothing the supervisor's caller left open may reach the sandbox.

use super::{ConfineError, Step};

/// Close every fd from `first` upward. Used at the start of pid 1 with `first` just above the
/// control socket, so only stdin, stdout, stderr and the control socket remain.
pub fn close_from(first: u32) -> Result<(), ConfineError> {
    // SAFETY: close_range only closes descriptors; no Rust object owns an fd >= `first` at this
    // point of pid 1 (nothing it inherited above the control socket is its own).
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0u32) };
    if rc == 0 {
        return Ok(());
    }
    // Kernels before 5.9: walk /proc/self/fd instead.
    let entries = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| ConfineError::io(Step::Fds, &e, "list /proc/self/fd"))?;
    let fds: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd: &i32| u32::try_from(*fd).is_ok_and(|fd| fd >= first))
        .collect();
    for fd in fds {
        // SAFETY: as above; closing the directory iterator's own fd (already dropped) is harmless.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// Mark `fd` close-on-exec so the workload's execve closes it (its end-of-file tells the
/// supervisor the exec happened).
pub fn set_cloexec(fd: i32) -> Result<(), ConfineError> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    // SAFETY: `fd` is the control socket, open for the life of this process.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
        .map(|_| ())
        .map_err(|e| ConfineError::os(Step::Fds, e, "set FD_CLOEXEC on the control socket"))
}
