#!/bin/bash
# Guest script for run.sh: perftest RDMA READ over rdma_cm on $FERRY_RDMA_DEV (rxe0, or siw0 with
# FERRY_DEVICE_CLASS=siw), the reference that ferry's verbs provider is measured against in the
# same VM run. Writes $FERRY_VM_OUT/perftest.txt, one line
# per measurement: "ib_read_bw <size> <MB/s average>" or "ib_read_lat <size> <usec typical>".
# Raw perftest output goes to $FERRY_VM_OUT/perftest/. Figures vary between runs by tens of percent
# under TCG: compare only figures from the same run.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/guest-net.sh"

OUT=$FERRY_VM_OUT
# FERRY_PERFTEST_NAME picks other file names, for several passes in one run.
NAME=${FERRY_PERFTEST_NAME:-perftest}
SUMMARY=$OUT/$NAME.txt
RAW=$OUT/$NAME
mkdir -p "$RAW"
: > "$SUMMARY"

# Wait until a perftest server has its rdma_cm listener up: with -R there is no TCP port to poll.
wait_listen() {
  local pid=$1
  for _ in $(seq 200); do
    rdma resource show cm_id 2>/dev/null | grep -q 'state LISTEN' && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# measure TOOL SIZE ITERATIONS [LABEL [EXTRA ARGS...]]: one server/client pair, both on $FERRY_RDMA_DEV;
# logs go to $RAW/LABEL-SIZE-{server,client}.txt (LABEL defaults to TOOL).
measure() {
  local tool=$1 size=$2 iters=$3 label=${4:-$1} srv cli spid
  shift $(( $# < 4 ? $# : 4 ))
  srv=$RAW/$label-$size-server.txt
  cli=$RAW/$label-$size-client.txt
  timeout 120 "$tool" -R -F -d "$FERRY_RDMA_DEV" -s "$size" -n "$iters" "$@" > "$srv" 2>&1 &
  spid=$!
  wait_listen "$spid" || { echo "$tool $size: server did not start" >&2; cat "$srv" >&2; return 1; }
  if ! timeout 120 "$tool" -R -F -d "$FERRY_RDMA_DEV" -s "$size" -n "$iters" "$@" "$FERRY_SERVER_IP" > "$cli" 2>&1; then
    echo "$tool $size: client failed" >&2; cat "$cli" >&2; kill "$spid" 2>/dev/null || true; return 1
  fi
  wait "$spid" || { echo "$tool $size: server failed" >&2; cat "$srv" >&2; return 1; }
}

# The result row is the one whose first field is the message size.
# ib_read_bw: #bytes #iterations BW_peak BW_average MsgRate -> field 4 (MB/sec).
# ib_read_lat: #bytes #iterations t_min t_max t_typical ... -> field 5 (usec).
row_field() { awk -v s="$1" -v f="$2" '$1 == s && NF >= f { print $f; found = 1 } END { exit !found }' "$3"; }

# Wall time since $1 (an $EPOCHREALTIME), to see where the VM's time goes.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# run_tool TOOL COLUMN UNIT SIZE:ITERATIONS...: one measurement per size, the
# figure taken from COLUMN of the client's result row.
run_tool() {
  local tool=$1 column=$2 unit=$3 spec size value t0
  shift 3
  for spec in "$@"; do
    size=${spec%:*}
    t0=$EPOCHREALTIME
    # perftest itself sometimes crashes under TCG: the other pass gives the figure.
    measure "$tool" "$size" "${spec#*:}" || { echo "$tool $size: no figure this pass"; continue; }
    value=$(row_field "$size" "$column" "$RAW/$tool-$size-client.txt")
    echo "$tool $size $value" >> "$SUMMARY"
    echo "$tool $size $value $unit ($(elapsed "$t0") s)"
  done
}

# Iterations kept small: TCG runs tens of times slower than native hardware.
run_tool ib_read_bw 4 MB/s 4096:3000 65536:300 1048576:40
run_tool ib_read_lat 5 usec 4096:500 65536:200 1048576:30
# ib_read_lat sometimes prints "inf" under TCG (its cycle arithmetic overflows). ib_read_bw with
# one READ in flight (-t 1 -o 1) gives the time per READ instead: "ib_read_bw_1deep SIZE MB/s".
for spec in 4096:1000 65536:200 1048576:30; do
  size=${spec%:*}
  t0=$EPOCHREALTIME
  measure ib_read_bw "$size" "${spec#*:}" ib_read_bw_1deep -t 1 -o 1 ||
    { echo "ib_read_bw_1deep $size: no figure this pass"; continue; }
  value=$(row_field "$size" 4 "$RAW/ib_read_bw_1deep-$size-client.txt")
  echo "ib_read_bw_1deep $size $value" >> "$SUMMARY"
  echo "ib_read_bw_1deep $size $value MB/s ($(elapsed "$t0") s)"
done
