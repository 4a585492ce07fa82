//! `missy-sandbox serve`: the daemon. A current-thread tokio runtime accepts connections on a
//! Unix socket (mode 0600), admits only the uids it is configured for (SO_PEERCRED), and turns
//! each connection's request lines into runs handed to the [`Zygote`]. Runs are bounded
//! (`--max-runs`) with a queue (`--queue`): beyond both, `exec` gets a `busy` error.
//!
//! Run ids are per connection: a client can name, cancel and see only its own runs. A
//! connection that closes cancels its unfinished runs.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::grants::{Grants, Profiles};
use super::lines::{Line, next_line};
use super::output;
use super::protocol::{self, ErrorCode, Event, Exit, ProtocolError, Request, VERSIONS};
use super::zygote::{Job, JobFds, Zygote};

/// Events queued per connection before its runs wait for the client to read (back-pressure
/// reaches the sandbox through its output pipes).
const EVENT_QUEUE: usize = 64;

/// Stdin up to this size is written before the run starts (PIPE_BUF: an empty pipe always
/// holds it).
const SMALL_STDIN: usize = 4096;

/// Limits of the daemon.
#[derive(Debug, Clone)]
pub struct Config {
    pub grants: Grants,
    pub max_runs: usize,
    pub queue: usize,
    /// Every run's workspace must be inside this directory (the broker: the agent's own).
    pub workspace_root: Option<PathBuf>,
}

/// What every connection shares.
#[derive(Debug)]
struct Shared {
    config: Config,
    zygote: Zygote,
    slots: Arc<Semaphore>,
    /// Runs admitted and not yet ended (running or queued).
    admitted: AtomicUsize,
    started: Instant,
    own_uid: u32,
}

type RunMap = Arc<Mutex<HashMap<String, oneshot::Sender<()>>>>;

/// Serve `listener` until SIGTERM or SIGINT. `socket` is removed on the way out.
pub async fn serve(
    listener: std::os::unix::net::UnixListener,
    socket: Option<PathBuf>,
    config: Config,
    zygote: Zygote,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::UnixListener::from_std(listener)?;
    let shared = Arc::new(Shared {
        slots: Arc::new(Semaphore::new(config.max_runs)),
        config,
        zygote,
        admitted: AtomicUsize::new(0),
        started: Instant::now(),
        own_uid: nix::unistd::geteuid().as_raw(),
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, Arc::clone(&shared)));
                }
                Err(e) => tracing::warn!("accept: {e}"),
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    if let Some(path) = socket {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Bind the socket with mode 0600 from the start (no window in which others may connect). A
/// stale socket left by a dead daemon is replaced; a live one is an error.
pub fn bind(path: &Path) -> Result<std::os::unix::net::UnixListener, String> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(format!("{}: exists and is not a socket", path.display()));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!(
                "{}: another daemon is serving there",
                path.display()
            ));
        }
        std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = std::os::unix::net::UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound.map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(listener)
}

pub(super) async fn send(tx: &mpsc::Sender<Vec<u8>>, event: &Event) {
    // A closed channel means the client went away; its runs are being cancelled.
    let _ = tx.send(protocol::encode(event)).await;
}

/// One client connection.
async fn connection(stream: UnixStream, shared: Arc<Shared>) {
    let uid = stream.peer_cred().map(|c| c.uid()).ok();
    let (read, mut write) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(EVENT_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            if write.write_all(&line).await.is_err() {
                break;
            }
        }
    });
    let Some((uid, profiles)) =
        uid.and_then(|u| Some((u, shared.config.grants.for_uid(u)?.clone())))
    else {
        let who = uid.map_or_else(|| "an unknown uid".to_string(), |u| format!("uid {u}"));
        tracing::info!("refused a connection from {who}");
        let e = ProtocolError::new(
            ErrorCode::Forbidden,
            format!("{who} is not allowed to use this daemon (serve --allow-uid)"),
        );
        send(&tx, &e.event()).await;
        drop(tx);
        let _ = writer.await;
        return;
    };
    let runs: RunMap = Arc::default();
    let mut reader = BufReader::new(read);
    let mut greeted = false;
    loop {
        let line = match next_line(&mut reader, protocol::MAX_LINE).await {
            Ok(Line::Eof) | Err(_) => break,
            Ok(Line::TooLong(n)) => {
                let e = ProtocolError::new(
                    ErrorCode::TooLarge,
                    format!(
                        "line of {n} bytes exceeds the limit of {} bytes; it was skipped",
                        protocol::MAX_LINE
                    ),
                );
                send(&tx, &e.event()).await;
                continue;
            }
            Ok(Line::Text(line)) => line,
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let handled = match protocol::parse(&line) {
            Ok(request) => {
                let id = request.id().map(str::to_string);
                handle(request, &mut greeted, uid, &profiles, &shared, &tx, &runs)
                    .await
                    .map_err(|e| {
                        if e.id.is_none() {
                            e.with_id(id.as_deref())
                        } else {
                            e
                        }
                    })
            }
            Err(e) => Err(e),
        };
        if let Err(e) = handled {
            send(&tx, &e.event()).await;
        }
    }
    // The client is gone: dropping the cancel senders cancels every unfinished run.
    if let Ok(mut runs) = runs.lock() {
        runs.clear();
    }
    drop(tx);
    let _ = writer.await;
}

async fn handle(
    request: Request,
    greeted: &mut bool,
    uid: u32,
    profiles: &Profiles,
    shared: &Arc<Shared>,
    tx: &mpsc::Sender<Vec<u8>>,
    runs: &RunMap,
) -> Result<(), ProtocolError> {
    let out_of_order = |m: &str| Err(ProtocolError::new(ErrorCode::OutOfOrder, m));
    match request {
        Request::Hello { id, versions, .. } => {
            if *greeted {
                return out_of_order("hello: already done on this connection");
            }
            let Some(version) = versions.iter().filter(|v| VERSIONS.contains(v)).max() else {
                return Err(ProtocolError::new(
                    ErrorCode::UnsupportedVersion,
                    format!("hello: no common protocol version (this daemon speaks {VERSIONS:?})"),
                ));
            };
            *greeted = true;
            let hello = Event::Hello {
                id,
                version: *version,
                server: format!("missy-sandbox {}", env!("CARGO_PKG_VERSION")),
                max_line: protocol::MAX_LINE,
            };
            send(tx, &hello).await;
            Ok(())
        }
        _ if !*greeted => out_of_order("send hello first"),
        Request::Exec(e) => {
            let stdin = match (&e.stdin, &e.stdin_b64) {
                (Some(text), _) => text.as_bytes().to_vec(),
                (None, Some(b64)) => protocol::base64_decode(b64).unwrap_or_default(),
                (None, None) => Vec::new(),
            };
            let workspace = admit_workspace(&e.workspace, uid, shared)?;
            admit_profile(&e.profile, profiles)?;
            let job = Job::Exec {
                profile: e.profile,
                argv: e.argv,
                workspace,
                env: e.env.into_iter().collect(),
                timeout_ms: e.timeout_ms,
                report: e.report,
            };
            start_run(e.id, job, stdin, shared, tx, runs).await
        }
        Request::Fetch(f) => {
            let workspace = admit_workspace(&f.workspace, uid, shared)?;
            admit_profile(&f.profile, profiles)?;
            let job = Job::Fetch {
                profile: f.profile,
                url: f.url,
                workspace,
                timeout_ms: f.timeout_ms,
            };
            start_run(f.id, job, Vec::new(), shared, tx, runs).await
        }
        Request::Cancel { id } => {
            let found = runs.lock().ok().and_then(|mut r| r.remove(&id));
            match found {
                Some(cancel) => {
                    let _ = cancel.send(());
                    Ok(())
                }
                None => Err(ProtocolError::new(
                    ErrorCode::UnknownId,
                    format!("cancel: no unfinished run {id:?} on this connection"),
                )),
            }
        }
        Request::Profiles { id } => {
            let profiles = Event::Profiles {
                id,
                profiles: super::grants::described(profiles),
            };
            send(tx, &profiles).await;
            Ok(())
        }
        Request::Health { id } => {
            let running = shared.config.max_runs - shared.slots.available_permits();
            let admitted = shared.admitted.load(Ordering::SeqCst);
            let health = Event::Health {
                id,
                ok: true,
                version: env!("CARGO_PKG_VERSION").to_string(),
                uptime_ms: shared.started.elapsed().as_millis() as u64,
                running,
                queued: admitted.saturating_sub(running),
                max_runs: shared.config.max_runs,
                queue: shared.config.queue,
            };
            send(tx, &health).await;
            Ok(())
        }
    }
}

fn admit_profile(profile: &str, granted: &Profiles) -> Result<(), ProtocolError> {
    if granted.permits(profile) {
        return Ok(());
    }
    Err(ProtocolError::new(
        ErrorCode::Forbidden,
        format!("profile {profile:?} is not granted to this client"),
    ))
}

/// The workspace must be a directory; a client other than the daemon's own uid must own it
/// (the sandbox runs with the daemon's rights, and must not open doors its client lacks); a
/// broker's runs stay inside the agent's workspace.
fn admit_workspace(workspace: &str, uid: u32, shared: &Shared) -> Result<PathBuf, ProtocolError> {
    let bad = |m: String| ProtocolError::new(ErrorCode::BadRequest, m);
    let path =
        std::fs::canonicalize(workspace).map_err(|e| bad(format!("workspace {workspace}: {e}")))?;
    let meta = std::fs::metadata(&path).map_err(|e| bad(format!("workspace {workspace}: {e}")))?;
    if !meta.is_dir() {
        return Err(bad(format!("workspace {workspace}: not a directory")));
    }
    if let Some(root) = &shared.config.workspace_root
        && !path.starts_with(root)
    {
        return Err(ProtocolError::new(
            ErrorCode::Forbidden,
            format!("workspace {workspace}: outside {}", root.display()),
        ));
    }
    if uid != shared.own_uid && meta.uid() != uid {
        return Err(ProtocolError::new(
            ErrorCode::Forbidden,
            format!("workspace {workspace}: not owned by uid {uid}"),
        ));
    }
    Ok(path)
}

/// Admit a run (or refuse it as busy), register its id and start its task.
async fn start_run(
    id: String,
    job: Job,
    stdin: Vec<u8>,
    shared: &Arc<Shared>,
    tx: &mpsc::Sender<Vec<u8>>,
    runs: &RunMap,
) -> Result<(), ProtocolError> {
    let (cancel_tx, cancel_rx) = oneshot::channel();
    {
        let mut map = runs
            .lock()
            .map_err(|_| ProtocolError::new(ErrorCode::Internal, "run table poisoned"))?;
        if map.contains_key(&id) {
            return Err(ProtocolError::new(
                ErrorCode::DuplicateId,
                format!("id {id:?} is already in use by an unfinished run"),
            ));
        }
        let limit = shared.config.max_runs + shared.config.queue;
        let admitted = shared.admitted.load(Ordering::SeqCst);
        if admitted >= limit {
            return Err(ProtocolError::new(
                ErrorCode::Busy,
                format!(
                    "busy: {} runs running and {} queued (the limits); retry later",
                    shared.config.max_runs, shared.config.queue
                ),
            ));
        }
        shared.admitted.fetch_add(1, Ordering::SeqCst);
        map.insert(id.clone(), cancel_tx);
    }
    tokio::spawn(run(
        id,
        job,
        stdin,
        Arc::clone(shared),
        tx.clone(),
        Arc::clone(runs),
        cancel_rx,
    ));
    Ok(())
}

/// One run, from its slot to its `exit` event.
async fn run(
    id: String,
    job: Job,
    stdin: Vec<u8>,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Vec<u8>>,
    runs: RunMap,
    mut cancel: oneshot::Receiver<()>,
) {
    let slot = match Arc::clone(&shared.slots).try_acquire_owned() {
        Ok(slot) => Some(slot),
        Err(_) => {
            let running = shared.config.max_runs;
            let position = shared
                .admitted
                .load(Ordering::SeqCst)
                .saturating_sub(running);
            let queued = Event::Queued {
                id: id.clone(),
                position,
            };
            send(&tx, &queued).await;
            tokio::select! {
                slot = Arc::clone(&shared.slots).acquire_owned() => slot.ok(),
                _ = &mut cancel => None,
            }
        }
    };
    // Held until the outcome is on its way to the client: its end tells the zygote to refill.
    let mut answered = None;
    let event = match slot {
        Some(_slot) => {
            send(&tx, &Event::Started { id: id.clone() }).await;
            let (mut exit, answered_w) = launch(&id, job, stdin, &shared, &tx, cancel).await;
            answered = answered_w;
            exit.id = id.clone();
            Event::Exit(exit)
        }
        None => ProtocolError::new(ErrorCode::Cancelled, "cancelled before it started")
            .with_id(Some(&id))
            .event(),
    };
    shared.admitted.fetch_sub(1, Ordering::SeqCst);
    // The id is free again before the client hears that the run ended.
    if let Ok(mut map) = runs.lock() {
        map.remove(&id);
    }
    send(&tx, &event).await;
    if answered.is_some() {
        // The connection's writer (this runtime's other task) writes the event first.
        tokio::task::yield_now().await;
        drop(answered);
    }
}

fn internal(message: String) -> Exit {
    Exit {
        id: String::new(),
        status: crate::init::EXIT_SETUP_FAILED,
        duration_ms: 0,
        cancelled: false,
        message: None,
        error: Some(message),
        resources: None,
        report: None,
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}

/// Hand the job to the zygote and relay its output and result. Also returns the write end of
/// the job's `answered` pipe (None if the job never reached the zygote): dropping it, once the
/// outcome is passed on, lets the zygote refill its pool.
async fn launch(
    id: &str,
    job: Job,
    stdin: Vec<u8>,
    shared: &Shared,
    tx: &mpsc::Sender<Vec<u8>>,
    mut cancel: oneshot::Receiver<()>,
) -> (Exit, Option<OwnedFd>) {
    let made = (|| -> std::io::Result<_> {
        let (stdin_r, stdin_w) = pipe()?;
        // Input that fits an empty pipe is written now, and the pipe closed: the run finds
        // all of it there, with its end, and copies it without waiting for this task.
        let stdin_w = if stdin.len() <= SMALL_STDIN {
            nix::unistd::write(&stdin_w, &stdin)?;
            None
        } else {
            Some(stdin_w)
        };
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let (result, theirs) = std::os::unix::net::UnixStream::pair()?;
        let (answered_r, answered_w) = pipe()?;
        Ok((
            JobFds {
                stdin: stdin_r,
                stdout: out_w,
                stderr: err_w,
                result: theirs.into(),
                answered: Some(answered_r),
            },
            stdin_w,
            out_r,
            err_r,
            result,
            answered_w,
        ))
    })();
    let (fds, stdin_w, out_r, err_r, result, answered) = match made {
        Ok(m) => m,
        Err(e) => {
            return (
                internal(format!("cannot create the run's pipes: {e}")),
                None,
            );
        }
    };
    if let Err(e) = shared.zygote.submit(&job, &fds) {
        return (internal(e.to_string()), None);
    }
    // Only the per-run supervisor holds the child ends now.
    drop(fds);
    let wiring = (|| -> std::io::Result<_> {
        result.set_nonblocking(true)?;
        Ok((
            stdin_w
                .map(tokio::net::unix::pipe::Sender::from_owned_fd)
                .transpose()?,
            tokio::net::unix::pipe::Receiver::from_owned_fd(out_r)?,
            tokio::net::unix::pipe::Receiver::from_owned_fd(err_r)?,
            UnixStream::from_std(result)?,
        ))
    })();
    let (stdin_w, out, err, mut result) = match wiring {
        Ok(w) => w,
        Err(e) => {
            return (
                internal(format!("cannot watch the run's pipes: {e}")),
                Some(answered),
            );
        }
    };
    let feed = stdin_w.map(|mut stdin_w| {
        tokio::spawn(async move {
            // A command that does not read its stdin closes it: EPIPE is fine.
            let _ = stdin_w.write_all(&stdin).await;
        })
    });
    let outcome = async {
        // The outcome is one short JSON object: one read takes it whole.
        let mut buf = Vec::with_capacity(4096);
        let mut cancelled = false;
        loop {
            tokio::select! {
                n = result.read_buf(&mut buf) => match n {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                },
                // A `cancel` request, or the connection closed (the sender dropped).
                _ = &mut cancel, if !cancelled => {
                    cancelled = true;
                    let _ = result.shutdown().await;
                }
            }
        }
        buf
    };
    let (_, _, reported) = tokio::join!(
        output::pump(out, id, tx, false),
        output::pump(err, id, tx, true),
        outcome
    );
    if let Some(feed) = feed {
        feed.abort();
    }
    let exit = serde_json::from_slice::<Exit>(&reported).unwrap_or_else(|_| {
        internal("the run's supervisor ended without reporting an outcome".to_string())
    });
    (exit, Some(answered))
}
