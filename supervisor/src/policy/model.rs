//! The validated, typed profile (`Policy`) and how a chain of profile files becomes one.
//!
//! Merge rule (documented in docs/profiles.md): files apply base-first. A scalar set by a later
//! file replaces the earlier value. A list is the concatenation of every file's list, base first,
//! with duplicates removed: a profile can add to what it inherits but never silently lose a mask.
//! `env.set` maps merge key by key, the later file winning.

use std::collections::BTreeMap;
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::{Location, PolicyError};
use super::raw::{Count, Located, NetworkMode, Require};
use super::resolve::SourceFile;
use super::units::{ByteSize, Duration};
use crate::audit::config::AuditSettings;
use crate::egress::rules::HostRule;

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

/// Where a `[filesystem]` grant was written, and how.
#[derive(Debug, Clone)]
pub struct GrantOrigin {
    /// The expanded path.
    pub path: PathBuf,
    /// File, line, column and key of the entry.
    pub at: Location,
    /// The entry as written (placeholders unexpanded), for hints.
    pub written: String,
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
    /// Paths kept read-only, and from being created, inside the writable grants: relative to
    /// each writable directory grant, or absolute; a trailing `/` marks a directory.
    pub protect: Vec<String>,
    /// Grants written with the optional marker (`"?{home}/.cargo"`) in every file that names
    /// them: skipped when the path does not exist. Any other grant must exist.
    pub optional: Vec<PathBuf>,
    /// Where each grant was first written, for the error when a required one is missing.
    #[serde(skip)]
    pub grant_origins: Vec<GrantOrigin>,
    pub network: NetworkMode,
    /// Hosts (and ports) the proxy lets through (`mode = "proxy"`).
    pub allow: Vec<HostRule>,
    /// Address ranges reachable by IP, and exempt from the blocked-range guard.
    pub allow_cidrs: Vec<ipnet::IpNet>,
    /// Static name → addresses pins, answered instead of DNS.
    pub hosts: BTreeMap<String, Vec<std::net::IpAddr>>,
    /// Largest response `fetch` accepts.
    pub fetch_max_size: Option<ByteSize>,
    pub limits: Limits,
    pub env_pass: Vec<String>,
    pub env_set: BTreeMap<String, String>,
    /// Values for variables that neither the host (through `pass`) nor `set` provides.
    pub env_default: BTreeMap<String, String>,
    /// Directories appended to PATH, in order, when they exist and PATH lacks them.
    pub env_path: Vec<PathBuf>,
    /// Variable name → vault entry name (`vault://` stripped), resolved at launch.
    pub env_secrets: BTreeMap<String, String>,
    pub require: Require,
    /// `[kernel] optional`: controls (ids from `plan::enforcement::CONTROL_IDS`) a strict
    /// profile can run without; accumulated along the `extends` chain.
    pub optional_controls: Vec<String>,
    pub audit: AuditSettings,
}

impl Policy {
    /// A policy that grants nothing, before any profile file is applied to it.
    pub fn empty(name: String, chain: Vec<String>) -> Policy {
        Policy {
            name,
            description: String::new(),
            chain,
            read: Vec::new(),
            exec: Vec::new(),
            write: Vec::new(),
            mask: Vec::new(),
            protect: Vec::new(),
            optional: Vec::new(),
            grant_origins: Vec::new(),
            network: NetworkMode::None,
            allow: Vec::new(),
            allow_cidrs: Vec::new(),
            hosts: BTreeMap::new(),
            fetch_max_size: None,
            limits: Limits::default(),
            env_pass: Vec::new(),
            env_set: BTreeMap::new(),
            env_default: BTreeMap::new(),
            env_path: Vec::new(),
            env_secrets: BTreeMap::new(),
            require: Require::Strict,
            optional_controls: Vec::new(),
            audit: AuditSettings::default(),
        }
    }
}

pub(super) fn push_unique<T: PartialEq>(list: &mut Vec<T>, items: impl IntoIterator<Item = T>) {
    for item in items {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

/// Profile paths are normalized when they are loaded, so one path has one spelling and equal
/// bytes mean the same path. Comparing bytes skips `Path`'s component-by-component comparison,
/// which dominated the launch's profile and plan loops.
pub fn same_path(a: &Path, b: &Path) -> bool {
    a.as_os_str() == b.as_os_str()
}

/// `path` is `dir` or beneath it, for normalized absolute paths: [`Path::starts_with`] by
/// bytes.
pub fn within(path: &Path, dir: &Path) -> bool {
    let (path, dir) = (path.as_os_str().as_bytes(), dir.as_os_str().as_bytes());
    path.starts_with(dir)
        && (path.len() == dir.len() || dir.ends_with(b"/") || path[dir.len()] == b'/')
}

/// [`push_unique`] for normalized paths, compared by [`same_path`].
fn push_unique_paths(list: &mut Vec<PathBuf>, items: impl IntoIterator<Item = PathBuf>) {
    for item in items {
        if !list.iter().any(|p| same_path(p, &item)) {
            list.push(item);
        }
    }
}

/// A validation error about `section.key` in `file`, located at `span`: the offending value
/// (a list entry, an `env.set` name or value), so that the line is that entry's own.
pub(super) fn invalid(
    file: &SourceFile,
    section: &str,
    key: &str,
    span: Range<usize>,
    message: String,
    expected: &str,
) -> PolicyError {
    PolicyError::Invalid {
        at: file.locate(span, Some(format!("{section}.{key}"))),
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

pub(super) const PLACEHOLDER_EXPECTED: &str =
    "a string, optionally using {workspace}, {home}, {tmp} or {cwd} (e.g. \"{home}/.cargo\")";

const PATH_EXPECTED: &str = "an absolute path, optionally using {workspace}, {home}, {tmp} or {cwd} (e.g. \"{home}/.cargo\")";

const GRANT_EXPECTED: &str = "an absolute path, optionally using {workspace}, {home}, {tmp} or {cwd}, with a leading `?` if it is optional (granted when it exists, skipped otherwise), e.g. \"/usr\" or \"?{home}/.cargo\"";

/// The optional-grant marker: `"?{home}/.cargo"` grants the path if it exists and skips it
/// silently otherwise. Without it, a grant of a missing path is an error at launch.
pub const OPTIONAL_MARKER: char = '?';

/// One `[filesystem]` entry after expansion.
struct PathEntry {
    path: PathBuf,
    optional: bool,
    at: Location,
    written: String,
}

fn expand_paths(
    file: &SourceFile,
    key: &str,
    values: &[Located<String>],
    ctx: &Context,
) -> Result<Vec<PathEntry>, PolicyError> {
    let mut out = Vec::with_capacity(values.len());
    let is_mask = key == "mask";
    for entry in values {
        let value = entry.get_ref();
        let expected = if is_mask {
            PATH_EXPECTED
        } else {
            GRANT_EXPECTED
        };
        let fail =
            |message: String| invalid(file, "filesystem", key, entry.span(), message, expected);
        if value.contains('\0') {
            return Err(fail(format!("`{value}` contains a NUL byte")));
        }
        let (optional, spelled) = match value.strip_prefix(OPTIONAL_MARKER) {
            Some(rest) => (true, rest),
            None => (false, value.as_str()),
        };
        if optional {
            if is_mask {
                return Err(invalid(
                    file,
                    "filesystem",
                    key,
                    entry.span(),
                    format!(
                        "`{value}`: the optional marker `?` applies to grants only; a mask of a path that does not exist is already skipped"
                    ),
                    PATH_EXPECTED,
                ));
            }
            if spelled.is_empty() || spelled.starts_with(OPTIONAL_MARKER) {
                return Err(fail(format!(
                    "`{value}`: the optional marker `?` is written once, directly before a path"
                )));
            }
            if spelled.starts_with(char::is_whitespace) {
                return Err(fail(format!(
                    "`{value}`: the optional marker `?` must be followed directly by the path, without a space"
                )));
            }
        }
        let expanded = expand(spelled, ctx).map_err(fail)?;
        let path = Path::new(&expanded);
        if !path.is_absolute() {
            return Err(fail(format!("`{value}` is not absolute")));
        }
        if path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(fail(format!("`{value}` contains `..`")));
        }
        out.push(PathEntry {
            path: normalize(path),
            optional,
            at: file.locate(entry.span(), Some(format!("filesystem.{key}"))),
            written: spelled.to_string(),
        });
    }
    Ok(out)
}

/// Drop `.` components and trailing slashes (no symlink resolution; that happens at plan time).
pub(super) fn normalize(path: &Path) -> PathBuf {
    path.components().collect()
}

/// Merge a base-first chain of profile files into one validated `Policy`.
pub fn build(files: &[SourceFile], ctx: &Context) -> Result<Policy, PolicyError> {
    let leaf = files
        .last()
        .ok_or_else(|| PolicyError::Invocation("empty profile chain".into()))?;
    let mut policy = Policy::empty(
        leaf.name.clone(),
        files.iter().map(|f| f.origin.clone()).collect(),
    );
    for file in files {
        apply(&mut policy, file, ctx)?;
    }
    if policy.network != NetworkMode::Proxy {
        super::network::refuse_egress_keys(files)?;
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
            let entries = expand_paths(file, key, values, ctx)?;
            for entry in &entries {
                if key == "mask" {
                    continue;
                }
                // Optional only while every file that names the path marks it so: one plain
                // mention anywhere in the chain makes the grant required.
                let known = policy
                    .grant_origins
                    .iter()
                    .any(|o| same_path(&o.path, &entry.path));
                if !entry.optional {
                    policy.optional.retain(|p| !same_path(p, &entry.path));
                } else if !known {
                    push_unique_paths(&mut policy.optional, [entry.path.clone()]);
                }
                if !known {
                    policy.grant_origins.push(GrantOrigin {
                        path: entry.path.clone(),
                        at: entry.at.clone(),
                        written: entry.written.clone(),
                    });
                }
            }
            let target = match key {
                "read" => &mut policy.read,
                "exec" => &mut policy.exec,
                "write" => &mut policy.write,
                _ => &mut policy.mask,
            };
            push_unique_paths(target, entries.into_iter().map(|e| e.path));
        }
        if let Some(protect) = &fs.protect {
            super::protect::apply(policy, file, protect, ctx)?;
        }
    }
    if let Some(net) = &raw.network {
        super::network::apply(policy, file, net)?;
    }
    if let Some(l) = &raw.limits {
        let zero = |key: &str, span: Range<usize>, message: &str, expected: &str| {
            Err(invalid(file, "limits", key, span, message.into(), expected))
        };
        for (key, value) in [("processes", &l.processes), ("open_files", &l.open_files)] {
            if let Some(v) = value
                && v.get_ref().0 == 0
            {
                return zero(
                    key,
                    v.span(),
                    "0 would forbid everything",
                    "a positive number",
                );
            }
        }
        for (key, value) in [("memory", &l.memory), ("tmp_size", &l.tmp_size)] {
            if let Some(v) = value
                && v.get_ref().0 == 0
            {
                return zero(
                    key,
                    v.span(),
                    "0 is not a limit (for tmpfs it would even mean unlimited)",
                    "a positive size such as \"256MiB\"",
                );
            }
        }
        if let Some(v) = &l.file_size
            && v.get_ref().0 == 0
        {
            return zero(
                "file_size",
                v.span(),
                "0 would kill every process that writes to a file",
                "a size greater than zero",
            );
        }
        for (key, value, what) in [
            (
                "wall_time",
                &l.wall_time,
                "0 would kill the sandbox as soon as it starts",
            ),
            (
                "cpu_time",
                &l.cpu_time,
                "0 would kill every process at its first CPU tick",
            ),
        ] {
            if let Some(v) = value
                && v.get_ref().0 == 0
            {
                return zero(key, v.span(), what, "a duration greater than zero");
            }
        }
        let lim = &mut policy.limits;
        let count = |v: &Option<Located<Count>>| v.as_ref().map(|v| v.get_ref().0);
        let size = |v: &Option<Located<ByteSize>>| v.as_ref().map(|v| *v.get_ref());
        let duration = |v: &Option<Located<Duration>>| v.as_ref().map(|v| *v.get_ref());
        lim.processes = count(&l.processes).or(lim.processes);
        lim.memory = size(&l.memory).or(lim.memory);
        lim.wall_time = duration(&l.wall_time).or(lim.wall_time);
        lim.cpu_time = duration(&l.cpu_time).or(lim.cpu_time);
        lim.open_files = count(&l.open_files).or(lim.open_files);
        lim.file_size = size(&l.file_size).or(lim.file_size);
        lim.tmp_size = size(&l.tmp_size).or(lim.tmp_size);
    }
    if let Some(env) = &raw.env {
        super::env::apply(policy, file, env, ctx)?;
    }
    if let Some(k) = &raw.kernel {
        if let Some(r) = k.require {
            policy.require = r;
        }
        for id in k.optional.iter().flatten() {
            let name = id.get_ref();
            if !crate::plan::enforcement::CONTROL_IDS.contains(&name.as_str()) {
                return Err(invalid(
                    file,
                    "kernel",
                    "optional",
                    id.span(),
                    format!("`{name}` is not a control this sandbox knows"),
                    &format!(
                        "one of {}",
                        crate::plan::enforcement::CONTROL_IDS.join(", ")
                    ),
                ));
            }
            if !policy.optional_controls.contains(name) {
                policy.optional_controls.push(name.clone());
            }
        }
    }
    if let Some(a) = &raw.audit {
        apply_audit(&mut policy.audit, file, a, ctx)?;
    }
    Ok(())
}

fn apply_audit(
    audit: &mut AuditSettings,
    file: &SourceFile,
    raw: &super::raw::RawAudit,
    ctx: &Context,
) -> Result<(), PolicyError> {
    if let Some(path) = &raw.path {
        let fail =
            |message: String| invalid(file, "audit", "path", path.span(), message, PATH_EXPECTED);
        let value = path.get_ref();
        if value.contains('\0') {
            return Err(fail(format!("`{value}` contains a NUL byte")));
        }
        let expanded = PathBuf::from(expand(value, ctx).map_err(fail)?);
        if !expanded.is_absolute() {
            return Err(fail(format!("`{value}` is not absolute")));
        }
        audit.path = Some(normalize(&expanded));
    }
    if let Some(on_failure) = raw.on_failure {
        audit.on_failure = Some(on_failure);
    }
    if let Some(size) = &raw.max_size {
        if size.get_ref().0 < 4096 {
            return Err(invalid(
                file,
                "audit",
                "max_size",
                size.span(),
                "a log rotated below 4 KiB would hold hardly one record".into(),
                "a size of at least \"4KiB\" such as \"64MiB\"",
            ));
        }
        audit.max_size = Some(size.get_ref().0);
    }
    if let Some(keep) = &raw.keep {
        let n = u32::try_from(keep.get_ref().0).ok().filter(|n| *n > 0);
        let Some(n) = n else {
            return Err(invalid(
                file,
                "audit",
                "keep",
                keep.span(),
                format!("`{}` rotated files", keep.get_ref().0),
                "a number of rotated files to keep, from 1 to 4294967295",
            ));
        };
        audit.keep = Some(n);
    }
    Ok(())
}
