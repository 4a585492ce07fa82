//! The sandbox's network namespace starts with a down loopback and nothing else. Bring `lo` up
//! so loopback traffic inside the sandbox (UDP, local name lookups) works. TCP bind and connect
//! are also denied by Landlock under `mode = "none"`: the profile contract allows no TCP there. Runs in pid 1; the single-threaded
//! tokio runtime rtnetlink needs is dropped before the workload is forked.

use futures_util::TryStreamExt;

use super::{ConfineError, Step};

pub fn loopback_up() -> Result<(), ConfineError> {
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
    crate::control::send_with_fd(
        control,
        &crate::control::FromInit::ProxyListener,
        listener.as_fd(),
    )
    .map_err(|e| ConfineError::other(Step::ProxyListener, format!("send the listener: {e}")))
}
