#!/bin/bash
# Guest script for run.sh (see verbs.sh, which builds what it runs): `ferry info`, then (with
# FERRY_VM_BENCH=1 in $FERRY_VM_OUT/env) perftest and `ferry bench --verbs` in the same run, then
# the verbs provider's integration tests (native/core/tests/verbs.rs) on Soft-RoCE, then the Java
# stream API moving payload by RDMA READ (tests/vm/java/RemoteStreamCheck.java) and the Kafka
# plugin's selector-provider tests with its READ payload on verbs.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/guest-net.sh"
OUT=$FERRY_VM_OUT
# shellcheck disable=SC1091  # written by verbs.sh on the host
source "$OUT/env"
ulimit -l unlimited

echo "== ferry info (verbs view)"
"$FERRY_BIN" info | sed -n '1,/^configuration/p'

# The benchmark first, on a fresh device, so perftest and ferry see the same conditions.
if [ "${FERRY_VM_BENCH:-0}" = 1 ]; then
  # Two perftest passes; the bench compares with the better figure of the two (TCG is noisy).
  echo "== perftest reference, two passes"
  FERRY_PERFTEST_NAME=perftest-1 bash "$here/perftest-guest.sh"
  FERRY_PERFTEST_NAME=perftest-2 bash "$here/perftest-guest.sh"
  echo "== ferry bench, verbs provider"
  "$FERRY_BIN" bench --verbs "$FERRY_SERVER_IP" \
    --perftest "$OUT/perftest-1.txt" --perftest "$OUT/perftest-2.txt" \
    --bytes-per-size 16m --repetitions 3 --latency-iterations 300 \
    --json "$OUT/verbs-bench.json" 2>&1 | tee "$OUT/verbs-bench.txt"
fi

echo "== verbs integration tests"
FERRY_VERBS_TEST_IP=$FERRY_SERVER_IP RUST_LOG=${RUST_LOG:-warn} \
  "$FERRY_VERBS_TESTS" --test-threads=1 2>&1 | tee "$OUT/verbs-tests.txt"

echo "== Java remote streams on verbs (tests/vm/java/RemoteStreamCheck.java)"
# C1 only: TCG runs the JIT's work slowly too.
java -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Xmx256m -cp "$FERRY_JAVA_CP" \
  RemoteStreamCheck "$FERRY_SERVER_IP" 2>&1 | tee "$OUT/java-remote.txt"

echo "== Kafka plugin's selector-provider tests on verbs (READ payload by RDMA READ)"
java -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Xmx256m --add-opens java.base/sun.nio.ch=ALL-UNNAMED \
  -Dferry.kafka.test.host="$FERRY_SERVER_IP" -Dferry.kafka.test.provider=verbs -cp "$FERRY_KAFKA_TEST_CP" \
  org.junit.runner.JUnitCore io.ferry.kafka.FerrySelectorProviderTest 2>&1 | tee "$OUT/kafka-plugin.txt"
