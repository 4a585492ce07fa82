//! The `missy-sandbox` binary.

use std::process::ExitCode;

use missy_supervisor::cli::{Cli, Command, LogFormat, ProfileCommand};
use missy_supervisor::commands;

fn main() -> ExitCode {
    // `check`'s user-namespace trial needs a process that has started nothing yet.
    if std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new("__probe-userns")) {
        return probe_userns();
    }
    // `selftest` runs the escape probes from this same binary: `__probe NAME ARGS...`.
    if std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new("__probe")) {
        let args: Vec<std::ffi::OsString> = std::env::args_os().skip(2).collect();
        return missy_hardening::probe::main_with_prefix(&["__probe"], &args);
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `exec` starts the sandbox's pid 1 first, while this process is single-threaded: it
    // creates its namespaces and the base of its root while the command line is parsed and
    // the profile loaded.
    let exec_at = Cli::exec_position(&args);
    let mut prestarted = exec_at
        .is_some()
        .then(commands::launch::Prestarted::for_this_process);
    let cli = Cli::parse_words_at(args, exec_at);
    init_logging(cli.global.log_level.as_deref(), cli.global.log_format);
    if !matches!(cli.command, Command::Exec(_))
        && let Some(Ok(unused)) = prestarted.take()
    {
        unused.abort();
    }
    if !matches!(
        cli.command,
        Command::Exec(_) | Command::Serve(_) | Command::Mcp(_) | Command::McpGateway(_)
    ) {
        // Reports piped into `head` end quietly when the reader goes, as other tools do, instead
        // of panicking on EPIPE (Rust ignores SIGPIPE). `exec` keeps ignoring it: the supervisor
        // must outlive a closed pipe to tear its sandbox down, `serve` outlives its clients, and
        // `mcp` ends its calls' sandboxes itself when the client goes.
        // SAFETY: restoring the default disposition of one signal before any thread exists.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let code = match cli.command {
        Command::Exec(args) => {
            commands::exec::run(args, cli.global.audit_log.as_deref(), prestarted)
        }
        Command::Audit(cmd) => commands::audit::run(cmd, cli.global.audit_log.as_deref()),
        Command::Changes(cmd) => commands::changes::run(cmd),
        Command::Serve(args) => commands::serve::run(args, cli.global.audit_log.as_deref()),
        Command::Mcp(args) => commands::mcp::run(args, cli.global.audit_log.as_deref()),
        Command::McpGateway(args) => commands::gateway::run(args, cli.global.audit_log.as_deref()),
        Command::Check { json } => commands::check::run(json),
        Command::Fetch(args) => commands::fetch::run(args, cli.global.audit_log.as_deref()),
        Command::Selftest(args) => commands::selftest::run(args),
        Command::Vault(args) => commands::vault::run(args),
        Command::Profile(ProfileCommand::List) => commands::profile::list(),
        Command::Profile(ProfileCommand::Show { profile, workspace }) => {
            commands::profile::show(&profile, workspace.as_deref())
        }
        Command::Profile(ProfileCommand::Validate { file }) => commands::profile::validate(&file),
        Command::Profile(ProfileCommand::Explain { profile, workspace }) => {
            commands::profile::explain(&profile, workspace.as_deref())
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn init_logging(level: Option<&str>, format: LogFormat) {
    let filter = level
        .map(str::to_string)
        .or_else(|| std::env::var("MISSY_LOG").ok())
        .unwrap_or_else(|| "warn".to_string());
    // A plain level is the common case and needs no directive parsing (whose regexes would be
    // compiled at every launch); a full filter expression is parsed only when one is given.
    let env_filter = match filter.parse::<tracing_subscriber::filter::LevelFilter>() {
        Ok(level) => tracing_subscriber::EnvFilter::builder()
            .with_default_directive(level.into())
            .parse_lossy(""),
        Err(_) => tracing_subscriber::EnvFilter::new(filter),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(missy_supervisor::secrets::guard::GuardedStderr::default)
        .with_target(false);
    // Each line carries the run's span (its `run` id) in both formats.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
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
