//! The `[env]` table of a profile: which host variables pass, which values are set, which
//! come from the vault, defaults, and PATH additions, each checked and expanded as it merges.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::PolicyError;
use super::model::{Context, Policy, expand, invalid, normalize, push_unique};
use super::raw::{Located, RawEnv};
use super::resolve::SourceFile;

/// Merge one file's `[env]` into `policy`.
pub(super) fn apply(
    policy: &mut Policy,
    file: &SourceFile,
    env: &RawEnv,
    ctx: &Context,
) -> Result<(), PolicyError> {
    if let Some(pass) = &env.pass {
        for entry in pass {
            let name = entry.get_ref();
            if !valid_env_pattern(name) {
                return Err(invalid(
                    file,
                    "env",
                    "pass",
                    entry.span(),
                    format!("`{name}` is not a valid name"),
                    ENV_PASS_EXPECTED,
                ));
            }
        }
        push_unique(
            &mut policy.env_pass,
            pass.iter().map(|e| e.get_ref().clone()),
        );
    }
    if let Some(set) = &env.set {
        for (name, value) in expanded_values(file, "set", set, ctx)? {
            policy.env_set.insert(name, value);
        }
    }
    if let Some(secrets) = &env.secrets {
        for (name, value) in secrets {
            if !valid_env_name(name.get_ref()) {
                return Err(invalid(
                    file,
                    "env",
                    "secrets",
                    name.span(),
                    format!("`{}` is not a valid name", name.get_ref()),
                    ENV_SET_EXPECTED,
                ));
            }
            let key = value
                .get_ref()
                .strip_prefix(VAULT_SCHEME)
                .filter(|k| crate::secrets::vault::valid_name(k))
                .ok_or_else(|| {
                    invalid(
                        file,
                        "env",
                        "secrets",
                        value.span(),
                        format!("`{}` is not a vault reference", value.get_ref()),
                        ENV_SECRET_EXPECTED,
                    )
                })?;
            policy
                .env_secrets
                .insert(name.get_ref().clone(), key.to_string());
        }
    }
    if let Some(defaults) = &env.default {
        for (name, value) in expanded_values(file, "default", defaults, ctx)? {
            policy.env_default.insert(name, value);
        }
    }
    if let Some(dirs) = &env.path {
        for entry in dirs {
            let value = entry.get_ref();
            let fail = |message: String| {
                invalid(
                    file,
                    "env",
                    "path",
                    entry.span(),
                    message,
                    ENV_PATH_EXPECTED,
                )
            };
            if value.contains('\0') || value.contains(':') {
                return Err(fail(format!(
                    "`{value}` contains a NUL byte or a `:`, which would split PATH"
                )));
            }
            let expanded = expand(value, ctx).map_err(fail)?;
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
            push_unique(&mut policy.env_path, [normalize(path)]);
        }
    }
    Ok(())
}

/// The `NAME = "value"` entries of `[env] key` (`set` or `default`): names checked, values
/// free of NUL bytes and with their placeholders expanded.
fn expanded_values(
    file: &SourceFile,
    key: &str,
    table: &BTreeMap<Located<String>, Located<String>>,
    ctx: &Context,
) -> Result<Vec<(String, String)>, PolicyError> {
    table
        .iter()
        .map(|(name, value)| {
            if !valid_env_name(name.get_ref()) {
                return Err(invalid(
                    file,
                    "env",
                    key,
                    name.span(),
                    format!("`{}` is not a valid name", name.get_ref()),
                    ENV_SET_EXPECTED,
                ));
            }
            let fail = |message: String, expected: &str| {
                invalid(file, "env", key, value.span(), message, expected)
            };
            if value.get_ref().contains('\0') {
                return Err(fail(
                    format!("the value of `{}` contains a NUL byte", name.get_ref()),
                    "a string without NUL bytes",
                ));
            }
            let expanded = expand(value.get_ref(), ctx)
                .map_err(|m| fail(m, super::model::PLACEHOLDER_EXPECTED))?;
            Ok((name.get_ref().clone(), expanded))
        })
        .collect()
}

const ENV_PASS_EXPECTED: &str = "an environment variable name (letters, digits and `_`, not starting with a digit) such as PATH, or a glob over such names using `*`, `?` and `[...]` such as LC_*";

const ENV_SET_EXPECTED: &str =
    "a variable name: letters, digits and `_`, not starting with a digit, such as CARGO_HOME";

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Prefix of a vault reference in `[env] secrets`.
pub const VAULT_SCHEME: &str = "vault://";

const ENV_SECRET_EXPECTED: &str = "\"vault://NAME\", where NAME (letters, digits, `_`, `-` and `.`) is an entry of `missy-sandbox vault list`";

/// A portable environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn valid_env_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| !c.is_ascii_digit()) && name.chars().all(name_char)
}

/// A name, or a glob over names: name characters, `*`, `?`, and classes `[...]` of name
/// characters and ranges (`[A-Z]`), optionally negated (`[!...]`, `[^...]`). Must not be empty
/// or start with a digit, and must be a glob the `globset` crate accepts.
pub fn valid_env_pattern(pattern: &str) -> bool {
    if pattern.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        return false;
    }
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' => {}
            '[' => {
                if matches!(chars.peek(), Some('!' | '^')) {
                    chars.next();
                }
                let mut members = 0;
                loop {
                    match chars.next() {
                        Some(']') if members > 0 => break,
                        Some(c) if name_char(c) || (c == '-' && members > 0) => members += 1,
                        _ => return false,
                    }
                }
            }
            c if name_char(c) => {}
            _ => return false,
        }
    }
    globset::Glob::new(pattern).is_ok()
}

const ENV_PATH_EXPECTED: &str = "an absolute directory, optionally using {workspace}, {home}, {tmp} or {cwd} (e.g. \"{home}/.cargo/bin\"); it is appended to PATH when it exists";
