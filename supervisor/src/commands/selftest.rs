//! `missy-sandbox selftest`: the hardening suite on this machine's kernel, with the probes taken
//! from this binary (`missy-sandbox __probe NAME`), so an installed copy needs nothing else.

use missy_hardening::suite::{self, Config, ProbeProgram, Status, User, report};

use crate::cli::SelftestArgs;
use crate::commands::{EXIT_BAD_INPUT, report as report_error};

pub fn run(args: SelftestArgs) -> i32 {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            report_error(&format!("cannot find this binary: {e}"));
            return 1;
        }
    };
    let profiles = if args.profiles.is_empty() {
        ["base", "strict", "dev", "ci-strict"]
            .map(String::from)
            .to_vec()
    } else {
        args.profiles
    };
    let mut users = vec![User::Current];
    if args.also_nobody {
        if !nix::unistd::geteuid().is_root() {
            report_error(&"--also-nobody needs root (it runs cells through setpriv)");
            return EXIT_BAD_INPUT;
        }
        users.push(User::Nobody);
    }
    let config = Config {
        sandbox: exe.clone(),
        probe: ProbeProgram {
            path: exe,
            prefix: vec!["__probe".into()],
            by_link_name: false,
        },
        profiles,
        users,
        jobs: args.jobs.max(1),
        only: args.only,
        mode: Default::default(),
    };
    match suite::run(&config) {
        Ok(r) => {
            print!("{}", report::text(&r));
            print!("{}", report::enforcement_summary(&r));
            i32::from(r.count(Status::Fail) > 0)
        }
        Err(e) => {
            report_error(&e);
            1
        }
    }
}
