#!/usr/bin/env bash
# Spark shuffle jobs across a multi-host network on one machine: a Spark standalone cluster (the
# master and the driver in one network namespace, three workers in three more, veths to a bridge,
# TEST-NET-2 addresses only: net.sh, cluster.sh), each worker's link shaped to $FERRY_NETNS_RATE
# (default NET_RATE below). Executors are really remote: each worker has its own address, so
# spark.shuffle.readHostLocalDisk keeps its default and every remote shuffle block crosses veths.
#
# 1. tests/spark's ShuffleJobs (--core: reduceByKey, groupByKey, sortByKey, join) with Spark's
#    default shuffle, then with FerryShuffleManager: checksums and read metrics must be equal, every
#    remote byte must have gone through the executors' Ferry nodes (the app compares Ferry's node
#    counters with Spark's remote bytes read, and this script requires them > 0), and the three
#    executors' nodes must serve at their workers' three addresses.
# 2. Faults, with Ferry: benches/spark-cluster's sort job while w2's link is cut (its bridge port
#    down) for CUT_SECONDS from 2 s into the reduce stage, and w3 drops LOSS_PERCENT % of the
#    packets it receives (nftables, in w3's namespace) for the whole run. The checksum must equal
#    the default shuffle's on the healthy network, the cut must have hit the shuffle (bytes still
#    crossed w2's link after it came back) and the loss rule must have dropped packets.
#
# Needs root (ip netns, tc, nft; installs Debian's nftables if missing). Everything it starts runs
# in its own namespaces, and an EXIT trap ends it and deletes them. Output: build/spark-netns.
set -euo pipefail
cd "$(dirname "$0")/../../.."
source tests/lib.sh
source tests/spark/versions.sh
source tests/spark/netns/net.sh
source tests/spark/netns/cluster.sh

rate=${FERRY_NETNS_RATE:-$NET_RATE}
CUT_SECONDS=8
LOSS_PERCENT=2
FAULT_MEGABYTES=64
start=$SECONDS

command -v nft >/dev/null || apt_install nftables
CLUSTER_SPARK_HOME=$(bash tests/spark/setup.sh "$SPARK_NEWEST" | sed -n 's/^SPARK_HOME=//p')
CLUSTER_OUT=$PWD/build/spark-netns
rm -rf "$CLUSTER_OUT"
mkdir -p "$CLUSTER_OUT"
cluster_build_apps "$CLUSTER_OUT"

net_up
net_shape "$rate"
cluster_start

manager=io.ferry.spark.FerryShuffleManager
# Short-lived JVMs on 2 shared cores: C1 only, as tests/spark/run.sh.
java_opts="-Djava.net.preferIPv4Stack=true -XX:TieredStopAtLevel=1"
common=(--conf "spark.driver.extraJavaOptions=$java_opts -Dferry.test.executors=${#NET_WORKERS[@]}"
  --conf "spark.executor.extraJavaOptions=$java_opts" --conf spark.default.parallelism=9)
jobs=(--class io.ferry.spark.test.ShuffleJobs "${common[@]}")

fail=0
check() { # <failure> COMMAND...: records the failure unless COMMAND succeeds
  local failure=$1
  shift
  "$@" || { echo "FAIL: $failure" >&2 && fail=1; }
}
results() { grep -E '^(CHECKSUM|READ_METRICS) ' "$CLUSTER_OUT/$1.out" || true; }
sort_result() { sed -n 's/^RESULT \([^ ]*\) .* \([0-9]* [0-9a-f]*\)$/\1 \2/p' "$CLUSTER_OUT/$1.out"; }

echo "== ShuffleJobs, Spark's default shuffle ($rate links)"
t0=$SECONDS
cluster_submit default "${jobs[@]}" "$CLUSTER_APP_JOBS" --core
echo "   $((SECONDS - t0)) s; $(grep '^REMOTE_BYTES_READ' "$CLUSTER_OUT/default.out")"
echo "== ShuffleJobs, FerryShuffleManager"
t0=$SECONDS
cluster_submit ferry "${jobs[@]}" "${CLUSTER_FERRY_ARGS[@]}" "$CLUSTER_APP_JOBS" --core $manager
echo "   $((SECONDS - t0)) s; $(grep -E '^(REMOTE_BYTES_READ|FERRY_TRAFFIC)' "$CLUSTER_OUT/ferry.out" | paste -sd' ')"

check "expected 4 checksums from the default run" test "$(results default | grep -c '^CHECKSUM ')" = 4
check "checksums or read metrics differ between the default shuffle and Ferry" \
  diff -u <(results default) <(results ferry)
fetched=$(sed -n 's/^FERRY_BYTES_FETCHED //p' "$CLUSTER_OUT/ferry.out")
check "Ferry fetched '${fetched}' remote bytes" test "${fetched:-0}" -gt 0
# Each executor's node serves at its own worker's address.
served=$(cat "$CLUSTER_OUT"/w*/work/*/*/stderr | grep -o "Ferry node of executor .* serving at $NET_SUBNET\.[0-9]*:" |
  grep -o "$NET_SUBNET\.[0-9]*" | sort -u | paste -sd' ')
check "Ferry nodes served at '$served', not at the three workers' addresses" \
  test "$served" = "$(for w in "${NET_WORKERS[@]}"; do net_ip "$w"; done | sort | paste -sd' ')"

echo "== faults: the sort job ($FAULT_MEGABYTES MiB), default shuffle on the healthy network, then Ferry with w2's link cut for $CUT_SECONDS s and $LOSS_PERCENT % loss into w3"
bench=(--class io.ferry.bench.ClusterJobs "${common[@]}")
cluster_submit fault-reference "${bench[@]}" "$CLUSTER_APP_BENCH" "$FAULT_MEGABYTES" 9 sort:6
net_loss w3 "$LOSS_PERCENT"
# The cut: 2 s after the driver submits the sort's reduce stage (the application's only stage that
# folds a result).
(
  stage=
  until [[ -n $stage ]]; do
    sleep 0.2
    stage=$(sed -n 's/.*Final stage: ResultStage \([0-9]*\) (fold at .*/\1/p' "$CLUSTER_OUT/fault.log" 2>/dev/null || true)
  done
  until grep -q "Submitting ResultStage $stage " "$CLUSTER_OUT/fault.log"; do sleep 0.2; done
  sleep 2
  net_cut w2
  echo "cut at $(date +%T.%N)" >"$CLUSTER_OUT/cut"
  sleep "$CUT_SECONDS"
  net_restore w2
  echo "restored at $(date +%T.%N), link bytes $(net_bytes w2)" >>"$CLUSTER_OUT/cut"
) &
cutter=$!
t0=$SECONDS
cluster_submit fault "${bench[@]}" "${CLUSTER_FERRY_ARGS[@]}" "$CLUSTER_APP_BENCH" "$FAULT_MEGABYTES" 9 sort:6
after=$(net_bytes w2)
echo "   $((SECONDS - t0)) s; $(cat "$CLUSTER_OUT/cut" 2>/dev/null | paste -sd' '), at the end $after"
# (A cutter still waiting for the stage or the restore is ended: the check below then fails.)
kill $cutter 2>/dev/null || true
wait $cutter 2>/dev/null || true

dropped=$(net_loss_dropped w3)
check "the loss rule on w3 dropped no packet" test "${dropped:-0}" -gt 0
check "the sort job gave no result" test -n "$(sort_result fault-reference)"
check "with a link cut and packet loss Ferry's sort gave another result than the default shuffle's" \
  diff <(sort_result fault-reference) <(sort_result fault)
restored=$(sed -n 's/.*link bytes \([0-9]*\)$/\1/p' "$CLUSTER_OUT/cut" 2>/dev/null || true)
# Shuffle bytes crossed w2's link after it came back: the cut came mid-shuffle.
check "the cut did not hit the shuffle (w2's link: ${restored:-no restore} bytes at the restore, $after at the end)" \
  test "${restored:-0}" -gt 0 -a $((after - ${restored:-$after})) -gt $((1 << 20))
echo "   $(grep -c 'FetchFailed\|fetch failure' "$CLUSTER_OUT/fault.log" || true) fetch failure lines in the driver log; $dropped packets dropped into w3"

((fail == 0)) || exit 1
echo "spark netns: 4 jobs equal with Ferry across three namespaces ($rate links); sort survived a ${CUT_SECONDS} s link cut and ${LOSS_PERCENT} % loss ($((SECONDS - start)) s)"
