#!/usr/bin/env bash
# Run the benchmark by hand: bash bench/run.sh [janee-bench options, e.g. --quick or --keep]
# Installs wrk and nginx-light from Debian when missing (never run in CI), builds janee and the
# harness in release, runs every figure (bounded to ~5 minutes) and writes bench/out/latest.md.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "bench: missing ${missing[*]} and no apt-get; install them (the built-in upstream replaces nginx, wrk figures are skipped)" >&2
  else
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    echo "bench: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

cargo build --release -p janee -p janee-bench
mkdir -p bench/out
# The harness has its own watchdog (290 s); this is the backstop.
exec timeout --kill-after=10 300 target/release/janee-bench \
  --janee target/release/janee --out bench/out/latest.md "$@"
