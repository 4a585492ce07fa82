//! The sandbox's network namespace, created with `lo` up and nothing else, so loopback traffic
//! inside the sandbox (UDP, local name lookups) works. TCP bind and connect are also denied by
//! Landlock under `mode = "none"`: the profile contract allows no TCP there.
//!
//! Creating a network namespace is the slowest step of a launch (the kernel registers a
//! loopback device and per-namespace sysctl tables), so pid 1 does it on a second thread
//! ([`create_namespace`]) while its main thread waits for the Plan and builds the mounts, then
//! joins the result ([`join`]). The single-threaded tokio runtime rtnetlink needs lives and
//! dies on that thread, before anything forks.

use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{OFlag, open};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::stat::Mode;

use super::{ConfineError, Step};

/// On the calling thread only: a new network namespace with `lo` up; its fd, to [`join`].
pub fn create_namespace() -> Result<OwnedFd, ConfineError> {
    unshare(CloneFlags::CLONE_NEWNET)
        .map_err(|e| ConfineError::os(Step::Unshare, e, "unshare(CLONE_NEWNET)"))?;
    loopback_up()?;
    // The thread's own namespace, through the procfs still mounted at /proc (the host's, where
    // this thread is visible).
    open(
        "/proc/thread-self/ns/net",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ConfineError::os(Step::Network, e, "open /proc/thread-self/ns/net"))
}

/// Move the calling thread into the namespace [`create_namespace`] made.
pub fn join(namespace: &OwnedFd) -> Result<(), ConfineError> {
    setns(namespace.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| ConfineError::os(Step::Network, e, "setns(CLONE_NEWNET)"))
}

/// The kernel's fixed index of `lo` in every network namespace.
const LOOPBACK_IFINDEX: u32 = 1;

fn loopback_up() -> Result<(), ConfineError> {
    let fail = |what: String| ConfineError {
        step: Step::Loopback,
        errno: None,
        detail: what,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| ConfineError::io(Step::Loopback, &e, "build netlink runtime"))?;
    rt.block_on(async {
        let (conn, handle, _) = rtnetlink::new_connection()
            .map_err(|e| ConfineError::io(Step::Loopback, &e, "netlink socket"))?;
        let driver = tokio::spawn(conn);
        // A new network namespace's loopback device is always interface 1 (LOOPBACK_IFINDEX),
        // so no lookup by name is needed.
        let request = rtnetlink::LinkUnspec::new_with_index(LOOPBACK_IFINDEX)
            .up()
            .build();
        handle
            .link()
            .set(request)
            .execute()
            .await
            .map_err(|e| fail(format!("set lo up: {e}")))?;
        driver.abort();
        Ok(())
    })
}

/// `mode = "proxy"`: bind the egress proxy's listener on 127.0.0.1 inside this network
/// namespace and send it to the supervisor, which serves it from the host's namespace. pid 1
/// keeps no copy: its own is closed here, before the workload is forked.
pub fn hand_over_proxy_listener(
    control: &std::os::unix::net::UnixStream,
    port: Option<u16>,
) -> Result<(), ConfineError> {
    use std::os::fd::AsFd;
    let Some(port) = port else {
        return Ok(());
    };
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port))
        .map_err(|e| ConfineError::io(Step::ProxyListener, &e, format!("bind 127.0.0.1:{port}")))?;
    crate::control::send_with_fds(
        control,
        &crate::control::FromInit::ProxyListener,
        &[listener.as_fd()],
    )
    .map_err(|e| ConfineError::other(Step::ProxyListener, format!("send the listener: {e}")))
}
