//! Answering one routed request: the server's result screened ([`super::screen`]), flagged or
//! blocked by the server's `screen` mode, shaped for the client's protocol revision, and the
//! request's `mcp-call` audit record written.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::audit::{Decision, McpCall};
use crate::server::mcp::jsonrpc::{self, Id, RpcError};
use crate::server::mcp::protocol::Served;

use super::config::ScreenMode;
use super::downstream::CallError;
use super::screen::Findings;
use super::session::Gateway;

/// What the audit record of one routed request says besides its outcome.
#[derive(Debug, Clone)]
pub(super) struct Record {
    pub(super) server: usize,
    pub(super) method: String,
    /// `server__tool`, `server__prompt`, or a resource URI.
    pub(super) target: String,
    pub(super) arguments_sha256: String,
    pub(super) started: Instant,
}

impl Record {
    pub(super) fn write(
        &self,
        gateway: &Gateway,
        decision: Decision,
        rule: &str,
        size: u64,
        findings: &Findings,
        message: Option<String>,
    ) {
        let server = &gateway.servers[self.server];
        let call = McpCall {
            server: server.name().to_string(),
            method: self.method.clone(),
            arguments_sha256: self.arguments_sha256.clone(),
            result_bytes: size,
            screening: findings.to_json(),
            screen: server.config.screen.name().to_string(),
        };
        let elapsed = self.started.elapsed();
        if let Err(e) = server
            .audit
            .mcp_call(&self.target, decision, rule, elapsed, message, call)
        {
            eprintln!("missy-sandbox: mcp-gateway: {e}");
        }
    }
}

/// One routed request, from the client's line to its answer.
pub(super) struct Call {
    pub(super) gateway: Arc<Gateway>,
    pub(super) record: Record,
    pub(super) served: Served,
}

impl Call {
    /// The answer line for the client: the server's result screened, or the error.
    pub(super) fn finish(self, id: &Id, answer: Result<Value, CallError>) -> Vec<u8> {
        let mut result = match answer {
            Ok(Value::Object(r)) => r,
            Ok(_) => {
                let e = "the server's result is not a JSON object".to_string();
                self.audit(
                    Decision::Error,
                    "protocol",
                    0,
                    &Findings::default(),
                    Some(e.clone()),
                );
                return jsonrpc::error_response(
                    Some(id),
                    &RpcError::new(jsonrpc::INTERNAL_ERROR, e),
                );
            }
            Err(e) => {
                let rule = match &e {
                    CallError::TooLarge { .. } => "max_message",
                    CallError::Timeout { .. } => "call_timeout",
                    CallError::Rpc { .. } => "server error",
                    _ => "server unavailable",
                };
                self.audit(
                    Decision::Error,
                    rule,
                    0,
                    &Findings::default(),
                    Some(e.to_string()),
                );
                return jsonrpc::error_response(Some(id), &e.to_rpc());
            }
        };
        let size = serde_json::to_vec(&result).map_or(0, |v| v.len()) as u64;
        let server = &self.gateway.servers[self.record.server];
        result.remove("resultType");
        let mut value = Value::Object(result);
        let findings = server.screen.value(&mut value);
        let Value::Object(mut result) = value else {
            unreachable!("screening keeps an object an object")
        };
        if findings.is_empty() {
            self.audit(Decision::Allow, "allowed", size, &findings, None);
            return jsonrpc::response(id, &self.served.shape(result));
        }
        let what = match self.record.method.as_str() {
            "tools/call" => "tool result",
            "prompts/get" => "prompt",
            "resources/read" => "resource",
            _ => "result",
        };
        match server.config.screen {
            ScreenMode::Block => {
                let message = format!(
                    "blocked by the missy-sandbox gateway: the {what} from MCP server `{}` matched screening rule(s) {} (screen = \"block\")",
                    server.name(),
                    findings.rules()
                );
                self.audit(
                    Decision::Deny,
                    &findings.rules(),
                    size,
                    &findings,
                    Some(message.clone()),
                );
                if self.record.method == "tools/call" {
                    jsonrpc::response(id, &self.served.shape(tool_error(&message)))
                } else {
                    jsonrpc::error_response(
                        Some(id),
                        &RpcError::new(jsonrpc::INTERNAL_ERROR, message)
                            .with_data(json!({ "screening": findings.to_json() })),
                    )
                }
            }
            ScreenMode::Flag => {
                let warning = findings.warning(server.name(), what);
                flag(&mut result, &self.record.method, &warning);
                let mut meta = result
                    .remove("_meta")
                    .and_then(|m| match m {
                        Value::Object(m) => Some(m),
                        _ => None,
                    })
                    .unwrap_or_default();
                meta.insert("io.missy-sandbox/screening".into(), findings.to_json());
                result.insert("_meta".into(), Value::Object(meta));
                self.audit(Decision::Allow, &findings.rules(), size, &findings, None);
                jsonrpc::response(id, &self.served.shape(result))
            }
        }
    }

    pub(super) fn audit(
        &self,
        decision: Decision,
        rule: &str,
        size: u64,
        findings: &Findings,
        message: Option<String>,
    ) {
        self.record
            .write(&self.gateway, decision, rule, size, findings, message);
    }
}

/// Put the warning where the client shows it: a first text block of a tool result, a first
/// message of a prompt, a first content of a resource.
fn flag(result: &mut Map<String, Value>, method: &str, warning: &str) {
    let (key, item) = match method {
        "tools/call" => ("content", json!({ "type": "text", "text": warning })),
        "prompts/get" => (
            "messages",
            json!({ "role": "user", "content": { "type": "text", "text": warning } }),
        ),
        "resources/read" => (
            "contents",
            json!({ "uri": "missy-sandbox:screening", "mimeType": "text/plain", "text": warning }),
        ),
        _ => return,
    };
    match result.get_mut(key) {
        Some(Value::Array(items)) => items.insert(0, item),
        _ => {
            result.insert(key.into(), json!([item]));
        }
    }
}

/// A tool result that is an error the model sees.
pub(super) fn tool_error(message: &str) -> Map<String, Value> {
    let mut result = Map::new();
    result.insert(
        "content".into(),
        json!([{ "type": "text", "text": message }]),
    );
    result.insert("isError".into(), json!(true));
    result
}

/// SHA-256 of the arguments with secret-looking values censored (the log never holds them).
pub(super) fn arguments_hash(arguments: &Value) -> String {
    let text = serde_json::to_string(arguments).unwrap_or_default();
    crate::audit::record::sha256_hex(crate::audit::censor_text(&text).as_bytes())
}
