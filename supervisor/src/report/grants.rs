//! Judge one observed call against the run's grants, as the sandbox would: is the path visible
//! in the sandbox's mount view, and do the Landlock rules give the access asked for? When not,
//! the [`Denial`] with the profile line that would allow it.
//!
//! Only refusals that matter are reported: a path that does not exist on the host either would
//! fail without the sandbox too (a `$PATH` search, a probe for an optional file), so it is not
//! listed. Paths under the sandbox's own /proc and /dev are never host paths and are skipped.

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

use crate::audit::Denial;
use crate::plan::mounts::is_builtin;
use crate::plan::{Access, Grant};
use crate::policy::NetworkMode;
use crate::policy::model::SANDBOX_TMP;

/// What a call asked of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Read,
    Exec,
    /// Write, create or truncate.
    Write,
}

impl Need {
    fn name(self) -> &'static str {
        match self {
            Need::Read => "read",
            Need::Exec => "exec",
            Need::Write => "write",
        }
    }
}

/// What the run may reach: the Plan's Landlock rules and network mode.
#[derive(Debug, Clone)]
pub struct Grants {
    pub rules: Vec<Grant>,
    pub network: NetworkMode,
    pub proxy_port: Option<u16>,
}

/// `path` with `.` and `..` resolved lexically (no symlinks), absolute.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

impl Grants {
    /// The access the rules give `path` (the union over every rule on it or an ancestor, as
    /// Landlock computes it), and whether the mount view shows the host's file there.
    fn granted(&self, path: &Path, is_dir: bool) -> (Option<Access>, bool) {
        let mut access: Option<Access> = None;
        let mut bound = false;
        for rule in &self.rules {
            let applies = if rule.is_dir {
                path.starts_with(&rule.path)
            } else {
                path == rule.path
            };
            if !applies {
                continue;
            }
            // The root's List right lets a directory be listed, nothing more.
            if rule.access == Access::List && !(is_dir && path == rule.path) {
                continue;
            }
            access = access.max(Some(rule.access));
            bound |= !is_builtin(&rule.path);
        }
        (access, bound)
    }

    fn allows(&self, path: &Path, need: Need, is_dir: bool, exists: bool) -> bool {
        let (access, bound) = self.granted(path, is_dir);
        let enough = match (need, access) {
            (_, None) => false,
            (Need::Read, Some(a)) => a >= Access::Read || (is_dir && a >= Access::List),
            (Need::Exec, Some(a)) => a >= Access::Exec,
            (Need::Write, Some(a)) => a == Access::Write,
        };
        // Outside any bind, only the sandbox's own /tmp exists; a host file at the same path
        // is not there.
        let visible = bound || (path.starts_with(SANDBOX_TMP) && !exists);
        enough && visible
    }

    /// A file access the workload attempted. `None` when it is allowed, or when the sandbox is
    /// not what stops it (the path does not exist on the host; the sandbox's own /proc, /dev).
    pub fn file(&self, path: &Path, need: Need) -> Option<Denial> {
        let lexical = normalize(path);
        if lexical.starts_with("/proc") || lexical.starts_with("/dev") {
            return None;
        }
        // Landlock judges the file a path resolves to; on the host, symlinks such as /lib →
        // usr/lib resolve as the sandbox's recreated ones do.
        let (host, exists) = match std::fs::canonicalize(&lexical) {
            Ok(real) => (real, true),
            Err(_) if need == Need::Write => {
                // Creating a file: its directory must exist.
                let parent = lexical.parent()?;
                let real = std::fs::canonicalize(parent).ok()?;
                (real.join(lexical.file_name()?), false)
            }
            Err(_) => return None,
        };
        let is_dir = host.is_dir();
        if self.allows(&lexical, need, is_dir, exists) || self.allows(&host, need, is_dir, exists) {
            return None;
        }
        // Grant what was asked for; a file to be created is granted through its directory.
        let grant = if exists {
            host.clone()
        } else {
            host.parent().unwrap_or(Path::new("/")).to_path_buf()
        };
        Some(Denial {
            kind: "file".into(),
            access: need.name().into(),
            target: lexical.display().to_string(),
            allow_with: format!(
                "add \"{}\" to [filesystem] {}",
                grant.display(),
                need.name()
            ),
            source: super::SECCOMP_NOTIFY.into(),
        })
    }

    /// A `connect` the workload attempted to an IP address; `stream` when it is TCP (None:
    /// unknown). `None` when allowed: the proxy's own port, UDP inside the sandbox's loopback,
    /// or any destination with `mode = "host"`.
    pub fn connect(&self, addr: SocketAddr, stream: Option<bool>) -> Option<Denial> {
        let ip = addr.ip().to_canonical();
        let target = SocketAddr::new(ip, addr.port()).to_string();
        match self.network {
            NetworkMode::Host => None,
            _ if ip.is_loopback() && stream == Some(false) => None,
            _ if addr.port() == 0 => None,
            NetworkMode::Proxy if ip.is_loopback() && Some(addr.port()) == self.proxy_port => None,
            NetworkMode::Proxy => Some(Denial {
                kind: "network".into(),
                access: "connect".into(),
                allow_with: format!(
                    "connect through the egress proxy (HTTP_PROXY/HTTPS_PROXY/ALL_PROXY are set) and add \"{target}\" to [network] allow; direct connections are never allowed"
                ),
                target,
                source: super::SECCOMP_NOTIFY.into(),
            }),
            NetworkMode::None => Some(Denial {
                kind: "network".into(),
                access: "connect".into(),
                allow_with: format!(
                    "set [network] mode = \"proxy\", add \"{target}\" (or its host name) to [network] allow, and connect through the proxy"
                ),
                target,
                source: super::SECCOMP_NOTIFY.into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(network: NetworkMode) -> Grants {
        Grants {
            rules: vec![
                Grant {
                    path: "/".into(),
                    access: Access::List,
                    is_dir: true,
                },
                Grant {
                    path: "/usr".into(),
                    access: Access::Exec,
                    is_dir: true,
                },
                Grant {
                    path: "/tmp".into(),
                    access: Access::Write,
                    is_dir: true,
                },
            ],
            network,
            proxy_port: Some(3128),
        }
    }

    #[test]
    fn an_existing_path_outside_the_grants_is_a_denial_with_its_rule() {
        let outside = tempfile::Builder::new()
            .prefix("report-grants")
            .tempdir_in("/var/tmp")
            .unwrap();
        let file = outside.path().join("secret.txt");
        std::fs::write(&file, "x").unwrap();
        let g = grants(NetworkMode::None);
        let d = g.file(&file, Need::Read).unwrap();
        let real = std::fs::canonicalize(&file).unwrap();
        assert_eq!(
            d.allow_with,
            format!("add \"{}\" to [filesystem] read", real.display())
        );
        // Creating a file in a directory that exists: its directory is what to grant.
        let d = g.file(&outside.path().join("new"), Need::Write).unwrap();
        assert!(d.allow_with.ends_with("to [filesystem] write"), "{d:?}");
        // Missing on the host: not the sandbox's doing.
        assert!(g.file(Path::new("/no/such/file"), Need::Read).is_none());
        // Granted, and the root may be listed.
        assert!(g.file(Path::new("/usr/bin/env"), Need::Exec).is_none());
        assert!(g.file(Path::new("/"), Need::Read).is_none());
        assert!(g.file(Path::new("/usr/../usr/bin"), Need::Read).is_none());
        // Read-only grant, write asked.
        assert!(g.file(Path::new("/usr/bin/env"), Need::Write).is_some());
        // The sandbox's own /proc is never judged.
        assert!(
            g.file(Path::new("/proc/self/status"), Need::Write)
                .is_none()
        );
    }

    #[test]
    fn connects_are_judged_by_the_network_mode() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        let proxy = grants(NetworkMode::Proxy);
        assert!(proxy.connect(addr("127.0.0.1:3128"), Some(true)).is_none());
        let d = proxy.connect(addr("10.1.2.3:443"), Some(true)).unwrap();
        assert_eq!(d.target, "10.1.2.3:443");
        assert!(d.allow_with.contains("[network] allow"), "{d:?}");
        let none = grants(NetworkMode::None);
        let d = none
            .connect(addr("[::ffff:127.0.0.1]:80"), Some(true))
            .unwrap();
        assert_eq!(d.target, "127.0.0.1:80");
        assert!(d.allow_with.contains("mode = \"proxy\""), "{d:?}");
        assert!(none.connect(addr("127.0.0.1:53"), Some(false)).is_none());
        assert!(
            grants(NetworkMode::Host)
                .connect(addr("1.1.1.1:443"), None)
                .is_none()
        );
    }
}
