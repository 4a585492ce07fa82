//! Each downstream server's state: its configuration, the checks and screen made from its
//! profile, its current process, and its screened lists; and the supervision that restarts a
//! server whose process ended, with back-off.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::audit::RunAudit;

use super::arguments::ArgumentCheck;
use super::catalog::Lists;
use super::config::{ScreenMode, ServerConfig};
use super::downstream::{CallError, Connection, Launch, Notice, ProgressRelay};
use super::screen::Screen;

/// First wait before a restart; doubled after each quick failure.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A process that ran this long was healthy: the next restart waits [`BACKOFF_FIRST`] again.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);
/// Time allowed for a list request.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a server's process stands.
#[derive(Debug, Clone)]
pub enum State {
    Up(Arc<Connection>),
    /// Not running, and why (what the client is told).
    Down(String),
}

/// One downstream server.
#[derive(Debug)]
pub struct Server {
    pub index: usize,
    pub config: ServerConfig,
    pub launch: Launch,
    /// None when `check_arguments = false`.
    pub check: Option<ArgumentCheck>,
    pub screen: Screen,
    pub audit: RunAudit,
    pub state: Mutex<State>,
    pub lists: Mutex<Lists>,
    /// The client's output, for the server's progress notifications.
    pub client: mpsc::Sender<Vec<u8>>,
    /// Set when the gateway ends: an exit is then not restarted.
    pub stopping: std::sync::atomic::AtomicBool,
}

impl Server {
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The running process, or why there is none.
    pub fn connection(&self) -> Result<Arc<Connection>, CallError> {
        match self.state.lock().map(|s| s.clone()) {
            Ok(State::Up(c)) if c.exited.borrow().is_none() => Ok(c),
            Ok(State::Up(c)) => Err(CallError::Unavailable {
                server: self.name().to_string(),
                why: format!(
                    "it {} and is being restarted",
                    c.exited.borrow().clone().unwrap_or_default()
                ),
            }),
            Ok(State::Down(why)) => Err(CallError::Unavailable {
                server: self.name().to_string(),
                why,
            }),
            Err(_) => Err(CallError::Unavailable {
                server: self.name().to_string(),
                why: "its state is poisoned".into(),
            }),
        }
    }

    /// Start the process and complete the handshake.
    pub async fn start(
        &self,
        notices: &mpsc::UnboundedSender<Notice>,
    ) -> Result<Arc<Connection>, String> {
        let connection = Connection::spawn(
            &self.launch,
            &self.config,
            self.index,
            notices.clone(),
            ProgressRelay {
                client: self.client.clone(),
                screen: self.screen.clone(),
            },
        )?;
        if let Err(e) = connection.initialize().await {
            connection.kill();
            return Err(e);
        }
        if let Ok(mut state) = self.state.lock() {
            *state = State::Up(Arc::clone(&connection));
        }
        tracing::info!(server = %self.name(), pid = ?connection.pid, "mcp-gateway: server started");
        Ok(connection)
    }

    /// Fetch and screen the server's tools, prompts and resources.
    pub async fn refresh(&self) -> Result<(), CallError> {
        let connection = self.connection()?;
        let mut lists = Lists::default();
        if connection.has("tools") {
            for mut tool in connection
                .list_all("tools/list", "tools", LIST_TIMEOUT)
                .await?
            {
                let findings = self.screen.value(&mut tool);
                let name = tool["name"].as_str().unwrap_or_default().to_string();
                if findings.is_empty() {
                    lists.tools.push(tool);
                    continue;
                }
                tracing::warn!(server = %self.name(), tool = %name, rules = %findings.rules(), "mcp-gateway: a tool definition was screened");
                match self.config.screen {
                    ScreenMode::Block => {
                        lists.withheld.insert(name, findings.rules());
                    }
                    ScreenMode::Flag => {
                        let warning = findings.warning(self.name(), "tool description");
                        let description = tool["description"].as_str().unwrap_or_default();
                        tool["description"] = json!(format!("{warning}\n\n{description}"));
                        lists.tools.push(tool);
                    }
                }
            }
        }
        if connection.has("prompts") {
            lists.prompts = self.screened(
                connection
                    .list_all("prompts/list", "prompts", LIST_TIMEOUT)
                    .await?,
            );
        }
        if connection.has("resources") {
            lists.resources = self.screened(
                connection
                    .list_all("resources/list", "resources", LIST_TIMEOUT)
                    .await?,
            );
            // Templates are optional even for servers with resources.
            lists.templates = connection
                .list_all(
                    "resources/templates/list",
                    "resourceTemplates",
                    LIST_TIMEOUT,
                )
                .await
                .map(|t| self.screened(t))
                .unwrap_or_default();
        }
        if let Ok(mut current) = self.lists.lock() {
            *current = lists;
        }
        Ok(())
    }

    /// Descriptions of prompts and resources: censored, and flagged ones marked (a blocked
    /// one is left out).
    fn screened(&self, items: Vec<Value>) -> Vec<Value> {
        items
            .into_iter()
            .filter_map(|mut item| {
                let findings = self.screen.value(&mut item);
                if findings.is_empty() {
                    return Some(item);
                }
                match self.config.screen {
                    ScreenMode::Block => None,
                    ScreenMode::Flag => {
                        let warning = findings.warning(self.name(), "description");
                        let description = item["description"].as_str().unwrap_or_default();
                        item["description"] = json!(format!("{warning}\n\n{description}"));
                        Some(item)
                    }
                }
            })
            .collect()
    }
}

/// Keep `server` running: each time its process ends, say so, wait (back-off), start it again
/// and announce that its lists may have changed (the session refetches them).
pub async fn supervise(server: Arc<Server>, notices: mpsc::UnboundedSender<Notice>) {
    let mut backoff = BACKOFF_FIRST;
    let mut started = Instant::now();
    loop {
        // The process started last (the first by `run`, later ones below).
        let current = server.state.lock().ok().and_then(|s| match &*s {
            State::Up(c) => Some(Arc::clone(c)),
            State::Down(_) => None,
        });
        let Some(connection) = current else {
            return;
        };
        let mut exited = connection.exited.clone();
        let status = loop {
            if let Some(status) = exited.borrow().clone() {
                break status;
            }
            if exited.changed().await.is_err() {
                return;
            }
        };
        if server.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        if started.elapsed() >= HEALTHY_AFTER {
            backoff = BACKOFF_FIRST;
        }
        loop {
            let why = format!(
                "it ended ({status}); restarting in {} ms",
                backoff.as_millis()
            );
            eprintln!(
                "missy-sandbox: mcp-gateway: server `{}`: {why}",
                server.name()
            );
            // The client hears of it too, as a log message (the gateway has `logging`).
            let report = crate::server::mcp::jsonrpc::notification(
                "notifications/message",
                &json!({
                    "level": "warning",
                    "logger": "missy-sandbox-gateway",
                    "data": format!("MCP server `{}`: {why}", server.name()),
                }),
            );
            let _ = server.client.send(report).await;
            if let Ok(mut state) = server.state.lock() {
                *state = State::Down(why);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
            started = Instant::now();
            match server.start(&notices).await {
                Ok(_) => {
                    for method in [
                        "notifications/tools/list_changed",
                        "notifications/prompts/list_changed",
                        "notifications/resources/list_changed",
                    ] {
                        let _ = notices.send(Notice {
                            server: server.index,
                            method: method.to_string(),
                            params: None,
                        });
                    }
                    break;
                }
                Err(e) => {
                    eprintln!(
                        "missy-sandbox: mcp-gateway: server `{}` did not restart: {e}",
                        server.name()
                    );
                }
            }
        }
    }
}
