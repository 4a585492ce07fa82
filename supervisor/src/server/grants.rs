//! Who may talk to the daemon, and which profiles each may run under (`--allow-uid
//! UID[:PROFILES]`). A client names a profile; it can never pick one it is not granted, and a
//! profile given as a path is only usable when granted verbatim (a path would let a client
//! bring its own rules). [`described`] lists a client's profiles for its `profiles` request.

use std::collections::BTreeMap;

use super::protocol::ProfileInfo;

/// The profiles one client may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Profiles {
    /// Any profile found by name (never a path).
    AnyByName,
    /// Exactly these.
    Only(Vec<String>),
}

impl Profiles {
    pub fn permits(&self, profile: &str) -> bool {
        match self {
            Profiles::AnyByName => {
                !crate::policy::resolve::is_explicit_path(profile) && !profile.starts_with('.')
            }
            Profiles::Only(list) => list.iter().any(|p| p == profile),
        }
    }
}

/// Grants by peer uid; `any` covers every peer (the broker's private socket).
#[derive(Debug, Clone, Default)]
pub struct Grants {
    pub by_uid: BTreeMap<u32, Profiles>,
    pub any: Option<Profiles>,
}

impl Grants {
    /// From `--allow-uid` values; none: only the daemon's own uid, any profile by name.
    pub fn parse(values: &[String], own_uid: u32) -> Result<Grants, String> {
        let mut grants = Grants::default();
        for value in values {
            let (uid, profiles) = match value.split_once(':') {
                Some((uid, list)) => (uid, Some(list)),
                None => (value.as_str(), None),
            };
            let uid: u32 = uid.trim().parse().map_err(|_| {
                format!(
                    "--allow-uid {value}: expected UID or UID:PROFILE[,PROFILE...] (a numeric uid)"
                )
            })?;
            let profiles = match profiles {
                None => Profiles::AnyByName,
                Some(list) => {
                    let names: Vec<String> = list
                        .split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(str::to_string)
                        .collect();
                    if names.is_empty() {
                        return Err(format!(
                            "--allow-uid {value}: expected at least one profile after `:`"
                        ));
                    }
                    Profiles::Only(names)
                }
            };
            if grants.by_uid.insert(uid, profiles).is_some() {
                return Err(format!("--allow-uid: uid {uid} is given twice"));
            }
        }
        if grants.by_uid.is_empty() {
            grants.by_uid.insert(own_uid, Profiles::AnyByName);
        }
        Ok(grants)
    }

    pub fn for_uid(&self, uid: u32) -> Option<&Profiles> {
        self.by_uid.get(&uid).or(self.any.as_ref())
    }
}

/// The profiles a client may use, each described (those that do not load are left out).
pub fn described(granted: &Profiles) -> Vec<ProfileInfo> {
    let names: Vec<String> = match granted {
        Profiles::Only(list) => list.clone(),
        Profiles::AnyByName => {
            let mut names: Vec<String> = crate::policy::resolve::search_dirs()
                .iter()
                .filter_map(|dir| std::fs::read_dir(dir).ok())
                .flat_map(|entries| entries.flatten())
                .filter_map(|e| {
                    let p = e.path();
                    (p.extension()? == "toml").then_some(())?;
                    Some(p.file_stem()?.to_string_lossy().into_owned())
                })
                .chain(
                    crate::policy::resolve::SHIPPED
                        .iter()
                        .map(|(n, _)| n.to_string()),
                )
                .collect();
            names.sort();
            names.dedup();
            names
        }
    };
    let ctx = crate::policy::Context {
        workspace: std::path::PathBuf::from("/"),
        home: crate::commands::home_dir(),
        cwd: std::path::PathBuf::from("/"),
    };
    names
        .into_iter()
        .filter_map(|name| {
            let policy = crate::policy::load(&name, &ctx).ok()?;
            Some(ProfileInfo {
                name,
                description: policy.description,
                network: serde_json::to_value(policy.network)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                wall_time_ms: policy.limits.wall_time.map(|d| d.0),
                env_pass: policy.env_pass,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_own_uid_by_name() {
        let g = Grants::parse(&[], 1000).unwrap();
        assert_eq!(g.for_uid(1000), Some(&Profiles::AnyByName));
        assert_eq!(g.for_uid(0), None);
        assert!(g.for_uid(1000).unwrap().permits("dev"));
        assert!(!g.for_uid(1000).unwrap().permits("/tmp/evil.toml"));
        assert!(!g.for_uid(1000).unwrap().permits("evil.toml"));
    }

    #[test]
    fn lists_restrict_and_errors_say_what_is_expected() {
        let g = Grants::parse(&["65534:strict,dev".into()], 0).unwrap();
        let p = g.for_uid(65534).unwrap();
        assert!(p.permits("dev") && !p.permits("base"));
        assert!(g.for_uid(0).is_none());
        assert!(
            Grants::parse(&["bob".into()], 0)
                .unwrap_err()
                .contains("numeric uid")
        );
        assert!(
            Grants::parse(&["1:".into()], 0)
                .unwrap_err()
                .contains("at least one")
        );
        assert!(Grants::parse(&["1".into(), "1:dev".into()], 0).is_err());
    }
}
