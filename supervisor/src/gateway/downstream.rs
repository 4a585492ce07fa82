//! One downstream MCP server process and the JSON-RPC client that talks to it.
//!
//! The process is `missy-sandbox exec --profile GENERATED --workspace W --raw-output -- CMD`:
//! this same binary, so every control of the server's profile is applied by the code that
//! applies it for any run, and the sandbox dies with that `exec` (and `exec` with the gateway:
//! it is stopped when the gateway exits, and killed by the kernel when the gateway is). Its
//! stdout is passed raw because the gateway censors each decoded string itself and must know
//! what it found ([`super::screen`]); its stderr (censored by `exec`) is copied to the
//! gateway's stderr, each line prefixed with the server's name.
//!
//! The gateway speaks the handshake era to servers (`initialize` at the newest handshake
//! revision), the one every server implements. Requests get ids of the gateway's own; what the
//! server writes back is read by [`super::reader`].

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot, watch};

use crate::server::mcp::jsonrpc::{self, RpcError};
use crate::server::mcp::protocol::HANDSHAKE_VERSIONS;

use super::config::ServerConfig;
use super::reader::Reader;

/// How long a server may take to answer `initialize` (a node or python start, a first
/// import).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How to start a server's process.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The `missy-sandbox` binary.
    pub exe: PathBuf,
    /// `--audit-log` as given to the gateway.
    pub audit_log: Option<String>,
    pub vault_dir: Option<PathBuf>,
    /// The server's generated profile.
    pub profile: PathBuf,
}

/// Where a server's progress notifications go: straight to the client's output, screened, so
/// each reaches the client before the result it reports on (which follows it on the wire).
#[derive(Debug, Clone)]
pub struct ProgressRelay {
    pub client: mpsc::Sender<Vec<u8>>,
    pub screen: super::screen::Screen,
}

/// Something a server said that the gateway's session acts on.
#[derive(Debug)]
pub struct Notice {
    /// Index of the server.
    pub server: usize,
    pub method: String,
    pub params: Option<Map<String, Value>>,
}

/// Why a call to a server got no result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    #[error("MCP server `{server}` ended during the call ({status})")]
    Exited { server: String, status: String },
    #[error(
        "MCP server `{server}` sent a message of {size} bytes, over its limit of {limit} bytes (max_message); the message was dropped"
    )]
    TooLarge {
        server: String,
        size: usize,
        limit: u64,
    },
    #[error(
        "MCP server `{server}` did not answer within {seconds} s (call_timeout); the call was cancelled"
    )]
    Timeout { server: String, seconds: u64 },
    #[error("MCP server `{server}` answered with an error: {error}")]
    Rpc { server: String, error: RpcError },
    #[error("MCP server `{server}` is not running: {why}")]
    Unavailable { server: String, why: String },
    #[error("the call was cancelled")]
    Cancelled,
}

impl CallError {
    /// The JSON-RPC error the client gets.
    pub fn to_rpc(&self) -> RpcError {
        match self {
            // The server's own error, with its code, named as coming from it.
            CallError::Rpc { server, error } => RpcError {
                code: error.code,
                message: format!("{server}: {}", error.message),
                data: error.data.clone(),
            },
            other => RpcError::new(jsonrpc::INTERNAL_ERROR, other.to_string()),
        }
    }
}

pub(super) type Pending = Arc<Mutex<HashMap<i64, oneshot::Sender<Result<Value, CallError>>>>>;

/// A running server process and its JSON-RPC session.
#[derive(Debug)]
pub struct Connection {
    pub name: String,
    pub pid: Option<u32>,
    pub(super) writer: mpsc::UnboundedSender<Vec<u8>>,
    pub(super) pending: Pending,
    next_id: AtomicI64,
    /// Set once the process has ended: how it ended.
    pub exited: watch::Receiver<Option<String>>,
    /// The `initialize` result (capabilities, serverInfo, protocolVersion).
    pub info: Mutex<Value>,
}

impl Connection {
    /// Start the server's process and its reader; `notices` gets its notifications.
    pub fn spawn(
        launch: &Launch,
        config: &ServerConfig,
        index: usize,
        notices: mpsc::UnboundedSender<Notice>,
        progress: ProgressRelay,
    ) -> Result<Arc<Connection>, String> {
        let mut cmd = tokio::process::Command::new(&launch.exe);
        if let Some(log) = &launch.audit_log {
            cmd.arg("--audit-log").arg(log);
        }
        cmd.arg("exec").arg("--profile").arg(&launch.profile);
        cmd.arg("--workspace").arg(&config.workspace);
        if let Some(dir) = &launch.vault_dir {
            cmd.arg("--vault-dir").arg(dir);
        }
        cmd.arg("--raw-output").arg("--").args(&config.command);
        // Relative paths in the server's arguments and calls start at its workspace, as the
        // argument check resolves them. (Profiles are found from the gateway's own directory:
        // `exec` is given the generated profile's absolute path.)
        cmd.current_dir(&config.workspace);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // SAFETY: between fork and exec only prctl(2), async-signal-safe, runs.
        unsafe {
            cmd.pre_exec(|| {
                // The server's `exec` (and so its sandbox) does not outlive the gateway, even
                // when the gateway is SIGKILLed.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start `{} exec`: {e}", launch.exe.display()))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err("the server's pipes are missing".into());
        };
        let (writer, mut lines) = mpsc::unbounded_channel::<Vec<u8>>();
        let (exited_tx, exited) = watch::channel(None);
        let connection = Arc::new(Connection {
            name: config.name.clone(),
            pid: child.id(),
            writer,
            pending: Arc::default(),
            next_id: AtomicI64::new(1),
            exited,
            info: Mutex::new(Value::Null),
        });
        tokio::task::spawn_local(async move {
            let mut stdin = stdin;
            // An empty line (no message is empty: each ends with a newline) closes the input.
            while let Some(line) = lines.recv().await {
                if line.is_empty() {
                    break;
                }
                if stdin.write_all(&line).await.is_err() || stdin.flush().await.is_err() {
                    break;
                }
            }
        });
        let name = config.name.clone();
        tokio::task::spawn_local(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("missy-sandbox: mcp-gateway: [{name}] {line}");
            }
        });
        let reader = Reader {
            connection: Arc::clone(&connection),
            index,
            limit: config.max_message,
            notices,
            progress,
            workspace: config.workspace.clone(),
        };
        tokio::task::spawn_local(async move {
            reader.run(BufReader::new(stdout)).await;
            let status = match child.wait().await {
                Ok(s) => match (s.code(), s.signal()) {
                    (Some(code), _) => format!("exit status {code}"),
                    (None, Some(sig)) => format!("killed by signal {sig}"),
                    _ => "ended".to_string(),
                },
                Err(e) => format!("lost: {e}"),
            };
            reader.fail_all(&status);
            let _ = exited_tx.send(Some(status));
        });
        Ok(connection)
    }

    /// Send request `method` and wait for its result, at most `timeout`.
    pub async fn request(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        let (id, rx) = self.send_request(method, params)?;
        self.wait(id, rx, timeout).await
    }

    /// Send request `method`; its id, and where its result will arrive.
    pub fn send_request(
        &self,
        method: &str,
        params: Value,
    ) -> Result<(i64, oneshot::Receiver<Result<Value, CallError>>), CallError> {
        if let Some(status) = self.exited.borrow().clone() {
            return Err(CallError::Unavailable {
                server: self.name.clone(),
                why: status,
            });
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(id, tx);
        }
        let line = jsonrpc_request(id, method, params);
        if self.writer.send(line).is_err() {
            self.forget(id);
            return Err(CallError::Unavailable {
                server: self.name.clone(),
                why: "its input is closed".into(),
            });
        }
        Ok((id, rx))
    }

    /// Wait for request `id`'s result; past `timeout` the server is told to cancel it.
    pub async fn wait(
        &self,
        id: i64,
        rx: oneshot::Receiver<Result<Value, CallError>>,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(CallError::Cancelled),
            Err(_) => {
                self.cancel(id, "timed out");
                Err(CallError::Timeout {
                    server: self.name.clone(),
                    seconds: timeout.as_secs(),
                })
            }
        }
    }

    /// Tell the server to stop working on request `id` (nobody waits for its answer now).
    pub fn cancel(&self, id: i64, reason: &str) {
        self.forget(id);
        self.notify(
            "notifications/cancelled",
            json!({ "requestId": id, "reason": reason }),
        );
    }

    pub fn notify(&self, method: &str, params: Value) {
        let _ = self.writer.send(jsonrpc::notification(method, &params));
    }

    fn forget(&self, id: i64) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(&id);
        }
    }

    /// The `initialize` handshake; the server's result is kept in [`Connection::info`].
    pub async fn initialize(&self) -> Result<(), String> {
        let version = HANDSHAKE_VERSIONS[HANDSHAKE_VERSIONS.len() - 1];
        let result = self
            .request(
                "initialize",
                json!({
                    "protocolVersion": version,
                    // No `roots`: a server keeps the directories its command line names (the
                    // sandbox decides what is reachable either way).
                    "capabilities": {},
                    "clientInfo": { "name": "missy-sandbox-gateway", "version": env!("CARGO_PKG_VERSION") },
                }),
                START_TIMEOUT,
            )
            .await
            .map_err(|e| format!("initialize: {e}"))?;
        let spoken = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !HANDSHAKE_VERSIONS.contains(&spoken) {
            return Err(format!(
                "initialize: the server answered with protocol version {spoken:?}; the gateway speaks {HANDSHAKE_VERSIONS:?} to servers"
            ));
        }
        if let Ok(mut info) = self.info.lock() {
            *info = result;
        }
        self.notify("notifications/initialized", json!({}));
        Ok(())
    }

    /// Whether the server said it has `capability` (`tools`, `prompts`, `resources`).
    pub fn has(&self, capability: &str) -> bool {
        self.info
            .lock()
            .map(|i| i["capabilities"].get(capability).is_some())
            .unwrap_or(false)
    }

    /// Every item of a paginated list (`tools/list` → `tools`), all pages.
    pub async fn list_all(
        &self,
        method: &str,
        key: &str,
        timeout: Duration,
    ) -> Result<Vec<Value>, CallError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        // A server that pages forever is cut off; 1000 pages is far past any real list.
        for _ in 0..1000 {
            let params = match &cursor {
                Some(c) => json!({ "cursor": c }),
                None => json!({}),
            };
            let page = self.request(method, params, timeout).await?;
            if let Some(list) = page.get(key).and_then(Value::as_array) {
                items.extend(list.iter().cloned());
            }
            cursor = page
                .get("nextCursor")
                .and_then(Value::as_str)
                .map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
        Ok(items)
    }

    /// End the server as MCP's stdio transport says: close its input, then SIGTERM, then
    /// SIGKILL, each after a grace period. Its `exec` then writes its `exec-end` record.
    pub async fn stop(&self, grace: Duration) {
        let mut exited = self.exited.clone();
        let _ = self.writer.send(Vec::new());
        for signal in [
            Some(nix::sys::signal::Signal::SIGTERM),
            Some(nix::sys::signal::Signal::SIGKILL),
            None,
        ] {
            let ended = tokio::time::timeout(grace, exited.wait_for(Option::is_some)).await;
            if matches!(ended, Ok(Ok(_)) | Ok(Err(_))) {
                return;
            }
            match (signal, self.pid) {
                (Some(signal), Some(pid)) => {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
                }
                _ => return,
            }
        }
    }

    /// Kill the server's process (its sandbox goes with it).
    pub fn kill(&self) {
        if let Some(pid) = self.pid {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

fn jsonrpc_request(id: i64, method: &str, params: Value) -> Vec<u8> {
    let mut line = serde_json::to_vec(
        &json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }),
    )
    .unwrap_or_default();
    line.push(b'\n');
    line
}
