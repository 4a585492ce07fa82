//! The `serve` protocol: JSON lines over a Unix socket, documented in docs/protocol.md with a
//! JSON Schema in docs/protocol.schema.json.
//!
//! Every line a client sends is one [`Request`]; every line the daemon sends is one [`Event`].
//! Parsing is total: any line, however broken, becomes a request or a [`ProtocolError`] the
//! daemon answers with an `error` event before it reads the next line.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The protocol versions this daemon speaks; `hello` picks the highest both sides know.
pub const VERSIONS: &[u32] = &[1];

/// Longest line accepted from a client, newline excluded (stdin travels inside `exec`).
pub const MAX_LINE: usize = 1 << 20;

/// Longest request id.
const MAX_ID: usize = 128;

/// One request line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Version negotiation; must come first.
    Hello {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The versions the client speaks.
        versions: Vec<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
    },
    /// Run a command in a fresh sandbox.
    Exec(ExecRequest),
    /// Run `fetch` (one URL under a profile's egress rules); output as for `exec`.
    Fetch(FetchRequest),
    /// Cancel a run of this connection.
    Cancel { id: String },
    /// The profiles this client may use.
    Profiles {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// Is the daemon serving, and how loaded is it.
    Health {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecRequest {
    /// Chosen by the client, unique among its connection's unfinished runs.
    pub id: String,
    pub profile: String,
    pub argv: Vec<String>,
    /// Absolute path of the workspace (`{workspace}` in the profile).
    pub workspace: String,
    /// Bytes for the command's stdin, as text (`stdin`) or base64 (`stdin_b64`); none: empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin_b64: Option<String>,
    /// Variables the profile's `[env] pass` lets through; any other name is refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Wall-clock limit; only shortens the profile's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Watch for denials and return the report in `exit` (slower calls, as `exec --report`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub report: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchRequest {
    pub id: String,
    pub profile: String,
    pub url: String,
    pub workspace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl Request {
    /// The request id, when it has one (echoed in replies).
    pub fn id(&self) -> Option<&str> {
        match self {
            Request::Hello { id, .. } | Request::Profiles { id } | Request::Health { id } => {
                id.as_deref()
            }
            Request::Exec(e) => Some(&e.id),
            Request::Fetch(f) => Some(&f.id),
            Request::Cancel { id } => Some(id),
        }
    }
}

/// One event line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Hello {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        version: u32,
        server: String,
        max_line: usize,
    },
    /// The run waits for a free slot (`position` runs are ahead of it).
    Queued {
        id: String,
        position: usize,
    },
    /// The run's sandbox is being started.
    Started {
        id: String,
    },
    /// A chunk of the run's censored output.
    Stdout(Chunk),
    Stderr(Chunk),
    Exit(Exit),
    Profiles {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        profiles: Vec<ProfileInfo>,
    },
    Health {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        ok: bool,
        version: String,
        uptime_ms: u64,
        running: usize,
        queued: usize,
        max_runs: usize,
        queue: usize,
    },
    Error(ErrorEvent),
}

/// Output bytes: `data` when the chunk is valid UTF-8, else `data_b64`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_b64: Option<String>,
}

impl Chunk {
    pub fn new(id: &str, bytes: &[u8]) -> Chunk {
        match std::str::from_utf8(bytes) {
            Ok(text) => Chunk {
                id: id.to_string(),
                data: Some(text.to_string()),
                data_b64: None,
            },
            Err(_) => Chunk {
                id: id.to_string(),
                data: None,
                data_b64: Some(base64_encode(bytes)),
            },
        }
    }

    /// The chunk's bytes (None: `data_b64` is not base64).
    pub fn bytes(&self) -> Option<Vec<u8>> {
        match (&self.data, &self.data_b64) {
            (Some(text), _) => Some(text.as_bytes().to_vec()),
            (None, Some(b64)) => base64_decode(b64),
            (None, None) => Some(Vec::new()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exit {
    pub id: String,
    /// As `exec` returns it: the command's status, 128+N for signal N, 124 timeout, 125 setup
    /// failure, 2 bad input.
    pub status: i32,
    pub duration_ms: u64,
    #[serde(default)]
    pub cancelled: bool,
    /// Why the run ended abnormally or failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<crate::audit::Resources>,
    /// The denial report (`report: true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<crate::audit::DenialReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileInfo {
    pub name: String,
    pub description: String,
    pub network: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_time_ms: Option<u64>,
    /// Variables (or patterns) a client's `env` may set.
    pub env_pass: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub code: ErrorCode,
    pub message: String,
}

/// What went wrong, for programs; `message` says it for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or not a request this protocol knows.
    Malformed,
    /// The line exceeds [`MAX_LINE`].
    TooLarge,
    /// A request before `hello`, or a second `hello`.
    OutOfOrder,
    /// No protocol version in common.
    UnsupportedVersion,
    /// A valid request with a bad value (an empty argv, a relative workspace...).
    BadRequest,
    /// The profile is not granted to this client.
    Forbidden,
    /// The id is already in use by an unfinished run of this connection.
    DuplicateId,
    /// No unfinished run of this connection has this id.
    UnknownId,
    /// Every run slot and the queue are full; retry later.
    Busy,
    /// Cancelled before it started.
    Cancelled,
    /// The daemon failed (its message says how); the connection stays usable.
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: String,
    /// The request id, when the line was readable enough to find it.
    pub id: Option<String>,
}

impl ProtocolError {
    /// Control characters in `message` (a client's bytes quoted by serde) are escaped, so a
    /// message is always one printable line.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ProtocolError {
        let message: String = message.into();
        let message = if message.chars().any(char::is_control) {
            message
                .chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_default().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        } else {
            message
        };
        ProtocolError {
            code,
            message,
            id: None,
        }
    }

    pub fn with_id(mut self, id: Option<&str>) -> ProtocolError {
        self.id = id.map(str::to_string);
        self
    }

    pub fn event(&self) -> Event {
        Event::Error(ErrorEvent {
            id: self.id.clone(),
            code: self.code,
            message: self.message.clone(),
        })
    }
}

/// Parse one line (without its newline) into a checked request.
pub fn parse(line: &[u8]) -> Result<Request, ProtocolError> {
    if line.len() > MAX_LINE {
        return Err(ProtocolError::new(
            ErrorCode::TooLarge,
            format!(
                "line of {} bytes exceeds the limit of {MAX_LINE}",
                line.len()
            ),
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(line)
        .map_err(|e| ProtocolError::new(ErrorCode::Malformed, format!("not a JSON object: {e}")))?;
    let id = value.get("id").and_then(|v| v.as_str()).map(str::to_string);
    let request: Request = serde_json::from_value(value).map_err(|e| {
        ProtocolError::new(ErrorCode::Malformed, format!("not a valid request: {e}"))
            .with_id(id.as_deref())
    })?;
    check(&request).map_err(|e| e.with_id(request.id()))?;
    Ok(request)
}

/// Checks serde cannot express.
fn check(request: &Request) -> Result<(), ProtocolError> {
    let bad = |m: String| Err(ProtocolError::new(ErrorCode::BadRequest, m));
    if let Some(id) = request.id()
        && (id.is_empty() || id.len() > MAX_ID)
    {
        return bad(format!("id: must be 1 to {MAX_ID} bytes"));
    }
    match request {
        Request::Exec(e) => {
            if e.argv.is_empty() || e.argv[0].is_empty() {
                return bad("argv: must name a program".into());
            }
            if e.argv.iter().any(|a| a.contains('\0')) {
                return bad("argv: NUL bytes are not allowed".into());
            }
            if e.stdin.is_some() && e.stdin_b64.is_some() {
                return bad("stdin and stdin_b64: give at most one".into());
            }
            if let Some(b64) = &e.stdin_b64
                && base64_decode(b64).is_none()
            {
                return bad("stdin_b64: not valid base64".into());
            }
            if let Some(name) = e
                .env
                .keys()
                .find(|k| k.is_empty() || k.contains(['=', '\0']))
            {
                return bad(format!("env: invalid variable name {name:?}"));
            }
            if e.env.values().any(|v| v.contains('\0')) {
                return bad("env: NUL bytes are not allowed in values".into());
            }
            check_common(&e.profile, &e.workspace, e.timeout_ms)
        }
        Request::Fetch(f) => check_common(&f.profile, &f.workspace, f.timeout_ms),
        _ => Ok(()),
    }
}

fn check_common(
    profile: &str,
    workspace: &str,
    timeout_ms: Option<u64>,
) -> Result<(), ProtocolError> {
    let bad = |m: &str| Err(ProtocolError::new(ErrorCode::BadRequest, m));
    if profile.is_empty() {
        return bad("profile: must not be empty");
    }
    if !workspace.starts_with('/') || workspace.contains('\0') {
        return bad("workspace: must be an absolute path");
    }
    if timeout_ms == Some(0) {
        return bad("timeout_ms: must be positive");
    }
    Ok(())
}

/// One serialised event line, newline included.
pub fn encode(event: &Event) -> Vec<u8> {
    // Serialising these types cannot fail (no maps with non-string keys, no foreign types).
    let mut line = serde_json::to_vec(event).unwrap_or_else(|_| b"{}".to_vec());
    line.push(b'\n');
    line
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_round_trip() {
        let line = br#"{"type":"exec","id":"r1","profile":"strict","argv":["true"],"workspace":"/tmp","env":{"LANG":"C"},"timeout_ms":500}"#;
        let req = parse(line).unwrap();
        let again = parse(&serde_json::to_vec(&req).unwrap()).unwrap();
        assert_eq!(req, again);
        assert_eq!(req.id(), Some("r1"));
    }

    #[test]
    fn malformed_lines_name_the_problem() {
        let e = parse(b"{not json").unwrap_err();
        assert_eq!(e.code, ErrorCode::Malformed);
        let e = parse(br#"{"type":"launch","id":"x"}"#).unwrap_err();
        assert_eq!((e.code, e.id.as_deref()), (ErrorCode::Malformed, Some("x")));
        let e = parse(br#"{"type":"exec","id":"x","profile":"p","argv":[],"workspace":"/"}"#)
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert!(e.message.contains("argv"), "{e}");
        let e = parse(br#"{"type":"exec","id":"x","profile":"p","argv":["a"],"workspace":"rel"}"#)
            .unwrap_err();
        assert!(e.message.contains("workspace"), "{e}");
        let e = parse(br#"{"type":"health","extra":1}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::Malformed);
        let e = parse(b"{\"type\":\"a\\nb\"}").unwrap_err();
        assert!(!e.message.contains('\n'), "{e}");
        let long = vec![b' '; MAX_LINE + 1];
        assert_eq!(parse(&long).unwrap_err().code, ErrorCode::TooLarge);
    }

    #[test]
    fn chunks_carry_text_or_base64() {
        let text = Chunk::new("a", b"hi\n");
        assert_eq!(text.data.as_deref(), Some("hi\n"));
        let binary = Chunk::new("a", &[0xff, 0x00]);
        assert!(binary.data.is_none());
        assert_eq!(binary.bytes().unwrap(), vec![0xff, 0x00]);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse(&bytes);
        }
    }
}
