//! Scenarios: inherited descriptors, the environment, the supervisor's memory, the vault (its
//! files, values the run was not given, and values it was given printed to the output).

use super::*;

pub(super) static SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "inherited-fd",
        probe: Some("inherited-fd"),
        area: Area::Secrets,
        threat: "read a secret through an inherited file descriptor",
        mechanism: "every descriptor above 3 closed before the workload starts",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let mut a = Attempt::new(&["7"]);
            a.inherit_fd = Some((secret(fx)?.into(), 7));
            Ok(a)
        },
    },
    Scenario {
        name: "env-token",
        probe: Some("env"),
        area: Area::Secrets,
        threat: "read a secret from the environment (GITHUB_TOKEN)",
        mechanism: "environment cleared and rebuilt from the profile",
        pending: None,
        exclusive: false,
        prepare: |_, _| {
            let mut a = Attempt::new(&["GITHUB_TOKEN"]);
            a.env.push(("GITHUB_TOKEN".into(), "ghp_s3cr3t".into()));
            Ok(a)
        },
    },
    Scenario {
        name: "env-glob-secret",
        probe: Some("env"),
        area: Area::Secrets,
        threat: "a secret slipping through a pass-through glob (LC_API_TOKEN via LC_*)",
        mechanism: "secret-looking names never pass through a glob",
        pending: None,
        exclusive: false,
        prepare: |_, _| {
            let mut a = Attempt::new(&["LC_API_TOKEN"]);
            a.env.push(("LC_API_TOKEN".into(), "s3cr3t".into()));
            Ok(a)
        },
    },
    Scenario {
        name: "supervisor-environ",
        probe: Some("proc-environ"),
        area: Area::Secrets,
        threat: "read the supervisor's environment from the sandbox's pid 1 (its clone)",
        mechanism: "pid 1 non-dumpable; no CAP_SYS_PTRACE; Landlock ptrace scope",
        pending: None,
        exclusive: false,
        prepare: |fx, side| {
            let marker = format!("MISSY_SUPERVISOR_SECRET_{}", fx.tag);
            let mut a;
            if side.is_control() {
                // Unsandboxed there is no pid 1 of ours: read a host process holding the secret.
                let victim = sleeper(fx, &[("SOME_SUPERVISOR_SECRET", &marker)])?;
                a = Attempt::new(&[victim.pid().to_string(), marker.clone()]);
                a.victims.push(victim);
            } else {
                a = Attempt::new(&["1".to_string(), marker.clone()]);
            }
            a.env.push(("SOME_SUPERVISOR_SECRET".into(), marker));
            Ok(a)
        },
    },
    Scenario {
        name: "vault-file",
        probe: Some("read-file"),
        area: Area::Secrets,
        threat: "read the vault's key file (and with it every value in the vault)",
        mechanism: "the vault directory (~/.config) is neither mounted nor granted (mount namespace, Landlock)",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let dir = vault(fx, &[("granted", &value(fx, "granted"))])?;
            let mut a = Attempt::new(&[super::s(&dir.join("vault.key"))]);
            a.env.push(("MISSY_VAULT_DIR".into(), super::s(&dir)));
            Ok(a)
        },
    },
    Scenario {
        name: "vault-unnamed",
        probe: Some("env-value"),
        area: Area::Secrets,
        threat: "a vault value the profile does not name reaching the workload's environment",
        mechanism: "only the names in [env] secrets are read from the vault; environment rebuilt from the profile",
        pending: None,
        exclusive: false,
        prepare: |fx, side| {
            let (granted, other) = (value(fx, "granted"), value(fx, "other"));
            let dir = vault(fx, &[("granted", &granted), ("other", &other)])?;
            let mut a = Attempt::new(&[GRANTED_VAR, &other]);
            a.env.push(("MISSY_VAULT_DIR".into(), super::s(&dir)));
            a.profile_extra = Some(GRANT.into());
            if side.is_control() {
                // Unsandboxed nothing reads the vault: a shell that exported both values is
                // the leak the probe must be able to see.
                a.env.push((GRANTED_VAR.into(), granted));
                a.env.push(("OTHER_TOKEN".into(), other));
            }
            Ok(a)
        },
    },
    Scenario {
        name: "vault-print",
        probe: Some("print-env"),
        area: Area::Secrets,
        threat: "print a vault value the run was given, plain or base64, to carry it out through the output",
        mechanism: "the run's vault values, in every encoding, are exact values of the output censor (***)",
        pending: None,
        exclusive: false,
        prepare: |fx, side| {
            let granted = value(fx, "granted");
            let dir = vault(fx, &[("granted", &granted)])?;
            let mut a = Attempt::new(&[GRANTED_VAR]);
            a.env.push(("MISSY_VAULT_DIR".into(), super::s(&dir)));
            a.profile_extra = Some(GRANT.into());
            a.leaks = vec![
                granted.clone(),
                crate::probe::secrets::base64(granted.as_bytes()),
            ];
            if side.is_control() {
                // Unsandboxed the value is simply in the environment, and nothing censors.
                a.env.push((GRANTED_VAR.into(), granted));
            }
            Ok(a)
        },
    },
];

/// The variable the vault scenarios' profile fills from the vault.
const GRANTED_VAR: &str = "GRANTED_TOKEN";

/// Added to the column's profile: one vault value, by name.
const GRANT: &str = "[env]\nsecrets = { GRANTED_TOKEN = \"vault://granted\" }\n";

/// A value unique to this cell (so a leak cannot be an echo of another cell's).
fn value(fx: &Fixture, name: &str) -> String {
    format!("vault-{name}-{}-Zq8", fx.tag)
}

/// A key-file vault where the supervisor looks by default ($HOME/.config/missy-sandbox, HOME
/// being the cell's root), created by `missy-sandbox vault` as the cell's user.
fn vault(fx: &Fixture, entries: &[(&str, &str)]) -> Result<std::path::PathBuf, Skip> {
    let dir = fx.dir.root.join(".config").join("missy-sandbox");
    let run = |args: &[&str], stdin: &str| -> Result<(), Skip> {
        let mut child = fx
            .user
            .command(&fx.env.sandbox)
            .args(args)
            .env("MISSY_VAULT_DIR", &dir)
            .env("HOME", &fx.dir.root)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| err("missy-sandbox vault", e))?;
        if let Some(mut input) = child.stdin.take() {
            std::io::Write::write_all(&mut input, stdin.as_bytes())
                .map_err(|e| err("vault value", e))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| err("missy-sandbox vault", e))?;
        if !out.status.success() {
            return Err(err(
                &format!("missy-sandbox {}", args.join(" ")),
                String::from_utf8_lossy(&out.stderr).trim(),
            ));
        }
        Ok(())
    };
    run(&["vault", "init"], "")?;
    for (name, value) in entries {
        run(&["vault", "set", name], &format!("{value}\n"))?;
    }
    Ok(dir)
}
