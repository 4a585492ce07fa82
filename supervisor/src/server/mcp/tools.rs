//! The tools `missy-sandbox mcp` offers: their names, descriptions and input schemas (stable:
//! clients and models learn them; tests/cli/data/mcp_tools.json holds the golden copy), and
//! the typed reading of a call's arguments.

use serde_json::{Map, Value, json};

/// Largest `max_bytes` a call may ask for, and the cap on each output stream.
pub const MAX_OUTPUT: u64 = 8 << 20;
/// `max_bytes` when a call gives none.
pub const DEFAULT_OUTPUT: u64 = 1 << 20;
/// Longest `timeout_seconds` (a day).
const MAX_TIMEOUT_SECONDS: u64 = 86_400;

/// The `tools` array of `tools/list`.
pub fn definitions() -> Value {
    let max = MAX_OUTPUT;
    let default = DEFAULT_OUTPUT;
    let max_bytes = json!({
        "type": "integer", "minimum": 1, "maximum": max, "default": default,
        "description": "Return at most this many bytes; the rest is left out and its omission noted."
    });
    let annotations = |read_only: bool, open_world: bool| json!({ "readOnlyHint": read_only, "destructiveHint": !read_only, "idempotentHint": read_only, "openWorldHint": open_world });
    json!([
        {
            "name": "run_command",
            "title": "Run a command in the sandbox",
            "description": "Run a command in a fresh sandbox under this server's profile, in the workspace directory, and return its exit status, stdout and stderr (secrets replaced by ***). Give either `command`, a shell command line run with /bin/sh -c, or `argv`, a program and its arguments run without a shell. The kernel confines the command: it can read and write only what the profile grants and reach only the network destinations the profile allows; anything else fails with a permission error. Nothing it starts outlives the call.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "command": { "type": "string", "description": "A shell command line, run with /bin/sh -c." },
                    "argv": { "type": "array", "items": { "type": "string" }, "minItems": 1, "description": "A program and its arguments, run without a shell." },
                    "stdin": { "type": "string", "description": "Text given to the command on its standard input." },
                    "timeout_seconds": { "type": "integer", "minimum": 1, "maximum": MAX_TIMEOUT_SECONDS, "description": "Kill the command after this many seconds (default: the profile's wall-time limit)." }
                },
                "additionalProperties": false
            },
            "annotations": annotations(false, true)
        },
        {
            "name": "read_file",
            "title": "Read a file in the sandbox",
            "description": "Read a file as text from inside a fresh sandbox under this server's profile. A relative path is relative to the workspace. The sandbox, not this server, decides what is readable: a path the profile does not grant is reported as an error, as is a file that does not exist.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "path": { "type": "string", "minLength": 1, "description": "The file to read; relative paths start at the workspace." },
                    "max_bytes": max_bytes
                },
                "required": ["path"],
                "additionalProperties": false
            },
            "annotations": annotations(true, false)
        },
        {
            "name": "write_file",
            "title": "Write a file in the sandbox",
            "description": "Create or replace a file with the given text, or append the text to it, from inside a fresh sandbox under this server's profile. A relative path is relative to the workspace. Only paths the profile grants write access to can be written; others are reported as an error. The parent directory must exist.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "path": { "type": "string", "minLength": 1, "description": "The file to write; relative paths start at the workspace." },
                    "content": { "type": "string", "description": "The text to write." },
                    "append": { "type": "boolean", "default": false, "description": "Append to the file instead of replacing it." }
                },
                "required": ["path", "content"],
                "additionalProperties": false
            },
            "annotations": annotations(false, false)
        },
        {
            "name": "list_directory",
            "title": "List a directory in the sandbox",
            "description": "List the entries of a directory from inside a fresh sandbox under this server's profile: one line per entry with its type (file, dir, link, other), size in bytes and name, sorted by name. A relative path is relative to the workspace (default: the workspace itself). A directory the profile does not grant is reported as an error.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "path": { "type": "string", "minLength": 1, "default": ".", "description": "The directory to list; relative paths start at the workspace." }
                },
                "additionalProperties": false
            },
            "annotations": annotations(true, false)
        },
        {
            "name": "fetch",
            "title": "Fetch a URL under the profile's network rules",
            "description": "GET one http or https URL under this server's profile network rules and return the status and the body as text (secrets replaced by ***). Only hosts the profile allows are contacted, names are resolved by the sandbox supervisor and private or local addresses are refused unless the profile allows them; redirects are reported with their target, not followed. A host the profile does not allow is reported as an error.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "url": { "type": "string", "minLength": 1, "description": "The http:// or https:// URL." },
                    "max_bytes": max_bytes
                },
                "required": ["url"],
                "additionalProperties": false
            },
            "annotations": annotations(true, true)
        }
    ])
}

/// A call, its arguments checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    RunCommand {
        argv: Vec<String>,
        stdin: Option<String>,
        timeout_seconds: Option<u64>,
    },
    ReadFile {
        path: String,
        max_bytes: u64,
    },
    WriteFile {
        path: String,
        content: String,
        append: bool,
    },
    ListDirectory {
        path: String,
    },
    Fetch {
        url: String,
        max_bytes: u64,
    },
}

/// Why a call could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No such tool: a protocol error (the client asked for something never listed).
    #[error(
        "unknown tool {0:?}: the tools are run_command, read_file, write_file, list_directory and fetch"
    )]
    Unknown(String),
    /// Arguments that do not fit the schema: a tool error, so the model can correct them.
    #[error("{tool}: {reason}")]
    Arguments { tool: String, reason: String },
}

/// Read the arguments of a call to `name`.
pub fn parse(name: &str, arguments: Option<&Map<String, Value>>) -> Result<Call, CallError> {
    let empty = Map::new();
    let args = Args {
        tool: name,
        map: arguments.unwrap_or(&empty),
    };
    let call = match name {
        "run_command" => {
            args.only(&["command", "argv", "stdin", "timeout_seconds"])?;
            let argv = match (args.string("command")?, args.strings("argv")?) {
                (Some(line), None) => vec!["/bin/sh".into(), "-c".into(), line],
                (None, Some(argv)) if !argv.is_empty() => argv,
                (None, Some(_)) => return Err(args.bad("`argv` must not be empty")),
                (Some(_), Some(_)) => return Err(args.bad("give `command` or `argv`, not both")),
                (None, None) => return Err(args.bad(
                    "give `command` (a shell command line) or `argv` (a program and its arguments)",
                )),
            };
            Call::RunCommand {
                argv,
                stdin: args.string("stdin")?,
                timeout_seconds: args.integer("timeout_seconds", 1, MAX_TIMEOUT_SECONDS)?,
            }
        }
        "read_file" => {
            args.only(&["path", "max_bytes"])?;
            Call::ReadFile {
                path: args.path("path")?,
                max_bytes: args
                    .integer("max_bytes", 1, MAX_OUTPUT)?
                    .unwrap_or(DEFAULT_OUTPUT),
            }
        }
        "write_file" => {
            args.only(&["path", "content", "append"])?;
            Call::WriteFile {
                path: args.path("path")?,
                content: args
                    .string("content")?
                    .ok_or_else(|| args.bad("`content` (a string) is required"))?,
                append: match args.map.get("append") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => return Err(args.bad("`append` must be true or false")),
                },
            }
        }
        "list_directory" => {
            args.only(&["path"])?;
            Call::ListDirectory {
                path: match args.string("path")? {
                    None => ".".into(),
                    Some(_) => args.path("path")?,
                },
            }
        }
        "fetch" => {
            args.only(&["url", "max_bytes"])?;
            Call::Fetch {
                url: args
                    .string("url")?
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| args.bad("`url` (a string) is required"))?,
                max_bytes: args
                    .integer("max_bytes", 1, MAX_OUTPUT)?
                    .unwrap_or(DEFAULT_OUTPUT),
            }
        }
        other => return Err(CallError::Unknown(other.to_string())),
    };
    Ok(call)
}

struct Args<'a> {
    tool: &'a str,
    map: &'a Map<String, Value>,
}

impl Args<'_> {
    fn bad(&self, reason: impl Into<String>) -> CallError {
        CallError::Arguments {
            tool: self.tool.to_string(),
            reason: reason.into(),
        }
    }

    fn only(&self, known: &[&str]) -> Result<(), CallError> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(self.bad(format!(
                "unknown argument `{k}` (expected: {})",
                known.join(", ")
            ))),
            None => Ok(()),
        }
    }

    fn string(&self, key: &str) -> Result<Option<String>, CallError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.contains('\0') => {
                Err(self.bad(format!("`{key}` must not contain a NUL character")))
            }
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.bad(format!("`{key}` must be a string"))),
        }
    }

    fn strings(&self, key: &str) -> Result<Option<Vec<String>>, CallError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v.as_str() {
                    Some(s) if !s.contains('\0') => Ok(s.to_string()),
                    _ => Err(self.bad(format!(
                        "`{key}` must be an array of strings without NUL characters"
                    ))),
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(_) => Err(self.bad(format!("`{key}` must be an array of strings"))),
        }
    }

    fn integer(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, CallError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(self.bad(format!("`{key}` must be an integer from {min} to {max}"))),
            },
        }
    }

    /// A path argument, made safe to hand to a program as an operand: one that starts with
    /// `-` is prefixed with `./` so it cannot be read as an option.
    fn path(&self, key: &str) -> Result<String, CallError> {
        let path = self
            .string(key)?
            .filter(|p| !p.is_empty())
            .ok_or_else(|| self.bad(format!("`{key}` (a non-empty string) is required")))?;
        Ok(if path.starts_with('-') {
            format!("./{path}")
        } else {
            path
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn every_listed_tool_parses_and_nothing_else_does() {
        for tool in definitions().as_array().unwrap() {
            let name = tool["name"].as_str().unwrap();
            let minimal = match name {
                "run_command" => json!({"command": "true"}),
                "read_file" => json!({"path": "a"}),
                "write_file" => json!({"path": "a", "content": ""}),
                "list_directory" => json!({}),
                "fetch" => json!({"url": "http://x/"}),
                other => panic!("{other} has no test"),
            };
            assert!(parse(name, Some(&args(minimal))).is_ok(), "{name}");
            assert_eq!(tool["inputSchema"]["type"], "object", "{name}");
        }
        assert!(matches!(parse("rm_rf", None), Err(CallError::Unknown(_))));
    }

    #[test]
    fn bad_arguments_are_tool_errors_that_say_what_is_expected() {
        let bad = |name: &str, v: Value| match parse(name, Some(&args(v))) {
            Err(CallError::Arguments { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert!(bad("run_command", json!({})).contains("`command`"));
        assert!(bad("run_command", json!({"command": "x", "argv": ["y"]})).contains("not both"));
        assert!(bad("run_command", json!({"argv": []})).contains("empty"));
        assert!(bad("run_command", json!({"argv": ["a\u{0}b"]})).contains("NUL"));
        assert!(
            bad("run_command", json!({"command": "x", "timeout_seconds": 0})).contains("integer")
        );
        assert!(bad("read_file", json!({"path": 3})).contains("string"));
        assert!(
            bad("read_file", json!({"path": "a", "extra": 1})).contains("unknown argument `extra`")
        );
        assert!(bad("write_file", json!({"path": "a"})).contains("`content`"));
        assert!(bad("fetch", json!({"url": "x", "max_bytes": 1u64 << 40})).contains("integer"));
    }

    #[test]
    fn commands_and_paths_become_safe_argv() {
        assert_eq!(
            parse("run_command", Some(&args(json!({"command": "echo hi"})))).unwrap(),
            Call::RunCommand {
                argv: vec!["/bin/sh".into(), "-c".into(), "echo hi".into()],
                stdin: None,
                timeout_seconds: None
            }
        );
        assert_eq!(
            parse("read_file", Some(&args(json!({"path": "-n"})))).unwrap(),
            Call::ReadFile {
                path: "./-n".into(),
                max_bytes: DEFAULT_OUTPUT
            }
        );
        assert_eq!(
            parse("list_directory", None).unwrap(),
            Call::ListDirectory { path: ".".into() }
        );
    }
}
