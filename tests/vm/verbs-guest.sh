#!/bin/bash
# Guest script for run.sh (see verbs.sh, which builds what it runs). For each device class, Soft-RoCE
# (rxe0) and Soft-iWARP (siw0), in this one VM run: `ferry info`, then (with FERRY_VM_BENCH=1 in
# $FERRY_VM_OUT/env) perftest and `ferry bench --verbs`, then the verbs provider's integration tests
# (native/core/tests/verbs.rs), the Java stream API moving payload by RDMA READ
# (tests/vm/java/RemoteStreamCheck.java) and the Kafka plugin's selector-provider tests with its
# READ payload on verbs. Results per class: $FERRY_VM_OUT/<name>-<class>.txt; verbs.sh judges them,
# so a failing class does not keep the other from running.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/guest-net.sh"
OUT=$FERRY_VM_OUT

echo "== ferry info (verbs view)"
"$FERRY_BIN" info | sed -n '1,/^configuration/p'

# run NAME COMMAND...: output to the console and $OUT/NAME-$class.txt; a failure is recorded there.
run() {
  local name=$1 rc; shift
  set +e
  "$@" 2>&1 | tee "$OUT/$name-$class.txt"
  rc=${PIPESTATUS[0]}
  set -e
  [ "$rc" = 0 ] || echo "$name on $class: exit $rc" | tee -a "$OUT/$name-$class.txt"
}

for class in rxe siw; do
  ferry_device_class "$class"
  echo "===== device class $class: $FERRY_RDMA_DEV at $FERRY_SERVER_IP"
  # The benchmark first, on a fresh device, so perftest and ferry see the same conditions.
  if [ "${FERRY_VM_BENCH:-0}" = 1 ]; then
    # Two perftest passes; the bench compares with the better figure of the two (TCG is noisy).
    echo "== perftest reference on $FERRY_RDMA_DEV, two passes"
    FERRY_DEVICE_CLASS=$class FERRY_PERFTEST_NAME=perftest-1-$class bash "$here/perftest-guest.sh"
    FERRY_DEVICE_CLASS=$class FERRY_PERFTEST_NAME=perftest-2-$class bash "$here/perftest-guest.sh"
    echo "== ferry bench, verbs provider on $FERRY_RDMA_DEV"
    run verbs-bench "$FERRY_BIN" bench --verbs "$FERRY_SERVER_IP" \
      --perftest "$OUT/perftest-1-$class.txt" --perftest "$OUT/perftest-2-$class.txt" \
      --bytes-per-size 16m --repetitions 3 --latency-iterations 300 \
      --json "$OUT/verbs-bench-$class.json"
  fi

  echo "== verbs integration tests on $FERRY_RDMA_DEV"
  run verbs-tests env FERRY_VERBS_TEST_IP="$FERRY_SERVER_IP" FERRY_VERBS_TEST_DEV="$FERRY_RDMA_DEV" \
    RUST_LOG="${RUST_LOG:-warn}" "$FERRY_VERBS_TESTS" --test-threads=1 --show-output

  echo "== Java remote streams on $FERRY_RDMA_DEV (tests/vm/java/RemoteStreamCheck.java)"
  # C1 only: TCG runs the JIT's work slowly too.
  run java-remote java -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Xmx256m -cp "$FERRY_JAVA_CP" \
    RemoteStreamCheck "$FERRY_SERVER_IP"

  echo "== Kafka plugin's selector-provider tests on $FERRY_RDMA_DEV (READ payload by RDMA READ)"
  run kafka-plugin java -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Xmx256m \
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED -Dferry.kafka.test.host="$FERRY_SERVER_IP" \
    -Dferry.kafka.test.networkThreadMs=5000 \
    -Dferry.kafka.test.provider=verbs -cp "$FERRY_KAFKA_TEST_CP" \
    org.junit.runner.JUnitCore io.ferry.kafka.FerrySelectorProviderTest
done
