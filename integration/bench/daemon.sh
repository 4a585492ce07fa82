#!/usr/bin/env bash
# Daemon round trip and throughput: `exec /bin/true` through `missy-sandbox serve` (one
# connection, one run at a time) against a cold `missy-sandbox exec` (one process per run),
# both timed by the same client (agent/examples/daemon_bench.rs) from request or spawn to the
# end of the run; then runs per second with 8 clients at once. Audit log off for both, so the
# comparison is the launch path alone (integration/bench/audit.sh measures the log).
# The round trips are measured twice: with a pause after each run (PAUSE_MS, 10 ms: an agent's
# tool calls come between its model's turns, and the daemon readies the next sandboxes in
# between), which is what the round-trip target is about; and back to back, where each run
# also competes with the building of the next ones (the CPU a run costs the machine).
# Prints a markdown section on stdout (`make bench` appends it to docs/benchmarks.md).
# Usage: integration/bench/daemon.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-300}"
pause_ms=10
throughput_runs=$(( runs * 2 ))
clients=8

bin="$(realpath "${MISSY_BIN:-target/x86_64-unknown-linux-gnu/release/missy-sandbox}")"
[ -x "$bin" ] || { echo "no binary at $bin: run \`make release\`" >&2; exit 2; }
cargo build -q --release --locked -p missy-agent --example daemon_bench >&2
client="$(realpath "${CARGO_TARGET_DIR:-target}/release/examples/daemon_bench")"

ws="$(mktemp -d /tmp/missy-bench-daemon-XXXXXX)"
out="$(mktemp -d /tmp/missy-bench-daemon-out-XXXXXX)"
sock="$out/missy.sock"
"$bin" --audit-log off serve --socket "$sock" --max-runs "$clients" &
daemon=$!
trap 'kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; rm -rf "$ws" "$out"' EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done

# Alternate short rounds of each: on a shared machine the load drifts within seconds.
rounds=5
per_round=$(( (runs + rounds - 1) / rounds ))
for r in $(seq "$rounds"); do
    "$client" roundtrip "$sock" "$ws" "$per_round" "$pause_ms" > "$out/daemon-$r.json"
    "$client" cold "$bin" "$ws" "$per_round" "$pause_ms" > "$out/cold-$r.json"
    "$client" roundtrip "$sock" "$ws" "$per_round" > "$out/daemonb2b-$r.json"
    "$client" cold "$bin" "$ws" "$per_round" > "$out/coldb2b-$r.json"
done
"$client" throughput "$sock" "$ws" "$clients" "$throughput_runs" > "$out/throughput.json"
rss_kib="$(awk '/^VmRSS:/ {print $2}' "/proc/$daemon/status")"

python3 - "$out" "$rounds" "$per_round" "$bin" "$rss_kib" "$pause_ms" <<'PY'
import glob, json, sys, platform, subprocess, statistics
out, rounds, per_round, binary, rss, pause = sys.argv[1:7]
def times(kind):
    t = []
    for f in sorted(glob.glob(f"{out}/{kind}-*.json")):
        t += json.load(open(f))["times_ms"]
    return t
rows = {
    f"daemon round trip ({pause} ms apart)": times("daemon"),
    f"cold exec ({pause} ms apart)": times("cold"),
    "daemon round trip (back to back)": times("daemonb2b"),
    "cold exec (back to back)": times("coldb2b"),
}
tp = json.load(open(f"{out}/throughput.json"))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
print("\n## Daemon round trip and throughput\n")
print(f"- machine: {cpu}, {subprocess.getoutput('nproc')} cores, kernel {platform.release()}")
print(f"- client: agent/examples/daemon_bench (release), {rounds} alternating rounds of {per_round} timed runs of each path (20 warm-up runs each time); audit log off")
print(f"- `{pause} ms apart`: the client sleeps {pause} ms after each run (untimed), as an agent's tool calls are separated by its model's turns; the daemon builds its next sandboxes in that time. `back to back`: the next request follows the answer at once, so each run also competes with the building of the next sandboxes")
print(f"- daemon: `{binary} --audit-log off serve --socket SOCK --max-runs 8`; each run: `exec` of `/bin/true` under `strict`, timed from the request to the `exit` event")
print(f"- cold: `{binary} --audit-log off exec --profile strict --workspace WS -- /bin/true`, timed from spawn to exit\n")
print("| path | median (ms) | mean (ms) | min (ms) | p95 (ms) |")
print("|---|---|---|---|---|")
for name, t in rows.items():
    t = sorted(t)
    p95 = t[int(round((len(t) - 1) * 0.95))]
    print(f"| {name} | {statistics.median(t):.2f} | {statistics.mean(t):.2f} | {t[0]:.2f} | {p95:.2f} |")
names = list(rows)
d, c = statistics.median(rows[names[0]]), statistics.median(rows[names[1]])
db, cb = statistics.median(rows[names[2]]), statistics.median(rows[names[3]])
print(f"\ndaemon median / cold median = {d / c:.2f} ({pause} ms apart), {db / cb:.2f} (back to back); daemon round trip target: under 3 ms ({pause} ms apart).")
print(f"\nThroughput: {tp['runs']} runs from {tp['clients']} concurrent clients in {tp['wall_s']:.2f} s = **{tp['runs_per_s']:.0f} runs/s**.")
print(f"Daemon resident set after the runs: {int(rss) / 1024:.1f} MiB.")
PY
