//! The gateway's configuration: which MCP servers to start, each with its command, profile,
//! workspace, environment, allowed tools, screening and limits (docs/mcp-gateway.md has the
//! reference). A bad file is reported with its path, line, key and what was expected, as a
//! profile is.
//!
//! Each server runs under a profile generated from its entry ([`ServerConfig::profile_text`]):
//! `extends` the profile it names, adds its `[env] set` (where `vault://` references are
//! resolved by `exec`, as in any profile) and its `[limits]`. So every control and every limit
//! is applied by the same code as for `missy-sandbox exec`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::policy::error::{LineIndex, Location, from_toml};
use crate::policy::raw::RawLimits;
use crate::policy::units::{self, ByteSize};

/// Largest message accepted from either side, unless the file says otherwise.
pub const DEFAULT_MAX_MESSAGE: u64 = 4 << 20;
/// Time a call may take before the client gets an error and the server a cancellation.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(300);
/// The profile a server runs under when its entry names none.
pub const DEFAULT_SERVER_PROFILE: &str = "strict";

/// What the screening does when it finds a secret or an injection phrase in what a server
/// sends (secrets are censored either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ScreenMode {
    /// Pass the (censored) result with a warning block naming what was found.
    Flag,
    /// Replace the result with an error naming the rule that fired.
    Block,
}

impl ScreenMode {
    pub fn name(self) -> &'static str {
        match self {
            ScreenMode::Flag => "flag",
            ScreenMode::Block => "block",
        }
    }
}

/// The whole gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Where the configuration came from (a path, or `--profile … -- CMD`).
    pub origin: String,
    /// Largest message accepted from the client (the top-level `max_message`).
    pub max_message: u64,
    pub servers: Vec<ServerConfig>,
}

/// One downstream server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `[a-z0-9][a-z0-9-]*`: the prefix of its tools and prompts (`name__tool`).
    pub name: String,
    pub command: Vec<String>,
    /// A profile name, or an absolute path.
    pub profile: String,
    /// Canonical.
    pub workspace: PathBuf,
    /// Set in the server's environment; values may be `vault://NAME`.
    pub env: BTreeMap<String, String>,
    /// The tools the client may see and call (None: all).
    pub tools: Option<Vec<String>>,
    pub screen: ScreenMode,
    pub max_message: u64,
    pub call_timeout: Duration,
    /// Refuse a call whose path or URL arguments the profile does not grant, before the server
    /// sees it. The sandbox refuses them anyway; this gives the client a clear error.
    pub check_arguments: bool,
    /// The `[limits]` table, as written.
    pub limits: Option<toml::Table>,
}

/// A configuration the gateway cannot start with.
#[derive(Debug, thiserror::Error)]
#[error("{at}: {message}")]
pub struct ConfigError {
    pub at: Location,
    pub message: String,
}

impl ConfigError {
    fn file(file: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            at: Location {
                file: file.to_string(),
                line: None,
                column: None,
                key: None,
            },
            message: message.into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    max_message: Option<ByteSize>,
    call_timeout: Option<units::Duration>,
    screen: Option<ScreenMode>,
    #[serde(default)]
    servers: BTreeMap<Spanned<String>, RawServer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    command: Spanned<Vec<String>>,
    profile: Option<Spanned<String>>,
    workspace: Option<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<Spanned<String>, String>,
    tools: Option<Spanned<Vec<String>>>,
    screen: Option<ScreenMode>,
    max_message: Option<ByteSize>,
    call_timeout: Option<units::Duration>,
    check_arguments: Option<bool>,
    // Checked here with the profile's own rules; passed on as written.
    #[allow(dead_code)]
    limits: Option<RawLimits>,
}

/// Read and check the configuration file `path`.
pub fn load(path: &Path) -> Result<GatewayConfig, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::file(&file, format!("cannot read the file: {e}")))?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    parse(&file, &text, &dir)
}

/// Parse configuration `text` (from `file`; relative paths start at `dir`).
pub fn parse(file: &str, text: &str, dir: &Path) -> Result<GatewayConfig, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let located = from_toml(file, text, &e);
        match located {
            crate::policy::PolicyError::Parse { at, message } => ConfigError { at, message },
            other => ConfigError::file(file, other.to_string()),
        }
    })?;
    // The limits tables as written, to be passed on into each server's profile.
    let document: toml::Table =
        toml::from_str(text).map_err(|e| ConfigError::file(file, e.to_string()))?;
    let lines = LineIndex::new(text);
    let at = |span: std::ops::Range<usize>, key: String| {
        Location::at(file, text, &lines, span, Some(key))
    };
    if raw.servers.is_empty() {
        return Err(ConfigError::file(
            file,
            "no servers: add at least one [servers.NAME] table with a `command`",
        ));
    }
    let mut servers = Vec::new();
    for (name, server) in raw.servers {
        let key = |k: &str| format!("servers.{}.{k}", name.get_ref());
        check_name(name.get_ref()).map_err(|message| ConfigError {
            at: at(name.span(), format!("servers.{}", name.get_ref())),
            message,
        })?;
        let command = server.command.get_ref().clone();
        if command.is_empty() || command[0].is_empty() {
            return Err(ConfigError {
                at: at(server.command.span(), key("command")),
                message: "expected the server's command and its arguments, e.g. [\"node\", \"server.js\"]".into(),
            });
        }
        let profile = match &server.profile {
            None => DEFAULT_SERVER_PROFILE.to_string(),
            Some(p) => profile_reference(p.get_ref(), dir).map_err(|message| ConfigError {
                at: at(p.span(), key("profile")),
                message,
            })?,
        };
        let workspace = match &server.workspace {
            None => std::env::current_dir()
                .and_then(std::fs::canonicalize)
                .map_err(|e| {
                    ConfigError::file(file, format!("cannot read the current directory: {e}"))
                })?,
            Some(w) => workspace_dir(w.get_ref(), dir).map_err(|message| ConfigError {
                at: at(w.span(), key("workspace")),
                message,
            })?,
        };
        let mut env = BTreeMap::new();
        for (var, value) in server.env {
            if !crate::policy::env::valid_env_name(var.get_ref()) {
                return Err(ConfigError {
                    at: at(var.span(), key("env")),
                    message: format!(
                        "`{}` is not an environment variable name: letters, digits and `_`, not starting with a digit",
                        var.get_ref()
                    ),
                });
            }
            env.insert(var.into_inner(), value);
        }
        let tools = match &server.tools {
            None => None,
            Some(list) => {
                if let Some(bad) = list.get_ref().iter().find(|t| t.is_empty()) {
                    return Err(ConfigError {
                        at: at(list.span(), key("tools")),
                        message: format!("expected tool names, found {bad:?}"),
                    });
                }
                Some(list.get_ref().clone())
            }
        };
        let limits = document
            .get("servers")
            .and_then(|s| s.get(name.get_ref()))
            .and_then(|s| s.get("limits"))
            .and_then(toml::Value::as_table)
            .cloned();
        servers.push(ServerConfig {
            name: name.into_inner(),
            command,
            profile,
            workspace,
            env,
            tools,
            screen: server.screen.or(raw.screen).unwrap_or(ScreenMode::Flag),
            max_message: server
                .max_message
                .or(raw.max_message)
                .map_or(DEFAULT_MAX_MESSAGE, |s| s.0),
            call_timeout: server
                .call_timeout
                .or(raw.call_timeout)
                .map_or(DEFAULT_CALL_TIMEOUT, |d| d.as_std()),
            check_arguments: server.check_arguments.unwrap_or(true),
            limits,
        });
    }
    Ok(GatewayConfig {
        origin: file.to_string(),
        max_message: raw.max_message.map_or(DEFAULT_MAX_MESSAGE, |s| s.0),
        servers,
    })
}

/// Server names prefix tool names with `__`, so they hold no `_` (the split is unambiguous)
/// and stay short (MCP tool names are at most 128 characters).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "server name {name:?}: expected 1 to 32 of a-z, 0-9 and `-`, starting with a letter or digit (it prefixes the server's tools as NAME__tool)"
        ))
    }
}

/// A profile name stays a name; a path (it holds a `/` or ends in `.toml`) is made absolute
/// from the configuration's directory, so `exec` finds it from any directory.
fn profile_reference(reference: &str, dir: &Path) -> Result<String, String> {
    if reference.is_empty() {
        return Err("expected a profile name or a path to a profile file".into());
    }
    if !reference.contains('/') && !reference.ends_with(".toml") {
        // A name found in ./sandbox-profiles is taken from the gateway's directory: the
        // servers run in their workspaces, where that directory is not.
        let local = Path::new("sandbox-profiles").join(format!("{reference}.toml"));
        return Ok(match std::fs::canonicalize(&local) {
            Ok(path) => path.to_string_lossy().into_owned(),
            Err(_) => reference.to_string(),
        });
    }
    let path = dir.join(expand_home(reference));
    std::fs::canonicalize(&path)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| format!("profile file {}: {e}", path.display()))
}

fn workspace_dir(value: &str, dir: &Path) -> Result<PathBuf, String> {
    let path = dir.join(expand_home(value));
    let real =
        std::fs::canonicalize(&path).map_err(|e| format!("workspace {}: {e}", path.display()))?;
    if !real.is_dir() {
        return Err(format!("workspace {} is not a directory", real.display()));
    }
    Ok(real)
}

fn expand_home(value: &str) -> PathBuf {
    match value.strip_prefix("~/") {
        Some(rest) => crate::commands::home_dir().join(rest),
        None => PathBuf::from(value),
    }
}

impl ServerConfig {
    /// The server's own profile: its `profile` extended with its environment and limits.
    pub fn profile_text(&self) -> String {
        let mut doc = toml::Table::new();
        doc.insert("extends".into(), toml::Value::String(self.profile.clone()));
        doc.insert(
            "description".into(),
            toml::Value::String(format!("mcp-gateway server `{}`", self.name)),
        );
        if !self.env.is_empty() {
            // `vault://` references go where a profile takes them, `[env] secrets`: `exec`
            // resolves them and censors their values; plain values in `[env] set`.
            let (secrets, plain): (Vec<_>, Vec<_>) = self
                .env
                .iter()
                .partition(|(_, v)| v.starts_with("vault://"));
            let table = |items: Vec<(&String, &String)>| -> toml::Table {
                items
                    .into_iter()
                    .map(|(k, v)| (k.clone(), toml::Value::String(v.clone())))
                    .collect()
            };
            let mut env = toml::Table::new();
            if !plain.is_empty() {
                env.insert("set".into(), toml::Value::Table(table(plain)));
            }
            if !secrets.is_empty() {
                env.insert("secrets".into(), toml::Value::Table(table(secrets)));
            }
            doc.insert("env".into(), toml::Value::Table(env));
        }
        if let Some(limits) = &self.limits {
            doc.insert("limits".into(), toml::Value::Table(limits.clone()));
        }
        toml::to_string(&doc).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<GatewayConfig, ConfigError> {
        parse("gw.toml", text, Path::new("/"))
    }

    #[test]
    fn a_full_entry_is_read_with_its_defaults_filled_in() {
        let c = parse_text(
            r#"
screen = "block"
[servers.files]
command = ["node", "server.js"]
workspace = "/tmp"
env = { LOG = "1", TOKEN = "vault://gh" }
tools = ["read_file"]
max_message = "1MiB"
[servers.files.limits]
memory = "512MiB"
"#,
        )
        .unwrap();
        let s = &c.servers[0];
        assert_eq!(s.name, "files");
        assert_eq!(s.profile, DEFAULT_SERVER_PROFILE);
        assert_eq!(s.screen, ScreenMode::Block);
        assert_eq!(s.max_message, 1 << 20);
        assert_eq!(s.call_timeout, DEFAULT_CALL_TIMEOUT);
        assert_eq!(s.tools.as_deref(), Some(&["read_file".to_string()][..]));
        let profile = s.profile_text();
        assert!(profile.contains("extends = \"strict\""), "{profile}");
        assert!(
            profile.contains("[env.secrets]\nTOKEN = \"vault://gh\""),
            "{profile}"
        );
        assert!(profile.contains("[env.set]\nLOG = \"1\""), "{profile}");
        assert!(profile.contains("memory = \"512MiB\""), "{profile}");
    }

    #[test]
    fn bad_input_names_the_line_and_the_key() {
        let e = parse_text("[servers.a]\ncommand = [\"x\"]\nfrobnicate = 1\n").unwrap_err();
        assert_eq!(e.at.line, Some(3), "{e}");
        assert!(e.message.contains("frobnicate"), "{e}");
        let e = parse_text("[servers.Bad_Name]\ncommand = [\"x\"]\n").unwrap_err();
        assert_eq!(e.at.line, Some(1), "{e}");
        assert!(e.to_string().contains("servers.Bad_Name"), "{e}");
        let e = parse_text("[servers.a]\ncommand = [\"x\"]\nenv = { 1BAD = \"x\" }\n").unwrap_err();
        assert_eq!(e.at.line, Some(3), "{e}");
        let e = parse_text("[servers.a]\ncommand = []\n").unwrap_err();
        assert_eq!(e.at.key.as_deref(), Some("servers.a.command"), "{e}");
        let e = parse_text("[servers.a]\ncommand = [\"x\"]\nworkspace = \"/no/such/dir\"\n")
            .unwrap_err();
        assert_eq!(e.at.line, Some(3), "{e}");
        let e =
            parse_text("[servers.a]\ncommand = [\"x\"]\n[servers.a.limits]\nmemory = \"lots\"\n")
                .unwrap_err();
        assert_eq!(e.at.line, Some(4), "{e}");
        assert!(e.to_string().contains("memory"), "{e}");
        let e = parse_text("[servers.a]\ncommand = [\"x\"]\nscreen = \"maybe\"\n").unwrap_err();
        assert!(e.message.contains("flag"), "{e}");
        assert!(parse_text("").unwrap_err().message.contains("no servers"));
    }

    #[test]
    fn server_names_cannot_make_tool_names_ambiguous() {
        for ok in ["a", "git", "fs-2"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "a_b", "a__b", "-a", &"x".repeat(33)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
