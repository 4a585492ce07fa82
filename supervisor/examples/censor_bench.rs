//! Censor throughput over realistic build and test output: run by `integration/bench/censor.sh`.
//!
//! `censor_bench [MIB] [RUNS]`: builds MIB MiB of text (default 256) twice, once clean and once
//! with a secret every 4 KiB, pushes each through one `Censor` in 64 KiB reads (what the relay
//! reads from a pipe) with every pattern active, and prints one line per case:
//! `<case> <MiB> <median MB/s> <min MB/s> <max MB/s> <placeholders>`, after a first line
//! `patterns <N>`. Throughput is measured over the thread's CPU time. The detector is shared
//! by the runs, as by a run's streams: the first run also pays for building its DFA.

use std::sync::Arc;
use std::time::Duration;

use missy_supervisor::secrets::censor::Censor;
use missy_supervisor::secrets::detector::Detector;

const LINES: &[&str] = &[
    "   Compiling serde_derive v1.0.203\n",
    "   Compiling tokio v1.38.0 (/home/ci/.cargo/registry/src/index.crates.io-6f17d22bba15001f/tokio-1.38.0)\n",
    "warning: unused variable: `key`\n  --> src/cache/lru.rs:118:13\n   |\n118 |         let key = self.hash(&entry);\n   |             ^^^ help: if this is intentional, prefix it with an underscore: `_key`\n",
    "test auth::token::refresh_is_retried_after_401 ... ok\n",
    "test storage::tests::put_get_roundtrip_with_secret_name ... ok\n",
    "[2024-06-01T12:34:56.789Z INFO  server::http] GET /api/v1/items?page=2 200 3.2ms request_id=7f3a9c2e-1b4d-4e8f-9a0b-c1d2e3f4a5b6\n",
    "npm WARN deprecated inflight@1.0.6: This module is not supported, and leaks memory.\n",
    "Downloading https://files.pythonhosted.org/packages/ab/cd/requests-2.32.3-py3-none-any.whl (64 kB)\n",
    "ok  \tgithub.com/acme/widget/internal/config\t0.412s\tcoverage: 81.2% of statements\n",
    "    Finished `test` profile [unoptimized + debuginfo] target(s) in 42.17s\n",
    "error[E0308]: mismatched types: expected `&str`, found `String` at src/main.rs:12:24\n",
    "commit 3f9a1c2b7d4e5f60718293a4b5c6d7e8f9012345 Merge branch 'feature/password-reset'\n",
];

const SECRETS: &[&str] = &[
    "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n",
    "GITHUB_TOKEN=ghp_aB3dE5gH7jK9mN1pQ2rS4tU6vW8xY0zLcFiO\n",
    "curl -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'\n",
    "DATABASE_URL=postgres://app:Zq8rT2vX9pL4mK7n@db.internal:5432/app\n",
    "client_secret = \"q8Zr2LkP0aVx7mWcT5yN3bJ6\"\n",
    "the injected value is vault-bench-value-123 here\n",
];

fn corpus(bytes: usize, secret_every: Option<usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes + 4096);
    let (mut i, mut s, mut next_secret) = (0, 0, secret_every.unwrap_or(usize::MAX));
    while out.len() < bytes {
        if out.len() >= next_secret {
            out.extend_from_slice(SECRETS[s % SECRETS.len()].as_bytes());
            s += 1;
            next_secret += secret_every.unwrap_or(usize::MAX);
        }
        out.extend_from_slice(LINES[i % LINES.len()].as_bytes());
        i += 1;
    }
    out
}

/// CPU time of this thread: unlike the wall clock, it does not count the time other work on a
/// shared machine holds the core.
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the live struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn run(detector: &Arc<Detector>, input: &[u8]) -> (f64, u64) {
    let mut censor = Censor::new(Arc::clone(detector));
    let mut out = Vec::with_capacity(128 * 1024);
    let start = cpu_time();
    for chunk in input.chunks(64 * 1024) {
        out.clear();
        censor.push(chunk, &mut out);
    }
    censor.finish(&mut out);
    let secs = (cpu_time() - start).as_secs_f64();
    (input.len() as f64 / secs / 1e6, censor.redactions())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let known = missy_supervisor::secrets::known::forms(b"vault-bench-value-123");
    let known: Vec<Vec<u8>> = known.iter().map(|k| k.to_vec()).collect();
    let detector = match Detector::new(&known) {
        Ok(d) => Arc::new(d),
        Err(e) => {
            eprintln!("censor_bench: {e}");
            std::process::exit(1);
        }
    };
    if std::env::var_os("CENSOR_BENCH_SHOW").is_some() {
        let input = corpus(8192, None);
        let out = missy_supervisor::secrets::censor::redact(&detector, &input);
        print!("{}", String::from_utf8_lossy(&out));
        return;
    }
    println!(
        "patterns {}",
        missy_supervisor::secrets::patterns::PATTERNS.len()
    );
    for (case, every) in [("clean", None), ("secret-per-4KiB", Some(4096))] {
        let input = corpus(mib << 20, every);
        let mut rates = Vec::new();
        let mut redactions = 0;
        for _ in 0..runs.max(1) {
            let (rate, n) = run(&detector, &input);
            rates.push(rate);
            redactions = n;
        }
        rates.sort_by(f64::total_cmp);
        println!(
            "{case} {mib} {:.0} {:.0} {:.0} {redactions}",
            rates[rates.len() / 2],
            rates[0],
            rates[rates.len() - 1]
        );
    }
}
