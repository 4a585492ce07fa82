//! Scenarios: inherited descriptors, the environment, the supervisor's memory, the vault.

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
        name: "vault",
        probe: None,
        area: Area::Secrets,
        threat: "read vault secrets not granted to this run",
        mechanism: "vault, env.secrets (planned)",
        pending: Some("no vault yet"),
        exclusive: false,
        prepare: plain!(),
    },
];
