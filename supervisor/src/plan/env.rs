//! The workload's environment: empty, then the profile's `pass` names (exact names or globs),
//! then the egress proxy's variables (`mode = "proxy"`), then `set`, then `--env` overrides, then
//! `default` for what is still unset, then the `path` directories appended to PATH, then the
//! vault values of `[env] secrets`. A host variable
//! whose name looks like a secret is never passed, whether `pass` names it exactly or through a
//! glob: a secret enters the sandbox only from the vault (or as a value the operator writes
//! out in `set` or `--env`).

use std::collections::BTreeMap;

use crate::policy::Policy;

/// The PATH used when neither the profile nor the caller supplies one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Parts of variable names that carry credentials wherever they appear (case-insensitive).
const SECRET_PARTS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSW",
    "PASSPHRASE",
    "APIKEY",
    "API_KEY",
    "ACCESS_KEY",
    "ACCESSKEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
];

/// Words that carry credentials only as a whole `_`-separated word: `AUTH` in `NPM_AUTH` but not
/// in `GIT_AUTHOR_NAME`, `PASS` in `DB_PASS` but not in `PASSENGER_ENV`.
const SECRET_WORDS: &[&str] = &[
    "AUTH",
    "CRED",
    "CREDS",
    "PASS",
    "COOKIE",
    "COOKIES",
    "SESSIONID",
    "BEARER",
];

/// Prefixes of variables that belong to credential-bearing tools and clouds.
const SECRET_PREFIXES: &[&str] = &[
    "AWS_",
    "AZURE_",
    "GCP_",
    "GOOGLE_APPLICATION",
    "OPENAI_",
    "ANTHROPIC_",
    "GH_",
    "GITHUB_",
    "VAULT_",
    "NPM_CONFIG__AUTH",
];

/// Whole names that point at credentials (agent sockets, cluster configs).
const SECRET_NAMES: &[&str] = &["SSH_AUTH_SOCK", "KUBECONFIG", "DOCKER_AUTH_CONFIG", "NETRC"];

/// Variable names that usually carry credentials. Plain string checks: this runs on every
/// launch and must cost microseconds.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_PARTS.iter().any(|p| upper.contains(p))
        || upper.split('_').any(|word| SECRET_WORDS.contains(&word))
        || SECRET_PREFIXES.iter().any(|p| upper.starts_with(p))
        || SECRET_NAMES.contains(&upper.as_str())
}

/// What the environment step decided: the variables, and the secret-looking names withheld.
#[derive(Debug, Clone, Default)]
pub struct EnvPlan {
    pub vars: BTreeMap<String, String>,
    pub withheld: Vec<String>,
}

/// Compute the workload environment from the host environment `host`.
pub fn compile(
    policy: &Policy,
    host: &[(String, String)],
    overrides: &[(String, String)],
    proxy_port: Option<u16>,
) -> EnvPlan {
    let mut plan = EnvPlan::default();
    let (globs, exact): (Vec<&String>, Vec<&String>) = policy
        .env_pass
        .iter()
        .partition(|p| p.contains(['*', '?', '[']));
    // `LC_*`-shaped patterns match by prefix; a GlobSet (an automaton built on every launch)
    // only for the others. Patterns were validated when the profile loaded.
    let (prefixes, others): (Vec<&str>, Vec<&String>) = globs.iter().fold(
        (Vec::new(), Vec::new()),
        |(mut prefixes, mut others), pattern| {
            match pattern.strip_suffix('*') {
                Some(prefix) if !prefix.contains(['*', '?', '[']) => prefixes.push(prefix),
                _ => others.push(pattern),
            }
            (prefixes, others)
        },
    );
    let glob_set = if others.is_empty() {
        globset::GlobSet::empty()
    } else {
        let mut builder = globset::GlobSetBuilder::new();
        for pattern in &others {
            if let Ok(glob) = globset::Glob::new(pattern) {
                builder.add(glob);
            }
        }
        builder
            .build()
            .unwrap_or_else(|_| globset::GlobSet::empty())
    };
    let by_glob = |name: &str| {
        prefixes.iter().any(|p| name.starts_with(p))
            || (!others.is_empty() && glob_set.is_match(name))
    };
    for (name, value) in host {
        if !exact.contains(&name) && !by_glob(name) {
            continue;
        }
        if looks_secret(name) {
            plan.withheld.push(name.clone());
        } else {
            plan.vars.insert(name.clone(), value.clone());
        }
    }
    if let Some(port) = proxy_port {
        plan.vars.extend(crate::egress::proxy_env(port));
    }
    for (name, value) in policy
        .env_set
        .iter()
        .chain(overrides.iter().map(|(k, v)| (k, v)))
    {
        plan.vars.insert(name.clone(), value.clone());
    }
    // Defaults only fill what the host, `set` and `--env` left unset (CARGO_HOME passed from
    // the host wins over the profile's `{home}/.cargo`).
    for (name, value) in &policy.env_default {
        plan.vars
            .entry(name.clone())
            .or_insert_with(|| value.clone());
    }
    plan.vars
        .entry("PATH".into())
        .or_insert_with(|| DEFAULT_PATH.to_string());
    append_path(&mut plan.vars, &policy.env_path);
    plan
}

/// `[env] path`: each directory that exists on the host and is not on PATH yet goes at its end,
/// so the host's own order (a pyenv shim before /usr/bin) still wins.
fn append_path(vars: &mut BTreeMap<String, String>, dirs: &[std::path::PathBuf]) {
    let Some(path) = vars.get_mut("PATH") else {
        return;
    };
    for dir in dirs {
        let Some(text) = dir.to_str() else { continue };
        if path.split(':').any(|p| p == text) || !dir.is_dir() {
            continue;
        }
        if !path.is_empty() {
            path.push(':');
        }
        path.push_str(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_host_variables_are_dropped_even_when_named_exactly() {
        let policy = Policy {
            env_pass: vec!["GITHUB_TOKEN".into(), "*".into(), "LANG".into()],
            ..Policy::empty("t".into(), Vec::new())
        };
        let host = [
            ("GITHUB_TOKEN".to_string(), "ghp_x".to_string()),
            ("MISSY_VAULT_PASSPHRASE".to_string(), "p".to_string()),
            ("LANG".to_string(), "C".to_string()),
        ];
        let plan = compile(
            &policy,
            &host,
            &[("API_TOKEN".into(), "from-vault".into())],
            None,
        );
        assert!(!plan.vars.contains_key("GITHUB_TOKEN"));
        assert!(!plan.vars.contains_key("MISSY_VAULT_PASSPHRASE"));
        assert_eq!(plan.vars.get("LANG").map(String::as_str), Some("C"));
        assert_eq!(
            plan.vars.get("API_TOKEN").map(String::as_str),
            Some("from-vault")
        );
        assert_eq!(plan.withheld, ["GITHUB_TOKEN", "MISSY_VAULT_PASSPHRASE"]);
    }

    #[test]
    fn secret_names_are_recognised() {
        for name in [
            "GITHUB_TOKEN",
            "AWS_ACCESS_KEY_ID",
            "my_api_key",
            "DB_PASSWORD",
            "OPENAI_API_KEY",
            "SSH_AUTH_SOCK",
        ] {
            assert!(looks_secret(name), "{name}");
        }
        for name in ["NPM_AUTH", "MY_CREDS", "DB_PASS"] {
            assert!(looks_secret(name), "{name}");
        }
        for name in [
            "PATH",
            "LANG",
            "LC_ALL",
            "TERM",
            "HOME",
            "GIT_AUTHOR_NAME",
            "XDG_SESSION_TYPE",
            "PASSENGER_ENV",
        ] {
            assert!(!looks_secret(name), "{name}");
        }
    }

    #[test]
    fn defaults_fill_only_unset_names_and_path_gains_existing_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let policy = Policy {
            env_pass: vec!["PATH".into(), "CARGO_HOME".into()],
            env_default: [
                ("CARGO_HOME".to_string(), "/default/cargo".to_string()),
                ("RUSTUP_HOME".to_string(), "/default/rustup".to_string()),
            ]
            .into(),
            env_path: vec![bin.clone(), "/usr/bin".into(), dir.path().join("absent")],
            ..Policy::empty("t".into(), Vec::new())
        };
        let host = [
            ("PATH".to_string(), "/usr/bin:/bin".to_string()),
            ("CARGO_HOME".to_string(), "/host/cargo".to_string()),
        ];
        let plan = compile(&policy, &host, &[], None);
        assert_eq!(plan.vars["CARGO_HOME"], "/host/cargo");
        assert_eq!(plan.vars["RUSTUP_HOME"], "/default/rustup");
        assert_eq!(
            plan.vars["PATH"],
            format!("/usr/bin:/bin:{}", bin.display())
        );
    }
}
