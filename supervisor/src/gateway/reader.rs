//! Reading a server's stdout: answers go to the calls that wait for them (an answer over the
//! server's limit fails its call, found by the id at either end of the line), the server's own
//! requests are answered here, progress goes straight to the client, and other notifications to
//! the session. When the output ends, every call under way fails at once.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::server::lines::{Bounded, next_line_keeping_ends};
use crate::server::mcp::jsonrpc::{self, Id, Message, RpcError};

use super::downstream::{CallError, Connection, Notice, ProgressRelay};

/// Bytes kept from each end of a too-large line to find its id.
const ENDS: usize = 512;

/// Reads the server's stdout.
pub(super) struct Reader {
    pub(super) connection: Arc<Connection>,
    pub(super) index: usize,
    pub(super) limit: u64,
    pub(super) notices: mpsc::UnboundedSender<Notice>,
    pub(super) progress: ProgressRelay,
    pub(super) workspace: PathBuf,
}

impl Reader {
    pub(super) async fn run<R: tokio::io::AsyncBufRead + Unpin>(&self, mut input: R) {
        let max = usize::try_from(self.limit).unwrap_or(usize::MAX);
        loop {
            match next_line_keeping_ends(&mut input, max, ENDS).await {
                Ok(Bounded::Eof) | Err(_) => return,
                Ok(Bounded::TooLong { length, head, tail }) => self.too_large(length, &head, &tail),
                Ok(Bounded::Text(line)) => {
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    self.message(&line).await;
                }
            }
        }
    }

    async fn message(&self, line: &[u8]) {
        let name = &self.connection.name;
        match jsonrpc::parse(line) {
            Ok(Message::Response {
                id: Some(Id::Number(id)),
                result,
            }) => {
                let result = result.map_err(|error| CallError::Rpc {
                    server: name.clone(),
                    error,
                });
                self.answer(id, result);
            }
            Ok(Message::Response { id, .. }) => {
                tracing::warn!(server = %name, ?id, "mcp-gateway: a response to no request of ours was dropped");
            }
            Ok(Message::Request { id, method, .. }) => self.server_request(&id, &method),
            Ok(Message::Notification { method, params }) if method == "notifications/progress" => {
                let mut params = Value::Object(params.unwrap_or_default());
                self.progress.screen.value(&mut params);
                let line = jsonrpc::notification(&method, &params);
                let _ = self.progress.client.send(line).await;
            }
            Ok(Message::Notification { method, params }) => {
                let _ = self.notices.send(Notice {
                    server: self.index,
                    method,
                    params,
                });
            }
            Err(rejected) => {
                tracing::warn!(server = %name, error = %rejected.error, "mcp-gateway: the server sent a malformed message; dropped");
            }
        }
    }

    /// Requests from the server: `ping` and `roots/list` (its workspace) are answered;
    /// anything else (sampling, elicitation) is not passed to the client.
    fn server_request(&self, id: &Id, method: &str) {
        let line = match method {
            "ping" => jsonrpc::response(id, &json!({})),
            "roots/list" => {
                let uri = url::Url::from_directory_path(&self.workspace)
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                jsonrpc::response(id, &json!({ "roots": [{ "uri": uri, "name": "workspace" }] }))
            }
            other => jsonrpc::error_response(
                Some(id),
                &RpcError::method_not_found(other).with_data(json!({
                    "reason": "the missy-sandbox gateway does not pass server requests to the client"
                })),
            ),
        };
        let _ = self.connection.writer.send(line);
    }

    fn answer(&self, id: i64, result: Result<Value, CallError>) {
        let waiting = self
            .connection
            .pending
            .lock()
            .ok()
            .and_then(|mut p| p.remove(&id));
        match waiting {
            Some(tx) => {
                let _ = tx.send(result);
            }
            None => {
                tracing::debug!(server = %self.connection.name, id, "mcp-gateway: an answer nobody waits for (cancelled or timed out)")
            }
        }
    }

    /// A line over the limit: the call it answers (its id read from either end) fails.
    fn too_large(&self, size: usize, head: &[u8], tail: &[u8]) {
        let error = CallError::TooLarge {
            server: self.connection.name.clone(),
            size,
            limit: self.limit,
        };
        let pending: Vec<i64> = self
            .connection
            .pending
            .lock()
            .map(|p| p.keys().copied().collect())
            .unwrap_or_default();
        match response_id(head, tail, &pending) {
            Some(id) => self.answer(id, Err(error)),
            None => tracing::warn!(server = %self.connection.name, "mcp-gateway: {error}"),
        }
    }

    pub(super) fn fail_all(&self, status: &str) {
        let waiting: Vec<_> = self
            .connection
            .pending
            .lock()
            .map(|mut p| p.drain().collect())
            .unwrap_or_default();
        for (_, tx) in waiting {
            let _ = tx.send(Err(CallError::Exited {
                server: self.connection.name.clone(),
                status: status.to_string(),
            }));
        }
    }
}

/// The id of a response too large to parse: `"id":N` right after `"jsonrpc":"2.0"` at the
/// start, or right before the closing brace at the end (where serialisers put it), and only
/// one of the ids still waiting.
fn response_id(head: &[u8], tail: &[u8], pending: &[i64]) -> Option<i64> {
    static AT_START: std::sync::LazyLock<regex::bytes::Regex> = std::sync::LazyLock::new(|| {
        regex::bytes::Regex::new(r#"^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(-?\d+)"#)
            .unwrap()
    });
    static AT_END: std::sync::LazyLock<regex::bytes::Regex> = std::sync::LazyLock::new(|| {
        regex::bytes::Regex::new(r#""id"\s*:\s*(-?\d+)\s*(?:,\s*"jsonrpc"\s*:\s*"2\.0"\s*)?\}\s*$"#)
            .unwrap()
    });
    [AT_START.captures(head), AT_END.captures(tail)]
        .into_iter()
        .flatten()
        .filter_map(|c| std::str::from_utf8(&c[1]).ok()?.parse::<i64>().ok())
        .find(|id| pending.contains(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_of_a_too_large_response_is_found_at_either_end() {
        let pending = [3, 7];
        assert_eq!(
            response_id(
                br#"{"jsonrpc":"2.0","id":7,"result":{"content":"#,
                b"aaaa\"}]}}",
                &pending
            ),
            Some(7)
        );
        assert_eq!(
            response_id(
                br#"{"result":{"content":[{"#,
                br#"aaa"}]},"jsonrpc":"2.0","id":3}"#,
                &pending
            ),
            Some(3)
        );
        // An id inside the content, or one nobody waits for, is not taken.
        assert_eq!(
            response_id(
                br#"{"result":{"id":3,"#,
                br#"x"},"jsonrpc":"2.0","id":9}"#,
                &pending
            ),
            None
        );
    }
}
