#!/usr/bin/env bash
# Workspace modes: median wall time of real builds bare, sandboxed under `dev` (direct mode) and
# sandboxed under `dev` in overlay mode (--on-exit discard), as ratios to bare; and the cost of
# `changes apply` for a change set of 1,000 files. Builds: `make -j2` of a small C project and
# `cargo build --offline` of the vendored-dependency fixture (integration/workloads/fixtures).
# Prints a markdown section on stdout (`make bench` appends it to docs/benchmarks.md).
# Usage: integration/bench/workspace.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-7}"
bin="$(realpath "${MISSY_BIN:-target/x86_64-unknown-linux-gnu/release/missy-sandbox}")"
[ -x "$bin" ] || { echo "no binary at $bin: run \`make release\`" >&2; exit 2; }
for tool in make cc cargo python3; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not found" >&2; exit 0; }
done
tmp="$(mktemp -d /tmp/missy-bench-ws-XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"

# The C project: a few translation units, enough for make -j2 to run two compilers at once.
c_project() {
    mkdir -p "$1"
    printf 'CC ?= cc\nCFLAGS ?= -O2 -Wall\nOBJS = $(patsubst %%.c,%%.o,$(wildcard *.c))\n\napp: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n\n%%.o: %%.c\n\t$(CC) $(CFLAGS) -c $<\n' > "$1/Makefile"
    for i in $(seq 1 12); do
        printf 'long f%d(long x) { long s = 0; for (long i = 0; i < x; i++) s += i * %d; return s; }\n' "$i" "$i" > "$1/f$i.c"
    done
    printf '#include <stdio.h>\nlong f1(long);\nint main(void) { printf("%%ld\\n", f1(10)); return 0; }\n' > "$1/main.c"
}
for mode in bare direct overlay; do
    c_project "$tmp/c-$mode"
    cp -a integration/workloads/fixtures/rust-vendored "$tmp/rust-$mode"
done
mkdir -m 700 "$tmp/changes"

python3 - "$bin" "$tmp" "$runs" <<'PY'
import os, platform, statistics, subprocess, sys, time
bin, tmp, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "CARGO_HOME", "RUSTUP_HOME")}
env["MISSY_SANDBOX_CHANGES"] = tmp + "/changes"
builds = {
    "c-make": "make -s clean >/dev/null 2>&1 || true; rm -f app *.o; make -s -j2 >/dev/null",
    "cargo-build": "rm -rf target; cargo build --offline -q",
}
def argv(mode, ws, script):
    if mode == "bare":
        return ["sh", "-c", script]
    extra = ["--workspace-mode", "overlay", "--on-exit", "discard"] if mode == "overlay" else []
    return [bin, "--audit-log", "off", "exec", "--profile", "dev", "--workspace", ws, *extra, "--", "sh", "-c", script]
def timed(cmd, cwd):
    t = time.monotonic()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t
med = {}
for name, script in builds.items():
    prefix = "c" if name == "c-make" else "rust"
    times = {m: [] for m in ("bare", "direct", "overlay")}
    for m in times:  # one warm-up each (page cache, cargo's registry index)
        timed(argv(m, f"{tmp}/{prefix}-{m}", script), f"{tmp}/{prefix}-{m}")
    for _ in range(runs):  # alternate, so load drift hits every mode alike
        for m in times:
            ws = f"{tmp}/{prefix}-{m}"
            times[m].append(timed(argv(m, ws, script), ws))
    med[name] = {m: statistics.median(v) for m, v in times.items()}

# changes apply of 1,000 files: a kept set per run, applied to a fresh workspace.
applies = []
write = "for d in 0 1 2 3 4 5 6 7 8 9; do mkdir -p d$d; for i in $(seq 1 100); do echo \"$d $i\" > d$d/f$i; done; done"
for r in range(runs):
    ws = f"{tmp}/apply-{r}"
    os.mkdir(ws)
    subprocess.run([bin, "--audit-log", "off", "exec", "--profile", "dev", "--workspace", ws,
                    "--workspace-mode", "overlay", "--on-exit", "keep", "--", "sh", "-c", write],
                   cwd=ws, env=env, check=True, stderr=subprocess.DEVNULL)
    ids = subprocess.run([bin, "changes", "list"], env=env, check=True, capture_output=True, text=True).stdout.split()
    t = time.monotonic()
    subprocess.run([bin, "changes", "apply", ids[0]], env=env, check=True, stderr=subprocess.DEVNULL)
    applies.append(time.monotonic() - t)
    files = sum(len(f) for _, _, f in os.walk(ws))
    assert files == 1000, f"apply produced {files} files"

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
print("\n## Workspace modes: build cost and change-set apply\n")
print(f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
print(f"- machine: {cpu}, {subprocess.getoutput('nproc')} cores, kernel {platform.release()}")
print(f"- {runs} timed runs per mode after one warm-up, modes alternating; medians")
print("- sandboxed: `missy-sandbox exec --profile dev` (direct), plus `--workspace-mode overlay --on-exit discard` (overlay)\n")
print("| build | bare (s) | direct (s) | overlay (s) | direct / bare | overlay / bare | target |")
print("|---|---|---|---|---|---|---|")
for name, m in med.items():
    print(f"| {name} | {m['bare']:.3f} | {m['direct']:.3f} | {m['overlay']:.3f} | {m['direct'] / m['bare']:.3f} | {m['overlay'] / m['bare']:.3f} | at most 1.05 |")
print(f"\n`changes apply` of a 1,000-file change set (10 directories of 100 files): median "
      f"{statistics.median(applies) * 1000:.1f} ms, min {min(applies) * 1000:.1f} ms (target: under 500 ms).")
print("\nCommand: `bash integration/bench/workspace.sh` (after `make release`; `MISSY_BIN` names the binary).")
PY
