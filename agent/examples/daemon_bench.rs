//! Benchmark client for `missy-sandbox serve` (integration/bench/daemon.sh runs it):
//!
//! ```text
//! daemon_bench roundtrip SOCKET WORKSPACE RUNS [PAUSE_MS]  # exec /bin/true through the daemon, one at a time
//! daemon_bench cold BINARY WORKSPACE RUNS [PAUSE_MS]       # `BINARY exec /bin/true`, one process per run
//! daemon_bench throughput SOCKET WORKSPACE CLIENTS RUNS   # RUNS in all, CLIENTS connections at once
//! ```
//!
//! Prints one JSON object: per-run times in milliseconds (round trip, cold) or the wall time
//! and runs per second (throughput). Both latencies are measured by this same process, from
//! the request (or spawn) to the end of the run, so they compare like with like. PAUSE_MS
//! (default 0: back to back) is slept after each run, outside the timed span: an agent's tool
//! calls come between its model's turns, and the daemon readies its next sandboxes meanwhile.

use std::process::{Command, Stdio};
use std::time::Instant;

use missy_agent::client::{Client, ExecRequest};

const PROFILE: &str = "strict";

fn usage() -> ! {
    eprintln!(
        "usage: daemon_bench roundtrip SOCKET WORKSPACE RUNS [PAUSE_MS] | cold BINARY WORKSPACE \
         RUNS [PAUSE_MS] | throughput SOCKET WORKSPACE CLIENTS RUNS"
    );
    std::process::exit(2)
}

fn number(arg: Option<&String>) -> usize {
    arg.and_then(|a| a.parse().ok()).unwrap_or_else(|| usage())
}

/// The pause after each timed run (PAUSE_MS, the argument after RUNS; none when absent).
fn pause(arg: Option<&String>) -> std::time::Duration {
    std::time::Duration::from_millis(arg.map_or(0, |a| number(Some(a)) as u64))
}

/// Run `one` `runs` times, timing each, with `gap` slept after each one (untimed).
fn timed(runs: usize, gap: std::time::Duration, mut one: impl FnMut(usize)) -> Vec<f64> {
    (0..runs)
        .map(|n| {
            let started = Instant::now();
            one(n);
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            std::thread::sleep(gap);
            ms
        })
        .collect()
}

fn one_run(client: &mut Client, id: &str, workspace: &str) {
    let done = client
        .run(&ExecRequest::new(id, PROFILE, ["/bin/true"], workspace))
        .unwrap_or_else(|e| panic!("run {id}: {e}"));
    assert_eq!(done.exit.status, 0, "run {id}: {:?}", done.exit);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mode), Some(target), Some(workspace)) = (args.first(), args.get(1), args.get(2))
    else {
        usage()
    };
    match mode.as_str() {
        "roundtrip" => {
            let runs = number(args.get(3));
            let mut client = Client::connect(target).expect("connect");
            for w in 0..20 {
                one_run(&mut client, &format!("w{w}"), workspace);
            }
            let times = timed(runs, pause(args.get(4)), |n| {
                one_run(&mut client, &format!("r{n}"), workspace)
            });
            println!("{}", serde_json::json!({ "times_ms": times }));
        }
        "cold" => {
            let runs = number(args.get(3));
            let run = || {
                let status = Command::new(target)
                    .args([
                        "--audit-log",
                        "off",
                        "exec",
                        "--profile",
                        PROFILE,
                        "--workspace",
                    ])
                    .arg(workspace)
                    .args(["--", "/bin/true"])
                    .stdin(Stdio::null())
                    .status()
                    .expect("spawn");
                assert!(status.success(), "cold exec: {status}");
            };
            for _ in 0..20 {
                run();
            }
            let times = timed(runs, pause(args.get(4)), |_| run());
            println!("{}", serde_json::json!({ "times_ms": times }));
        }
        "throughput" => {
            let clients = number(args.get(3)).max(1);
            let runs = number(args.get(4));
            let next = std::sync::atomic::AtomicUsize::new(0);
            let started = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..clients {
                    s.spawn(|| {
                        let mut client = Client::connect(target).expect("connect");
                        loop {
                            let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if n >= runs {
                                break;
                            }
                            one_run(&mut client, &format!("t{n}"), workspace);
                        }
                    });
                }
            });
            let wall = started.elapsed().as_secs_f64();
            println!(
                "{}",
                serde_json::json!({ "clients": clients, "runs": runs, "wall_s": wall, "runs_per_s": runs as f64 / wall })
            );
        }
        _ => usage(),
    }
}
