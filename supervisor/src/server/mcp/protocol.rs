//! MCP's protocol revisions and version negotiation, shared by every MCP front end.
//!
//! Two eras. Up to 2025-11-25 a connection starts with `initialize` (the client proposes a
//! version, the server answers with it or with its own latest) and every later request relies
//! on that handshake. From 2026-07-28 there is no handshake: every request carries its
//! protocol version and the client's capabilities in `params._meta`, and `server/discover`
//! tells a client what the server speaks. A connection is locked into the era of the first
//! request that settles it; `ping` is answered in any state.

use serde_json::{Map, Value, json};

use super::jsonrpc::{Id, RpcError};

/// Revisions reached through `initialize`, oldest first.
pub const HANDSHAKE_VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
/// Revisions that carry the per-request `_meta` envelope, oldest first.
pub const MODERN_VERSIONS: &[&str] = &["2026-07-28"];
/// The newest revision spoken.
pub const LATEST_VERSION: &str = "2026-07-28";

/// The request's protocol version (2026-07-28 envelope).
pub const PROTOCOL_VERSION_KEY: &str = "io.modelcontextprotocol/protocolVersion";
/// The client's capabilities (2026-07-28 envelope).
pub const CLIENT_CAPABILITIES_KEY: &str = "io.modelcontextprotocol/clientCapabilities";
/// The server's name and version in a `server/discover` result's `_meta`.
pub const SERVER_INFO_KEY: &str = "io.modelcontextprotocol/serverInfo";

/// The request names a protocol version the server does not speak (2026-07-28).
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
/// A request other than `initialize`/`ping` before the handshake (implementation-defined band).
pub const NOT_INITIALIZED: i64 = -32003;
/// Too many requests under way on this connection (implementation-defined band).
pub const BUSY: i64 = -32004;

/// Who this server is.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub name: String,
    pub version: String,
    /// What the server is for, shown to the model.
    pub instructions: String,
    /// The `capabilities` object.
    pub capabilities: Value,
}

/// Where a connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Era {
    /// Nothing has settled the era yet.
    Fresh,
    /// `initialize` was answered with this version.
    Handshake(String),
    /// Requests carry the 2026-07-28 envelope.
    Modern,
}

/// The version one request is served at, for shaping its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    Handshake(String),
    Modern(String),
}

impl Served {
    /// Whether results may carry `structuredContent` (2025-06-18 on).
    pub fn structured(&self) -> bool {
        match self {
            Served::Handshake(v) => v.as_str() >= "2025-06-18",
            Served::Modern(_) => true,
        }
    }

    /// `result` as this revision wants it: 2026-07-28 tags every result `complete`.
    pub fn shape(&self, mut result: Map<String, Value>) -> Value {
        if matches!(self, Served::Modern(_)) {
            result.insert("resultType".into(), json!("complete"));
        }
        Value::Object(result)
    }

    /// A list result; 2026-07-28 adds its caching directives (never cached by others).
    pub fn shape_list(&self, mut result: Map<String, Value>) -> Value {
        if matches!(self, Served::Modern(_)) {
            result.insert("ttlMs".into(), json!(0));
            result.insert("cacheScope".into(), json!("private"));
        }
        self.shape(result)
    }
}

/// The connection's negotiation state.
#[derive(Debug)]
pub struct Negotiation {
    pub era: Era,
    server: ServerInfo,
}

impl Negotiation {
    pub fn new(server: ServerInfo) -> Negotiation {
        Negotiation {
            era: Era::Fresh,
            server,
        }
    }

    pub fn server(&self) -> &ServerInfo {
        &self.server
    }

    /// Answer the negotiation methods (`initialize`, `server/discover`, `ping`) itself;
    /// for any other request, say at which version it is served, or why it is refused.
    pub fn admit(
        &mut self,
        method: &str,
        params: Option<&Map<String, Value>>,
    ) -> Result<Admitted, RpcError> {
        let envelope = envelope_version(params)?;
        match (method, &self.era) {
            ("initialize", Era::Fresh) => {
                let requested = params
                    .and_then(|p| p.get("protocolVersion"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        RpcError::invalid_params(
                            "initialize: params.protocolVersion (a string) is required",
                        )
                    })?;
                let version = negotiate(requested);
                self.era = Era::Handshake(version.to_string());
                Ok(Admitted::Answer(self.initialize_result(version)))
            }
            ("initialize", Era::Handshake(_)) => Err(RpcError::invalid_request(
                "initialize: this connection is already initialized",
            )),
            ("initialize", Era::Modern) => {
                let requested = params
                    .and_then(|p| p.get("protocolVersion"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                Err(unsupported(requested))
            }
            ("ping", _) if envelope.is_none() => Ok(Admitted::Answer(json!({}))),
            (_, Era::Handshake(v)) => Ok(Admitted::Serve(Served::Handshake(v.clone()))),
            (_, Era::Fresh | Era::Modern) => {
                let Some(version) = envelope else {
                    return Err(RpcError::new(
                        NOT_INITIALIZED,
                        format!(
                            "{method}: not initialized: send `initialize` first, or carry the \
                             protocol version and client capabilities in params._meta \
                             (protocol {LATEST_VERSION})"
                        ),
                    ));
                };
                if !MODERN_VERSIONS.contains(&version.as_str()) {
                    return Err(unsupported(&version));
                }
                self.era = Era::Modern;
                let served = Served::Modern(version);
                if method == "server/discover" {
                    return Ok(Admitted::Answer(self.discover_result(&served)));
                }
                if method == "ping" {
                    return Ok(Admitted::Answer(served.shape(Map::new())));
                }
                Ok(Admitted::Serve(served))
            }
        }
    }

    fn initialize_result(&self, version: &str) -> Value {
        json!({
            "protocolVersion": version,
            "capabilities": self.server.capabilities,
            "serverInfo": { "name": self.server.name, "version": self.server.version },
            "instructions": self.server.instructions,
        })
    }

    fn discover_result(&self, served: &Served) -> Value {
        let mut all: Vec<&str> = MODERN_VERSIONS.to_vec();
        all.extend_from_slice(HANDSHAKE_VERSIONS);
        let mut result = Map::new();
        result.insert("supportedVersions".into(), json!(all));
        result.insert("capabilities".into(), self.server.capabilities.clone());
        result.insert("instructions".into(), json!(self.server.instructions));
        result.insert(
            "_meta".into(),
            json!({ SERVER_INFO_KEY: { "name": self.server.name, "version": self.server.version } }),
        );
        served.shape_list(result)
    }
}

/// What [`Negotiation::admit`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Admitted {
    /// The negotiation answered the request itself.
    Answer(Value),
    /// Serve the request at this version.
    Serve(Served),
}

/// The handshake version to answer `requested` with: the same when spoken, else the latest
/// handshake revision (the client then decides whether it can go on).
pub fn negotiate(requested: &str) -> &'static str {
    HANDSHAKE_VERSIONS
        .iter()
        .find(|v| **v == requested)
        .copied()
        .unwrap_or(HANDSHAKE_VERSIONS[HANDSHAKE_VERSIONS.len() - 1])
}

/// The envelope's version when the request carries one; a broken envelope is an error.
fn envelope_version(params: Option<&Map<String, Value>>) -> Result<Option<String>, RpcError> {
    let Some(meta) = params.and_then(|p| p.get("_meta")) else {
        return Ok(None);
    };
    let Some(meta) = meta.as_object() else {
        return Err(RpcError::invalid_params("params._meta must be an object"));
    };
    let Some(version) = meta.get(PROTOCOL_VERSION_KEY) else {
        // `_meta` for other purposes (a progress token) on a handshake-era request.
        return Ok(None);
    };
    let Some(version) = version.as_str() else {
        return Err(RpcError::invalid_params(format!(
            "params._meta[{PROTOCOL_VERSION_KEY:?}] must be a string"
        )));
    };
    if !meta.contains_key(CLIENT_CAPABILITIES_KEY) {
        return Err(RpcError::invalid_params(format!(
            "params._meta is missing the required envelope key {CLIENT_CAPABILITIES_KEY:?}"
        )));
    }
    Ok(Some(version.to_string()))
}

fn unsupported(requested: &str) -> RpcError {
    RpcError::new(
        UNSUPPORTED_PROTOCOL_VERSION,
        format!(
            "unsupported protocol version {requested:?} on this connection (it speaks {MODERN_VERSIONS:?} per request)"
        ),
    )
    .with_data(json!({ "supported": MODERN_VERSIONS, "requested": requested }))
}

/// The request id a `notifications/cancelled` names.
pub fn cancelled_id(params: Option<&Map<String, Value>>) -> Option<Id> {
    match params?.get("requestId")? {
        Value::String(s) => Some(Id::Text(s.clone())),
        Value::Number(n) => n.as_i64().map(Id::Number),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiation() -> Negotiation {
        Negotiation::new(ServerInfo {
            name: "t".into(),
            version: "0".into(),
            instructions: "i".into(),
            capabilities: json!({"tools": {}}),
        })
    }

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn modern(version: &str) -> Map<String, Value> {
        params(json!({"_meta": {PROTOCOL_VERSION_KEY: version, CLIENT_CAPABILITIES_KEY: {}}}))
    }

    #[test]
    fn initialize_answers_a_known_version_with_itself_and_an_unknown_one_with_the_latest() {
        for v in HANDSHAKE_VERSIONS {
            assert_eq!(negotiate(v), *v);
        }
        assert_eq!(negotiate("1999-01-01"), "2025-11-25");
        let mut n = negotiation();
        let p = params(json!({"protocolVersion": "2025-06-18", "capabilities": {}}));
        let Ok(Admitted::Answer(r)) = n.admit("initialize", Some(&p)) else {
            panic!()
        };
        assert_eq!(r["protocolVersion"], "2025-06-18");
        assert_eq!(n.era, Era::Handshake("2025-06-18".into()));
        assert!(n.admit("initialize", Some(&p)).is_err(), "only once");
        assert_eq!(
            n.admit("tools/list", None),
            Ok(Admitted::Serve(Served::Handshake("2025-06-18".into())))
        );
    }

    #[test]
    fn requests_before_the_handshake_are_refused_unless_they_carry_the_envelope() {
        let mut n = negotiation();
        assert_eq!(
            n.admit("tools/list", None).unwrap_err().code,
            NOT_INITIALIZED
        );
        assert_eq!(n.admit("ping", None), Ok(Admitted::Answer(json!({}))));
        assert_eq!(n.era, Era::Fresh);
        let old = modern("2025-06-18");
        let e = n.admit("tools/list", Some(&old)).unwrap_err();
        assert_eq!(e.code, UNSUPPORTED_PROTOCOL_VERSION);
        assert_eq!(e.data.unwrap()["supported"], json!(["2026-07-28"]));
        let broken = params(json!({"_meta": {PROTOCOL_VERSION_KEY: "2026-07-28"}}));
        assert_eq!(
            n.admit("tools/list", Some(&broken)).unwrap_err().code,
            super::super::jsonrpc::INVALID_PARAMS
        );
        let p = modern("2026-07-28");
        let Ok(Admitted::Answer(d)) = n.admit("server/discover", Some(&p)) else {
            panic!()
        };
        assert_eq!(d["resultType"], "complete");
        assert!(
            d["supportedVersions"]
                .as_array()
                .unwrap()
                .contains(&json!("2026-07-28"))
        );
        assert_eq!(n.era, Era::Modern);
        assert_eq!(
            n.admit("tools/call", Some(&p)),
            Ok(Admitted::Serve(Served::Modern("2026-07-28".into())))
        );
        // Locked modern: a late handshake names the versions spoken.
        let init = params(json!({"protocolVersion": "2025-11-25"}));
        assert_eq!(
            n.admit("initialize", Some(&init)).unwrap_err().code,
            UNSUPPORTED_PROTOCOL_VERSION
        );
        assert_eq!(
            n.admit("tools/list", None).unwrap_err().code,
            NOT_INITIALIZED
        );
    }
}
