//! Command-line interface (clap types only; the commands live in `commands/`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod serving;
use serving::{GATEWAY_ABOUT, GATEWAY_AFTER_HELP, MCP_ABOUT, MCP_AFTER_HELP, SERVE_ABOUT};
pub use serving::{GatewayArgs, GatewayCommand, McpArgs, ServeArgs};

const ABOUT: &str = "Run untrusted tools and AI-agent tool calls in a kernel-enforced sandbox";

const LONG_ABOUT: &str = "\
missy-sandbox runs a command in a sandbox built from a declarative profile. The kernel enforces \
every control: new user, mount, pid, network, ipc, uts and cgroup namespaces; Landlock file \
and TCP rules; a seccomp deny-list; no capabilities and no_new_privs; resource limits; and a \
wall clock. Nothing started inside outlives the run.

Profiles are TOML files found by name in ./sandbox-profiles, ~/.config/missy-sandbox/profiles, \
/etc/missy-sandbox/profiles, or among the profiles built into this binary (base, strict, dev, \
ci-strict). The default profile is `strict`.";

const AFTER_HELP: &str = "\
EXIT STATUS
  exec returns the command's own exit status, or:
    124  the wall-time limit was reached and the sandbox was killed
    125  the sandbox could not be set up (the failing step and errno are printed)
    126  the command was found but could not be executed
    127  the command was not found inside the sandbox
    128+N  the command was killed by signal N
  Other commands: 0 success, 1 a check failed, 2 bad input (a profile or argument error).

EXAMPLES
  missy-sandbox exec -- sh -c 'echo hi'
  missy-sandbox exec --profile dev --workspace . -- cargo test
  missy-sandbox fetch --profile registry https://crates.io/ -o index.html
  missy-sandbox check
  missy-sandbox selftest --profile strict
  missy-sandbox profile explain strict";

#[derive(Debug, Parser)]
#[command(name = "missy-sandbox", version, about = ABOUT, long_about = LONG_ABOUT, after_long_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Log verbosity for missy-sandbox itself (error, warn, info, debug, trace, or a tracing
    /// filter such as `missy_supervisor=debug`); also MISSY_LOG. Logs go to stderr.
    #[arg(
        long = "log-level",
        visible_alias = "log",
        global = true,
        value_name = "LEVEL"
    )]
    pub log_level: Option<String>,

    /// Format of missy-sandbox's own log lines on stderr.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    /// Audit log file, or `off`; also MISSY_AUDIT_LOG. Default: the profile's `[audit] path`,
    /// else /var/log/missy-sandbox/audit.jsonl (root) or
    /// $XDG_STATE_HOME/missy-sandbox/audit.jsonl.
    #[arg(long, global = true, value_name = "FILE")]
    pub audit_log: Option<String>,
}

impl Cli {
    /// Parse the command line. `exec` starts every sandbox, so its path is kept short: when the
    /// first argument is `exec`, only its own options and the global ones are built and parsed
    /// (building the whole command tree costs a good part of a launch). Anything that short
    /// parser does not accept, `--help` included, goes to the full parser, so help and error
    /// messages are the same either way.
    pub fn parse_args() -> Cli {
        Cli::parse_words(std::env::args_os().collect())
    }

    /// [`Cli::parse_args`] on the given words (the program name first).
    pub fn parse_words(args: Vec<std::ffi::OsString>) -> Cli {
        let exec_at = Cli::exec_position(&args);
        Cli::parse_words_at(args, exec_at)
    }

    /// [`Cli::parse_words`] with `exec`'s position already found ([`Cli::exec_position`]).
    pub fn parse_words_at(args: Vec<std::ffi::OsString>, exec_at: Option<usize>) -> Cli {
        if let Some(at) = exec_at {
            // `exec`'s own parser knows the global options too, so the words before `exec`
            // keep their meaning when `exec` leads.
            let mut reordered = vec![args[at].clone()];
            reordered.extend(args[1..at].iter().cloned());
            reordered.extend(args[at + 1..].iter().cloned());
            if let Some(cli) = Cli::parse_exec(&reordered) {
                return cli;
            }
        }
        Cli::parse_from(args)
    }

    /// Where the `exec` subcommand is, when only global options come before it. Anything else
    /// (another subcommand, an unknown option, `--help`) is left to the full parser. `main`
    /// starts the sandbox's pid 1 when it is found, before the words are parsed.
    pub fn exec_position(args: &[std::ffi::OsString]) -> Option<usize> {
        let globals = GlobalArgs::augment_args(clap::Command::new("globals"));
        let mut at = 1;
        loop {
            let word = args.get(at)?.to_str()?;
            if word == "exec" {
                return Some(at);
            }
            let (name, inline_value) = match word.split_once('=') {
                Some((name, _)) => (name, true),
                None => (word, false),
            };
            let option = globals.get_arguments().find(|a| {
                let long = name.strip_prefix("--");
                let short = name.strip_prefix('-').filter(|s| s.chars().count() == 1);
                long.is_some_and(|l| {
                    a.get_long() == Some(l) || a.get_all_aliases().is_some_and(|al| al.contains(&l))
                }) || short.is_some_and(|s| a.get_short().map(String::from).as_deref() == Some(s))
            })?;
            // An option that takes a value consumes the next word unless it came after `=`.
            at += if option.get_action().takes_values() && !inline_value {
                2
            } else {
                1
            };
        }
    }

    fn parse_exec(args: &[std::ffi::OsString]) -> Option<Cli> {
        use clap::FromArgMatches;
        let command = clap::Command::new("exec")
            .disable_help_flag(true)
            .disable_version_flag(true);
        let command = GlobalArgs::augment_args(ExecArgs::augment_args(command));
        let matches = command.try_get_matches_from(args).ok()?;
        Some(Cli {
            global: GlobalArgs::from_arg_matches(&matches).ok()?,
            command: Command::Exec(ExecArgs::from_arg_matches(&matches).ok()?),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line (for journald, Vector, Fluent Bit, OpenTelemetry).
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command inside the sandbox.
    #[command(
        long_about = "Run CMD with ARGS inside a sandbox built from the profile. stdin, stdout and \
stderr pass through unchanged (pipes and terminals both work). The environment is cleared to \
what the profile passes and sets; secret-looking variables are never passed through a glob."
    )]
    Exec(ExecArgs),

    /// Serve the sandbox protocol on a Unix socket: each request runs in a fresh sandbox.
    #[command(long_about = SERVE_ABOUT)]
    Serve(ServeArgs),

    /// Serve MCP over stdio: tools that each run in a fresh sandbox under one profile.
    #[command(long_about = MCP_ABOUT, after_long_help = MCP_AFTER_HELP)]
    Mcp(McpArgs),

    /// Stand between an MCP client and third-party MCP servers, each confined in a sandbox
    /// under its own profile; what they send is censored and screened.
    #[command(name = "mcp-gateway", long_about = GATEWAY_ABOUT, after_long_help = GATEWAY_AFTER_HELP, args_conflicts_with_subcommands = true)]
    McpGateway(GatewayArgs),

    /// Report which controls this kernel can enforce, and whether each shipped profile can run
    /// strictly here. Exits 1 when the default profile cannot.
    Check {
        /// Print machine-readable JSON instead of a table.
        #[arg(long)]
        json: bool,
    },

    /// Fetch one URL under a profile's egress rules, without running a process.
    #[command(
        long_about = "GET one http or https URL under the profile's [network] rules (mode = \"proxy\"): \
the host must match `allow` (or an IP address `allow_cidrs`), names are resolved by missy-sandbox \
and only addresses outside the blocked ranges (or inside `allow_cidrs`) are contacted. Redirects \
are not followed: the redirect and its target are reported. The body goes to stdout or to -o FILE, \
cut at `fetch_max_size` (default 50MiB). https certificates are verified against the system's roots.\n\n\
Exit status: 0 a 2xx response; 1 another status or a network failure; 2 bad input; 3 a redirect \
(not followed); 4 refused by the profile; 5 the response exceeded the size limit."
    )]
    Fetch(FetchArgs),

    /// List, show, apply and discard the change sets of overlay-mode runs.
    #[command(
        subcommand,
        long_about = "Manage the change sets that `exec --workspace-mode overlay` leaves (with --on-exit keep, the default): `list` them, `show` one as a unified diff, `apply` it to its workspace or `discard` it. Change sets live in /var/lib/missy-sandbox/changes for root and in $XDG_STATE_HOME/missy-sandbox/changes (~/.local/state/...) for anyone else; the environment variable MISSY_SANDBOX_CHANGES names another directory."
    )]
    Changes(crate::commands::changes::ChangesCommand),

    /// List, show, validate and explain profiles.
    #[command(subcommand)]
    Profile(ProfileCommand),

    /// Run the escape probes on this kernel, without the sandbox and under each profile, and
    /// print what is and is not enforced here. Exits 1 if any escape succeeds.
    #[command(
        long_about = "Run every escape probe of the hardening suite on this machine: once without the sandbox (the attempt must succeed, so the check can fail; a denial the kernel gives this user anyway is a skip with its reason) and once under each profile (it must be blocked; host-side evidence such as a listener that saw a connection or a process that outlived the run also fails it). Prints the table, the skips with their reasons, a summary of what this kernel enforces, and `N passed, M failed`. Exits 0 when nothing failed, 1 otherwise."
    )]
    Selftest(SelftestArgs),

    /// Read and verify the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),

    /// Store secrets for `[env] secrets = { NAME = "vault://KEY" }`, encrypted at rest.
    #[command(long_about = VAULT_ABOUT, after_long_help = VAULT_AFTER_HELP)]
    Vault(VaultArgs),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain through the log and its rotated files; exits 1 and names the first
    /// edited, missing or reordered record.
    Verify {
        /// The log (default: the audit log location). Its rotated files are checked with it.
        file: Option<PathBuf>,
    },
    /// Print the last records.
    Tail {
        /// How many records.
        #[arg(short = 'n', long, value_name = "N", default_value_t = 10)]
        lines: usize,
        /// The log (default: the audit log location).
        file: Option<PathBuf>,
    },
    /// Print the records of one run, or those since a time.
    Show {
        /// Only this run id.
        #[arg(long, value_name = "ID", required_unless_present = "since")]
        run: Option<String>,
        /// Only records at or after this RFC 3339 time (e.g. 2025-06-01T12:00:00Z) or this long
        /// ago (e.g. 10m, 2h).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// The log (default: the audit log location).
        file: Option<PathBuf>,
    },
}

const VAULT_ABOUT: &str = "\
Manage the vault: named secrets that a profile hands to a sandboxed command through \
`[env] secrets = { NAME = \"vault://KEY\" }`, and that the output censor then replaces with *** \
wherever the command prints them (also base64- or URL-encoded).

Each value is sealed with ChaCha20-Poly1305 under a fresh random nonce, bound to its name. The \
key is 32 random bytes in DIR/vault.key (mode 0600, directory 0700), or, with `init \
--passphrase`, derived with argon2id from the passphrase in $MISSY_VAULT_PASSPHRASE (for \
headless use; the variable is never passed to a sandbox). Every change replaces the file \
atomically, so a crash loses nothing. Values are read from stdin, or prompted for on a \
terminal without echo; never from the command line, where other users could see them.";

const VAULT_AFTER_HELP: &str = "\
FILES
  DIR/vault.json   the sealed entries (JSON)
  DIR/vault.key    the key, for key-file vaults
  DIR is --vault-dir, else $MISSY_VAULT_DIR, else $XDG_CONFIG_HOME/missy-sandbox, else
  ~/.config/missy-sandbox.

ENVIRONMENT
  MISSY_VAULT_PASSPHRASE      passphrase of a passphrase vault
  MISSY_VAULT_NEW_PASSPHRASE  the new passphrase for `rotate-key` on a passphrase vault

EXIT STATUS
  0 success; 1 the vault could not be read or changed (missing, wrong key, damaged or tampered:
  the file is left as it was); 2 bad input (an invalid name, an empty value).

EXAMPLES
  missy-sandbox vault init
  printf %s \"$TOKEN\" | missy-sandbox vault set github
  missy-sandbox vault set github            # prompts on the terminal
  missy-sandbox vault list
  missy-sandbox vault rotate-key";

#[derive(Debug, Args)]
pub struct VaultArgs {
    /// Directory holding vault.json and vault.key (default: $MISSY_VAULT_DIR, else
    /// $XDG_CONFIG_HOME/missy-sandbox, else ~/.config/missy-sandbox).
    #[arg(long, global = true, value_name = "DIR")]
    pub vault_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: VaultCommand,
}

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Create an empty vault and its key.
    Init {
        /// Derive the key from $MISSY_VAULT_PASSPHRASE (argon2id) instead of a key file.
        #[arg(long)]
        passphrase: bool,
    },
    /// Store a secret under NAME, read from stdin (or prompted for on a terminal).
    Set {
        /// Letters, digits, `_`, `-` and `.`; profiles refer to it as vault://NAME.
        name: String,
    },
    /// Print the secret stored under NAME to stdout.
    Get { name: String },
    /// List the names in the vault (never the values).
    List,
    /// Remove the secret stored under NAME.
    Rm { name: String },
    /// Re-seal every entry under a new key (a new key file, or $MISSY_VAULT_NEW_PASSPHRASE).
    RotateKey,
}

#[derive(Debug, Args)]
pub struct SelftestArgs {
    /// Profile to test under (repeatable). Default: base, strict, dev, ci-strict.
    #[arg(short, long = "profile", value_name = "PROFILE")]
    pub profiles: Vec<String>,

    /// When run as root, also run every cell as uid 65534 (needs setpriv).
    #[arg(long)]
    pub also_nobody: bool,

    /// Only this scenario (repeatable; see the table's first column).
    #[arg(long, value_name = "SCENARIO")]
    pub only: Vec<String>,

    /// Cells run at once.
    #[arg(short, long, value_name = "N", default_value_t = 4)]
    pub jobs: usize,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Profile name or path to a profile file.
    #[arg(short, long, value_name = "PROFILE", default_value = crate::policy::DEFAULT_PROFILE)]
    pub profile: String,

    /// Directory the command works on: `{workspace}` in the profile. Default: the current directory.
    #[arg(short, long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,

    /// Wall-clock limit for this run (e.g. 30s, 10m), overriding the profile's `limits.wall_time`.
    #[arg(short, long, value_name = "DURATION", value_parser = positive_duration)]
    pub timeout: Option<crate::policy::units::Duration>,

    /// Set an environment variable inside the sandbox (repeatable). Explicit, so secret-looking
    /// names are allowed here.
    #[arg(short, long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,

    /// Print the compiled plan as JSON and exit without running anything.
    #[arg(long)]
    pub dry_run: bool,

    /// Vault directory for the profile's `vault://` references (as for `vault --vault-dir`).
    #[arg(long, value_name = "DIR")]
    pub vault_dir: Option<PathBuf>,

    /// After the run, print to stderr what the sandbox refused (files, network destinations)
    /// and the profile rule that would allow each; the audit record carries it too. Watches
    /// the workload's open/exec/connect calls (seccomp user notification), so calls are slower.
    #[arg(long)]
    pub report: bool,

    /// Pass the workload's stdout through uncensored (stderr stays censored). For a caller
    /// that censors the output itself and must know what it found: `mcp-gateway` censors each
    /// string of the JSON-RPC messages it reads, and flags or blocks what it finds.
    #[arg(long)]
    pub raw_output: bool,

    /// Run CMD as an agent that may ask for tool runs under these profiles only
    /// (comma-separated): the protocol of `serve` is at $MISSY_SANDBOX_SOCKET inside the
    /// sandbox, and each tool run is a fresh sandbox started outside this one, with its
    /// workspace inside this run's. See docs/agents.md.
    #[arg(long, value_name = "PROFILES", value_delimiter = ',')]
    pub broker: Vec<String>,

    /// The command and its arguments (after `--`).
    /// How the workload sees the workspace: `direct` (writes go to it) or `overlay` (writes go
    /// to a copy-on-write change set, settled by --on-exit). Default: the profile's
    /// `[filesystem] workspace_mode`, else direct.
    #[arg(long, value_enum, value_name = "MODE")]
    pub workspace_mode: Option<crate::changes::WorkspaceMode>,

    /// Overlay mode: on exit `apply` the changes to the workspace, `discard` them, or `keep`
    /// them as a pending change set (`missy-sandbox changes`). Default: the profile's
    /// `[filesystem] on_exit`, else keep.
    #[arg(long, value_enum, value_name = "ACTION")]
    pub on_exit: Option<crate::changes::OnExit>,

    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Profile whose [network] rules apply (it must use mode = "proxy").
    #[arg(short, long, value_name = "PROFILE")]
    pub profile: String,

    /// Directory for `{workspace}` in the profile. Default: the current directory.
    #[arg(short, long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,

    /// Write the body to FILE instead of stdout (removed again if the response is cut).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Time allowed for the whole exchange (default 5m).
    #[arg(short, long, value_name = "DURATION", value_parser = positive_duration)]
    pub timeout: Option<crate::policy::units::Duration>,

    /// PEM file of CA certificates trusted for https besides the system's roots (a private
    /// registry's CA). SSL_CERT_FILE instead replaces the system's roots.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// The http:// or https:// URL.
    #[arg(value_name = "URL")]
    pub url: String,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// List the profiles that can be found, and where each comes from.
    List,
    /// Print a profile's resolved settings (after `extends` and placeholders).
    Show {
        /// Profile name or path.
        profile: String,
        /// Workspace to expand `{workspace}` with (default: current directory).
        #[arg(short, long, value_name = "DIR")]
        workspace: Option<PathBuf>,
    },
    /// Check a profile file for errors; exits 2 and names file, line and key when it has one.
    Validate {
        /// Path to the profile file (or a name).
        file: String,
    },
    /// Show each rule of the resolved profile next to the kernel mechanism that enforces it.
    Explain {
        /// Profile name or path.
        profile: String,
        /// Workspace to expand `{workspace}` with (default: current directory).
        #[arg(short, long, value_name = "DIR")]
        workspace: Option<PathBuf>,
    },
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    if k.is_empty() || k.contains('\0') || v.contains('\0') {
        return Err(format!("`{s}` is not KEY=VALUE"));
    }
    Ok((k.to_string(), v.to_string()))
}

/// `--timeout`: a duration, and not zero (a zero limit would kill the sandbox before it ran).
fn positive_duration(s: &str) -> Result<crate::policy::units::Duration, String> {
    let d: crate::policy::units::Duration = s.parse()?;
    if d.0 == 0 {
        return Err("expected a duration greater than zero".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<std::ffi::OsString> {
        line.split(' ').map(Into::into).collect()
    }

    #[test]
    fn the_exec_fast_path_agrees_with_the_full_parser() {
        for line in [
            "missy-sandbox exec -- true",
            "missy-sandbox --audit-log /tmp/a.jsonl exec --profile strict -- /bin/true",
            "missy-sandbox --audit-log=/tmp/a exec --workspace /tmp -- sh -c x",
            "missy-sandbox --log debug --log-format json exec --timeout 5s -- true",
            "missy-sandbox --audit-log exec exec -- true",
        ] {
            let args = words(line);
            let fast = Cli::exec_position(&args);
            assert!(fast.is_some(), "{line}: fast path not taken");
            assert_eq!(
                format!("{:?}", Cli::parse_words(args.clone())),
                format!("{:?}", Cli::parse_from(args)),
                "{line}"
            );
        }
        // Not exec, or something before it that is not a global option: the full parser.
        for line in [
            "missy-sandbox check",
            "missy-sandbox --bogus exec -- true",
            "missy-sandbox profile exec",
        ] {
            assert_eq!(Cli::exec_position(&words(line)), None, "{line}");
        }
        assert_eq!(
            Cli::exec_position(&words("missy-sandbox --audit-log exec exec -- true")),
            Some(3),
            "a global option's value is not the subcommand"
        );
    }
}
