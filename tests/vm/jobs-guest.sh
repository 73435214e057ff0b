#!/bin/bash
# Guest script for run.sh (see jobs.sh, which builds and stages what it runs). For each device
# class in $FERRY_VM_CLASSES (rxe: Soft-RoCE rxe0, siw: Soft-iWARP siw0), the jobs in $FERRY_VM_JOBS
# (kafka only on the classes in $FERRY_VM_KAFKA_CLASSES):
#   spark: ShuffleJobs --core on local-cluster[2,1,512] with FerryShuffleManager, the executors'
#          nodes on verbs (spark.ferry.provider=verbs) at the class's address;
#   kafka: a 3-broker KRaft cluster at that address, every broker with the Ferry plugin on verbs
#          (payload by RDMA READ), on storage formatted on the host, the brokers started together;
#          one check JVM creates the topic, produces with acks=all and reads every record back.
#          Every Kafka JVM maps the class data archive the host recorded for it.
# Before and after each, the device's packet counters where it has them (rxe; siw keeps none).
# Results per class: $FERRY_VM_OUT/{spark,kafka}-<class>.{out,log,txt}; jobs.sh judges them.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/guest-net.sh"
OUT=$FERRY_VM_OUT

# What the JVMs need of a machine that the bare guest lacks: a host name that resolves (Spark,
# and Kafka's logging, look it up), /dev/fd (spark-class reads from it), and a SPARK_HOME whose
# work dir is writable (local-cluster's workers write there whatever spark.worker.dir says):
# links to the staged Spark, a work dir on tmpfs.
jvm_guest_setup() {
  [ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
  hostname ferry-vm
  { cat /etc/hosts; echo "$FERRY_RXE_IP ferry-vm"; } > /tmp/hosts
  mount --bind /tmp/hosts /etc/hosts
  mkdir -p /tmp/spark-home/work /tmp/spark-local
  local entry
  for entry in "$FERRY_SPARK_HOME"/*; do
    [ "$(basename "$entry")" = work ] || ln -sfn "$entry" /tmp/spark-home/
  done
}

# device_packets: "sent=N received=M" of the current device, or "n/a" (siw keeps no counters).
device_packets() {
  local counters=/sys/class/infiniband/$FERRY_RDMA_DEV/ports/1/hw_counters
  if [ -r "$counters/sent_pkts" ]; then
    echo "sent=$(cat "$counters/sent_pkts") received=$(cat "$counters/rcvd_pkts")"
  else
    echo "n/a"
  fi
}

spark_job() {
  local name=spark-$class t0=$SECONDS rc=0
  { echo "ADDRESS $FERRY_SERVER_IP"; echo "DEVICE_PACKETS_BEFORE $(device_packets)"; } > "$OUT/$name.txt"
  # Block managers advertise the class's address, so the executors' nodes serve on its device.
  SPARK_HOME=/tmp/spark-home SPARK_LOCAL_IP=$FERRY_SERVER_IP SPARK_LOCAL_HOSTNAME=$FERRY_SERVER_IP \
    /tmp/spark-home/bin/spark-submit \
    --master 'local-cluster[2,1,512]' \
    --class io.ferry.spark.test.ShuffleJobs \
    --driver-memory 768m \
    --conf spark.executor.memory=512m \
    --conf spark.shuffle.readHostLocalDisk=false \
    --conf spark.ui.enabled=false \
    --conf spark.driver.host="$FERRY_SERVER_IP" \
    --conf spark.driver.bindAddress="$FERRY_SERVER_IP" \
    --conf spark.default.parallelism=8 \
    --conf spark.local.dir=/tmp/spark-local \
    --conf spark.network.timeout=600s \
    --conf spark.executor.heartbeatInterval=60s \
    --conf "spark.driver.extraJavaOptions=$FERRY_VM_JVM_OPTS -Dferry.test.executor.wait.ms=900000" \
    --conf "spark.executor.extraJavaOptions=$FERRY_VM_JVM_OPTS" \
    --jars "$FERRY_SPARK_JARS" \
    --conf spark.shuffle.manager=io.ferry.spark.FerryShuffleManager \
    --conf spark.plugins=io.ferry.spark.FerryPlugin \
    --conf spark.authenticate=true \
    --conf spark.authenticate.secret=ferry-vm-secret \
    --conf spark.ferry.provider=verbs \
    --conf spark.ferry.pool.bytes=64m \
    "$FERRY_SPARK_APP" --core io.ferry.spark.FerryShuffleManager \
    > "$OUT/$name.out" 2> "$OUT/$name.log" || rc=$?
  # The executors' logs (where the nodes report their provider) go with the results.
  cp -r /tmp/spark-home/work "$OUT/$name-work" 2>/dev/null || true
  rm -rf /tmp/spark-home/work/* /tmp/spark-local/*
  { echo "DEVICE_PACKETS_AFTER $(device_packets)"; echo "EXIT $rc"; echo "SECONDS $((SECONDS - t0))"; } \
    >> "$OUT/$name.txt"
  cat "$OUT/$name.out" "$OUT/$name.txt"
}

kafka_job() {
  local t0=$SECONDS
  export FERRY_KAFKA_DIR=/tmp/kafka-$class FERRY_KAFKA_HOST=$FERRY_SERVER_IP KAFKA_START_TIMEOUT=900 KAFKA_READY=started \
    FERRY_KAFKA_LIB FERRY_KAFKA_FORMATTED
  # The emulated CPU is tens of times slower: the quorum's and the brokers' liveness timeouts scaled
  # up so that a starved JVM does not start an election or fence a broker.
  export KAFKA_SERVER_PROPS=$'controller.quorum.election.timeout.ms=5000\ncontroller.quorum.fetch.timeout.ms=20000\nbroker.session.timeout.ms=60000\nbroker.heartbeat.interval.ms=3000'
  mkdir -p "$FERRY_KAFKA_DIR"
  local root=$FERRY_STAGED_REPO
  # shellcheck disable=SC1091  # staged by jobs.sh
  source "$root/tests/kafka/plugin.sh"
  # shellcheck disable=SC1091
  source "$root/tests/kafka/checks.sh"
  # Replication fetches under this light load carry a few KiB each: READ from 512 bytes on.
  FERRY_KAFKA_EXTRA_CONF=$'ferry.kafka.provider=verbs\nferry.kafka.secret=vm-secret\nferry.kafka.read.min.bytes=512'
  KAFKA_NODE_OPTS="$FERRY_KAFKA_JVM_OPTS -XX:SharedArchiveFile=$FERRY_KAFKA_ARCHIVES/broker.jsa $(ferry_plugin_opts 2000)"
  export KAFKA_NODE_OPTS
  # The brokers' logs go with the results as they grow, however the run ends.
  # Under set -e: a log not there yet (a slow start) must not end the copier, nor the trap fail.
  copy_logs() { for i in 1 2 3; do cp "$FERRY_KAFKA_DIR/node$i/out.log" "$OUT/kafka-$class-node$i.log" 2>/dev/null || true; done; }
  (while sleep 15; do copy_logs; done) &
  kafka_copier=$!
  trap 'kill $kafka_copier 2>/dev/null || true; copy_logs' EXIT
  echo "DEVICE_PACKETS_BEFORE $(device_packets)"
  cluster start 3
  echo "STARTED_SECONDS $((SECONDS - t0))"
  KAFKA_CHECK_CP=$FERRY_KAFKA_CHECK_CP KAFKA_CHECK_OPTS="$FERRY_KAFKA_JVM_OPTS -XX:SharedArchiveFile=$FERRY_KAFKA_ARCHIVES/check.jsa" \
    create_produce_consume "$(cluster bootstrap)" vm 5000 /tmp/vm.acked
  echo "CHECKED_SECONDS $((SECONDS - t0))"
  sleep 3 # one more counters line from each node
  local i
  for i in 1 2 3; do
    echo "NODE $i $(ferry_stats "$i")"
    grep -o "payload by one-sided READ over [a-z]*" "$FERRY_KAFKA_DIR/node$i/out.log" | head -1 | sed "s/^/NODE $i /"
  done
  echo "SETUP_TIMEOUTS $(ferry_setup_timeouts)"
  echo "DEVICE_PACKETS_AFTER $(device_packets)"
  # SIGKILL: the figures are taken, and a controlled shutdown takes half a minute under TCG.
  for i in 1 2 3; do cluster kill "$i"; done
  echo "SECONDS $((SECONDS - t0))"
}

jvm_guest_setup
for class in $FERRY_VM_CLASSES; do
  ferry_device_class "$class"
  echo "===== device class $class: $FERRY_RDMA_DEV at $FERRY_SERVER_IP"
  # The device's own limits, for the README's count of what a node uses.
  ibv_devinfo -v -d "$FERRY_RDMA_DEV" | grep -E '^\s*(max_qp|max_cq|max_mr|max_mr_size|max_pd|max_qp_rd_atom):' \
    | tee "$OUT/limits-$class.txt" || true
  if [[ " $FERRY_VM_JOBS " == *" spark "* ]]; then
    echo "== Spark on verbs ($FERRY_RDMA_DEV)"
    spark_job
  fi
  if [[ " $FERRY_VM_JOBS " == *" kafka "* && " $FERRY_VM_KAFKA_CLASSES " == *" $class "* ]]; then
    echo "== Kafka on verbs ($FERRY_RDMA_DEV)"
    set +e
    (set -e; kafka_job) 2>&1 | tee "$OUT/kafka-$class.txt"
    echo "EXIT ${PIPESTATUS[0]}" | tee -a "$OUT/kafka-$class.txt"
    set -e
  fi
done
