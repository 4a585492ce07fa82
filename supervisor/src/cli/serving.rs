//! The arguments of the front ends that serve other programs rather than run one command:
//! `serve` (the daemon), `mcp` (an MCP server) and `mcp-gateway`, with their long help.

use std::path::PathBuf;

use clap::{Args, Subcommand};

pub(super) const SERVE_ABOUT: &str = "\
Run the supervisor daemon: a JSON-lines protocol on a Unix socket (docs/protocol.md) through \
which agent runtimes run each tool call in a fresh sandbox, with output streamed and censored. \
The socket is created with mode 0600; only the uids given with --allow-uid may connect (checked \
with SO_PEERCRED), each limited to its profiles. Without --allow-uid, only the daemon's own uid \
may connect, with any profile found by name. If the daemon is killed, every sandbox it started \
dies with it.";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Path of the Unix socket to listen on.
    #[arg(long, value_name = "PATH")]
    pub socket: PathBuf,

    /// Let UID connect, limited to the listed profiles (names, comma-separated), or any profile
    /// found by name when none are listed (repeatable).
    #[arg(long = "allow-uid", value_name = "UID[:PROFILES]")]
    pub allow_uid: Vec<String>,

    /// Sandboxes that may run at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_runs: u32,

    /// Runs that may wait for a free slot; beyond that, requests get a `busy` error.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub queue: u32,
}

pub(super) const MCP_ABOUT: &str = "\
Serve the Model Context Protocol over stdin/stdout (JSON-RPC 2.0, one message per line) for an \
MCP client such as an agent host. Five tools: run_command, read_file, write_file, \
list_directory and fetch. Each call runs in a fresh sandbox under PROFILE with DIR as its \
workspace (`missy-sandbox exec`), so the kernel, not this server, decides which files and \
hosts are reachable; fetch uses the profile's network rules as `missy-sandbox fetch` does. \
Results are censored (secrets become ***). A call the profile refuses is a tool result with \
isError set and a message that says what was denied. Protocol revisions: 2026-07-28 (the \
per-request envelope and server/discover) and, through initialize, 2025-11-25, 2025-06-18, \
2025-03-26 and 2024-11-05. Logs go to stderr. See docs/agents.md.";

pub(super) const MCP_AFTER_HELP: &str = "\
EXIT STATUS
  0 the client closed stdin (calls under way were answered first); 1 stdin or stdout failed;
  2 bad input (a profile or argument error); 125 the server could not start.

EXAMPLES
  missy-sandbox mcp --profile dev --workspace ~/src/project
  missy-sandbox mcp --profile ./tools.toml --max-calls 2 2>mcp.log";

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Profile every tool call runs under (name or path).
    #[arg(short, long, value_name = "PROFILE", default_value = crate::policy::DEFAULT_PROFILE)]
    pub profile: String,

    /// Directory the tools work on: `{workspace}` in the profile, where relative paths start.
    /// Default: the current directory.
    #[arg(short, long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,

    /// Vault directory for the profile's `vault://` references (as for `vault --vault-dir`).
    #[arg(long, value_name = "DIR")]
    pub vault_dir: Option<PathBuf>,

    /// Tool calls that may run at once; more wait their turn.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub max_calls: u32,
}

pub(super) const GATEWAY_ABOUT: &str = "\
Serve the Model Context Protocol on stdin/stdout for an MCP client (an agent host), and start \
the MCP servers of the configuration (stdio transport), each as a sandboxed workload under its \
own profile: `missy-sandbox exec`, so the kernel decides which files and hosts each server \
reaches. The client sees every server's tools, prompts and resources, named SERVER__NAME; \
calls, cancellation and progress are routed to the right server. What servers send (results, \
descriptions, prompts, resource texts) passes the secrets censor (*** replaces a secret) and \
the prompt-injection sanitizer: per server, screen = \"flag\" adds a visible warning, \"block\" \
replaces the result with an error naming the rule. Paths and URLs in a call's arguments that \
the server's profile does not grant are refused before the server sees the call. A server that \
dies is reported, its calls get an error, and it is restarted with back-off. Every call is \
audited (mcp-call records). Protocol revisions towards the client: 2026-07-28 and, through \
initialize, 2025-11-25 back to 2024-11-05; towards servers: initialize at 2025-11-25. See \
docs/mcp-gateway.md.";

pub(super) const GATEWAY_AFTER_HELP: &str = "\
EXIT STATUS
  0 the client closed stdin; 1 stdin or stdout failed; 2 bad input (the configuration, a
  server's profile, a name collision); 125 a server did not start.

EXAMPLES
  missy-sandbox mcp-gateway --config ~/.config/missy-sandbox/gateway.toml
  missy-sandbox mcp-gateway --profile dev --name files --workspace ~/src/app -- \\
      node /opt/mcp/server-filesystem/dist/index.js ~/src/app
  missy-sandbox mcp-gateway config-snippet --client claude-code --config gateway.toml";

#[derive(Debug, Args)]
pub struct GatewayArgs {
    #[command(subcommand)]
    pub action: Option<GatewayCommand>,

    /// The gateway configuration file (TOML; docs/mcp-gateway.md has the reference).
    #[arg(short, long, value_name = "FILE", conflicts_with_all = ["profile", "command"])]
    pub config: Option<PathBuf>,

    /// One-server form: the profile the server runs under (name or path).
    #[arg(short, long, value_name = "PROFILE", requires = "command")]
    pub profile: Option<String>,

    /// One-server form: the server's name, the prefix of its tools (NAME__tool).
    #[arg(long, value_name = "NAME", default_value = "server")]
    pub name: String,

    /// One-server form: the server's workspace (default: the current directory).
    #[arg(short, long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,

    /// One-server form: what screening does with a finding.
    #[arg(long, value_enum, value_name = "MODE", default_value = "flag")]
    pub screen: crate::gateway::config::ScreenMode,

    /// One-server form: a tool the client may see and call (repeatable; default: all).
    #[arg(long = "tool", value_name = "TOOL")]
    pub tools: Vec<String>,

    /// Vault directory for `vault://` references in the servers' environments.
    #[arg(long, value_name = "DIR")]
    pub vault_dir: Option<PathBuf>,

    /// Largest message accepted from the client and, in the one-server form, from the server
    /// (bytes, or 4MiB, 512KiB, ...). Default: the configuration's `max_message`, else 4MiB.
    #[arg(long, value_name = "SIZE")]
    pub max_message: Option<crate::policy::units::ByteSize>,

    /// One-server form: the server's command and its arguments (after `--`).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Print the configuration block that points an MCP client at this gateway.
    ConfigSnippet {
        /// Which client's format.
        #[arg(long, value_enum)]
        client: crate::commands::gateway::Client,
        /// The gateway configuration file the client should start the gateway with.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The name the client lists the gateway under.
        #[arg(long, value_name = "NAME", default_value = "missy-gateway")]
        name: String,
    },
}
