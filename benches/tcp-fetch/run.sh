#!/usr/bin/env bash
# Ferry tcp provider against plain TCP over loopback (two processes).
#
# Builds the release `ferry` binary and runs `ferry bench` with its defaults:
# throughput at 4k, 32k, 256k, 1m and 8m blocks (256 MiB per size, best of 5)
# and 4 KiB single-block latency (median and p99 of 2000 round trips).
# Writes $TCP_FETCH_JSON (default benches/results/tcp-fetch.json, committed), each record with the
# load average before and after the run and the date, and prints the table.
#
# Targets: throughput_1m ratio >= 0.8; latency_4k_median ratio <= 1.5.
# Extra arguments go to `ferry bench` (e.g. -c ferry.io.threads=1). What encryption costs:
#   TCP_FETCH_JSON=benches/results/tcp-fetch-encrypted.json bash benches/tcp-fetch/run.sh \
#     --against-clear -c ferry.encryption=aes-gcm -c ferry.auth.secret=bench
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

cargo build --release -p ferry-cli
json=${TCP_FETCH_JSON:-benches/results/tcp-fetch.json}
mkdir -p "$(dirname "$json")"
load_before=$(cut -d' ' -f1 /proc/loadavg)
RUST_LOG="${RUST_LOG:-warn}" target/release/ferry bench --json "$json" "$@"
load_after=$(cut -d' ' -f1 /proc/loadavg)
python3 - "$json" "load average $load_before before the run, $load_after after (/proc/loadavg)" <<'PY'
import datetime, json, sys
path, load = sys.argv[1], sys.argv[2]
records = json.load(open(path))
for record in records:
    record["load"] = load
    record["date"] = datetime.date.today().isoformat()
with open(path, "w") as out:
    out.write(json.dumps(records, indent=2, ensure_ascii=False) + "\n")
PY
