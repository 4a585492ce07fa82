//! The `missy-sandbox` binary.

use std::process::ExitCode;

use clap::Parser;
use missy_supervisor::cli::{Cli, Command, ProfileCommand};
use missy_supervisor::{commands, init};

fn main() -> ExitCode {
    // The sandbox's init must start before anything else (a runtime, a logger thread): it needs
    // a single-threaded process to create namespaces in.
    match std::env::args_os()
        .nth(1)
        .as_deref()
        .and_then(|a| a.to_str())
    {
        Some("__init") => init::main(),
        Some("__probe-userns") => return probe_userns(),
        _ => {}
    }
    let cli = Cli::parse();
    init_logging(cli.log.as_deref());
    let code = match cli.command {
        Command::Exec(args) => commands::exec::run(args),
        Command::Check { json } => commands::check::run(json),
        Command::Profile(ProfileCommand::List) => commands::profile::list(),
        Command::Profile(ProfileCommand::Show { profile, workspace }) => {
            commands::profile::show(&profile, workspace.as_deref())
        }
        Command::Profile(ProfileCommand::Validate { file }) => commands::profile::validate(&file),
        Command::Profile(ProfileCommand::Explain { profile, workspace }) => {
            commands::profile::explain(&profile, workspace.as_deref())
        }
        Command::Init => init::main(),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn init_logging(level: Option<&str>) {
    let filter = level
        .map(str::to_string)
        .or_else(|| std::env::var("MISSY_LOG").ok())
        .unwrap_or_else(|| "warn".to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// `check`'s trial: can this user create a user namespace? Runs single-threaded, before any
/// runtime.
fn probe_userns() -> ExitCode {
    match nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("unshare(CLONE_NEWUSER): {e}");
            ExitCode::FAILURE
        }
    }
}
