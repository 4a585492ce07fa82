//! `missy-sandbox mcp`: an MCP server over stdio whose tools each run in a fresh sandbox
//! under one profile.
//!
//! [`jsonrpc`] (framing, messages, error codes) and [`protocol`] (revisions, negotiation) know
//! nothing of the tools, so other MCP front ends reuse them; [`tools`] defines the tools and
//! reads their arguments, [`calls`] carries them out through [`runner`].
//!
//! Reading never stops for a bad line: malformed JSON, an unknown method, a request before
//! the handshake, or a line over [`jsonrpc::MAX_LINE`] each get a JSON-RPC error and the next
//! line is read. Tool calls run concurrently (up to [`Config::max_calls`] at once), answer in
//! the order they finish, and are killed by `notifications/cancelled`. At end of input the
//! calls under way finish and are answered; SIGTERM or SIGINT kills them.

pub mod calls;
pub mod jsonrpc;
pub mod protocol;
pub mod runner;
pub mod tools;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{AbortHandle, JoinSet};

use self::calls::Tools;
use self::jsonrpc::{Id, Message, RpcError};
use self::protocol::{Admitted, Negotiation, Served, ServerInfo};
use super::lines::{Line, next_line};

/// Lines queued for stdout before readers of results wait.
const OUT_QUEUE: usize = 64;
/// Calls admitted (running or waiting for a slot) per call slot; beyond that, `busy`.
const WAITING_PER_SLOT: usize = 16;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Config {
    pub tools: Tools,
    pub server: ServerInfo,
    /// Tool calls run at once; more wait their turn.
    pub max_calls: usize,
}

/// The server's identity for `profile`.
pub fn server_info(profile: &str, workspace: &std::path::Path) -> ServerInfo {
    ServerInfo {
        name: "missy-sandbox".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        instructions: format!(
            "Every tool runs in a fresh kernel-enforced sandbox under the missy-sandbox profile \
             `{profile}`, with {} as its workspace: relative paths start there. What the profile \
             does not grant (files, network hosts) fails with an error that says so; secrets in \
             results are replaced by ***.",
            workspace.display()
        ),
        capabilities: json!({ "tools": { "listChanged": false } }),
    }
}

type InFlight = Arc<Mutex<HashMap<Id, AbortHandle>>>;

/// Serve MCP on `input`/`output` until end of input (or a signal, when `signals`).
pub async fn serve<R, W>(input: R, output: W, config: Config, signals: bool) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + 'static,
{
    // Calls run as local tasks: the policy HTTP client writes the body through a `dyn Write`,
    // which is not `Send`, and one thread is all this server needs.
    tokio::task::LocalSet::new()
        .run_until(serve_local(input, output, config, signals))
        .await
}

async fn serve_local<R, W>(
    input: R,
    output: W,
    config: Config,
    signals: bool,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + 'static,
{
    let (tx, rx) = mpsc::channel::<Vec<u8>>(OUT_QUEUE);
    let writer = tokio::task::spawn_local(write_lines(output, rx));
    let mut session = Session {
        negotiation: Negotiation::new(config.server.clone()),
        tools: Arc::new(config.tools),
        slots: Arc::new(Semaphore::new(config.max_calls.max(1))),
        max_admitted: config.max_calls.max(1) * WAITING_PER_SLOT,
        tx,
        calls: JoinSet::new(),
        in_flight: Arc::default(),
    };
    let mut reader = BufReader::new(input);
    let mut stop = Stop::new(signals)?;
    loop {
        let line = tokio::select! {
            line = next_line(&mut reader, jsonrpc::MAX_LINE) => line,
            _ = stop.recv() => {
                tracing::info!("mcp: stopping on a signal; calls under way are killed");
                session.calls.shutdown().await;
                break;
            }
        };
        // Finished calls leave the set as they go, so it holds only those under way.
        while session.calls.try_join_next().is_some() {}
        let line = match line {
            Ok(Line::Eof) => {
                // The calls under way are answered, unless a signal says to stop now.
                let signalled = tokio::select! {
                    _ = async { while session.calls.join_next().await.is_some() {} } => false,
                    _ = stop.recv() => true,
                };
                if signalled {
                    session.calls.shutdown().await;
                }
                break;
            }
            Err(e) => {
                tracing::warn!("mcp: cannot read the input: {e}");
                session.calls.shutdown().await;
                break;
            }
            Ok(Line::TooLong(n)) => {
                let line = jsonrpc::too_long(n, jsonrpc::MAX_LINE, "the limit");
                session.send(line).await;
                continue;
            }
            Ok(Line::Text(line)) => line,
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        session.handle(&line).await;
    }
    drop(session);
    writer.await.map_err(std::io::Error::other)?
}

/// The signals that stop the server, or nothing (in-process tests).
struct Stop(Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>);

impl Stop {
    fn new(signals: bool) -> std::io::Result<Stop> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Stop(if signals {
            Some((
                signal(SignalKind::terminate())?,
                signal(SignalKind::interrupt())?,
            ))
        } else {
            None
        }))
    }

    async fn recv(&mut self) {
        match &mut self.0 {
            Some((term, int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            None => std::future::pending().await,
        }
    }
}

/// Write the lines `rx` gives to `output` until the channel closes or an empty line (no
/// message is empty: each ends with a newline) says to stop. Shared by the MCP front ends.
pub async fn write_lines<W: AsyncWrite + Unpin>(
    mut output: W,
    mut rx: mpsc::Receiver<Vec<u8>>,
) -> std::io::Result<()> {
    while let Some(line) = rx.recv().await {
        if line.is_empty() {
            break;
        }
        output.write_all(&line).await?;
        output.flush().await?;
    }
    Ok(())
}

/// Admit request `id` under `negotiation`: what the negotiation answers itself (`initialize`,
/// `ping`, `server/discover`) is sent on `tx` here and gives `None`; otherwise the revision
/// the caller serves the request at. Shared by the MCP front ends.
pub async fn admit(
    negotiation: &mut Negotiation,
    tx: &mpsc::Sender<Vec<u8>>,
    id: &Id,
    method: &str,
    params: Option<&Map<String, Value>>,
) -> Result<Option<Served>, RpcError> {
    match negotiation.admit(method, params)? {
        Admitted::Answer(result) => {
            // A closed channel means the writer failed: the client is gone.
            let _ = tx.send(jsonrpc::response(id, &result)).await;
            Ok(None)
        }
        Admitted::Serve(served) => Ok(Some(served)),
    }
}

struct Session {
    negotiation: Negotiation,
    tools: Arc<Tools>,
    slots: Arc<Semaphore>,
    max_admitted: usize,
    tx: mpsc::Sender<Vec<u8>>,
    calls: JoinSet<()>,
    in_flight: InFlight,
}

impl Session {
    async fn send(&self, line: Vec<u8>) {
        // A closed channel means the writer failed: the client is gone.
        let _ = self.tx.send(line).await;
    }

    async fn handle(&mut self, line: &[u8]) {
        match jsonrpc::parse(line) {
            Err(rejected) => {
                let line = jsonrpc::error_response(rejected.id.as_ref(), &rejected.error);
                self.send(line).await;
            }
            Ok(Message::Request { id, method, params }) => {
                if let Err(error) = self.request(&id, &method, params).await {
                    self.send(jsonrpc::error_response(Some(&id), &error)).await;
                }
            }
            Ok(Message::Notification { method, params }) => {
                if method == "notifications/cancelled"
                    && let Some(id) = protocol::cancelled_id(params.as_ref())
                    && let Some(call) = self.in_flight.lock().ok().and_then(|mut m| m.remove(&id))
                {
                    // Dropping the call kills its sandbox; a cancelled request gets no answer.
                    call.abort();
                    tracing::info!("mcp: call {id} cancelled by the client");
                }
                // Other notifications (initialized, progress, roots changed) need nothing.
            }
            // This server sends no requests, so no answer is awaited.
            Ok(Message::Response { .. }) => {}
        }
    }

    async fn request(
        &mut self,
        id: &Id,
        method: &str,
        params: Option<Map<String, Value>>,
    ) -> Result<(), RpcError> {
        let Some(served) =
            admit(&mut self.negotiation, &self.tx, id, method, params.as_ref()).await?
        else {
            return Ok(());
        };
        match method {
            "tools/list" => {
                let mut result = Map::new();
                result.insert("tools".into(), tools::definitions());
                let result = served.shape_list(result);
                self.send(jsonrpc::response(id, &result)).await;
                Ok(())
            }
            "tools/call" => self.call(id, params, served).await,
            other => Err(RpcError::method_not_found(other)),
        }
    }

    async fn call(
        &mut self,
        id: &Id,
        params: Option<Map<String, Value>>,
        served: Served,
    ) -> Result<(), RpcError> {
        let params = params.unwrap_or_default();
        let name = params.get("name").and_then(Value::as_str).ok_or_else(|| {
            RpcError::invalid_params("tools/call: params.name (a string) is required")
        })?;
        let arguments = match params.get("arguments") {
            None | Some(Value::Null) => None,
            Some(Value::Object(a)) => Some(a),
            Some(_) => {
                return Err(RpcError::invalid_params(
                    "tools/call: params.arguments must be an object",
                ));
            }
        };
        let call = match tools::parse(name, arguments) {
            Ok(call) => call,
            Err(e @ tools::CallError::Unknown(_)) => {
                return Err(RpcError::invalid_params(e.to_string()));
            }
            Err(e @ tools::CallError::Arguments { .. }) => {
                let outcome = calls::Outcome::error(e.to_string());
                let result = served.shape(outcome.to_result(served.structured()));
                self.send(jsonrpc::response(id, &result)).await;
                return Ok(());
            }
        };
        let mut in_flight = self
            .in_flight
            .lock()
            .map_err(|_| RpcError::new(jsonrpc::INTERNAL_ERROR, "call table poisoned"))?;
        if in_flight.contains_key(id) {
            return Err(RpcError::invalid_request(format!(
                "id {id} is already in use by a call under way"
            )));
        }
        if in_flight.len() >= self.max_admitted {
            return Err(RpcError::new(
                protocol::BUSY,
                format!(
                    "busy: {} calls are under way or waiting (the limit); retry when one is answered",
                    in_flight.len()
                ),
            ));
        }
        let (tools, slots, tx, table) = (
            Arc::clone(&self.tools),
            Arc::clone(&self.slots),
            self.tx.clone(),
            Arc::clone(&self.in_flight),
        );
        let key = id.clone();
        let handle = self.calls.spawn_local(async move {
            let outcome = match slots.acquire_owned().await {
                Ok(_slot) => tools.call(call).await,
                Err(_) => calls::Outcome::error("the server is shutting down"),
            };
            let result = served.shape(outcome.to_result(served.structured()));
            // Out of the table first: once answered, the id may be used again.
            if let Ok(mut t) = table.lock() {
                t.remove(&key);
            }
            let _ = tx.send(jsonrpc::response(&key, &result)).await;
        });
        in_flight.insert(id.clone(), handle);
        Ok(())
    }
}
