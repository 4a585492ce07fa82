//! `missy-workloads`: run every real task of the workloads suite bare and under the `dev`
//! profile, as root and as uid 65534 when run as root; print the table with the time ratio
//! sandboxed/bare and `N passed, M failed, K skipped`; exit 1 on any failure.
//! `make workloads` installs what the tasks need and runs it.

use std::path::PathBuf;
use std::process::ExitCode;

use missy_hardening::suite::User;
use missy_hardening::workloads::{self, Config, Verdict};

const USAGE: &str = "\
usage: missy-workloads [--sandbox PATH] [--profile NAME] [--users root|nobody|both] [--only TASK]...
                       [--list]
  --sandbox  the missy-sandbox binary (default: the one next to this binary)
  --profile  the profile to run the tasks under (default: dev)
  --users    who runs (default: root and uid 65534 when root, else the current user)
  --only     run only these tasks
  --list     list the tasks and exit";

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("missy-workloads: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<ExitCode, String> {
    let here = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut sandbox = here.with_file_name("missy-sandbox");
    let mut users = missy_hardening::suite::report::default_users();
    let mut only = Vec::new();
    let mut profile = workloads::PROFILE.to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--sandbox" => sandbox = PathBuf::from(value()?),
            "--profile" => profile = value()?,
            "--users" => {
                users = match value()?.as_str() {
                    "root" | "current" => vec![User::Current],
                    "nobody" => vec![User::Nobody],
                    "both" => vec![User::Current, User::Nobody],
                    other => return Err(format!("unknown --users {other:?}")),
                }
            }
            "--only" => {
                let name = value()?;
                if !workloads::catalogue().any(|t| t.name == name) {
                    return Err(format!("no task named {name:?} (see --list)"));
                }
                only.push(name);
            }
            "--list" => {
                for t in workloads::catalogue() {
                    println!("{:<24} {}", t.name, t.what);
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
    if !sandbox.exists() {
        return Err(format!(
            "missy-sandbox not found at {} (build the workspace first, or pass --sandbox)",
            sandbox.display()
        ));
    }
    let config = Config {
        sandbox,
        profile: profile.clone(),
        users,
        only,
    };
    eprintln!(
        "missy-workloads: {} tasks under profile `{}`, each bare then sandboxed",
        workloads::catalogue().count(),
        profile
    );
    let cells = workloads::run(&config, |c| {
        let word = match &c.verdict {
            Verdict::Pass => "pass".to_string(),
            Verdict::Fail(why) => format!("FAIL: {why}"),
            Verdict::Skip(why) => format!("skip: {why}"),
        };
        eprintln!("  {:<24} {:<7} {word}", c.task, c.user.label());
    })?;
    print!("{}", workloads::report(&cells));
    let failed = cells.iter().any(|c| matches!(c.verdict, Verdict::Fail(_)));
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
