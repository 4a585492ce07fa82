//! JSON-RPC 2.0 as MCP uses it over stdio: one message per line, UTF-8 JSON, no batches.
//! Parsing is total: any line becomes a [`Message`] or an [`RpcError`] to answer (with the
//! request's id when one could be read), and the reader goes on. Shared by every MCP front end.

use serde::Serialize;
use serde_json::{Map, Value};

/// Longest line accepted, newline excluded. Tool arguments (a file to write) travel inside.
pub const MAX_LINE: usize = 8 << 20;

/// Standard JSON-RPC error codes.
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;

/// A request id: MCP allows a string or an integer (never null).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Id {
    Number(i64),
    Text(String),
}

impl Id {
    fn from_value(v: &Value) -> Option<Id> {
        match v {
            Value::String(s) => Some(Id::Text(s.clone())),
            Value::Number(n) => n.as_i64().map(Id::Number),
            _ => None,
        }
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Id::Number(n) => write!(f, "{n}"),
            Id::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Request {
        id: Id,
        method: String,
        params: Option<Map<String, Value>>,
    },
    Notification {
        method: String,
        params: Option<Map<String, Value>>,
    },
    /// An answer to a request this side sent.
    Response {
        id: Option<Id>,
        result: Result<Value, RpcError>,
    },
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{message} ({code})")]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn with_data(mut self, data: Value) -> RpcError {
        self.data = Some(data);
        self
    }

    pub fn invalid_request(message: impl Into<String>) -> RpcError {
        RpcError::new(INVALID_REQUEST, message)
    }

    pub fn invalid_params(message: impl Into<String>) -> RpcError {
        RpcError::new(INVALID_PARAMS, message)
    }

    pub fn method_not_found(method: &str) -> RpcError {
        RpcError::new(METHOD_NOT_FOUND, format!("method not found: {method:?}"))
            .with_data(serde_json::json!({ "method": method }))
    }
}

/// A line that is not a valid message: the error to send back, and the id to send it with
/// (`None` becomes `"id": null`, as JSON-RPC asks when the id cannot be read).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub id: Option<Id>,
    pub error: RpcError,
}

/// Parse one line (without its newline).
pub fn parse(line: &[u8]) -> Result<Message, Rejected> {
    let reject = |id: Option<Id>, message: String| Rejected {
        id,
        error: RpcError::invalid_request(message),
    };
    let value: Value = serde_json::from_slice(line).map_err(|e| Rejected {
        id: None,
        error: RpcError::new(
            PARSE_ERROR,
            format!(
                "parse error: not JSON ({e}); send one JSON-RPC message per line, UTF-8, no raw newlines inside"
            ),
        ),
    })?;
    let mut object = match value {
        Value::Object(o) => o,
        Value::Array(_) => {
            return Err(reject(
                None,
                "batches (JSON arrays) are not supported: send one message per line".into(),
            ));
        }
        other => {
            return Err(reject(
                None,
                format!("a message must be a JSON object, not {}", kind(&other)),
            ));
        }
    };
    let raw_id = object.remove("id");
    let id = raw_id.as_ref().and_then(Id::from_value);
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(reject(id, "\"jsonrpc\" must be \"2.0\"".into()));
    }
    if raw_id.is_some() && id.is_none() {
        return Err(reject(
            None,
            "\"id\" must be a string or an integer (not null)".into(),
        ));
    }
    match object.remove("method") {
        Some(Value::String(method)) => {
            let params = match object.remove("params") {
                None => None,
                Some(Value::Object(p)) => Some(p),
                Some(other) => {
                    return Err(Rejected {
                        id,
                        error: RpcError::invalid_params(format!(
                            "\"params\" must be an object, not {}",
                            kind(&other)
                        )),
                    });
                }
            };
            Ok(match id {
                Some(id) => Message::Request { id, method, params },
                None => Message::Notification { method, params },
            })
        }
        Some(other) => Err(reject(
            id,
            format!("\"method\" must be a string, not {}", kind(&other)),
        )),
        None => {
            let result = match (object.remove("result"), object.remove("error")) {
                (Some(r), None) => Ok(r),
                (None, Some(e)) => Err(serde_json::from_value::<ErrorIn>(e)
                    .map(|e| RpcError::new(e.code, e.message))
                    .unwrap_or_else(|_| RpcError::new(INTERNAL_ERROR, "malformed error object"))),
                _ => {
                    return Err(reject(
                        id,
                        "a message needs \"method\" (a request or notification) or exactly one of \"result\" and \"error\" (a response)".into(),
                    ));
                }
            };
            Ok(Message::Response { id, result })
        }
    }
}

#[derive(serde::Deserialize)]
struct ErrorIn {
    code: i64,
    message: String,
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The line (newline included) answering request `id` with `result`.
pub fn response(id: &Id, result: &Value) -> Vec<u8> {
    line(&serde_json::json!({ "jsonrpc": "2.0", "id": id, "result": result }))
}

/// The line answering with an error; `id` `None` is sent as null.
pub fn error_response(id: Option<&Id>, error: &RpcError) -> Vec<u8> {
    line(&serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": error }))
}

/// The error line for a message of `length` bytes over `limit` (`what` names the limit).
pub fn too_long(length: usize, limit: usize, what: &str) -> Vec<u8> {
    let error = RpcError::invalid_request(format!(
        "message of {length} bytes exceeds {what} of {limit} bytes; it was skipped"
    ))
    .with_data(serde_json::json!({ "limit": limit, "length": length }));
    error_response(None, &error)
}

/// A notification line.
pub fn notification(method: &str, params: &Value) -> Vec<u8> {
    line(&serde_json::json!({ "jsonrpc": "2.0", "method": method, "params": params }))
}

fn line(v: &Value) -> Vec<u8> {
    // serde_json escapes control characters, so a message never holds a raw newline.
    let mut out = serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec());
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(line: &str) -> (Option<Id>, i64) {
        let r = parse(line.as_bytes()).unwrap_err();
        (r.id, r.error.code)
    }

    #[test]
    fn requests_notifications_and_responses_are_told_apart() {
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#).unwrap(),
            Message::Request {
                id: Id::Number(7),
                method: "ping".into(),
                params: None
            }
        );
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized","params":{}}"#),
            Ok(Message::Notification { .. })
        ));
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#),
            Ok(Message::Response { result: Ok(_), .. })
        ));
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","id":"a","error":{"code":-1,"message":"x"}}"#),
            Ok(Message::Response { result: Err(_), .. })
        ));
    }

    #[test]
    fn broken_messages_get_the_right_code_and_keep_their_id() {
        assert_eq!(code("{not json"), (None, PARSE_ERROR));
        assert_eq!(code("[]"), (None, INVALID_REQUEST));
        assert_eq!(code("42"), (None, INVALID_REQUEST));
        assert_eq!(
            code(r#"{"id":3,"method":"ping"}"#),
            (Some(Id::Number(3)), INVALID_REQUEST)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#),
            (None, INVALID_REQUEST)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":"x","method":1}"#),
            (Some(Id::Text("x".into())), INVALID_REQUEST)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}"#),
            (Some(Id::Number(1)), INVALID_PARAMS)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1}"#),
            (Some(Id::Number(1)), INVALID_REQUEST)
        );
    }

    mod totality {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any bytes, and any message-shaped object, parse to a message or to an error
            /// that encodes as one JSON line: the reader can always answer and go on.
            #[test]
            fn parsing_is_total(
                bytes in proptest::collection::vec(any::<u8>(), 0..256),
                id in prop_oneof![
                    Just(Value::Null),
                    any::<i64>().prop_map(Value::from),
                    "[a-z\n]{0,8}".prop_map(Value::from),
                    any::<f64>().prop_map(Value::from),
                ],
                method in proptest::option::of("[a-z/\u{0}-\u{1f}]{0,12}"),
                version in proptest::option::of("2\\.0|1\\.0|"),
            ) {
                let mut object = Map::new();
                object.insert("id".into(), id);
                if let Some(m) = method {
                    object.insert("method".into(), Value::from(m));
                }
                if let Some(v) = version {
                    object.insert("jsonrpc".into(), Value::from(v));
                }
                let shaped = serde_json::to_vec(&Value::Object(object)).unwrap();
                for line in [&bytes[..], &shaped[..]] {
                    if let Err(r) = parse(line) {
                        let out = error_response(r.id.as_ref(), &r.error);
                        prop_assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
                        let v: Value = serde_json::from_slice(&out).unwrap();
                        prop_assert!(v["error"]["code"].is_i64());
                    }
                }
            }
        }
    }

    #[test]
    fn lines_are_single_lines() {
        let out = response(&Id::Text("a".into()), &serde_json::json!({"t": "x\ny"}));
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
        assert!(out.ends_with(b"\n"));
        let err = error_response(None, &RpcError::invalid_request("x"));
        assert!(String::from_utf8(err).unwrap().contains("\"id\":null"));
    }
}
