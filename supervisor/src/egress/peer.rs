//! Whose connection is this? Without a network namespace the proxy listens on the host's
//! loopback, where any local process could connect to it. A connection is served only when a
//! process of the sandbox holds its client end: the client socket's inode is found in
//! /proc/net/tcp (or tcp6) by the two addresses, and must be one of the sandbox processes' fds
//! (`socket:[INODE]` under /proc/PID/fd). SO_PEERCRED does not exist for TCP; a credential in
//! the proxy URL would be visible to tools that print their environment, and many clients do
//! not send one with CONNECT.

use std::net::SocketAddr;

/// The sandbox whose processes may use the proxy: its first process and every descendant.
#[derive(Debug, Clone, Copy)]
pub struct SandboxPeers {
    pub root: i32,
}

impl SandboxPeers {
    /// The client end of the connection from `peer` to `local` belongs to a sandbox process.
    pub fn owns(&self, peer: SocketAddr, local: SocketAddr) -> bool {
        let Some(inode) = client_inode(peer, local) else {
            return false;
        };
        let target = format!("socket:[{inode}]");
        let mut pids = crate::tree::descendants(self.root);
        pids.push(self.root);
        pids.into_iter().any(|pid| holds(pid, &target))
    }
}

/// `pid` has an fd that is `target`.
fn holds(pid: i32, target: &str) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == std::ffi::OsStr::new(target))
    })
}

/// The inode of the socket whose local address is `peer` and remote address is `local`.
fn client_inode(peer: SocketAddr, local: SocketAddr) -> Option<u64> {
    let table = match peer {
        SocketAddr::V4(_) => "/proc/net/tcp",
        SocketAddr::V6(_) => "/proc/net/tcp6",
    };
    let text = std::fs::read_to_string(table).ok()?;
    let (want_local, want_remote) = (hex_addr(peer), hex_addr(local));
    text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 9 && f[1] == want_local && f[2] == want_remote)
            .then(|| f[9].parse().ok())
            .flatten()
    })
}

/// An address as /proc/net/tcp spells it: the address's 32-bit words in host byte order, in hex,
/// then the port in hex.
fn hex_addr(addr: SocketAddr) -> String {
    let ip = match addr {
        SocketAddr::V4(a) => format!("{:08X}", u32::from_ne_bytes(a.ip().octets())),
        SocketAddr::V6(a) => a
            .ip()
            .octets()
            .chunks(4)
            .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
            .collect(),
    };
    format!("{ip}:{:04X}", addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This process's own connection is traced to it; a tree that does not hold the socket
    /// (a fresh `sleep`) is refused.
    #[test]
    fn a_connection_is_traced_to_the_process_holding_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, peer) = listener.accept().unwrap();
        let local = listener.local_addr().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        let me = std::process::id() as i32;
        assert!(SandboxPeers { root: me }.owns(peer, local));
        let mut other = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let refused = !SandboxPeers {
            root: other.id() as i32,
        }
        .owns(peer, local);
        other.kill().unwrap();
        other.wait().unwrap();
        assert!(refused);
    }
}
