#!/usr/bin/env bash
# MCP gateway: the latency a tool call gains by going through `missy-sandbox mcp-gateway`
# instead of straight to the same server. The server is integration/bench/mcp_echo_server.py
# (Python, no dependencies) copied into the workspace and run under profile `dev`; the client is
# integration/bench/mcp_bench_client.py (initialize, warm-up, then timed tools/call round trips).
#   direct:  missy-sandbox exec --raw-output --profile dev -- python3 server.py
#   gateway: missy-sandbox mcp-gateway --profile dev --name bench -- python3 server.py
# Both paths run the server in the same sandbox behind the same output relay, so the difference
# of the medians is the gateway (its routing, argument check, screening and framing). Each is
# measured with a 5-byte result ("hello") and with a 4 KiB text result; the growth of the
# difference from one to the other is the screening (censor + injection sanitizer) of 4 KiB of
# text, plus the gateway parsing and re-encoding it. Audit log off for both (audit.sh measures
# the log), except in one extra gateway row with the log on.
# Prints a markdown section on stdout (`make bench` appends it to docs/benchmarks.md).
# Usage: integration/bench/gateway.sh [CALLS]
set -euo pipefail
cd "$(dirname "$0")/../.."
calls="${1:-1000}"
size=4096
warmup=50

bin="$(realpath "${MISSY_BIN:-target/x86_64-unknown-linux-gnu/release/missy-sandbox}")"
[ -x "$bin" ] || { echo "no binary at $bin: run \`make release\`" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 2; }
client="$PWD/integration/bench/mcp_bench_client.py"

ws="$(mktemp -d /tmp/missy-bench-gateway-XXXXXX)"
out="$(mktemp -d /tmp/missy-bench-gateway-out-XXXXXX)"
trap 'rm -rf "$ws" "$out"' EXIT
cp integration/bench/mcp_echo_server.py "$ws/server.py"

direct=("$bin" --audit-log off exec --raw-output --profile dev --workspace "$ws" -- python3 server.py)
gateway=("$bin" --audit-log off mcp-gateway --profile dev --name bench --workspace "$ws" -- python3 server.py)
audited=("$bin" --audit-log "$out/audit.jsonl" mcp-gateway --profile dev --name bench --workspace "$ws" -- python3 server.py)

# Alternate short rounds of each path: on a shared machine the load drifts within seconds.
rounds=5
per_round=$(( (calls + rounds - 1) / rounds ))
for r in $(seq "$rounds"); do
    for payload in 0 "$size"; do
        python3 "$client" echo "$payload" "$warmup" "$per_round" -- "${direct[@]}" \
            > "$out/direct-$payload-$r.json" 2>> "$out/stderr.log"
        python3 "$client" bench__echo "$payload" "$warmup" "$per_round" -- "${gateway[@]}" \
            > "$out/gateway-$payload-$r.json" 2>> "$out/stderr.log"
    done
    python3 "$client" bench__echo 0 "$warmup" "$per_round" -- "${audited[@]}" \
        > "$out/audited-0-$r.json" 2>> "$out/stderr.log"
done

python3 - "$out" "$rounds" "$per_round" "$bin" "$size" "$warmup" <<'PY'
import glob, json, sys, platform, subprocess, statistics
out, rounds, per_round, binary, size, warmup = sys.argv[1:7]
def load(kind, payload):
    t, nbytes = [], 0
    for f in sorted(glob.glob(f"{out}/{kind}-{payload}-*.json")):
        d = json.load(open(f))
        t += d["times_ms"]
        nbytes = d["result_bytes"]
    return sorted(t), nbytes
def p95(t):
    return t[int(round((len(t) - 1) * 0.95))]
rows = [
    ("direct (`exec --raw-output`)", "hello", *load("direct", 0)),
    ("gateway", "hello", *load("gateway", 0)),
    ("gateway, audit log on", "hello", *load("audited", 0)),
    ("direct (`exec --raw-output`)", f"{int(size) // 1024} KiB text", *load("direct", size)),
    ("gateway", f"{int(size) // 1024} KiB text", *load("gateway", size)),
]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
print("\n## MCP gateway: added latency of a tool call\n")
print(f"- machine: {cpu}, {subprocess.getoutput('nproc')} cores, kernel {platform.release()}, {platform.python_implementation()} {platform.python_version()}")
print(f"- server: integration/bench/mcp_echo_server.py (one `echo` tool) in the workspace, under profile `dev`; client: integration/bench/mcp_bench_client.py, {rounds} alternating rounds of {per_round} timed `tools/call` round trips per row ({warmup} warm-up calls each), timed from writing the request line to reading its response line")
print(f"- direct: `{binary} --audit-log off exec --raw-output --profile dev -- python3 server.py`")
print(f"- gateway: `{binary} --audit-log off mcp-gateway --profile dev --name bench -- python3 server.py` (screen = flag, argument check on); the audited row writes an `mcp-call` record per call\n")
print("| path | result | response line (bytes) | median (ms) | mean (ms) | min (ms) | p95 (ms) |")
print("|---|---|---|---|---|---|---|")
for name, payload, t, nbytes in rows:
    print(f"| {name} | {payload} | {nbytes} | {statistics.median(t):.3f} | {statistics.mean(t):.3f} | {t[0]:.3f} | {p95(t):.3f} |")
med = {(name, payload): statistics.median(t) for name, payload, t, _ in rows}
small = med[("gateway", "hello")] - med[("direct (`exec --raw-output`)", "hello")]
large_payload = f"{int(size) // 1024} KiB text"
large = med[("gateway", large_payload)] - med[("direct (`exec --raw-output`)", large_payload)]
audit = med[("gateway, audit log on", "hello")] - med[("gateway", "hello")]
print(f"\nAdded by the gateway (difference of medians, 5-byte result): **{small:.3f} ms** (target: under 1 ms plus the screening time).")
print(f"Screening a {large_payload} result (the added latency with it minus the added latency with the 5-byte one: the censor and the injection sanitizer over {large_payload}, plus parsing and re-encoding it): **{large - small:.3f} ms**.")
print(f"The audit log's `mcp-call` record adds {audit:.3f} ms per call (median against median).")
PY
