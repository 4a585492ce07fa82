//! The sandbox's network namespace, created with `lo` up and nothing else, so loopback traffic
//! inside the sandbox (UDP, local name lookups) works. TCP bind and connect are also denied by
//! Landlock under `mode = "none"`: the profile contract allows no TCP there.
//!
//! Creating a network namespace is the slowest step of a launch (the kernel registers a
//! loopback device and per-namespace sysctl tables), so pid 1 does it first, while the
//! supervisor is still compiling the Plan ([`enter_new_namespace`]). `lo` is brought up with
//! one rtnetlink message over a blocking netlink socket.

use nix::sched::{CloneFlags, unshare};

use super::{ConfineError, Step};

/// Move the calling thread into a new network namespace and bring its `lo` up.
pub fn enter_new_namespace() -> Result<(), ConfineError> {
    unshare(CloneFlags::CLONE_NEWNET)
        .map_err(|e| ConfineError::os(Step::Unshare, e, "unshare(CLONE_NEWNET)"))?;
    loopback_up()
}

/// The kernel's fixed index of `lo` in every network namespace.
const LOOPBACK_IFINDEX: u32 = 1;

fn loopback_up() -> Result<(), ConfineError> {
    use rtnetlink::packet_core::{NLM_F_ACK, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
    use rtnetlink::packet_route::RouteNetlinkMessage;
    use rtnetlink::sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
    let fail = |what: String| ConfineError {
        step: Step::Loopback,
        errno: None,
        detail: what,
    };
    // rtnetlink's builder makes the message; one request and its acknowledgement go over a
    // plain blocking socket, which spares this thread an async runtime and a connection task.
    let mut request = NetlinkMessage::from(RouteNetlinkMessage::SetLink(
        rtnetlink::LinkUnspec::new_with_index(LOOPBACK_IFINDEX)
            .up()
            .build(),
    ));
    request.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    request.header.sequence_number = 1;
    request.finalize();
    let mut bytes = vec![0u8; request.buffer_len()];
    request.serialize(&mut bytes);
    let mut socket = Socket::new(NETLINK_ROUTE)
        .map_err(|e| ConfineError::io(Step::Loopback, &e, "netlink socket"))?;
    socket
        .bind_auto()
        .and_then(|_| socket.connect(&SocketAddr::new(0, 0)))
        .and_then(|()| socket.send(&bytes, 0))
        .map_err(|e| ConfineError::io(Step::Loopback, &e, "send the netlink request"))?;
    let mut reply = Vec::with_capacity(4096);
    socket
        .recv(&mut reply, 0)
        .map_err(|e| ConfineError::io(Step::Loopback, &e, "read the netlink reply"))?;
    let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&reply)
        .map_err(|e| fail(format!("set lo up: undecodable reply: {e}")))?;
    match reply.payload {
        // An acknowledgement is an error message without an error code.
        NetlinkPayload::Error(e) if e.code.is_none() => Ok(()),
        NetlinkPayload::Error(e) => Err(ConfineError {
            step: Step::Loopback,
            errno: e.code.map(|c| -c.get()),
            detail: format!("set lo up: {e}"),
        }),
        other => Err(fail(format!("set lo up: unexpected reply {other:?}"))),
    }
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
