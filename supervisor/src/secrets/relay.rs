//! The sandbox's stdout and stderr reach the caller only through the censor.
//!
//! Before the sandbox is cloned, [`Stdio::new`] makes one channel per stream: a pseudo-terminal
//! when the supervisor's own stream is a terminal (so the workload still sees a terminal:
//! colours, line buffering, the window size at start), a pipe otherwise. The pseudo-terminal is
//! put in raw mode, so bytes pass unchanged and the caller's terminal does the usual newline
//! translation. pid 1 puts the child ends on its fds 1 and 2 first thing
//! ([`install_child_stdio`]). After the clone the supervisor closes its copies of the child ends
//! and relays the other ends, each on its own thread, through a [`Censor`] to its own stdout and
//! stderr. [`Relays::finish`] waits until every byte has been relayed: a stream ends when the
//! last sandbox process holding it has exited.
//!
//! stdin is not relayed: the sandbox inherits it unchanged. When the caller's stream is closed
//! (`| head`), the relay stops reading and closes its end, so the workload's next write fails
//! with EPIPE (SIGPIPE), as in a shell pipeline.
//!
//! A window resized during the run is passed on: the supervisor forwards SIGWINCH to the
//! sandbox (`supervise`), and first copies its terminal's new size onto each pseudo-terminal
//! ([`sync_window_size`]), so the workload reads the new size when the signal arrives.

use std::io::{IsTerminal, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::censor::Censor;
use super::detector::Detector;

/// How long the relay waits for the rest of an unfinished line (a prompt) before releasing it.
pub const PARTIAL_LINE_DELAY: Duration = Duration::from_millis(50);

/// Read size: a pipe's default capacity.
const READ_SIZE: usize = 64 * 1024;

/// `Pid1Start::stdio` when the sandbox keeps the supervisor's own stdout and stderr.
pub const INHERIT: [RawFd; 2] = [-1, -1];

/// The channels, before and during the clone.
#[derive(Debug)]
pub struct Stdio {
    /// The sandbox's ends, for its fds 1 and 2.
    child: Option<[OwnedFd; 2]>,
    /// Ours, relayed to our fds 1 and 2.
    parent: [OwnedFd; 2],
    /// Which of ours are pseudo-terminal masters, standing for the terminal on our fd 1 or 2.
    pty: [bool; 2],
    /// stdout is copied without the censor (`exec --raw-output`).
    raw_stdout: bool,
}

/// The pseudo-terminals being relayed, each with the fd of ours whose terminal it stands for
/// (a copy of the master, so the relay thread keeps its own).
static WINDOWS: Mutex<Vec<(RawFd, OwnedFd)>> = Mutex::new(Vec::new());

/// Copy the size of our terminals onto the pseudo-terminals that stand for them: on SIGWINCH,
/// before the signal is passed on.
pub fn sync_window_size() {
    let Ok(windows) = WINDOWS.lock() else {
        return;
    };
    for (ours, master) in windows.iter() {
        // SAFETY: `ours` is 1 or 2, open for the life of the process.
        let our = unsafe { BorrowedFd::borrow_raw(*ours) };
        if let Some(ws) = window_size(our) {
            // SAFETY: TIOCSWINSZ reads one `winsize` from the live struct we pass.
            unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        }
    }
}

/// Gives the run's detector, built on first use.
type DetectorFn = fn() -> Option<Arc<Detector>>;

/// A pseudo-terminal (master, slave, true) when our fd `ours` is a terminal, else a pipe (read
/// end, write end, false).
fn channel(ours: RawFd) -> std::io::Result<(OwnedFd, OwnedFd, bool)> {
    // SAFETY: `ours` is 1 or 2, open for the life of the process.
    let our = unsafe { BorrowedFd::borrow_raw(ours) };
    if our.is_terminal()
        && let Ok(mut termios) = nix::sys::termios::tcgetattr(our)
    {
        nix::sys::termios::cfmakeraw(&mut termios);
        // The size at start; `sync_window_size` keeps it up to date.
        let winsize = window_size(our);
        let pty = nix::pty::openpty(winsize.as_ref(), Some(&termios))?;
        for fd in [&pty.master, &pty.slave] {
            nix::fcntl::fcntl(
                fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            )?;
        }
        return Ok((pty.master, pty.slave, true));
    }
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok((read, write, false))
}

fn window_size(fd: BorrowedFd<'_>) -> Option<nix::pty::Winsize> {
    let mut ws = nix::pty::Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the live struct we pass.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (rc == 0).then_some(ws)
}

impl Stdio {
    pub fn new() -> std::io::Result<Stdio> {
        let (out_r, out_w, out_pty) = channel(1)?;
        let (err_r, err_w, err_pty) = channel(2)?;
        Ok(Stdio {
            child: Some([out_w, err_w]),
            parent: [out_r, err_r],
            pty: [out_pty, err_pty],
            raw_stdout: false,
        })
    }

    /// Relay stdout without the censor: the caller censors it itself (`exec --raw-output`).
    pub fn pass_stdout_raw(&mut self) {
        self.raw_stdout = true;
    }

    /// The sandbox's ends, for `Pid1Start::stdio`.
    pub fn child_fds(&self) -> [RawFd; 2] {
        match &self.child {
            Some([o, e]) => [o.as_raw_fd(), e.as_raw_fd()],
            None => INHERIT,
        }
    }

    /// Close our copies of the sandbox's ends (after the clone), so each stream ends when the
    /// sandbox's last copy closes.
    pub fn close_child_ends(&mut self) {
        self.child = None;
    }

    /// Start relaying, each stream through a censor on the detector `detector` gives, asked
    /// for when the stream's first bytes arrive (an empty stream never builds one).
    ///
    /// A stream's relay thread starts only when its first bytes arrive, which `runtime` watches
    /// for (its tasks run while the supervisor waits for the sandbox): a run that prints
    /// nothing, or prints on one stream only, starts no thread for a silent stream, and
    /// [`Relays::finish`] drains that one itself.
    pub fn start(mut self, detector: DetectorFn, runtime: &tokio::runtime::Runtime) -> Relays {
        self.close_child_ends();
        if let Ok(mut windows) = WINDOWS.lock() {
            for (fd, ours) in self
                .parent
                .iter()
                .zip([1, 2])
                .zip(self.pty)
                .filter_map(|(pair, pty)| pty.then_some(pair))
            {
                if let Ok(copy) = fd.try_clone() {
                    windows.push((ours, copy));
                }
            }
        }
        let [out, err] = self.parent;
        let streams = [(out, 1, self.raw_stdout), (err, 2, false)]
            .into_iter()
            .map(|(fd, to, raw)| {
                // No detector: the stream is copied as it is.
                let detector = (!raw).then_some(detector);
                Stream {
                    to,
                    detector,
                    waiting: runtime.spawn(first_bytes(fd, to, detector)),
                }
            })
            .collect();
        Relays { streams }
    }
}

/// The running relays.
#[derive(Debug)]
pub struct Relays {
    streams: Vec<Stream>,
}

/// One stream: the task that waits for its first bytes.
#[derive(Debug)]
struct Stream {
    to: RawFd,
    detector: Option<DetectorFn>,
    waiting: tokio::task::JoinHandle<Stage>,
}

/// Where a stream stands once its task is done.
#[derive(Debug)]
enum Stage {
    /// Bytes arrived: a thread relays the stream.
    Relaying(std::io::Result<JoinHandle<Relayed>>),
    /// The stream ended without bytes (or could not be watched): [`Relays::finish`] drains it.
    Quiet(OwnedFd),
}

/// Wait until `fd` has bytes to read, then start its relay thread; give the fd back if the
/// stream ends first, without a thread.
async fn first_bytes(fd: OwnedFd, to: RawFd, detector: Option<DetectorFn>) -> Stage {
    use tokio::io::unix::AsyncFd;
    // SAFETY: `fd` is an open fd the AsyncFd owns until `into_inner` gives it back; nothing
    // else closes or replaces it meanwhile.
    let registered = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) };
    let watched = match registered {
        Ok(w) => w,
        Err(e) => return Stage::Quiet(e.into_parts().0),
    };
    loop {
        let Ok(mut ready) = watched.readable().await else {
            return Stage::Quiet(watched.into_inner());
        };
        let mut fds = [PollFd::new(watched.get_ref().as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(n) if n > 0 => {
                let events = fds[0].revents().unwrap_or(PollFlags::empty());
                if !events.contains(PollFlags::POLLIN) {
                    // Hung up with nothing to read.
                    return Stage::Quiet(watched.into_inner());
                }
                let fd = watched.into_inner();
                return Stage::Relaying(
                    std::thread::Builder::new()
                        .name(format!("relay-{to}"))
                        .spawn(move || relay(fd, to, detector)),
                );
            }
            Ok(_) | Err(Errno::EINTR) => ready.clear_ready(),
            Err(_) => return Stage::Quiet(watched.into_inner()),
        }
    }
}

/// What the relays passed on, summed over both streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relayed {
    /// Placeholders the censor wrote.
    pub redactions: u64,
    /// Bytes the sandbox wrote (read from its channels, before censoring).
    pub bytes: u64,
}

impl Relays {
    /// Wait until both streams have ended and been relayed. Called once the sandbox is gone
    /// (its processes held the channels' other ends): a stream still waiting for its first
    /// bytes is then at its end, or holds its last bytes, and is relayed here.
    pub fn finish(self, runtime: &tokio::runtime::Runtime) -> Relayed {
        if let Ok(mut windows) = WINDOWS.lock() {
            windows.clear();
        }
        self.streams
            .into_iter()
            .filter_map(|stream| match runtime.block_on(stream.waiting) {
                Ok(Stage::Relaying(thread)) => thread.ok()?.join().ok(),
                Ok(Stage::Quiet(fd)) => Some(relay(fd, stream.to, stream.detector)),
                // The task neither panics nor is cancelled; were it to, its fd went with it.
                Err(_) => None,
            })
            .fold(Relayed::default(), |a, b| Relayed {
                redactions: a.redactions + b.redactions,
                bytes: a.bytes + b.bytes,
            })
    }
}

/// Copy `from` to our fd `to` through a censor until end of stream.
fn relay(from: OwnedFd, to: RawFd, detector: Option<DetectorFn>) -> Relayed {
    let mut bytes = 0;
    let redactions = relay_counting(from, to, detector, &mut bytes);
    Relayed { redactions, bytes }
}

/// [`relay`]'s loop; `bytes` counts what was read from the sandbox.
fn relay_counting(from: OwnedFd, to: RawFd, detector: Option<DetectorFn>, bytes: &mut u64) -> u64 {
    // Wait for the first bytes before building anything, even the read buffer: most short
    // runs print little or nothing, and the detector's automaton is the costly part of a censor.
    let mut head = [0u8; 4096];
    let first = loop {
        let mut fds = [PollFd::new(from.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => match nix::unistd::read(&from, &mut head) {
                Ok(0) | Err(Errno::EIO) => return 0,
                Ok(n) => {
                    *bytes += n as u64;
                    break n;
                }
                Err(Errno::EINTR | Errno::EAGAIN) => continue,
                Err(_) => return 0,
            },
            Err(Errno::EINTR) => continue,
            Err(_) => return 0,
        }
    };
    let mut buf = vec![0u8; READ_SIZE];
    let Some(detector) = detector else {
        // A raw stream (`exec --raw-output`): copied as it is.
        let mut data = &head[..first];
        loop {
            if write_all(to, data).is_err() {
                return 0;
            }
            match nix::unistd::read(&from, &mut buf) {
                Ok(0) | Err(Errno::EIO) => return 0,
                Ok(n) => {
                    *bytes += n as u64;
                    data = &buf[..n];
                }
                Err(Errno::EINTR | Errno::EAGAIN) => data = &[],
                Err(_) => return 0,
            }
        }
    };
    let Some(detector) = detector() else {
        // Never pass output uncensored: say it was withheld and drain the stream.
        let _ = write_all(to, b"[output withheld: the secret censor is unavailable]\n");
        while let Ok(n @ 1..) = nix::unistd::read(&from, &mut buf) {
            *bytes += n as u64;
        }
        return 0;
    };
    let mut censor = Censor::new(detector);
    let mut out = Vec::with_capacity(READ_SIZE + 64);
    censor.push(&head[..first], &mut out);
    if write_all(to, &out).is_err() {
        return censor.redactions();
    }
    out.clear();
    loop {
        let timeout = if censor.pending() > 0 {
            PollTimeout::try_from(PARTIAL_LINE_DELAY).unwrap_or(PollTimeout::NONE)
        } else {
            PollTimeout::NONE
        };
        let mut fds = [PollFd::new(from.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => censor.flush(&mut out),
            Ok(_) => match nix::unistd::read(&from, &mut buf) {
                // EIO: a pseudo-terminal whose last slave is closed.
                Ok(0) | Err(Errno::EIO) => {
                    censor.finish(&mut out);
                    let _ = write_all(to, &out);
                    break;
                }
                Ok(n) => {
                    *bytes += n as u64;
                    censor.push(&buf[..n], &mut out)
                }
                Err(Errno::EINTR | Errno::EAGAIN) => continue,
                Err(_) => break,
            },
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
        if write_all(to, &out).is_err() {
            // The caller's stream is gone: closing our end (on return) makes the workload's
            // next write fail, as in a shell pipeline.
            break;
        }
        out.clear();
    }
    censor.redactions()
}

fn write_all(fd: RawFd, mut bytes: &[u8]) -> std::io::Result<()> {
    // SAFETY: fds 1 and 2 stay open for the life of the process; the File is never dropped.
    let mut file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
    while !bytes.is_empty() {
        match file.write(bytes) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// In the cloned pid 1, before anything else: the channels become fds 1 and 2. `dup2` clears
/// close-on-exec on the copies; the originals go with pid 1's sweep of fds above 3.
pub fn install_child_stdio(fds: [RawFd; 2]) -> Result<(), Errno> {
    for (fd, target) in fds.into_iter().zip([1, 2]) {
        if fd >= 0 {
            // SAFETY: dup2 in the single-threaded cloned child onto its own stdout/stderr.
            if unsafe { libc::dup2(fd, target) } < 0 {
                return Err(Errno::last());
            }
        }
    }
    Ok(())
}
