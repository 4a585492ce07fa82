//! The supervisor ↔ pid 1 protocol over the control socket (fd 3 in the sandbox's pid 1).
//!
//! Frames are a 4-byte big-endian length followed by JSON. The supervisor sends one
//! [`ToInit::Plan`]; the sandbox's processes send [`FromInit`] messages only when something goes
//! wrong, and, with `mode = "proxy"`, pid 1 sends the egress listener once
//! ([`FromInit::ProxyListener`], the socket attached with SCM_RIGHTS). The socket is close-on-exec in the sandbox, so end-of-file on the supervisor's side
//! means every sandbox process has either exec'd the workload or exited.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use crate::confine::ConfineError;
use crate::plan::Plan;

/// The fd number pid 1 moves its end of the control socket to.
pub const CONTROL_FD: i32 = 3;

/// Largest frame accepted; a Plan is a few tens of KiB.
const MAX_FRAME: usize = 16 << 20;

#[derive(Debug, Serialize, Deserialize)]
pub enum ToInit {
    Plan(Box<Plan>),
    /// The run is admitted: the run's cgroups exist and the audit record is written. The
    /// `tasks` files of the run's cgroups travel with this frame (SCM_RIGHTS, one per cgroup);
    /// pid 1 moves itself in through them before it creates its cgroup namespace and forks.
    Admitted,
    /// The command of a run whose Plan was sent ahead (`serve` builds sandboxes before the
    /// request exists; such a Plan has no argv): the workload's argv and environment. Sent
    /// after [`ToInit::Admitted`], once the `exec-start` record is written: it is then the go.
    /// Everything that confines came with the Plan.
    Command(Box<Command>),
}

/// What a run adds to a Plan that was sent before the run was asked for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Command {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum FromInit {
    /// A confinement step failed; the sandbox is being torn down.
    SetupFailed(ConfineError),
    /// The listening socket for the egress proxy travels with this frame (SCM_RIGHTS).
    ProxyListener,
    /// `exec --report`: the workload's seccomp notification listener travels with this frame
    /// (SCM_RIGHTS). Sent after [`FromInit::ProxyListener`] (pid 1 sends that before it forks
    /// the workload), so the fds arrive in the order of their frames.
    WatchListener,
    /// `exec --report`: the workload could not install its watch; the run goes on without it.
    WatchUnavailable(ConfineError),
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control socket i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("control message encoding: {0}")]
    Encoding(#[from] serde_json::Error),
    #[error("control frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
}

/// Encode one frame.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, ControlError> {
    let body = serde_json::to_vec(msg)?;
    if body.len() > MAX_FRAME {
        return Err(ControlError::TooLarge(body.len()));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(
        &u32::try_from(body.len())
            .map_err(|_| ControlError::TooLarge(body.len()))?
            .to_be_bytes(),
    );
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Write one frame (blocking; used on both sides before any async work).
pub fn send<T: Serialize>(w: &mut impl Write, msg: &T) -> Result<(), ControlError> {
    w.write_all(&encode(msg)?)?;
    Ok(())
}

/// Read one frame (blocking). `Ok(None)` on a clean end-of-file before the frame.
pub fn recv<T: for<'de> Deserialize<'de>>(r: &mut impl Read) -> Result<Option<T>, ControlError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(ControlError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(Some(serde_json::from_slice(&body)?))
}

/// Read every message until end-of-file (supervisor side).
pub async fn recv_all(mut stream: tokio::net::UnixStream) -> Result<Vec<FromInit>, ControlError> {
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await?;
    let mut out = Vec::new();
    let mut cursor = std::io::Cursor::new(buf);
    while let Some(msg) = recv(&mut cursor)? {
        out.push(msg);
    }
    Ok(out)
}

/// Write one frame with `fds` attached (SCM_RIGHTS on its first byte); blocking. With no fds
/// it is a plain [`send`].
pub fn send_with_fds<T: Serialize>(
    sock: &std::os::unix::net::UnixStream,
    msg: &T,
    fds: &[std::os::fd::BorrowedFd<'_>],
) -> Result<(), ControlError> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    use std::os::fd::AsRawFd;
    let frame = encode(msg)?;
    if fds.is_empty() {
        (&*sock).write_all(&frame)?;
        return Ok(());
    }
    let raw: Vec<i32> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
    let cmsg = [ControlMessage::ScmRights(&raw)];
    let iov = [std::io::IoSlice::new(&frame)];
    let sent = sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(std::io::Error::from)?;
    // The fds went with the first byte; anything left is plain data.
    (&*sock).write_all(&frame[sent..])?;
    Ok(())
}

/// Most fds one frame may carry (the run's cgroups: one per v1 hierarchy).
const MAX_FDS: usize = 8;

/// Read one frame and the fds attached to it (blocking; pid 1's side). The previous frame must
/// have been read exactly (as [`recv`] does), so the fds cannot have been taken by a plain read.
pub fn recv_with_fds<T: for<'de> Deserialize<'de>>(
    sock: &std::os::unix::net::UnixStream,
) -> Result<Option<(T, Vec<std::os::fd::OwnedFd>)>, ControlError> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let mut len = [0u8; 4];
    let mut fds = Vec::new();
    let mut got = 0;
    while got < len.len() {
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; MAX_FDS]);
        let mut iov = [std::io::IoSliceMut::new(&mut len[got..])];
        let msg = recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(std::io::Error::from)?;
        for c in msg.cmsgs().map_err(std::io::Error::from)? {
            if let ControlMessageOwned::ScmRights(raw) = c {
                // SAFETY: the kernel just installed these fds in this process for us.
                fds.extend(
                    raw.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        if msg.bytes == 0 {
            return Ok(None);
        }
        got += msg.bytes;
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(ControlError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    (&*sock).read_exact(&mut body)?;
    Ok(Some((serde_json::from_slice(&body)?, fds)))
}

/// Where the fds that arrive with [`FromInit`] messages go, each as soon as its frame is read.
#[derive(Debug, Default)]
pub struct FdRoutes {
    /// The egress proxy's listener (`mode = "proxy"`).
    pub proxy: Option<tokio::sync::oneshot::Sender<std::os::fd::OwnedFd>>,
    /// The `--report` watch listener.
    pub watch: Option<tokio::sync::oneshot::Sender<std::os::fd::OwnedFd>>,
}

/// [`recv_all`], also taking the fds that arrive with the messages: each fd belongs to the frame
/// whose first byte carried it, and is routed by that frame's kind (an fd nobody asked for is
/// closed).
pub async fn recv_all_with_fds(
    stream: tokio::net::UnixStream,
    mut routes: FdRoutes,
) -> Result<Vec<FromInit>, ControlError> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let mut fds: std::collections::VecDeque<OwnedFd> = std::collections::VecDeque::new();
    let mut buf = Vec::new();
    let mut parsed = 0;
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        stream.readable().await?;
        let got = stream.try_io(tokio::io::Interest::READABLE, || {
            let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 4]);
            let mut iov = [std::io::IoSliceMut::new(&mut chunk)];
            let msg = recvmsg::<()>(
                stream.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .map_err(std::io::Error::from)?;
            let mut fds = Vec::new();
            for c in msg.cmsgs().map_err(std::io::Error::from)? {
                if let ControlMessageOwned::ScmRights(raw) = c {
                    // SAFETY: the kernel just installed these fds in this process for us.
                    fds.extend(
                        raw.into_iter()
                            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                    );
                }
            }
            Ok((msg.bytes, fds))
        });
        let (n, got_fds) = match got {
            Ok(v) => v,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e.into()),
        };
        fds.extend(got_fds);
        buf.extend_from_slice(&chunk[..n]);
        // Route the fds of every frame complete so far.
        while let Some(msg) = next_frame(&buf, &mut parsed)? {
            let route = match &msg {
                FromInit::ProxyListener => Some(&mut routes.proxy),
                FromInit::WatchListener => Some(&mut routes.watch),
                _ => None,
            };
            if let Some(route) = route
                && let Some(fd) = fds.pop_front()
                && let Some(tx) = route.take()
            {
                let _ = tx.send(fd);
            }
            out.push(msg);
        }
        if n == 0 {
            break;
        }
    }
    Ok(out)
}

/// The frame starting at `buf[*at..]` if it is complete; advances `at` past it.
fn next_frame(buf: &[u8], at: &mut usize) -> Result<Option<FromInit>, ControlError> {
    let rest = &buf[*at..];
    let Some(len) = rest.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if len > MAX_FRAME {
        return Err(ControlError::TooLarge(len));
    }
    let Some(body) = rest.get(4..4 + len) else {
        return Ok(None);
    };
    let msg = serde_json::from_slice(body)?;
    *at += 4 + len;
    Ok(Some(msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::confine::Step;

    #[test]
    fn frames_round_trip_and_eof_is_clean() {
        let msg = FromInit::SetupFailed(ConfineError::os(
            Step::Mounts,
            nix::errno::Errno::EPERM,
            "bind /usr",
        ));
        let mut bytes = encode(&msg).unwrap();
        bytes.extend(encode(&msg).unwrap());
        let mut cur = std::io::Cursor::new(bytes);
        for _ in 0..2 {
            let got: FromInit = recv(&mut cur).unwrap().unwrap();
            let FromInit::SetupFailed(e) = got else {
                panic!("not a failure")
            };
            assert_eq!(e.step, Step::Mounts);
            assert_eq!(e.errno, Some(libc::EPERM));
        }
        assert!(recv::<FromInit>(&mut cur).unwrap().is_none());
    }

    #[test]
    fn oversized_frames_are_refused() {
        let mut cur = std::io::Cursor::new(u32::MAX.to_be_bytes().to_vec());
        assert!(matches!(
            recv::<FromInit>(&mut cur),
            Err(ControlError::TooLarge(_))
        ));
    }
}
