//! Carrying out a tool call. Files are read, written and listed by small programs (head, sh,
//! find) run inside a fresh sandbox, so the kernel decides what is reachable; `fetch` uses the
//! policy HTTP client under the profile's network rules. Every text that leaves passes the
//! secrets censor.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::runner::{Captured, Runner};
use super::tools::{Call, MAX_OUTPUT};
use crate::egress::EgressPolicy;
use crate::egress::fetch::{self, FetchError, FetchRequest, Fetched};
use crate::secrets::guard::censor;

/// How long `fetch` may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(120);

/// A tool's result: text for the model, an error flag, and a structured form.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub text: String,
    pub is_error: bool,
    pub structured: Option<Value>,
}

impl Outcome {
    pub fn error(text: impl Into<String>) -> Outcome {
        Outcome {
            text: censor(&text.into()),
            is_error: true,
            structured: None,
        }
    }

    /// The `tools/call` result fields (`content`, `isError`, maybe `structuredContent`).
    pub fn to_result(&self, structured: bool) -> Map<String, Value> {
        let mut result = Map::new();
        result.insert(
            "content".into(),
            json!([{ "type": "text", "text": self.text }]),
        );
        result.insert("isError".into(), json!(self.is_error));
        if structured && let Some(s) = &self.structured {
            result.insert("structuredContent".into(), s.clone());
        }
        result
    }
}

/// What the tools need.
#[derive(Debug, Clone)]
pub struct Tools {
    pub runner: Runner,
    /// The profile's egress rules; `None` when it has none (`network.mode` is not "proxy").
    pub egress: Option<Arc<EgressPolicy>>,
    /// The profile's `fetch_max_size`.
    pub fetch_max: u64,
    /// Where `fetch` decisions are audited (each fetch a run of its own).
    pub audit: crate::audit::AuditConfig,
    /// The loaded profile, named in those records.
    pub policy: Arc<crate::policy::Policy>,
}

impl Tools {
    pub async fn call(&self, call: Call) -> Outcome {
        match call {
            Call::RunCommand {
                argv,
                stdin,
                timeout_seconds,
            } => {
                let timeout = timeout_seconds.map(Duration::from_secs);
                let stdin = stdin.map(String::into_bytes);
                match self.exec(&argv, stdin, timeout, MAX_OUTPUT).await {
                    Ok(c) => run_command_outcome(&c),
                    Err(o) => o,
                }
            }
            Call::ReadFile { path, max_bytes } => {
                // One byte past the limit tells a cut file from one that fits exactly.
                let argv = argv(&["head", "-c", &(max_bytes + 1).to_string(), "--", &path]);
                match self.exec(&argv, None, None, max_bytes).await {
                    Ok(c) if c.status == 0 => {
                        let mut text = String::from_utf8_lossy(&c.stdout).into_owned();
                        if c.stdout_cut > 0 {
                            text.push_str(&format!(
                                "\n[read_file: cut at {max_bytes} bytes; the file is longer]"
                            ));
                        }
                        Outcome {
                            text: censor(&text),
                            is_error: false,
                            structured: None,
                        }
                    }
                    Ok(c) => self.failed("read_file", &path, &c),
                    Err(o) => o,
                }
            }
            Call::WriteFile {
                path,
                content,
                append,
            } => {
                let script = if append {
                    "cat >>\"$1\""
                } else {
                    "cat >\"$1\""
                };
                let argv = argv(&["/bin/sh", "-c", script, "write_file", &path]);
                let bytes = content.len();
                match self
                    .exec(&argv, Some(content.into_bytes()), None, 64 << 10)
                    .await
                {
                    Ok(c) if c.status == 0 => Outcome {
                        text: censor(&format!(
                            "{} {bytes} bytes to {path}",
                            if append { "appended" } else { "wrote" }
                        )),
                        is_error: false,
                        structured: None,
                    },
                    Ok(c) => self.failed("write_file", &path, &c),
                    Err(o) => o,
                }
            }
            Call::ListDirectory { path } => {
                // Depth 0 is the directory itself: its type tells a file from a directory.
                let argv = argv(&[
                    "find",
                    "-H",
                    &path,
                    "-maxdepth",
                    "1",
                    "-printf",
                    "%d\\t%y\\t%s\\t%f\\0",
                ]);
                match self.exec(&argv, None, None, MAX_OUTPUT).await {
                    Ok(c) if c.status == 0 => listing(&path, &c),
                    Ok(c) => self.failed("list_directory", &path, &c),
                    Err(o) => o,
                }
            }
            Call::Fetch { url, max_bytes } => self.fetch(&url, max_bytes).await,
        }
    }

    async fn exec(
        &self,
        argv: &[String],
        stdin: Option<Vec<u8>>,
        timeout: Option<Duration>,
        cap: u64,
    ) -> Result<Captured, Outcome> {
        let cap = usize::try_from(cap).unwrap_or(usize::MAX);
        self.runner
            .exec(argv, stdin, timeout, cap)
            .await
            .map_err(|e| Outcome::error(format!("the sandbox could not be run: {e}")))
    }

    /// A file tool's workload failed: say why in the sandbox's terms.
    fn failed(&self, tool: &str, path: &str, c: &Captured) -> Outcome {
        let stderr = String::from_utf8_lossy(&c.stderr);
        let profile = &self.runner.profile;
        let why = if c.status == crate::init::EXIT_SETUP_FAILED {
            "the sandbox could not be set up".to_string()
        } else if c.status == 124 {
            "timed out".to_string()
        } else if c.status == 127 {
            format!(
                "a program this tool runs inside the sandbox is missing there (profile `{profile}` must grant /usr/bin and /bin)"
            )
        } else if stderr.contains("Permission denied") || stderr.contains("Operation not permitted")
        {
            format!("permission denied: profile `{profile}` does not grant this access")
        } else if stderr.contains("Read-only file system") {
            format!(
                "read-only inside the sandbox: profile `{profile}` does not grant write access here"
            )
        } else if stderr.contains("No such file or directory") {
            format!(
                "not found inside the sandbox (it does not exist, or profile `{profile}` does not make it visible)"
            )
        } else if stderr.contains("Is a directory") {
            "is a directory".to_string()
        } else if stderr.contains("Not a directory") {
            "not a directory".to_string()
        } else {
            format!("failed with exit status {}", c.status)
        };
        Outcome::error(format!("{tool}: {path}: {why}\n{}", stderr.trim_end()))
    }

    async fn fetch(&self, url: &str, max_bytes: u64) -> Outcome {
        let Some(egress) = &self.egress else {
            return Outcome::error(format!(
                "fetch: {url}: refused: profile `{}` has no network egress rules (network.mode is not \"proxy\"), so nothing may be fetched under it",
                self.runner.profile
            ));
        };
        let request = FetchRequest {
            url: url.to_string(),
            max_bytes: max_bytes.min(self.fetch_max),
            timeout: FETCH_TIMEOUT,
            extra_roots: Vec::new(),
        };
        let events = crate::egress::fetch_events(&self.audit, &self.policy, url);
        let mut body = Vec::new();
        let fetched = fetch::fetch(Arc::clone(egress), &events, &request, &mut body).await;
        events.flush().await;
        match fetched {
            Ok(Fetched::Body { status, bytes }) => {
                let text = String::from_utf8_lossy(&body);
                Outcome {
                    text: censor(&format!("HTTP {status}\n\n{text}")),
                    is_error: !(200..300).contains(&status),
                    structured: Some(json!({ "status": status, "bytes": bytes })),
                }
            }
            Ok(Fetched::Redirect { status, location }) => Outcome {
                text: censor(&format!(
                    "HTTP {status}: a redirect to {} (not followed; fetch that URL if the profile allows it)",
                    location.as_deref().unwrap_or("(no Location header)")
                )),
                is_error: false,
                structured: Some(json!({ "status": status, "location": location })),
            },
            Err(FetchError::Refused(denied)) => Outcome::error(format!(
                "fetch: {url}: refused by profile `{}`'s network rules: {denied}",
                self.runner.profile
            )),
            Err(e) => Outcome::error(format!("fetch: {url}: {e}")),
        }
    }
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn run_command_outcome(c: &Captured) -> Outcome {
    let stdout = censor(&String::from_utf8_lossy(&c.stdout));
    let stderr = censor(&String::from_utf8_lossy(&c.stderr));
    let verdict = match c.status {
        0 => "exit status 0".to_string(),
        124 => "exit status 124: the time limit was reached and the sandbox was killed".into(),
        125 => "exit status 125: the sandbox could not be set up".into(),
        126 => "exit status 126: the command could not be executed".into(),
        127 => "exit status 127: the command was not found inside the sandbox".into(),
        s if s > 128 => format!("exit status {s}: killed by signal {}", s - 128),
        s => format!("exit status {s}"),
    };
    let mut text = verdict;
    for (name, body, cut) in [
        ("stdout", &stdout, c.stdout_cut),
        ("stderr", &stderr, c.stderr_cut),
    ] {
        if !body.is_empty() {
            text.push_str(&format!("\n--- {name} ---\n{body}"));
            if !body.ends_with('\n') {
                text.push('\n');
            }
        }
        if cut > 0 {
            text.push_str(&format!("[{name}: {cut} more bytes left out]\n"));
        }
    }
    Outcome {
        text,
        is_error: c.status != 0,
        structured: Some(json!({
            "exitStatus": c.status,
            "stdout": stdout,
            "stderr": stderr,
            "stdoutOmittedBytes": c.stdout_cut,
            "stderrOmittedBytes": c.stderr_cut,
            "durationMs": c.duration.as_millis() as u64,
        })),
    }
}

/// `find -printf '%d\t%y\t%s\t%f\0'` as lines and entries, sorted by name.
fn listing(path: &str, c: &Captured) -> Outcome {
    let mut entries: Vec<(String, &'static str, u64)> = Vec::new();
    for record in c.stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let record = String::from_utf8_lossy(record);
        let mut fields = record.splitn(4, '\t');
        let (Some(depth), Some(kind), Some(size), Some(name)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if depth == "0" {
            if kind != "d" {
                return Outcome::error(format!("list_directory: {path}: not a directory"));
            }
            continue;
        }
        let kind = match kind {
            "f" => "file",
            "d" => "dir",
            "l" => "link",
            _ => "other",
        };
        entries.push((name.to_string(), kind, size.parse().unwrap_or(0)));
    }
    entries.sort();
    let mut text = String::new();
    for (name, kind, size) in &entries {
        text.push_str(&format!("{kind}\t{size}\t{name}\n"));
    }
    if entries.is_empty() {
        text.push_str("(empty directory)\n");
    }
    if c.stdout_cut > 0 {
        text.push_str("[list_directory: the listing was cut]\n");
    }
    let structured: Vec<Value> = entries
        .iter()
        .map(|(name, kind, size)| json!({ "name": censor(name), "type": kind, "size": size }))
        .collect();
    Outcome {
        text: censor(&text),
        is_error: false,
        structured: Some(json!({ "entries": structured })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(status: i32, stdout: &[u8], stderr: &[u8]) -> Captured {
        Captured {
            status,
            stdout: stdout.to_vec(),
            stderr: stderr.to_vec(),
            stdout_cut: 0,
            stderr_cut: 0,
            duration: Duration::from_millis(3),
        }
    }

    #[test]
    fn command_output_is_censored_and_a_failure_is_an_error() {
        let key = "AKIAIOSFODNN7EXAMPLE";
        let o = run_command_outcome(&captured(3, format!("key={key}\n").as_bytes(), b""));
        assert!(o.is_error);
        assert!(o.text.starts_with("exit status 3"), "{}", o.text);
        assert!(!o.text.contains(key), "{}", o.text);
        assert!(!o.structured.unwrap().to_string().contains(key));
        assert!(!run_command_outcome(&captured(0, b"", b"")).is_error);
    }

    #[test]
    fn listings_are_sorted_and_typed() {
        let found = b"0\td\t4096\t.\x001\tf\t3\tb.txt\x001\td\t4096\ta dir\x00";
        let o = listing(".", &captured(0, found, b""));
        assert_eq!(o.text, "dir\t4096\ta dir\nfile\t3\tb.txt\n");
        assert_eq!(o.structured.unwrap()["entries"][1]["type"], "file");
        let o = listing("x", &captured(0, b"0\tf\t3\tx\x00", b""));
        assert!(
            o.is_error && o.text.contains("not a directory"),
            "{}",
            o.text
        );
    }
}
