#!/usr/bin/env bash
# Install (with apt) the programs the workloads suite needs, when they are missing.
# Called by `make workloads`; a no-op on a machine that has them all.
set -euo pipefail
declare -A pkg=(
    [make]=make [cc]=gcc [git]=git [python3]=python3 [pytest]=python3-pytest
    [sqlite3]=sqlite3 [node]=nodejs [npm]=npm [ssh-keygen]=openssh-client
    [openssl]=openssl [ps]=procps [xz]=xz-utils [patch]=patch [script]=bsdutils
    [setpriv]=util-linux
)
missing=()
for tool in "${!pkg[@]}"; do
    command -v "$tool" >/dev/null || missing+=("${pkg[$tool]}")
done
# venv needs ensurepip, which Debian ships apart from python3 (uid 65534 uses /usr/bin/python3).
/usr/bin/python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
if ((${#missing[@]})); then
    echo "workloads: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
