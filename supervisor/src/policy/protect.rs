//! `[filesystem] protect`: paths inside writable grants that stay read-only in the sandbox and
//! cannot be created there when they are absent (git hooks, shell startup files, editor and
//! agent configuration: code the host runs later). Validated here; `plan::protect` finds them
//! on the host.

use std::path::{Component, Path};

use super::error::PolicyError;
use super::model::{Context, Policy, expand, invalid, normalize, push_unique};
use super::raw::Located;
use super::resolve::SourceFile;

const PROTECT_EXPECTED: &str = "a path relative to the writable grants (e.g. \".git/hooks/\" or \".envrc\"), or an absolute one inside a writable grant, optionally using {workspace}, {home}, {tmp} or {cwd}; a trailing `/` marks a directory; `*`, `?` and `[...]` match within one path component";

/// Merge one file's `protect` list into `policy` (lists merge by union, like the grants).
pub(super) fn apply(
    policy: &mut Policy,
    file: &SourceFile,
    values: &[Located<String>],
    ctx: &Context,
) -> Result<(), PolicyError> {
    let mut entries = Vec::with_capacity(values.len());
    for entry in values {
        let fail = |message: String| {
            invalid(
                file,
                "filesystem",
                "protect",
                entry.span(),
                message,
                PROTECT_EXPECTED,
            )
        };
        entries.push(validate(entry.get_ref(), ctx).map_err(fail)?);
    }
    push_unique(&mut policy.protect, entries);
    Ok(())
}

/// One entry, checked and (when absolute) expanded and normalized, its trailing `/` kept.
fn validate(value: &str, ctx: &Context) -> Result<String, String> {
    if value.contains('\0') {
        return Err(format!("`{value}` contains a NUL byte"));
    }
    if value.trim().is_empty() {
        return Err("an empty entry protects nothing".into());
    }
    if value.starts_with('?') {
        return Err(format!(
            "`{value}`: the optional marker `?` applies to grants only; an absent protected path is already kept from being created"
        ));
    }
    let dir = value.ends_with('/');
    let expanded = expand(value, ctx)?;
    let path = Path::new(&expanded);
    for component in path.components() {
        match component {
            Component::ParentDir => return Err(format!("`{value}` contains `..`")),
            Component::Normal(name) if name.to_str().is_some_and(|n| n.contains("**")) => {
                return Err(format!(
                    "`{value}`: `**` is not supported; a wildcard matches within one path component"
                ));
            }
            _ => {}
        }
    }
    let without_dots: std::path::PathBuf = path
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect();
    let mut normal = normalize(&without_dots).to_string_lossy().into_owned();
    if normal.is_empty() || normal == "/" {
        return Err(format!("`{value}` names no path inside a grant"));
    }
    if dir {
        normal.push('/');
    }
    Ok(normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            workspace: "/ws".into(),
            home: "/home/u".into(),
            cwd: "/ws".into(),
        }
    }

    #[test]
    fn entries_are_validated_and_keep_their_directory_marker() {
        assert_eq!(validate(".git/hooks/", &ctx()).unwrap(), ".git/hooks/");
        assert_eq!(validate("./.envrc", &ctx()).unwrap(), ".envrc");
        assert_eq!(
            validate("{workspace}/.envrc", &ctx()).unwrap(),
            "/ws/.envrc"
        );
        assert_eq!(validate("*/.git/hooks", &ctx()).unwrap(), "*/.git/hooks");
        for bad in ["", "../x", "a/../../b", "?x", "**/hooks", "/", "a\0b"] {
            assert!(validate(bad, &ctx()).is_err(), "{bad:?} accepted");
        }
    }
}
