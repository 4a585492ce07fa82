//! Load: many sandboxes one after another, then many at once (a bounded number at a time); and
//! afterwards nothing they used is left behind: no process, zombie, file descriptor, mount,
//! network namespace, cgroup or temporary directory.
//!
//! Sizes come from the environment so that CI runs a reduced load and `make soak` the full one:
//! `MISSY_LOAD_SEQUENTIAL` (default 100), `MISSY_LOAD_CONCURRENT` (default 48) and
//! `MISSY_LOAD_PARALLELISM` (default 8).
//!
//! Other tests of this binary (and other processes on the host) run sandboxes at the same time,
//! so every check either attributes what it finds to this test's runs (their workspace path or
//! marker in a command line, the pids of the supervisors it started) or, where nothing can be
//! attributed (this process's descriptors, its zombies, its mounts, /tmp), counts as leaked only
//! what stays present through the whole grace period: another test's pipe or child comes and goes.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::host_state::*;

fn env_size(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshot and leak check
// ---------------------------------------------------------------------------------------------

/// What this process and the host look like before the load.
#[derive(Debug)]
pub struct Snapshot {
    /// `fd -> target` of this process (a reused number with a new pipe is a different entry).
    fds: BTreeSet<String>,
    /// Mount ids of this process's mount namespace.
    mounts: BTreeSet<String>,
    /// Network namespaces of all processes.
    netns: BTreeSet<u64>,
    /// `missy-*` entries in the temporary directory.
    tmp: BTreeSet<String>,
}

fn own_fds() -> BTreeSet<String> {
    let me = std::process::id();
    std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let target = std::fs::read_link(e.path()).ok()?;
            let target = target.to_string_lossy().into_owned();
            // The directory handle of this very listing.
            if target == format!("/proc/{me}/fd") {
                return None;
            }
            Some(format!(
                "fd {} -> {target}",
                e.file_name().to_string_lossy()
            ))
        })
        .collect()
}

fn own_mounts() -> BTreeSet<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let id = f.next()?;
            let point = f.nth(3)?;
            Some(format!("mount {id} on {point}"))
        })
        .collect()
}

/// Network namespace inode → the processes holding it (as their namespace or through an fd).
fn netns_holders() -> Vec<(u64, i32)> {
    let mut held = Vec::new();
    for pid in all_pids() {
        if let Some(ino) = ns_inode(pid, "net") {
            held.push((ino, pid));
        }
        for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if let Some(ino) = target
                .to_str()
                .and_then(|t| t.strip_prefix("net:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse().ok())
            {
                held.push((ino, pid));
            }
        }
    }
    held
}

/// Temporary entries this project's code might create. `missy-test-*` are the tests' own
/// workspaces and binary copies (created on purpose, by any test running in parallel).
fn tmp_entries() -> BTreeSet<String> {
    std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("missy") && !n.starts_with("missy-test-"))
        .collect()
}

impl Snapshot {
    pub fn take() -> Snapshot {
        Snapshot {
            fds: own_fds(),
            mounts: own_mounts(),
            netns: netns_holders().into_iter().map(|(ino, _)| ino).collect(),
            tmp: tmp_entries(),
        }
    }
}

/// What identifies this test's runs.
#[derive(Debug, Default)]
pub struct Ours {
    /// Strings only this test's processes have in their command lines (workspace path, marker).
    pub needles: Vec<String>,
    /// pids of the supervisors this test started (children of this process).
    pub supervisors: Mutex<BTreeSet<i32>>,
}

impl Ours {
    fn is_ours(&self, cmd: &str) -> bool {
        self.needles.iter().any(|n| cmd.contains(n.as_str()))
    }

    /// Leftovers that certainly belong to this test's runs.
    fn attributed(&self) -> BTreeSet<String> {
        let me = std::process::id() as i32;
        let supervisors = self.supervisors.lock().unwrap().clone();
        let mut found = BTreeSet::new();
        let needles: Vec<&str> = self.needles.iter().map(String::as_str).collect();
        for (p, cmd) in processes_matching(&needles) {
            found.insert(format!("process {} ({}) {cmd:?}", p.pid, p.state));
        }
        for &pid in &supervisors {
            if let Some(p) = proc_stat(pid)
                && p.ppid == me
            {
                found.insert(format!(
                    "child {pid} (state {}) {:?} never reaped",
                    p.state,
                    cmdline(pid)
                ));
            }
        }
        for dir in run_cgroups(|pid| supervisors.contains(&pid)) {
            found.insert(format!(
                "cgroup {} (procs {:?})",
                dir.display(),
                cgroup_procs(&dir)
            ));
        }
        found
    }

    /// Leftovers compared with `before` that may also be another test's transient state.
    fn unattributed(&self, before: &Snapshot) -> BTreeSet<String> {
        let me = std::process::id() as i32;
        let mut found = BTreeSet::new();
        found.extend(own_fds().difference(&before.fds).cloned());
        found.extend(own_mounts().difference(&before.mounts).cloned());
        found.extend(
            tmp_entries()
                .difference(&before.tmp)
                .map(|n| format!("temporary entry {n}")),
        );
        for pid in all_pids() {
            if let Some(p) = proc_stat(pid)
                && p.ppid == me
                && p.state == 'Z'
            {
                found.insert(format!("zombie child {pid}"));
            }
        }
        // A network namespace that was not there before, held by one of our processes.
        for (ino, pid) in netns_holders() {
            if !before.netns.contains(&ino) && self.is_ours(&cmdline(pid)) {
                found.insert(format!("network namespace {ino} held by {pid}"));
            }
        }
        found
    }
}

/// Assert that nothing this test started is left: attributed leftovers must all be gone within
/// the grace period, unattributed ones must not persist through all of it.
pub fn assert_nothing_leaked(what: &str, before: &Snapshot, ours: &Ours) {
    let started = Instant::now();
    let deadline = started + GRACE;
    let mut persistent: Option<BTreeSet<String>> = None;
    loop {
        let attributed = ours.attributed();
        let now = ours.unattributed(before);
        let still: BTreeSet<String> = match persistent {
            None => now,
            Some(p) => p.intersection(&now).cloned().collect(),
        };
        if attributed.is_empty() && still.is_empty() {
            eprintln!(
                "{what}: nothing leaked (settled in {:?})",
                started.elapsed()
            );
            return;
        }
        if Instant::now() >= deadline {
            let all: Vec<String> = attributed.into_iter().chain(still).collect();
            panic!(
                "{what}: left behind after {GRACE:?}:\n  {}",
                all.join("\n  ")
            );
        }
        persistent = Some(still);
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// The load
// ---------------------------------------------------------------------------------------------

/// Each run: a shell that reads its pid, forks and reaps a child, and prints its run number.
const WORKLOAD: &str = "echo $$ > /dev/null; sleep 0; echo \"ok $1\"";

struct Load<'a> {
    user: User,
    ws: &'a Scratch,
    marker: String,
    ours: &'a Ours,
}

impl Load<'_> {
    /// One sandboxed run; its elapsed time, or what went wrong.
    fn run(&self, n: usize) -> Result<Duration, String> {
        let started = Instant::now();
        let child = exec_command(
            self.user,
            self.ws,
            "strict",
            &[
                "--",
                "/bin/sh",
                "-c",
                WORKLOAD,
                &self.marker,
                &n.to_string(),
            ],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("run {n}: spawn: {e}"))?;
        self.ours
            .supervisors
            .lock()
            .unwrap()
            .insert(child.id() as i32);
        let out = child
            .wait_with_output()
            .map_err(|e| format!("run {n}: wait: {e}"))?;
        let elapsed = started.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.code() != Some(0) || stdout != format!("ok {n}\n") {
            return Err(format!(
                "run {n}: status {:?}, stdout {stdout:?}, stderr {:?}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(elapsed)
    }
}

fn report(what: &str, wall: Duration, times: &mut [Duration]) {
    times.sort_unstable();
    if times.is_empty() {
        return;
    }
    let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    eprintln!(
        "{what}: {} runs in {wall:.2?}; per run: min {:.1?}, median {:.1?}, mean {mean:.1?}, \
         p95 {:.1?}, max {:.1?}",
        times.len(),
        times[0],
        pick(0.5),
        pick(0.95),
        times[times.len() - 1],
    );
}

fn fail_on(what: &str, errors: &[String]) {
    assert!(
        errors.is_empty(),
        "{what}: {} runs failed; the first ones:\n  {}",
        errors.len(),
        errors
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

fn load(user: User) {
    let _quiet = crate::harness::counting_fds();
    let sequential = env_size("MISSY_LOAD_SEQUENTIAL", 100);
    let concurrent = env_size("MISSY_LOAD_CONCURRENT", 48);
    let parallelism = env_size("MISSY_LOAD_PARALLELISM", 8).max(1);
    // Everything the test itself creates on purpose exists before the snapshot.
    let _ = sandbox_bin();
    let ws = Scratch::new(user);
    let marker = format!("missy-load-{}-{}", std::process::id(), user.uid());
    let ours = Ours {
        needles: vec![ws.path().to_string_lossy().into_owned(), marker.clone()],
        ..Default::default()
    };
    let before = Snapshot::take();
    let load = Load {
        user,
        ws: &ws,
        marker,
        ours: &ours,
    };

    let started = Instant::now();
    let mut times = Vec::with_capacity(sequential);
    let mut errors = Vec::new();
    for n in 0..sequential {
        match load.run(n) {
            Ok(t) => times.push(t),
            Err(e) => errors.push(e),
        }
    }
    report(
        &format!("load as {user:?}, sequential"),
        started.elapsed(),
        &mut times,
    );
    fail_on(&format!("load as {user:?}, sequential"), &errors);

    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let results = Mutex::new((Vec::new(), Vec::new()));
    std::thread::scope(|s| {
        for _ in 0..parallelism.min(concurrent.max(1)) {
            s.spawn(|| {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= concurrent {
                        break;
                    }
                    let r = load.run(sequential + n);
                    let mut results = results.lock().unwrap();
                    match r {
                        Ok(t) => results.0.push(t),
                        Err(e) => results.1.push(e),
                    }
                }
            });
        }
    });
    let (mut times, errors) = results.into_inner().unwrap();
    report(
        &format!("load as {user:?}, concurrent ({parallelism} at a time)"),
        started.elapsed(),
        &mut times,
    );
    fail_on(&format!("load as {user:?}, concurrent"), &errors);

    assert_nothing_leaked(&format!("load as {user:?}"), &before, &ours);
}

#[test]
fn sequential_and_concurrent_runs_leave_nothing_behind_as_root() {
    load(User::Root);
}

#[test]
fn sequential_and_concurrent_runs_leave_nothing_behind_as_nobody() {
    load(User::Nobody);
}

// ---------------------------------------------------------------------------------------------
// The same load through `serve`
// ---------------------------------------------------------------------------------------------

/// A process's resident set, KiB.
fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Sequential and concurrent runs through one daemon: every run's output is its own, and
/// afterwards the daemon's resident set is back within 10 % of where it stood after a warm-up,
/// the daemon and its zygote hold no more descriptors than before, and no run's process is left.
fn daemon_load(user: User) {
    use crate::daemon::{Daemon, processes_with, workspace};
    use missy_agent::client::{Client, ExecRequest};
    let sequential = env_size("MISSY_LOAD_SEQUENTIAL", 100);
    let concurrent = env_size("MISSY_LOAD_CONCURRENT", 48);
    let parallelism = env_size("MISSY_LOAD_PARALLELISM", 8).max(1);
    let d = Daemon::start(user, &["--max-runs", &parallelism.to_string()]);
    let ws = workspace();
    let ws_path = ws.path().to_str().unwrap().to_string();
    let marker = format!("missy-daemon-load-{}-{}", std::process::id(), user.uid());
    let run = |c: &mut Client, n: usize| -> Result<(), String> {
        let req = ExecRequest::new(
            &format!("r{n}"),
            "strict",
            ["/bin/sh", "-c", WORKLOAD, &marker, &n.to_string()],
            &ws_path,
        );
        let done = c.run(&req).map_err(|e| format!("run {n}: {e}"))?;
        if done.exit.status != 0 || done.stdout != format!("ok {n}\n").as_bytes() {
            return Err(format!("run {n}: {:?} {:?}", done.exit, done.stdout));
        }
        Ok(())
    };
    let parallel = |from: usize, count: usize| -> Vec<String> {
        let next = AtomicUsize::new(0);
        let errors = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..parallelism.min(count.max(1)) {
                s.spawn(|| {
                    let mut c = d.client();
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n >= count {
                            break;
                        }
                        if let Err(e) = run(&mut c, from + n) {
                            errors.lock().unwrap().push(e);
                        }
                    }
                });
            }
        });
        errors.into_inner().unwrap()
    };
    // Warm-up: the runtime's and allocator's pools reach their working size.
    fail_on("daemon warm-up", &parallel(0, parallelism * 2));
    let zygote = processes_with(d.socket.to_str().unwrap())
        .into_iter()
        .find(|&p| p != d.pid() && proc_stat(p).is_some_and(|s| s.ppid == d.pid()))
        .expect("the zygote");
    let (rss_before, fds_before, zygote_fds) =
        (rss_kib(d.pid()), fd_count(d.pid()), fd_count(zygote));

    let started = Instant::now();
    let mut c = d.client();
    let errors: Vec<String> = (0..sequential)
        .filter_map(|n| run(&mut c, 1000 + n).err())
        .collect();
    drop(c);
    eprintln!(
        "daemon load as {user:?}: {sequential} sequential runs in {:.2?}",
        started.elapsed()
    );
    fail_on(&format!("daemon load as {user:?}, sequential"), &errors);
    let started = Instant::now();
    let errors = parallel(100_000, concurrent);
    eprintln!(
        "daemon load as {user:?}: {concurrent} runs, {parallelism} at a time, in {:.2?}",
        started.elapsed()
    );
    fail_on(&format!("daemon load as {user:?}, concurrent"), &errors);

    let deadline = Instant::now() + GRACE;
    loop {
        let rss = rss_kib(d.pid());
        let left = processes_with(&marker);
        let fds = (fd_count(d.pid()), fd_count(zygote));
        let settled = rss * 10 <= rss_before * 11
            && left.is_empty()
            && fds.0 <= fds_before
            && fds.1 <= zygote_fds;
        if settled {
            eprintln!("daemon load as {user:?}: RSS {rss_before} KiB -> {rss} KiB, nothing left");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "daemon load as {user:?}: RSS {rss_before} -> {rss} KiB (limit +10 %), fds \
             {fds_before}/{zygote_fds} -> {fds:?}, processes left {left:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn runs_through_the_daemon_leave_its_memory_and_descriptors_as_they_were() {
    for user in USERS {
        daemon_load(user);
    }
}
