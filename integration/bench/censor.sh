#!/usr/bin/env bash
# Secret-censor throughput: 256 MiB of realistic build and test output pushed through one
# streaming censor in 64 KiB reads, every pattern active plus one known value, pinned to one
# core; clean, and with one secret every 4 KiB. Throughput is over the censoring thread's CPU time. Prints a markdown section on stdout (`make
# bench` appends it to docs/benchmarks.md). Usage: integration/bench/censor.sh [MIB] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
mib="${1:-256}"
runs="${2:-5}"

cargo build -q --release --locked -p missy-supervisor --example censor_bench >&2
target="${CARGO_TARGET_DIR:-target}"
bin="$target/release/examples/censor_bench"
cpu="$(taskset -cp $$ 2>/dev/null | awk -F': ' '{print $2}' | cut -d, -f1 | cut -d- -f1)"
cmd="taskset -c ${cpu:-0} $bin $mib $runs"
results="$($cmd)"
patterns="$(echo "$results" | awk '$1 == "patterns" {print $2}')"

model="$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
cat <<MD

## Secret censor throughput

- date: $(date -u '+%Y-%m-%d %H:%M UTC')
- machine: ${model:-unknown CPU}, $(nproc) cores, kernel $(uname -r); one core used (taskset)
- command: \`$cmd\` (built by \`integration/bench/censor.sh\`)
- input: ${mib} MiB of compiler, test-runner, package-manager and log lines, read in 64 KiB
  chunks; all $patterns named patterns active, plus one vault value in its plain, base64 and URL-encoded forms
- ${runs} runs per case; median, min and max throughput (MB = 10^6 bytes) over the CPU time of
  the censoring thread (CLOCK_THREAD_CPUTIME_ID), so other work on a shared machine does not count

| case | median (MB/s) | min (MB/s) | max (MB/s) | placeholders written | target (MB/s) |
|---|---|---|---|---|---|
MD
echo "$results" | grep -v '^patterns ' | while read -r case size median min max placeholders; do
    case "$case" in
        clean) target=500 ;;
        *) target=200 ;;
    esac
    echo "| $case | $median | $min | $max | $placeholders | $target |"
done
