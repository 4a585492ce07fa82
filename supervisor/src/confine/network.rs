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

use futures_util::TryStreamExt;
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
        let link = handle
            .link()
            .get()
            .match_name(String::from("lo"))
            .execute()
            .try_next()
            .await
            .map_err(|e| fail(format!("look up lo: {e}")))?
            .ok_or_else(|| fail("no loopback interface".into()))?;
        let request = rtnetlink::LinkUnspec::new_with_index(link.header.index)
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
