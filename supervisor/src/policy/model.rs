//! The validated, typed profile (`Policy`) and how a chain of profile files becomes one.
//!
//! Merge rule (documented in docs/profiles.md): files apply base-first. A scalar set by a later
//! file replaces the earlier value. A list is the concatenation of every file's list, base first,
//! with duplicates removed: a profile can add to what it inherits but never silently lose a mask.
//! `env.set` maps merge key by key, the later file winning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::{Location, PolicyError, locate};
use super::raw::{NetworkMode, Require};
use super::resolve::SourceFile;
use super::units::{ByteSize, Duration};

/// Values the placeholders in a profile stand for, fixed per invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    /// `{workspace}`: the directory the tool works on (read-write in most profiles).
    pub workspace: PathBuf,
    /// `{home}`: the invoking user's home directory.
    pub home: PathBuf,
    /// `{cwd}`: the directory missy-sandbox was started in.
    pub cwd: PathBuf,
}

/// `{tmp}`: the sandbox's private /tmp (a fresh tmpfs per run, never the host's).
pub const SANDBOX_TMP: &str = "/tmp";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Most processes (and threads) alive at once.
    pub processes: Option<u64>,
    /// Most memory the sandbox may use.
    pub memory: Option<ByteSize>,
    /// Wall-clock time before the whole sandbox is killed.
    pub wall_time: Option<Duration>,
    /// CPU time per process (RLIMIT_CPU).
    pub cpu_time: Option<Duration>,
    /// Most open file descriptors per process.
    pub open_files: Option<u64>,
    /// Largest file a process may write.
    pub file_size: Option<ByteSize>,
    /// Size of the private /tmp.
    pub tmp_size: Option<ByteSize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    pub name: String,
    pub description: String,
    /// Origins of the files that made this policy, base first.
    pub chain: Vec<String>,
    pub read: Vec<PathBuf>,
    pub exec: Vec<PathBuf>,
    pub write: Vec<PathBuf>,
    pub mask: Vec<PathBuf>,
    pub network: NetworkMode,
    pub allow: Vec<String>,
    pub limits: Limits,
    pub env_pass: Vec<String>,
    pub env_set: BTreeMap<String, String>,
    pub require: Require,
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, items: impl IntoIterator<Item = T>) {
    for item in items {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

fn invalid(
    file: &SourceFile,
    section: &str,
    key: &str,
    message: String,
    expected: &str,
) -> PolicyError {
    let (line, column) = locate(&file.text, Some(section), key);
    PolicyError::Invalid {
        at: Location {
            file: file.origin.clone(),
            line,
            column,
            key: Some(format!("{section}.{key}")),
        },
        message,
        expected: expected.to_string(),
    }
}

/// Replace `{workspace}`, `{home}`, `{tmp}` and `{cwd}` in `value`.
pub fn expand(value: &str, ctx: &Context) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed `{{` in `{value}`"))?;
        let name = &after[..close];
        let replacement = match name {
            "workspace" => ctx.workspace.to_string_lossy().into_owned(),
            "home" => ctx.home.to_string_lossy().into_owned(),
            "cwd" => ctx.cwd.to_string_lossy().into_owned(),
            "tmp" => SANDBOX_TMP.to_string(),
            other => return Err(format!("unknown placeholder `{{{other}}}` in `{value}`")),
        };
        out.push_str(&replacement);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

const PATH_EXPECTED: &str = "an absolute path, optionally using {workspace}, {home}, {tmp} or {cwd} (e.g. \"{home}/.cargo\")";

fn expand_paths(
    file: &SourceFile,
    key: &str,
    values: &[String],
    ctx: &Context,
) -> Result<Vec<PathBuf>, PolicyError> {
    let mut out = Vec::with_capacity(values.len());
    for value in values {
        let expanded =
            expand(value, ctx).map_err(|m| invalid(file, "filesystem", key, m, PATH_EXPECTED))?;
        let path = Path::new(&expanded);
        if !path.is_absolute() {
            return Err(invalid(
                file,
                "filesystem",
                key,
                format!("`{value}` is not absolute"),
                PATH_EXPECTED,
            ));
        }
        if path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(invalid(
                file,
                "filesystem",
                key,
                format!("`{value}` contains `..`"),
                PATH_EXPECTED,
            ));
        }
        out.push(normalize(path));
    }
    Ok(out)
}

/// Drop `.` components and trailing slashes (no symlink resolution; that happens at plan time).
fn normalize(path: &Path) -> PathBuf {
    path.components().collect()
}

const ENV_NAME_EXPECTED: &str = "an environment variable name such as PATH, or a glob such as LC_*";

fn valid_env_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('=') && !name.contains('\0')
}

/// Merge a base-first chain of profile files into one validated `Policy`.
pub fn build(files: &[SourceFile], ctx: &Context) -> Result<Policy, PolicyError> {
    let leaf = files
        .last()
        .ok_or_else(|| PolicyError::Invocation("empty profile chain".into()))?;
    let mut policy = Policy {
        name: leaf.name.clone(),
        description: String::new(),
        chain: files.iter().map(|f| f.origin.clone()).collect(),
        read: Vec::new(),
        exec: Vec::new(),
        write: Vec::new(),
        mask: Vec::new(),
        network: NetworkMode::None,
        allow: Vec::new(),
        limits: Limits::default(),
        env_pass: Vec::new(),
        env_set: BTreeMap::new(),
        require: Require::Strict,
    };
    for file in files {
        apply(&mut policy, file, ctx)?;
    }
    Ok(policy)
}

fn apply(policy: &mut Policy, file: &SourceFile, ctx: &Context) -> Result<(), PolicyError> {
    let raw = &file.raw;
    if let Some(d) = &raw.description {
        policy.description = d.clone();
    }
    if let Some(fs) = &raw.filesystem {
        let lists = [
            ("read", &fs.read),
            ("exec", &fs.exec),
            ("write", &fs.write),
            ("mask", &fs.mask),
        ];
        for (key, values) in lists {
            let Some(values) = values else { continue };
            let paths = expand_paths(file, key, values, ctx)?;
            let target = match key {
                "read" => &mut policy.read,
                "exec" => &mut policy.exec,
                "write" => &mut policy.write,
                _ => &mut policy.mask,
            };
            push_unique(target, paths);
        }
    }
    if let Some(net) = &raw.network {
        if let Some(mode) = net.mode {
            if mode == NetworkMode::Proxy {
                return Err(invalid(
                    file,
                    "network",
                    "mode",
                    "mode = \"proxy\" (the egress proxy) is not available in this version".into(),
                    "\"none\" (no network) or \"host\" (the host's network, explicitly opted into)",
                ));
            }
            policy.network = mode;
        }
        if let Some(allow) = &net.allow
            && !allow.is_empty()
        {
            return Err(invalid(
                file,
                "network",
                "allow",
                "an allow-list needs mode = \"proxy\", which is not available in this version"
                    .into(),
                "no `allow` entries",
            ));
        }
    }
    if let Some(l) = &raw.limits {
        let lim = &mut policy.limits;
        for (key, value) in [("processes", l.processes), ("open_files", l.open_files)] {
            if value == Some(0) {
                return Err(invalid(
                    file,
                    "limits",
                    key,
                    "0 would forbid everything".into(),
                    "a positive number",
                ));
            }
        }
        for (key, value) in [("memory", l.memory), ("tmp_size", l.tmp_size)] {
            if value.is_some_and(|v| v.0 == 0) {
                return Err(invalid(
                    file,
                    "limits",
                    key,
                    "0 is not a limit (for tmpfs it would even mean unlimited)".into(),
                    "a positive size such as \"256MiB\"",
                ));
            }
        }
        lim.processes = l.processes.or(lim.processes);
        lim.memory = l.memory.or(lim.memory);
        lim.wall_time = l.wall_time.or(lim.wall_time);
        lim.cpu_time = l.cpu_time.or(lim.cpu_time);
        lim.open_files = l.open_files.or(lim.open_files);
        lim.file_size = l.file_size.or(lim.file_size);
        lim.tmp_size = l.tmp_size.or(lim.tmp_size);
    }
    if let Some(env) = &raw.env {
        if let Some(pass) = &env.pass {
            for name in pass {
                if !valid_env_name(name) || globset::Glob::new(name).is_err() {
                    return Err(invalid(
                        file,
                        "env",
                        "pass",
                        format!("`{name}` is not a valid name"),
                        ENV_NAME_EXPECTED,
                    ));
                }
            }
            push_unique(&mut policy.env_pass, pass.iter().cloned());
        }
        if let Some(set) = &env.set {
            for (name, value) in set {
                if !valid_env_name(name) || name.contains(['*', '?', '[']) {
                    return Err(invalid(
                        file,
                        "env",
                        "set",
                        format!("`{name}` is not a valid name"),
                        "a variable name",
                    ));
                }
                let expanded = expand(value, ctx)
                    .map_err(|m| invalid(file, "env", "set", m, PATH_EXPECTED))?;
                policy.env_set.insert(name.clone(), expanded);
            }
        }
    }
    if let Some(k) = &raw.kernel
        && let Some(r) = k.require
    {
        policy.require = r;
    }
    Ok(())
}
