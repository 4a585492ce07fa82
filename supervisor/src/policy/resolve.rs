//! Finding profiles by name and following `extends`.
//!
//! Search order for a name: an explicit path (contains `/` or ends in `.toml`), then
//! `./sandbox-profiles`, `$XDG_CONFIG_HOME` or `~/.config/missy-sandbox/profiles`,
//! `/etc/missy-sandbox/profiles`, and finally the profiles shipped inside the binary.

use std::path::{Path, PathBuf};

use super::error::{LineIndex, Location, PolicyError, from_toml};
use super::raw::RawProfile;

/// Profiles shipped with missy-sandbox, embedded so an installed binary needs no files around it.
pub const SHIPPED: &[(&str, &str)] = &[
    ("base", include_str!("../../../sandbox-profiles/base.toml")),
    (
        "strict",
        include_str!("../../../sandbox-profiles/strict.toml"),
    ),
    ("dev", include_str!("../../../sandbox-profiles/dev.toml")),
    (
        "ci-strict",
        include_str!("../../../sandbox-profiles/ci-strict.toml"),
    ),
    (
        "agent",
        include_str!("../../../sandbox-profiles/agent.toml"),
    ),
];

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "strict";

/// Deepest `extends` chain accepted; deeper is almost certainly a mistake.
const MAX_DEPTH: usize = 16;

/// One parsed profile file and where it came from.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Profile name (file stem or shipped name).
    pub name: String,
    /// Human-readable origin: a path, or `<shipped>/strict.toml`.
    pub origin: String,
    /// Identity for cycle and diamond detection: the canonical path of a file (so that
    /// `support/../x.toml` and `x.toml` are the same profile), or the origin of a shipped one.
    pub id: String,
    /// Directory relative `extends` paths are resolved against (none for shipped profiles).
    pub dir: Option<PathBuf>,
    pub text: String,
    /// Line starts of `text`, for locating its entries.
    pub lines: LineIndex,
    pub raw: RawProfile,
}

impl SourceFile {
    /// Where byte offset `span.start` of this file is, about `key`.
    pub fn locate(&self, span: std::ops::Range<usize>, key: Option<String>) -> Location {
        Location::at(&self.origin, &self.text, &self.lines, span, key)
    }
}

/// Directories searched for `NAME.toml`, in order.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("sandbox-profiles")];
    if let Some(cfg) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        dirs.push(PathBuf::from(cfg).join("missy-sandbox/profiles"));
    } else if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        dirs.push(PathBuf::from(home).join(".config/missy-sandbox/profiles"));
    }
    dirs.push(PathBuf::from("/etc/missy-sandbox/profiles"));
    dirs
}

/// A reference read as a file path rather than a profile name.
pub fn is_explicit_path(reference: &str) -> bool {
    reference.contains('/') || reference.ends_with(".toml")
}

/// Locate and parse one profile (without following `extends`).
pub fn find(reference: &str, relative_to: Option<&Path>) -> Result<SourceFile, PolicyError> {
    if is_explicit_path(reference) {
        let mut path = PathBuf::from(reference);
        if path.is_relative()
            && let Some(dir) = relative_to
        {
            path = dir.join(path);
        }
        return read_file(&path);
    }
    if reference.is_empty() {
        return Err(PolicyError::Invocation(
            "an empty profile reference; expected a profile name (letters, digits, `-`, `_`) or a path to a .toml file".into(),
        ));
    }
    if !reference
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(PolicyError::Invocation(format!(
            "`{reference}` is not a profile name (letters, digits, `-`, `_`) or a path to a .toml file"
        )));
    }
    let mut searched = Vec::new();
    for dir in search_dirs() {
        let path = dir.join(format!("{reference}.toml"));
        if path.is_file() {
            return read_file(&path);
        }
        searched.push(path.display().to_string());
    }
    if let Some((name, text)) = SHIPPED.iter().find(|(n, _)| *n == reference) {
        let origin = format!("<shipped>/{name}.toml");
        return parse(name, &origin, None, text.to_string());
    }
    searched.push("the profiles shipped in the binary".to_string());
    Err(PolicyError::NotFound {
        name: reference.to_string(),
        searched,
    })
}

fn read_file(path: &Path) -> Result<SourceFile, PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let name = name_of(path);
    let dir = path.parent().map(Path::to_path_buf);
    let mut file = parse(&name, &path.display().to_string(), dir, text)?;
    // The file was just read, so this resolves; if it somehow does not, the spelling is the
    // best identity there is.
    if let Ok(canonical) = std::fs::canonicalize(path) {
        file.id = canonical.display().to_string();
    }
    Ok(file)
}

/// The profile name a file stands for: its stem (`dev` for `profiles/dev.toml`).
pub fn name_of(path: &Path) -> String {
    path.file_stem().map_or_else(
        || "profile".to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// Parse a profile text. Public so `profile validate` and tests can parse text directly.
pub fn parse(
    name: &str,
    origin: &str,
    dir: Option<PathBuf>,
    text: String,
) -> Result<SourceFile, PolicyError> {
    let raw: RawProfile = toml::from_str(&text).map_err(|e| from_toml(origin, &text, &e))?;
    Ok(SourceFile {
        name: name.to_string(),
        origin: origin.to_string(),
        id: origin.to_string(),
        dir,
        lines: LineIndex::new(&text),
        text,
        raw,
    })
}

/// How a parent named in `extends` is located: `find` for real profiles; the fuzz targets pass
/// one that looks only at profiles held in memory.
pub type FindParent<'a> = &'a dyn Fn(&str, Option<&Path>) -> Result<SourceFile, PolicyError>;

/// Load `reference` and every profile it extends, returned base-first: applying them in order,
/// each over the previous, gives the effective profile.
pub fn chain(reference: &str) -> Result<Vec<SourceFile>, PolicyError> {
    chain_from(find(reference, None)?, &find)
}

/// Every profile the already parsed `root` extends, then `root`, base-first; parents are
/// located with `find_parent`.
pub fn chain_from(
    root: SourceFile,
    find_parent: FindParent<'_>,
) -> Result<Vec<SourceFile>, PolicyError> {
    let mut ordered = Vec::new();
    let mut stack = vec![(root.id.clone(), root.origin.clone())];
    visit(root, find_parent, &mut stack, &mut ordered)?;
    Ok(ordered)
}

/// `stack` holds the (id, origin) of every file from the root down to `file`.
fn visit(
    file: SourceFile,
    find_parent: FindParent<'_>,
    stack: &mut Vec<(String, String)>,
    out: &mut Vec<SourceFile>,
) -> Result<(), PolicyError> {
    let origins = |stack: &[(String, String)]| stack.iter().map(|(_, o)| o.clone()).collect();
    if stack.len() > MAX_DEPTH {
        return Err(PolicyError::TooDeep {
            chain: origins(stack),
            max: MAX_DEPTH,
        });
    }
    let parents = match &file.raw.extends {
        Some(extends) => extends.get_ref().entries(extends.span()),
        None => Vec::new(),
    };
    for (parent_ref, span) in parents {
        // A parent that cannot be found or read is reported at the `extends` entry that names
        // it; a parent that is found but is itself wrong is reported in that parent.
        let parent = find_parent(&parent_ref, file.dir.as_deref()).map_err(|err| match err {
            PolicyError::NotFound { .. }
            | PolicyError::Read { .. }
            | PolicyError::Invocation(_) => PolicyError::Extends {
                at: file.locate(span, Some("extends".into())),
                source: Box::new(err),
            },
            other => other,
        })?;
        if stack.iter().any(|(id, _)| *id == parent.id) {
            let mut cycle: Vec<String> = origins(stack);
            cycle.push(parent.origin);
            return Err(PolicyError::Cycle { chain: cycle });
        }
        // A diamond (two parents sharing a base) applies the shared base once, first.
        if out.iter().any(|f: &SourceFile| f.id == parent.id) {
            continue;
        }
        stack.push((parent.id.clone(), parent.origin.clone()));
        visit(parent, find_parent, stack, out)?;
        stack.pop();
    }
    out.push(file);
    Ok(())
}
