//! `MISSY_SANDBOX_CAP_FEATURES`: a test-only setting that makes the probe report less than the
//! kernel offers, so every degradation path runs on one machine. It can only take features
//! away, never add them: a mistaken value weakens nothing.
//!
//! Syntax: a comma-separated list of `landlock-abi=N` (report at most ABI N; 0 = no Landlock),
//! `no-userns`, `no-cgroup`, `no-seccomp`, `no-seccomp-notify`, and `userns-clone-fails` (the
//! probe sees user namespaces, but the clone into them fails with EPERM, as under a container
//! runtime's seccomp policy).

/// The variable's name.
pub const VAR: &str = "MISSY_SANDBOX_CAP_FEATURES";

/// What the setting takes away.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caps {
    pub landlock_abi: Option<u8>,
    pub no_userns: bool,
    pub no_cgroup: bool,
    pub no_seccomp: bool,
    pub no_seccomp_notify: bool,
    pub userns_clone_fails: bool,
    /// The items as written, for `check`.
    pub items: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{VAR}: `{item}` is not understood; expected a comma-separated list of landlock-abi=N (0-7), no-userns, no-cgroup, no-seccomp, no-seccomp-notify, userns-clone-fails"
)]
pub struct CapError {
    pub item: String,
}

impl Caps {
    /// Parse the setting's value.
    pub fn parse(value: &str) -> Result<Caps, CapError> {
        let mut caps = Caps::default();
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let bad = || CapError { item: item.into() };
            match item {
                "no-userns" => caps.no_userns = true,
                "no-cgroup" => caps.no_cgroup = true,
                "no-seccomp" => caps.no_seccomp = true,
                "no-seccomp-notify" => caps.no_seccomp_notify = true,
                "userns-clone-fails" => caps.userns_clone_fails = true,
                _ => {
                    let abi = item
                        .strip_prefix("landlock-abi=")
                        .and_then(|n| n.parse::<u8>().ok())
                        .filter(|n| *n <= 7)
                        .ok_or_else(bad)?;
                    caps.landlock_abi = Some(abi);
                }
            }
            caps.items.push(item.to_string());
        }
        Ok(caps)
    }

    /// The caps the environment asks for; none when the variable is unset.
    pub fn from_env() -> Result<Caps, CapError> {
        match std::env::var(VAR) {
            Ok(v) => Caps::parse(&v),
            Err(_) => Ok(Caps::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_item_and_rejects_unknown_ones() {
        let caps = Caps::parse("landlock-abi=3, no-userns,no-cgroup,no-seccomp").unwrap();
        assert_eq!(caps.landlock_abi, Some(3));
        assert!(caps.no_userns && caps.no_cgroup && caps.no_seccomp);
        assert!(!caps.no_seccomp_notify);
        assert_eq!(caps.items.len(), 4);
        assert_eq!(Caps::parse("").unwrap(), Caps::default());
        for bad in [
            "landlock-abi=8",
            "landlock-abi=x",
            "more-userns",
            "no_userns",
        ] {
            let err = Caps::parse(bad).unwrap_err();
            assert_eq!(err.item, bad);
            assert!(err.to_string().contains("no-userns"), "{err}");
        }
    }
}
