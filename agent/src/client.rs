//! A blocking client for the `missy-sandbox serve` protocol (docs/protocol.md): connect, say
//! hello, run commands with their output streamed, cancel, list profiles, ask for health.
//!
//! ```no_run
//! use missy_agent::client::{Client, ExecRequest};
//!
//! let mut client = Client::connect("/run/missy-sandbox.sock")?;
//! let done = client.run(&ExecRequest::new("t1", "strict", ["echo", "hi"], "/tmp"))?;
//! assert_eq!(done.exit.status, 0);
//! assert_eq!(done.stdout, b"hi\n");
//! # Ok::<(), missy_agent::client::ClientError>(())
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// The protocol versions this client speaks.
pub const VERSIONS: &[u32] = &[1];

/// The variable a brokered agent finds the socket in.
pub const SOCKET_ENV: &str = "MISSY_SANDBOX_SOCKET";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("socket i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("the daemon sent a line this client cannot read: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("the daemon closed the connection")]
    Closed,
    /// The daemon answered with an `error` event.
    #[error("{code}: {message}")]
    Refused {
        code: String,
        message: String,
        id: Option<String>,
    },
    #[error("${SOCKET_ENV} is not set")]
    NoSocket,
}

/// A run request; see docs/protocol.md for each field.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExecRequest {
    pub id: String,
    pub profile: String,
    pub argv: Vec<String>,
    pub workspace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin_b64: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub report: bool,
}

impl ExecRequest {
    pub fn new<I, S>(id: &str, profile: &str, argv: I, workspace: &str) -> ExecRequest
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ExecRequest {
            id: id.into(),
            profile: profile.into(),
            argv: argv.into_iter().map(Into::into).collect(),
            workspace: workspace.into(),
            ..ExecRequest::default()
        }
    }
}

/// One event from the daemon.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Hello {
        version: u32,
        server: String,
        max_line: usize,
    },
    Queued {
        id: String,
        position: usize,
    },
    Started {
        id: String,
    },
    Stdout(Chunk),
    Stderr(Chunk),
    Exit(Exit),
    Profiles {
        profiles: Vec<ProfileInfo>,
    },
    Health(Health),
    Error {
        id: Option<String>,
        code: String,
        message: String,
    },
}

impl Event {
    /// The run this event belongs to, if any.
    pub fn run_id(&self) -> Option<&str> {
        match self {
            Event::Queued { id, .. } | Event::Started { id } => Some(id),
            Event::Stdout(c) | Event::Stderr(c) => Some(&c.id),
            Event::Exit(e) => Some(&e.id),
            Event::Error { id, .. } => id.as_deref(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Chunk {
    pub id: String,
    pub data: Option<String>,
    pub data_b64: Option<String>,
}

impl Chunk {
    pub fn bytes(&self) -> Vec<u8> {
        use base64::Engine;
        match (&self.data, &self.data_b64) {
            (Some(text), _) => text.as_bytes().to_vec(),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap_or_default(),
            (None, None) => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Exit {
    pub id: String,
    pub status: i32,
    pub duration_ms: u64,
    #[serde(default)]
    pub cancelled: bool,
    pub message: Option<String>,
    pub error: Option<String>,
    pub resources: Option<serde_json::Value>,
    pub report: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProfileInfo {
    pub name: String,
    pub description: String,
    pub network: String,
    pub wall_time_ms: Option<u64>,
    pub env_pass: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Health {
    pub ok: bool,
    pub version: String,
    pub uptime_ms: u64,
    pub running: usize,
    pub queued: usize,
    pub max_runs: usize,
    pub queue: usize,
}

/// Everything one run produced.
#[derive(Debug, Clone)]
pub struct Finished {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit: Exit,
}

/// Sends `cancel` for runs of a connection from another thread.
#[derive(Debug, Clone)]
pub struct Canceller {
    writer: Arc<Mutex<UnixStream>>,
}

impl Canceller {
    pub fn cancel(&self, id: &str) -> Result<(), ClientError> {
        write_line(
            &self.writer,
            &serde_json::json!({"type": "cancel", "id": id}),
        )
    }
}

/// One connection, after `hello`.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: Arc<Mutex<UnixStream>>,
    /// Events read while waiting for another run's.
    pending: VecDeque<Event>,
    pub version: u32,
    pub server: String,
}

fn write_line(writer: &Mutex<UnixStream>, value: &impl Serialize) -> Result<(), ClientError> {
    let mut line = serde_json::to_vec(value)?;
    line.push(b'\n');
    let mut w = writer.lock().map_err(|_| ClientError::Closed)?;
    w.write_all(&line)?;
    Ok(())
}

impl Client {
    /// Connect and negotiate the protocol version.
    pub fn connect(path: impl AsRef<Path>) -> Result<Client, ClientError> {
        let path = path.as_ref();
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.display().to_string(),
            source,
        })?;
        let mut client = Client {
            reader: BufReader::new(stream.try_clone()?),
            writer: Arc::new(Mutex::new(stream)),
            pending: VecDeque::new(),
            version: 0,
            server: String::new(),
        };
        let hello = client.send(&serde_json::json!({"type": "hello", "versions": VERSIONS}));
        // A daemon that refuses this peer says why and closes at once, possibly before our hello
        // is written: its answer, when there is one, says more than the broken pipe.
        if let Err(ClientError::Io(e)) = &hello
            && matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            )
            && let Ok(answer) = client.next_event()
        {
            return Err(unexpected(answer));
        }
        hello?;
        match client.next_event()? {
            Event::Hello {
                version, server, ..
            } => {
                client.version = version;
                client.server = server;
                Ok(client)
            }
            other => Err(unexpected(other)),
        }
    }

    /// Connect to the socket named by `$MISSY_SANDBOX_SOCKET` (a brokered agent's).
    pub fn from_env() -> Result<Client, ClientError> {
        let path = std::env::var_os(SOCKET_ENV).ok_or(ClientError::NoSocket)?;
        Client::connect(path)
    }

    /// Send any request (a JSON object with its `type`).
    pub fn send(&mut self, request: &impl Serialize) -> Result<(), ClientError> {
        write_line(&self.writer, request)
    }

    /// The next event, buffered ones first.
    pub fn next_event(&mut self) -> Result<Event, ClientError> {
        if let Some(e) = self.pending.pop_front() {
            return Ok(e);
        }
        self.read_event()
    }

    fn read_event(&mut self) -> Result<Event, ClientError> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(ClientError::Closed);
        }
        Ok(serde_json::from_str(&line)?)
    }

    /// A handle that can cancel this connection's runs from another thread.
    pub fn canceller(&self) -> Canceller {
        Canceller {
            writer: Arc::clone(&self.writer),
        }
    }

    /// Start a run; its events then come from [`Client::next_event`] or [`Client::wait`].
    pub fn exec(&mut self, request: &ExecRequest) -> Result<(), ClientError> {
        let mut value = serde_json::to_value(request)?;
        value["type"] = "exec".into();
        self.send(&value)
    }

    pub fn cancel(&mut self, id: &str) -> Result<(), ClientError> {
        self.canceller().cancel(id)
    }

    /// Wait for run `id` to end, passing each output chunk to `output` (false: stdout, true:
    /// stderr). Other runs' events stay buffered for later.
    pub fn wait(
        &mut self,
        id: &str,
        mut output: impl FnMut(bool, &[u8]),
    ) -> Result<Exit, ClientError> {
        let mut others = VecDeque::new();
        let result = loop {
            let event = match self.next_event() {
                Ok(e) => e,
                Err(e) => break Err(e),
            };
            if event.run_id() != Some(id) {
                others.push_back(event);
                continue;
            }
            match event {
                Event::Stdout(c) => output(false, &c.bytes()),
                Event::Stderr(c) => output(true, &c.bytes()),
                Event::Exit(exit) => break Ok(exit),
                Event::Error { code, message, id } => {
                    break Err(ClientError::Refused { code, message, id });
                }
                _ => {}
            }
        };
        others.extend(self.pending.drain(..));
        self.pending = others;
        result
    }

    /// Run one command to its end and collect its output.
    pub fn run(&mut self, request: &ExecRequest) -> Result<Finished, ClientError> {
        self.exec(request)?;
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let exit = self.wait(&request.id, |err, bytes| {
            if err {
                stderr.extend_from_slice(bytes)
            } else {
                stdout.extend_from_slice(bytes)
            }
        })?;
        Ok(Finished {
            stdout,
            stderr,
            exit,
        })
    }

    /// The profiles this client may use.
    pub fn profiles(&mut self) -> Result<Vec<ProfileInfo>, ClientError> {
        self.send(&serde_json::json!({"type": "profiles"}))?;
        match self.reply()? {
            Event::Profiles { profiles } => Ok(profiles),
            other => Err(unexpected(other)),
        }
    }

    pub fn health(&mut self) -> Result<Health, ClientError> {
        self.send(&serde_json::json!({"type": "health"}))?;
        match self.reply()? {
            Event::Health(h) => Ok(h),
            other => Err(unexpected(other)),
        }
    }

    /// The next event that belongs to no run (run events are kept for later).
    fn reply(&mut self) -> Result<Event, ClientError> {
        loop {
            let event = self.read_event()?;
            if event.run_id().is_some() {
                self.pending.push_back(event);
                continue;
            }
            return match event {
                Event::Error { code, message, id } => {
                    Err(ClientError::Refused { code, message, id })
                }
                other => Ok(other),
            };
        }
    }
}

fn unexpected(event: Event) -> ClientError {
    match event {
        Event::Error { code, message, id } => ClientError::Refused { code, message, id },
        other => ClientError::Refused {
            code: "unexpected".into(),
            message: format!("unexpected event {other:?}"),
            id: None,
        },
    }
}
