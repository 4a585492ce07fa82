//! `missy-hardening`: run every escape scenario unsandboxed and under every shipped profile,
//! as root and as uid 65534 when run as root, print the table and `N passed, M failed`; exit 1
//! on any failure. `make hardening` runs it; `--markdown` writes docs/hardening.md.
//!
//! By default the binaries are the `missy-sandbox` and `missy-probe` next to this one (the same
//! cargo target directory).

use std::path::PathBuf;
use std::process::ExitCode;

use missy_hardening::suite::{self, Config, Mode, ProbeProgram, User, report};

const USAGE: &str = "\
usage: missy-hardening [--sandbox PATH] [--probe PATH] [--profile NAME]... [--users root|nobody|both]
                       [--jobs N] [--only SCENARIO]... [--mode namespaces|no-namespace]
                       [--markdown] [--list]
  --profile   profiles to run under (default: base strict dev ci-strict)
  --users     who runs the supervisor (default: root and nobody when root, else the current user)
  --mode      no-namespace: launch as on a host without user namespaces (profiles made
              best-effort); scenarios that path cannot stop are marked `expected`
  --markdown  print docs/hardening.md instead of the table (the table goes to stderr)
  --list      list the scenarios and exit";

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("missy-hardening: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<ExitCode, String> {
    let here = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut sandbox = here.with_file_name("missy-sandbox");
    let mut probe = here.with_file_name("missy-probe");
    let mut profiles = Vec::new();
    let mut users = report::default_users();
    let mut jobs = 4;
    let mut only = Vec::new();
    let mut markdown = false;
    let mut mode = Mode::Namespaces;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--sandbox" => sandbox = PathBuf::from(value()?),
            "--probe" => probe = PathBuf::from(value()?),
            "--profile" => profiles.push(value()?),
            "--users" => {
                users = match value()?.as_str() {
                    "root" | "current" => vec![User::Current],
                    "nobody" => vec![User::Nobody],
                    "both" => vec![User::Current, User::Nobody],
                    other => return Err(format!("unknown --users {other:?}")),
                }
            }
            "--jobs" => jobs = value()?.parse().map_err(|_| "--jobs needs a number")?,
            "--only" => only.push(value()?),
            "--mode" => {
                mode = match value()?.as_str() {
                    "namespaces" => Mode::Namespaces,
                    "no-namespace" => Mode::NoNamespaces,
                    other => return Err(format!("unknown --mode {other:?}")),
                }
            }
            "--markdown" => markdown = true,
            "--list" => {
                for s in suite::scenarios::catalogue() {
                    println!(
                        "{:<20} {:<17} {:<11} {}",
                        s.name,
                        s.probe.unwrap_or("-"),
                        s.area.name(),
                        s.threat
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if profiles.is_empty() {
        profiles = ["base", "strict", "dev", "ci-strict"]
            .map(String::from)
            .to_vec();
    }
    for (what, p) in [("missy-sandbox", &sandbox), ("missy-probe", &probe)] {
        if !p.exists() {
            return Err(format!(
                "{what} not found at {} (build the workspace first, or pass its path)",
                p.display()
            ));
        }
    }
    let config = Config {
        sandbox,
        probe: ProbeProgram::missy_probe(probe),
        profiles,
        users,
        jobs,
        only,
        mode,
    };
    let r = suite::run(&config)?;
    let table = report::text(&r);
    if markdown {
        eprint!("{table}");
        print!("{}", report::markdown(&r, &report::today()));
    } else {
        print!("{table}");
    }
    Ok(if r.count(suite::Status::Fail) == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
