# missy-sandbox — build, run, test, harden, benchmark, install.
#
#   make run        build and run `missy-sandbox exec -- sh -c 'echo hi'` on the default profile
#   make test       unit and integration tests (as root and as an unprivileged uid)
#   make hardening  the escape probes under every shipped profile
#   make selftest   the same suite from the missy-sandbox binary: what this kernel enforces
#   make workloads  real developer tasks under the dev profile, bare and sandboxed (ratios)
#   make soak       the full load (1000 sequential, 200 concurrent) and fault tests
#   make bench      launch-time, memory, egress-proxy, daemon and mcp-gateway benchmarks → docs/benchmarks.md
#   make install    install the binary to $(PREFIX)/bin
#   make fuzz       every cargo-fuzz target for FUZZ_SECONDS each (nightly; not part of CI)
#   make fuzz-smoke the same, 20 seconds per target

CARGO   ?= cargo
PREFIX  ?= /usr/local
DEBUG   := target/debug/missy-sandbox
# The release binary is a static PIE: no shared libraries to map and relocate at every start,
# about half a millisecond of each sandbox launch. Built for the host triple explicitly, so
# proc-macros and build scripts (which must stay dynamic) do not get these flags.
HOST    := $(shell rustc -vV | sed -n 's/^host: //p')
RELEASE := target/$(HOST)/release/missy-sandbox
STATIC_RUSTFLAGS := -C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs

.PHONY: all build release run test lint hardening workloads selftest soak bench install clean deps fuzz fuzz-smoke fuzz-deps

all: build

build:
	$(CARGO) build --workspace --locked

release:
	RUSTFLAGS="$(STATIC_RUSTFLAGS)" $(CARGO) build --workspace --release --locked --target $(HOST)

run: release
	./$(RELEASE) exec -- sh -c 'echo hi'

# setpriv (util-linux) drops to uid 65534 for the unprivileged half of the tests; setcap
# (libcap2-bin) is what the file-capability planting test tries.
deps:
	@command -v setpriv >/dev/null || (apt-get update -qq && apt-get install -y -qq util-linux)
	@command -v setcap >/dev/null || PATH="$$PATH:/usr/sbin:/sbin" command -v setcap >/dev/null || (apt-get update -qq && apt-get install -y -qq libcap2-bin) || true

test: deps
	$(CARGO) build --workspace --locked
	$(CARGO) test --workspace --locked -- --test-threads=4

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# Every escape scenario unsandboxed and under every shipped profile (as root and as uid 65534
# when run as root, as the current user otherwise), with the table and a closing
# `N passed, M failed` line. docs/hardening.md lists the scenarios.
hardening: deps
	$(CARGO) build --workspace --locked
	$(CARGO) run -q -p missy-hardening --bin missy-hardening --locked
	$(CARGO) run -q -p missy-hardening --bin missy-hardening --locked -- --mode no-namespace

# Real developer tasks (C, cargo, pytest, venv, node, git, ...) each in a fresh workspace, bare
# and under the dev profile, checked by their results, as root and as uid 65534 when run as
# root; prints the time ratio sandboxed/bare. Installs the packages the tasks need when missing
# (integration/workloads/deps.sh). docs/workspaces.md describes the suite.
workloads: deps
	bash integration/workloads/deps.sh
	$(CARGO) build --workspace --locked
	$(CARGO) run -q -p missy-hardening --bin missy-workloads --locked

# The load and fault tests at full size (`make test` runs them reduced: 100 and 48).
soak: deps
	$(CARGO) build --workspace --locked
	MISSY_LOAD_SEQUENTIAL=1000 MISSY_LOAD_CONCURRENT=200 MISSY_LOAD_PARALLELISM=16 \
		$(CARGO) test -p missy-supervisor --test cli --locked -- load faults lifetime --test-threads=2

selftest: build
	$(CARGO) run -q -p missy-supervisor --bin missy-sandbox --locked -- selftest

# The benchmarks run the binary as `make install` lays it down (copied into place), which is
# what users run: the linker's own output file in target/ is left in the page cache mostly in 4 KiB
# pages and starts measurably slower (launch.sh times both).
BENCH_BIN := /tmp/missy-bench-installed/missy-sandbox

bench: release
	install -D -m 0755 $(RELEASE) $(BENCH_BIN)
	MISSY_BIN=$(BENCH_BIN) MISSY_BUILT=$(RELEASE) bash integration/bench/launch.sh
	MISSY_BIN=$(BENCH_BIN) bash integration/bench/audit.sh >> docs/benchmarks.md
	MISSY_BIN=$(BENCH_BIN) bash integration/bench/proxy.sh >> docs/benchmarks.md
	MISSY_BIN=$(BENCH_BIN) bash integration/bench/censor.sh >> docs/benchmarks.md
	MISSY_BIN=$(BENCH_BIN) bash integration/bench/workspace.sh >> docs/benchmarks.md
	MISSY_BIN=$(BENCH_BIN) bash integration/bench/daemon.sh >> docs/benchmarks.md
	MISSY_BIN=$(BENCH_BIN) bash integration/bench/nons.sh >> docs/benchmarks.md
	MISSY_BIN=$(BENCH_BIN) bash integration/bench/gateway.sh >> docs/benchmarks.md
	rm -rf $(dir $(BENCH_BIN))

# Fuzzing (fuzz/, its own workspace): each target in turn, from its committed corpus, for
# FUZZ_SECONDS; stops at the first target that crashes (libFuzzer leaves the input in
# fuzz/artifacts/<target>/). New corpus entries go to a scratch directory, so the committed corpus
# only changes when someone minimises and commits on purpose. Runs at the lowest priority.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= profile_parser censor proxy_request shell_policy daemon_protocol
FUZZ_SCRATCH ?= /tmp/missy-fuzz-corpus

fuzz-deps:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked

fuzz: fuzz-deps
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		echo "== fuzz $$t for $(FUZZ_SECONDS)s"; \
		mkdir -p $(FUZZ_SCRATCH)/$$t && \
		nice -n 19 $(CARGO) +nightly fuzz run $$t $(FUZZ_SCRATCH)/$$t corpus/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -jobs=1 -workers=1 -print_final_stats=1 \
			|| { tail -n 40 fuzz-0.log; echo "== fuzz $$t: CRASH (input in fuzz/artifacts/$$t/)"; exit 1; }; \
	done

fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=20

install: release
	install -D -m 0755 $(RELEASE) $(DESTDIR)$(PREFIX)/bin/missy-sandbox

clean:
	$(CARGO) clean
