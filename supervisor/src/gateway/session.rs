//! The client's side: an MCP server on stdio (the negotiation and framing of
//! `server::mcp`) whose tools, prompts and resources are those of the downstream servers.
//!
//! Each routed request is checked (the tool is listed and allowed, its arguments within the
//! server's grants, its size within the server's limit), sent to its server under an id of the
//! gateway's, and answered when the server answers: screened, shaped for the client's protocol
//! revision, and audited. Requests run concurrently; `notifications/cancelled` is passed to
//! the server; progress notifications come back to the client as they are (the client's
//! progress token travels in `_meta`). A line the client sends that is malformed, too large or
//! out of order gets a JSON-RPC error and the next line is read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::audit::Decision;
use crate::server::lines::{Line, next_line};
use crate::server::mcp::jsonrpc::{self, Id, Message, RpcError};
use crate::server::mcp::protocol::{
    self, CLIENT_CAPABILITIES_KEY, Negotiation, PROTOCOL_VERSION_KEY, Served, ServerInfo,
};
use crate::server::mcp::{admit, write_lines};

use super::answer::{Call, Record, arguments_hash, tool_error};
use super::catalog::{self, Catalog, Part};
use super::downstream::Notice;
use super::screen::Findings;
use super::servers::Server;

/// Lines queued for the client before writers wait.
pub const OUT_QUEUE: usize = 256;

/// The client's output channel: every answer and notification goes through it, in order.
pub type Output = (mpsc::Sender<Vec<u8>>, mpsc::Receiver<Vec<u8>>);

/// Shared by the session and its request tasks.
#[derive(Debug)]
pub struct Gateway {
    pub servers: Vec<Arc<Server>>,
    /// Swapped whole on a rebuild; each request takes a reference, not a copy.
    pub catalog: Mutex<Arc<Catalog>>,
    /// Largest line accepted from the client.
    pub max_message: usize,
    pub info: ServerInfo,
}

impl Gateway {
    /// Rebuild the catalog from every server's lists.
    pub fn rebuild(&self) -> Result<(), catalog::Collision> {
        let lists: Vec<_> = self
            .servers
            .iter()
            .map(|s| s.lists.lock().map(|l| l.clone()).unwrap_or_default())
            .collect();
        let parts: Vec<Part<'_>> = self
            .servers
            .iter()
            .zip(&lists)
            .map(|(s, lists)| Part {
                server: s.name(),
                lists,
                allowed: s.config.tools.as_deref(),
            })
            .collect();
        let built = Catalog::build(&parts)?;
        if let Ok(mut catalog) = self.catalog.lock() {
            *catalog = Arc::new(built);
        }
        Ok(())
    }

    fn server(&self, name: &str) -> Option<&Arc<Server>> {
        self.servers.iter().find(|s| s.name() == name)
    }
}

/// A request under way: its task, and the server's id for it.
struct Flight {
    task: AbortHandle,
    downstream: i64,
    /// For the audit record written when the client cancels it.
    record: Record,
}

type InFlight = Arc<Mutex<HashMap<Id, Flight>>>;

/// Serve the client on `input`/`output` until end of input; `notices` carries what the
/// servers say.
pub async fn serve<R, W>(
    input: R,
    output: W,
    gateway: Arc<Gateway>,
    mut notices: mpsc::UnboundedReceiver<Notice>,
    (tx, rx): Output,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + 'static,
{
    let writer = tokio::task::spawn_local(write_lines(output, rx));
    let mut session = Session {
        negotiation: Negotiation::new(gateway.info.clone()),
        gateway,
        tx,
        in_flight: Arc::default(),
    };
    let mut reader = BufReader::new(input);
    let mut failed = None;
    loop {
        tokio::select! {
            line = next_line(&mut reader, session.gateway.max_message) => match line {
                Ok(Line::Eof) => break,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
                Ok(Line::TooLong(n)) => {
                    let max = session.gateway.max_message;
                    let line = jsonrpc::too_long(n, max, "the gateway's limit (max_message)");
                    session.send(line).await;
                }
                Ok(Line::Text(line)) => {
                    if !line.iter().all(u8::is_ascii_whitespace) {
                        session.handle(&line).await;
                    }
                }
            },
            Some(notice) = notices.recv() => session.notice(notice).await,
        }
    }
    // End of input: the calls under way are answered first.
    loop {
        let waiting = session.in_flight.lock().map(|m| m.len()).unwrap_or(0);
        if waiting == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    session.send(Vec::new()).await;
    drop(session);
    let written = writer.await.map_err(std::io::Error::other)?;
    match failed {
        Some(e) => Err(e),
        None => written,
    }
}

struct Session {
    negotiation: Negotiation,
    gateway: Arc<Gateway>,
    tx: mpsc::Sender<Vec<u8>>,
    in_flight: InFlight,
}

impl Session {
    async fn send(&self, line: Vec<u8>) {
        let _ = self.tx.send(line).await;
    }

    async fn handle(&mut self, line: &[u8]) {
        match jsonrpc::parse(line) {
            Err(rejected) => {
                self.send(jsonrpc::error_response(
                    rejected.id.as_ref(),
                    &rejected.error,
                ))
                .await;
            }
            Ok(Message::Request { id, method, params }) => {
                if let Err(error) = self.request(&id, &method, params).await {
                    self.send(jsonrpc::error_response(Some(&id), &error)).await;
                }
            }
            Ok(Message::Notification { method, params }) => {
                if method == "notifications/cancelled"
                    && let Some(id) = protocol::cancelled_id(params.as_ref())
                    && let Some(flight) = self.in_flight.lock().ok().and_then(|mut m| m.remove(&id))
                {
                    flight.task.abort();
                    let server = &self.gateway.servers[flight.record.server];
                    if let Ok(c) = server.connection() {
                        c.cancel(flight.downstream, "cancelled by the client");
                    }
                    flight.record.write(
                        &self.gateway,
                        Decision::Error,
                        "cancelled by the client",
                        0,
                        &Findings::default(),
                        None,
                    );
                    tracing::info!("mcp-gateway: request {id} cancelled by the client");
                }
            }
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
        let list = |items: &Vec<Value>, key: &str| {
            let mut result = Map::new();
            result.insert(key.into(), Value::Array(items.clone()));
            served.shape_list(result)
        };
        let catalog = self
            .gateway
            .catalog
            .lock()
            .map(|c| Arc::clone(&c))
            .map_err(|_| RpcError::new(jsonrpc::INTERNAL_ERROR, "catalog poisoned"))?;
        let answer = match method {
            "tools/list" => list(&catalog.tools, "tools"),
            "prompts/list" => list(&catalog.prompts, "prompts"),
            "resources/list" => list(&catalog.resources, "resources"),
            "resources/templates/list" => list(&catalog.templates, "resourceTemplates"),
            "logging/setLevel" => served.shape(Map::new()),
            "tools/call" | "prompts/get" | "resources/read" | "completion/complete" => {
                return self
                    .route(id, method, params.unwrap_or_default(), served, &catalog)
                    .await;
            }
            other => return Err(RpcError::method_not_found(other)),
        };
        self.send(jsonrpc::response(id, &answer)).await;
        Ok(())
    }

    /// Send a request on to the server it names; the answer comes from a task of its own.
    async fn route(
        &mut self,
        id: &Id,
        method: &str,
        mut params: Map<String, Value>,
        served: Served,
        catalog: &Catalog,
    ) -> Result<(), RpcError> {
        let started = Instant::now();
        let arguments = params.get("arguments").cloned().unwrap_or(json!({}));
        let (server, target) = match self.target(method, &mut params, catalog) {
            Ok(t) => t,
            Err(error) => {
                // A call to a tool withheld by screening or left out by `tools`: the server
                // is known, so the refusal goes in its audit trail.
                let name = params
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if let Some(server) = catalog::split(name).and_then(|(s, _)| self.gateway.server(s))
                {
                    let record = Record {
                        server: server.index,
                        method: method.to_string(),
                        target: name.to_string(),
                        arguments_sha256: arguments_hash(&arguments),
                        started,
                    };
                    record.write(
                        &self.gateway,
                        Decision::Deny,
                        "not offered",
                        0,
                        &Findings::default(),
                        Some(error.message.clone()),
                    );
                }
                return Err(error);
            }
        };
        let call = Call {
            gateway: Arc::clone(&self.gateway),
            record: Record {
                server,
                method: method.to_string(),
                target: target.clone(),
                arguments_sha256: arguments_hash(&arguments),
                started,
            },
            served,
        };
        let refused = if method == "tools/call" {
            self.precheck(&call, &target, &arguments)
        } else {
            None
        };
        if let Some(refusal) = refused {
            let result = tool_error(&refusal);
            call.audit(
                Decision::Deny,
                "arguments outside the profile's grants",
                0,
                &Findings::default(),
                Some(refusal),
            );
            let result = call.served.shape(result);
            self.send(jsonrpc::response(id, &result)).await;
            return Ok(());
        }
        let limit = self.gateway.servers[server].config.max_message;
        let size = serde_json::to_vec(&params).map_or(0, |v| v.len()) as u64;
        if size > limit {
            let message = format!(
                "the request is {size} bytes, over server `{}`'s limit of {limit} bytes (max_message)",
                self.gateway.servers[server].name()
            );
            call.audit(
                Decision::Deny,
                "max_message",
                0,
                &Findings::default(),
                Some(message.clone()),
            );
            return Err(RpcError::invalid_request(message));
        }
        // Only the handshake era's fields go on: the server speaks that era.
        if let Some(Value::Object(meta)) = params.get_mut("_meta") {
            meta.remove(PROTOCOL_VERSION_KEY);
            meta.remove(CLIENT_CAPABILITIES_KEY);
        }
        let sent = self.gateway.servers[server].connection().and_then(|c| {
            c.send_request(method, Value::Object(params))
                .map(|(i, rx)| (c, i, rx))
        });
        let (connection, downstream, rx) = match sent {
            Ok(s) => s,
            Err(e) => {
                call.audit(
                    Decision::Error,
                    "server unavailable",
                    0,
                    &Findings::default(),
                    Some(e.to_string()),
                );
                return Err(e.to_rpc());
            }
        };
        let mut table = self
            .in_flight
            .lock()
            .map_err(|_| RpcError::new(jsonrpc::INTERNAL_ERROR, "call table poisoned"))?;
        if table.contains_key(id) {
            connection.cancel(downstream, "duplicate request id");
            return Err(RpcError::invalid_request(format!(
                "id {id} is already in use by a request under way"
            )));
        }
        let (tx, key, in_flight) = (self.tx.clone(), id.clone(), Arc::clone(&self.in_flight));
        let record = call.record.clone();
        let timeout = self.gateway.servers[server].config.call_timeout;
        let task = tokio::task::spawn_local(async move {
            let answer = connection.wait(downstream, rx, timeout).await;
            let line = call.finish(&key, answer);
            if let Ok(mut t) = in_flight.lock() {
                t.remove(&key);
            }
            let _ = tx.send(line).await;
        });
        table.insert(
            id.clone(),
            Flight {
                task: task.abort_handle(),
                downstream,
                record,
            },
        );
        Ok(())
    }

    /// The server a request goes to, with the request renamed to the server's own names;
    /// and what it is about (`server__tool`, a resource URI).
    fn target(
        &self,
        method: &str,
        params: &mut Map<String, Value>,
        catalog: &Catalog,
    ) -> Result<(usize, String), RpcError> {
        let by_name = |full: &str, what: &str| -> Result<(usize, String), RpcError> {
            let unknown = || {
                RpcError::invalid_params(format!(
                    "unknown {what} {full:?}: it is not in the gateway's {what}s/list"
                ))
            };
            let (server, item) = catalog::split(full).ok_or_else(unknown)?;
            let s = self.gateway.server(server).ok_or_else(unknown)?;
            Ok((s.index, item.to_string()))
        };
        match method {
            "tools/call" | "prompts/get" => {
                let what = if method == "tools/call" {
                    "tool"
                } else {
                    "prompt"
                };
                let full = params
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        RpcError::invalid_params(format!(
                            "{method}: params.name (a string) is required"
                        ))
                    })?
                    .to_string();
                let (server, item) = by_name(&full, what)?;
                let listed = if what == "tool" {
                    &catalog.tools
                } else {
                    &catalog.prompts
                };
                if !listed.iter().any(|t| t["name"] == json!(full)) {
                    let s = &self.gateway.servers[server];
                    let why = match s
                        .lists
                        .lock()
                        .ok()
                        .and_then(|l| l.withheld.get(&item).cloned())
                    {
                        Some(rules) => format!("it was withheld by screening ({rules})"),
                        None if s.config.tools.is_some() => format!(
                            "it is not listed, or not in server `{}`'s allowed tools (the gateway configuration's `tools`)",
                            s.name()
                        ),
                        None => "it is not listed".to_string(),
                    };
                    return Err(RpcError::invalid_params(format!(
                        "{what} {full:?} cannot be called: {why}"
                    )));
                }
                params.insert("name".into(), json!(item));
                Ok((server, full))
            }
            "resources/read" => {
                let uri = params
                    .get("uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        RpcError::invalid_params(
                            "resources/read: params.uri (a string) is required",
                        )
                    })?
                    .to_string();
                let server = catalog.resource_server(&uri).ok_or_else(|| {
                    RpcError::invalid_params(format!("no server offers resource {uri:?}"))
                })?;
                Ok((server, uri))
            }
            _ => {
                // completion/complete: a prompt's name or a resource's URI says where.
                let reference = params
                    .get_mut("ref")
                    .and_then(Value::as_object_mut)
                    .ok_or_else(|| {
                        RpcError::invalid_params(
                            "completion/complete: params.ref (an object) is required",
                        )
                    })?;
                if let Some(full) = reference
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                {
                    let (server, item) = by_name(&full, "prompt")?;
                    reference.insert("name".into(), json!(item));
                    return Ok((server, full));
                }
                let uri = reference
                    .get("uri")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let server = catalog.resource_server(&uri).ok_or_else(|| {
                    RpcError::invalid_params(format!("no server offers resource {uri:?}"))
                })?;
                Ok((server, uri))
            }
        }
    }

    /// The argument check of a tool call; the refusal's message when it is refused.
    fn precheck(&self, call: &Call, target: &str, arguments: &Value) -> Option<String> {
        let server = &self.gateway.servers[call.record.server];
        let check = server.check.as_ref()?;
        let arguments = arguments.as_object()?;
        let tool = catalog::split(target).map_or(target, |(_, t)| t);
        check.check(tool, arguments).err().map(|r| r.message)
    }

    /// What a server said: list changes refetch its lists and tell the client; progress and
    /// resource updates pass through (screened); log messages go to stderr.
    async fn notice(&self, notice: Notice) {
        let server = Arc::clone(&self.gateway.servers[notice.server]);
        let mut params = Value::Object(notice.params.unwrap_or_default());
        match notice.method.as_str() {
            "notifications/tools/list_changed"
            | "notifications/prompts/list_changed"
            | "notifications/resources/list_changed" => {
                let (gateway, tx, method) =
                    (Arc::clone(&self.gateway), self.tx.clone(), notice.method);
                tokio::task::spawn_local(async move {
                    if let Err(e) = server.refresh().await {
                        tracing::warn!(server = %server.name(), "mcp-gateway: cannot refetch the lists: {e}");
                        return;
                    }
                    if let Err(e) = gateway.rebuild() {
                        eprintln!("missy-sandbox: mcp-gateway: {e}; the previous lists stay");
                        return;
                    }
                    let _ = tx.send(jsonrpc::notification(&method, &json!({}))).await;
                });
            }
            "notifications/resources/updated" => {
                server.screen.value(&mut params);
                self.send(jsonrpc::notification(&notice.method, &params))
                    .await;
            }
            "notifications/message" => {
                server.screen.value(&mut params);
                tracing::info!(server = %server.name(), "mcp-gateway: server log: {params}");
            }
            _ => {}
        }
    }
}
