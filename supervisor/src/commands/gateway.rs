//! `missy-sandbox mcp-gateway`: read the configuration (or the one-server form), prepare every
//! server (a bad profile refuses to start), then serve MCP on stdio (gateway/); and
//! `mcp-gateway config-snippet`.

use std::path::{Path, PathBuf};

use crate::cli::{GatewayArgs, GatewayCommand};
use crate::commands::{EXIT_BAD_INPUT, report};
use crate::gateway::{self, Options, config};
use crate::init::EXIT_SETUP_FAILED;

/// MCP clients whose configuration format `config-snippet` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    /// `.mcp.json` / `claude mcp add-json` (JSON, `mcpServers`).
    ClaudeCode,
    /// `~/.codex/config.toml` (TOML, `[mcp_servers.NAME]`).
    Codex,
    /// The `mcpServers` JSON most other clients read.
    Generic,
}

pub fn run(args: GatewayArgs, audit_log: Option<&str>) -> i32 {
    if let Some(GatewayCommand::ConfigSnippet {
        client,
        config,
        name,
    }) = &args.action
    {
        return snippet(*client, config.as_deref(), name);
    }
    let loaded = match (&args.config, &args.profile) {
        (Some(path), _) => config::load(path).map_err(|e| e.to_string()),
        (None, Some(profile)) => gateway::single_server(
            &args.name,
            profile,
            args.workspace.as_deref(),
            args.command.clone(),
        )
        .map(|mut c| {
            let server = &mut c.servers[0];
            server.screen = args.screen;
            server.tools = (!args.tools.is_empty()).then(|| args.tools.clone());
            if let Some(max) = args.max_message {
                server.max_message = max.0;
            }
            c
        }),
        (None, None) => Err(
            "mcp-gateway: give --config FILE, or --profile PROFILE -- CMD ARGS... for one server (see --help)"
                .into(),
        ),
    };
    let config = match loaded {
        Ok(c) => c,
        Err(e) => {
            report(&e);
            return EXIT_BAD_INPUT;
        }
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            report(&format!(
                "mcp-gateway: cannot find this program's own binary: {e}"
            ));
            return EXIT_SETUP_FAILED;
        }
    };
    let options = Options {
        exe,
        audit_log: audit_log.map(str::to_string),
        vault_dir: args.vault_dir.clone(),
        max_message: args.max_message.map_or(config.max_message, |m| m.0),
    };
    let prepared = match gateway::prepare(&config, &options) {
        Ok(p) => p,
        Err(e) => {
            report(&format!("mcp-gateway: {}: {e}", config.origin));
            return if e.is_bad_input() {
                EXIT_BAD_INPUT
            } else {
                EXIT_SETUP_FAILED
            };
        }
    };
    let runtime = match super::current_thread_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            report(&e);
            return EXIT_SETUP_FAILED;
        }
    };
    let served = runtime.block_on(tokio::task::LocalSet::new().run_until(gateway::run(
        prepared,
        tokio::io::stdin(),
        tokio::io::stdout(),
    )));
    // A read of stdin may still be blocked on its helper thread: do not wait for it.
    runtime.shutdown_background();
    match served {
        Ok(()) => 0,
        Err(e) => {
            report(&format!("mcp-gateway: {e}"));
            if e.is_bad_input() {
                EXIT_BAD_INPUT
            } else if matches!(e, gateway::StartError::Client(_)) {
                1
            } else {
                EXIT_SETUP_FAILED
            }
        }
    }
}

/// Print the block that points `client` at the gateway.
fn snippet(client: Client, config: Option<&Path>, name: &str) -> i32 {
    let config = config.map_or_else(
        || super::home_dir().join(".config/missy-sandbox/gateway.toml"),
        Path::to_path_buf,
    );
    let config = std::fs::canonicalize(&config).unwrap_or_else(|_| absolute(&config));
    if !config.exists() {
        eprintln!(
            "missy-sandbox: note: {} does not exist yet; docs/mcp-gateway.md shows what goes in it",
            config.display()
        );
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("missy-sandbox"));
    let args = [
        "mcp-gateway".to_string(),
        "--config".to_string(),
        config.to_string_lossy().into_owned(),
    ];
    let exe = exe.to_string_lossy().into_owned();
    match client {
        Client::ClaudeCode | Client::Generic => {
            let mut server = serde_json::json!({ "command": exe, "args": args });
            if client == Client::ClaudeCode {
                server["type"] = "stdio".into();
            }
            let block = serde_json::json!({ "mcpServers": { name: server } });
            println!(
                "{}",
                serde_json::to_string_pretty(&block).unwrap_or_default()
            );
        }
        Client::Codex => {
            let mut server = toml::Table::new();
            server.insert("command".into(), toml::Value::String(exe));
            server.insert(
                "args".into(),
                toml::Value::Array(args.into_iter().map(toml::Value::String).collect()),
            );
            let mut servers = toml::Table::new();
            servers.insert(name.to_string(), toml::Value::Table(server));
            let mut doc = toml::Table::new();
            doc.insert("mcp_servers".into(), toml::Value::Table(servers));
            print!("{}", toml::to_string(&doc).unwrap_or_default());
        }
    }
    0
}

fn absolute(path: &Path) -> PathBuf {
    std::env::current_dir().map_or_else(|_| path.to_path_buf(), |d| d.join(path))
}
