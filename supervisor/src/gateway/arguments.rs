//! The early check of a tool call's arguments against the server's profile: a path the profile
//! does not grant, or a URL whose host it does not allow, is refused before the server sees the
//! call, with an error that names the profile rule that would allow it.
//!
//! The check is a courtesy to the client, not the enforcement: the server runs in a sandbox
//! built from the same profile, whose kernel rules refuse the same paths and hosts whatever
//! reaches the server (a path hidden in free text, a symlink made later, a server that ignores
//! its arguments). It judges paths the way `exec --report` does ([`Grants::file`]): lexically
//! and through host symlinks, against the Landlock rules and mounts of the compiled plan.
//!
//! What counts as a path: any string under a key that names one (`path`, `file`, `directory`,
//! `source`, …, and their plurals), resolved from the workspace when relative; and any string
//! anywhere that is an absolute path, `~/…` or a `file://` URL. What counts as a URL: any
//! `http://` or `https://` string. A tool whose name says it writes (`write_file`,
//! `create_directory`, `move_file`, …) needs write access to its paths; any other, read.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::egress::policy::{EgressPolicy, parse_host};
use crate::policy::NetworkMode;
use crate::report::grants::{Grants, Need};

/// Keys whose string values are paths (compared lowercased, `-` as `_`).
const PATH_KEYS: &[&str] = &[
    "path",
    "paths",
    "file",
    "files",
    "filename",
    "filepath",
    "file_path",
    "dir",
    "dirs",
    "directory",
    "directories",
    "folder",
    "source",
    "destination",
    "src",
    "dst",
    "dest",
    "root",
    "cwd",
    "repo_path",
    "repository",
    "target",
    "output",
    "input",
];

/// Words in a tool name that mean it writes to its paths.
const WRITING_TOOLS: &[&str] = &[
    "write", "create", "edit", "move", "rename", "delete", "remove", "mkdir", "save", "put",
    "upload", "append", "commit", "add", "reset", "checkout", "init",
];

/// Longest string taken for a path; longer ones are text.
const PATH_MAX: usize = 4096;

/// One server's grants, as its profile compiles.
#[derive(Debug, Clone)]
pub struct ArgumentCheck {
    pub profile: String,
    pub workspace: PathBuf,
    pub home: PathBuf,
    pub grants: Grants,
    pub egress: EgressPolicy,
}

/// Why a call was refused before it reached the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The argument, as a JSON pointer (`/arguments/path`).
    pub argument: String,
    pub message: String,
}

impl ArgumentCheck {
    /// Check every path and URL in `arguments` of a call to `tool`.
    pub fn check(&self, tool: &str, arguments: &Map<String, Value>) -> Result<(), Refusal> {
        let need = if writes(tool) {
            Need::Write
        } else {
            Need::Read
        };
        for (key, value) in arguments {
            self.walk(value, is_path_key(key), need, &format!("/{key}"))?;
        }
        Ok(())
    }

    fn walk(&self, value: &Value, path_key: bool, need: Need, at: &str) -> Result<(), Refusal> {
        match value {
            Value::String(s) => self.string(s, path_key, need, at),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, v)| self.walk(v, path_key, need, &format!("{at}/{i}"))),
            Value::Object(map) => map.iter().try_for_each(|(k, v)| {
                self.walk(v, path_key || is_path_key(k), need, &format!("{at}/{k}"))
            }),
            _ => Ok(()),
        }
    }

    fn string(&self, s: &str, path_key: bool, need: Need, at: &str) -> Result<(), Refusal> {
        if let Some(rest) = s
            .strip_prefix("http://")
            .or_else(|| s.strip_prefix("https://"))
        {
            return self.url(s, rest, at);
        }
        if s.is_empty() || s.len() > PATH_MAX || s.contains(['\n', '\0']) {
            return Ok(());
        }
        let path = if let Some(p) = s.strip_prefix("file://") {
            PathBuf::from(p)
        } else if let Some(p) = s.strip_prefix("~/") {
            self.home.join(p)
        } else if s.starts_with('/') {
            PathBuf::from(s)
        } else if path_key {
            self.workspace.join(s)
        } else {
            return Ok(());
        };
        match self.grants.file(&path, need) {
            None => Ok(()),
            Some(denial) => Err(Refusal {
                argument: at.to_string(),
                message: format!(
                    "argument {at}: {} access to {} is not granted by the server's profile `{}` (the sandbox would refuse it too); to allow it, {} in that profile",
                    denial.access, denial.target, self.profile, denial.allow_with
                ),
            }),
        }
    }

    fn url(&self, url: &str, rest: &str, at: &str) -> Result<(), Refusal> {
        let refuse = |why: String| Refusal {
            argument: at.to_string(),
            message: format!(
                "argument {at}: {url:?}: {why} (the sandbox would refuse the connection too)"
            ),
        };
        let (network, grants) = (self.grants.network, &self.egress);
        match network {
            NetworkMode::Host => return Ok(()),
            NetworkMode::None => {
                return Err(refuse(format!(
                    "the server's profile `{}` has [network] mode = \"none\"",
                    self.profile
                )));
            }
            NetworkMode::Proxy => {}
        }
        let https = url.starts_with("https://");
        let parsed = url::Url::parse(url).map_err(|e| refuse(format!("not a valid URL ({e})")))?;
        let host = parsed.host_str().unwrap_or_default();
        let port = parsed.port().unwrap_or(if https { 443 } else { 80 });
        let _ = rest;
        let host = parse_host(host).map_err(|e| refuse(e.to_string()))?;
        grants.admit(&host, port).map(drop).map_err(|e| {
            let target = format!("{}:{port}", parsed.host_str().unwrap_or_default());
            let remedy = e
                .allow_with(&target)
                .map(|r| format!("; to allow it, {r} in `{}`", self.profile))
                .unwrap_or_default();
            refuse(format!("{e}{remedy}"))
        })
    }
}

fn is_path_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace('-', "_");
    PATH_KEYS.contains(&key.as_str())
        || key.ends_with("_path")
        || key.ends_with("_paths")
        || key.ends_with("_file")
        || key.ends_with("_dir")
}

/// Whether a tool named `name` writes to its paths (a word of its name, split at `_`, `-`,
/// `.` and lower-to-upper case changes, is a writing verb).
pub fn writes(name: &str) -> bool {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if matches!(c, '_' | '-' | '.' | ' ') || (c.is_ascii_uppercase() && prev_lower) {
            words.push(std::mem::take(&mut word));
        }
        if c.is_ascii_alphanumeric() {
            word.push(c.to_ascii_lowercase());
        }
        prev_lower = c.is_ascii_lowercase();
    }
    words.push(word);
    words.iter().any(|w| WRITING_TOOLS.contains(&w.as_str()))
}

/// The directory a relative path argument starts from.
pub fn workspace_of(check: &ArgumentCheck) -> &Path {
    &check.workspace
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Access, Grant};
    use serde_json::json;

    fn check(network: NetworkMode, dir: &Path) -> ArgumentCheck {
        let rule = |path: &Path, access| Grant {
            path: path.to_path_buf(),
            access,
            is_dir: true,
        };
        ArgumentCheck {
            profile: "p".into(),
            workspace: dir.join("ws"),
            home: dir.join("home"),
            grants: Grants {
                rules: vec![
                    rule(&dir.join("ws"), Access::Write),
                    rule(&dir.join("ro"), Access::Read),
                ],
                network,
                proxy_port: None,
            },
            egress: EgressPolicy::new(
                vec!["api.example.com:443".parse().unwrap()],
                Vec::new(),
                Default::default(),
            ),
        }
    }

    #[test]
    fn paths_outside_the_grants_are_refused_with_the_rule_that_would_allow_them() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["ws", "ro", "outside", "home/.ssh"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("outside/secret"), "x").unwrap();
        std::fs::write(dir.path().join("home/.ssh/id_ed25519"), "x").unwrap();
        std::fs::write(dir.path().join("ro/data"), "x").unwrap();
        std::fs::write(dir.path().join("ws/a.txt"), "x").unwrap();
        let c = check(NetworkMode::None, dir.path());
        let args = |v: Value| v.as_object().unwrap().clone();
        let outside = dir.path().join("outside/secret");
        let e = c
            .check("read_text_file", &args(json!({"path": outside})))
            .unwrap_err();
        assert_eq!(e.argument, "/path");
        assert!(e.message.contains("[filesystem] read"), "{}", e.message);
        // Relative paths start at the workspace; `..` does not leave it unnoticed.
        assert!(c.check("read", &args(json!({"path": "a.txt"}))).is_ok());
        assert!(
            c.check("read", &args(json!({"path": "../outside/secret"})))
                .is_err()
        );
        // Nested and listed, under any key when absolute; `~/` is the home directory.
        assert!(
            c.check(
                "read_multiple_files",
                &args(json!({"paths": ["a.txt", outside]}))
            )
            .is_err()
        );
        assert!(
            c.check("x", &args(json!({"opts": {"q": "~/.ssh/id_ed25519"}})))
                .is_err()
        );
        // Read-only grants do not let a writing tool write.
        let data = dir.path().join("ro/data");
        assert!(c.check("read_file", &args(json!({"path": data}))).is_ok());
        assert!(c.check("write_file", &args(json!({"path": data}))).is_err());
        // Free text under other keys is not a path.
        assert!(
            c.check("x", &args(json!({"query": "outside/secret"})))
                .is_ok()
        );
    }

    #[test]
    fn urls_follow_the_network_rules() {
        let dir = tempfile::tempdir().unwrap();
        let args = |u: &str| json!({"url": u}).as_object().unwrap().clone();
        let none = check(NetworkMode::None, dir.path());
        assert!(
            none.check("fetch", &args("https://api.example.com/"))
                .is_err()
        );
        let proxy = check(NetworkMode::Proxy, dir.path());
        assert!(
            proxy
                .check("fetch", &args("https://api.example.com/v1"))
                .is_ok()
        );
        let e = proxy
            .check("fetch", &args("http://127.0.0.1:9/"))
            .unwrap_err();
        assert!(e.message.contains("allow_cidrs"), "{}", e.message);
        let e = proxy
            .check("fetch", &args("https://evil.example.net/"))
            .unwrap_err();
        assert!(e.message.contains("[network] allow"), "{}", e.message);
        let host = check(NetworkMode::Host, dir.path());
        assert!(host.check("fetch", &args("http://127.0.0.1:9/")).is_ok());
    }

    #[test]
    fn writing_tools_are_told_by_their_names() {
        for w in [
            "write_file",
            "create_directory",
            "move_file",
            "git_commit",
            "editFile",
        ] {
            assert!(writes(w), "{w}");
        }
        for r in [
            "read_text_file",
            "list_directory",
            "git_status",
            "search_files",
            "readAll",
        ] {
            assert!(!writes(r), "{r}");
        }
    }
}
