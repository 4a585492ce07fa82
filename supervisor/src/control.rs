//! The supervisor ↔ pid 1 protocol over the control socket (fd 3 in the sandbox's pid 1).
//!
//! Frames are a 4-byte big-endian length followed by JSON. The supervisor sends one
//! [`ToInit::Plan`]; the sandbox's processes send [`FromInit`] messages when something goes
//! wrong, with `mode = "proxy"` pid 1 sends the egress listener once
//! ([`FromInit::ProxyListener`], the socket attached with SCM_RIGHTS), and pid 1's last
//! message is [`FromInit::Ended`], once every other process of the sandbox is gone. The socket
//! is close-on-exec in the sandbox, so end-of-file on the supervisor's side without that
//! message means pid 1 exited (or was killed) before the workload's end.

use std::io::{Read, Write};

use crate::confine::ConfineError;
use crate::plan::Plan;
use serde::{Deserialize, Serialize};

/// The fd number pid 1 moves its end of the control socket to.
pub const CONTROL_FD: i32 = 3;

/// Largest frame accepted; a Plan is a few tens of KiB.
const MAX_FRAME: usize = 16 << 20;

#[derive(Debug, Serialize, Deserialize)]
pub enum ToInit {
    /// pid 1's uid and gid maps are written (the supervisor writes them right after the
    /// clone): it may create files and mounts now.
    IdsMapped,
    Plan(Box<Plan>),
    /// The run is admitted: the run's cgroups exist and the audit record is written. The
    /// `tasks` files of the run's cgroups travel with this frame (SCM_RIGHTS, one per cgroup);
    /// the workload's process moves itself in through them right after its fork, before it
    /// creates its cgroup namespace (pid 1 stays out).
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
    /// The workload ended with `status` (128+N for signal N) and pid 1 has killed and reaped
    /// every other process of the sandbox; `usage` is what they used (pid 1's own excluded).
    /// pid 1's last message: it exits right after, and the run's result need not wait for
    /// that exit (the release of the sandbox's namespaces).
    Ended {
        status: i32,
        usage: crate::audit::record::Resources,
    },
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

/// Read every message until [`FromInit::Ended`] or end-of-file (supervisor side), taking the
/// fds that arrive with the messages: each fd belongs to the frame whose first byte carried it,
/// and is routed by that frame's kind (an fd nobody asked for is closed).
pub async fn recv_until_end(
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
            let ended = matches!(msg, FromInit::Ended { .. });
            out.push(msg);
            if ended {
                return Ok(out);
            }
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
    fn reading_stops_at_the_report_of_the_end_without_waiting_for_end_of_file() {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut writer = &theirs;
        let failure = ConfineError::other(Step::Exec, "no watch");
        send(&mut writer, &FromInit::WatchUnavailable(failure)).unwrap();
        let usage = crate::audit::record::Resources {
            user_cpu_ms: Some(7),
            ..Default::default()
        };
        send(&mut writer, &FromInit::Ended { status: 3, usage }).unwrap();
        // `theirs` stays open, as pid 1's end does while it exits.
        ours.set_nonblocking(true).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let got = runtime.block_on(async {
            let stream = tokio::net::UnixStream::from_std(ours).unwrap();
            tokio::time::timeout(
                std::time::Duration::from_secs(5),
                recv_until_end(stream, FdRoutes::default()),
            )
            .await
        });
        let got = got.expect("returned at the report").unwrap();
        assert_eq!(got.len(), 2);
        assert!(matches!(got[0], FromInit::WatchUnavailable(_)));
        let FromInit::Ended { status, usage } = &got[1] else {
            panic!("not the end: {:?}", got[1])
        };
        assert_eq!((*status, usage.user_cpu_ms), (3, Some(7)));
        drop(theirs);
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
