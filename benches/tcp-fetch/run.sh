#!/usr/bin/env bash
# Ferry tcp provider against plain TCP over loopback (two processes).
#
# Builds the release `ferry` binary and runs `ferry bench` with its defaults:
# throughput at 4k, 32k, 256k, 1m and 8m blocks (256 MiB per size, best of 5)
# and 4 KiB single-block latency (median and p99 of 2000 round trips).
# Writes $TCP_FETCH_JSON (default benches/results/tcp-fetch.json, committed) and prints the table.
#
# Targets: throughput_1m ratio >= 0.8; latency_4k_median ratio <= 1.5.
# Extra arguments go to `ferry bench` (e.g. -c ferry.io.threads=1).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

cargo build --release -p ferry-cli
json=${TCP_FETCH_JSON:-benches/results/tcp-fetch.json}
mkdir -p "$(dirname "$json")"
RUST_LOG="${RUST_LOG:-warn}" target/release/ferry bench --json "$json" "$@"
