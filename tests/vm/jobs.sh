#!/usr/bin/env bash
# Usage: jobs.sh
# Real Spark and Kafka jobs moving their bytes by RDMA READ, in the test VM, on each device class
# (Soft-RoCE rxe0, Soft-iWARP siw0; $FERRY_VM_CLASSES picks): tests/vm/jobs-guest.sh runs them in
# one boot. Host side: builds the jars, installs Spark (tests/spark/setup.sh) and Kafka
# (tests/kafka/cluster.sh setup), runs the same Spark jobs with Spark's default shuffle here for
# the reference checksums, stages everything where the guest sees it, and judges the results:
#   spark: checksums and read metrics equal to the default shuffle's; every remote byte fetched by
#          the executors' Ferry nodes, none inline and none sent by a node's CPU (so all by READ);
#   kafka: every acknowledged acks=all record read back in order, every broker's payload by READ
#          over verbs, replication bytes received by READ, no connection setup timeout.
# Prints one line per class with the figures. Results: $FERRY_VM_OUT (default target/vm-jobs).
# $FERRY_VM_JOBS picks the jobs (default "spark kafka"), $FERRY_VM_KAFKA_CLASSES the classes Kafka
# runs on (default both). What makes Kafka affordable under TCG, where a JVM start takes minutes: its
# storage formatted here, class data archives of the brokers' and the check's classes recorded by
# one run of the same cluster here (the guest runs this host's JDK on these very jars), and four
# JVMs in the guest: three brokers started together and one check (create, produce, consume).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
classes=${FERRY_VM_CLASSES:-rxe siw}
jobs=${FERRY_VM_JOBS:-spark kafka}
kafka_classes=${FERRY_VM_KAFKA_CLASSES:-rxe siw}
# Every JVM in the guest: C1 only and a private temp dir (TCG runs the JIT's work slowly too, and
# /tmp is the guest's tmpfs). Kafka's also on the serial collector, the cheapest to run there.
jvm_opts="-XX:TieredStopAtLevel=1 -XX:-UsePerfData -Djava.io.tmpdir=/tmp -Djava.net.preferIPv4Stack=true"
kafka_jvm_opts="$jvm_opts -XX:+UseSerialGC"

source tests/spark/versions.sh # the newest Spark line, and its ferry-spark artifact
spark_home=$(bash tests/spark/setup.sh "$SPARK_NEWEST" | sed -n 's/^SPARK_HOME=//p')
[ -d "$spark_home" ] || { echo "jobs.sh: no Spark installed" >&2; exit 1; }
spark_project=$(ferry_spark_project "$SPARK_NEWEST")
gradle --no-daemon --console=plain -q :ferry-core:jar ":$spark_project:jar"
core_jar=$(ls jvm/core/build/libs/ferry-core-*.jar | grep -v -e '-sources' -e '-javadoc' | head -1)
spark_jar=$(ls "jvm/spark/$spark_project"/build/libs/"$spark_project"-*.jar | grep -v -e '-sources' -e '-javadoc' | head -1)

export FERRY_VM_OUT=${FERRY_VM_OUT:-$root/target/vm-jobs}
rm -rf "$FERRY_VM_OUT"
mkdir -p "$FERRY_VM_OUT"
# The guest sees the host's files read-only but not its /tmp or /run (where a checkout may live):
# stage what it runs in the results share. Hard links where the file system allows (Spark is big).
stage=$(cd "$FERRY_VM_OUT" && pwd -P)/stage
mkdir -p "$stage/repo/tests/kafka" "$stage/spark-app"
cp tests/vm/jobs-guest.sh tests/vm/guest-net.sh "$stage/"
cp tests/kafka/cluster.sh tests/kafka/plugin.sh tests/kafka/checks.sh tests/kafka/pom.xml "$stage/repo/tests/kafka/"
cp -al "$spark_home" "$stage/spark" 2>/dev/null || cp -a "$spark_home" "$stage/spark"
rm -rf "$stage/spark/work" # other runs' executor logs
cp "$core_jar" "$spark_jar" "$stage/"
spark_jars="$stage/$(basename "$core_jar"),$stage/$(basename "$spark_jar")"

echo "== the Spark jobs' reference: Spark's default shuffle, on this host"
javac --release 17 -Xlint:all,-path -Werror -cp "$spark_home/jars/*:${spark_jars//,/:}" \
  -d "$stage/spark-app" $(find tests/spark/app -name '*.java')
jar --create --file "$stage/shuffle-jobs.jar" -C "$stage/spark-app" .
SPARK_HOME=$stage/spark SPARK_LOCAL_IP=127.0.0.1 "$stage/spark/bin/spark-submit" --master 'local-cluster[2,1,1024]' \
  --class io.ferry.spark.test.ShuffleJobs --conf spark.shuffle.readHostLocalDisk=false \
  --conf spark.ui.enabled=false --conf spark.driver.host=127.0.0.1 \
  --conf spark.driver.bindAddress=127.0.0.1 --conf spark.default.parallelism=8 \
  --conf "spark.driver.extraJavaOptions=-XX:TieredStopAtLevel=1" \
  "$stage/shuffle-jobs.jar" --core > "$FERRY_VM_OUT/spark-reference.out" 2> "$FERRY_VM_OUT/spark-reference.log" ||
  { tail -n 40 "$FERRY_VM_OUT/spark-reference.log" >&2; exit 1; }
grep -E '^(CHECKSUM|READ_METRICS) ' "$FERRY_VM_OUT/spark-reference.out" > "$FERRY_VM_OUT/spark-reference.expected"
[ "$(grep -c '^CHECKSUM ' "$FERRY_VM_OUT/spark-reference.expected")" = 4 ] ||
  { echo "jobs.sh: the reference run printed no 4 checksums" >&2; exit 1; }

if [[ " $jobs " == *" kafka "* ]]; then
  echo "== Kafka: jars, the plugin, the check application, storage, class data archives"
  export FERRY_KAFKA_DIR=$stage/kafka FERRY_KAFKA_LIB=$stage/kafka/lib
  source tests/kafka/plugin.sh
  source tests/kafka/checks.sh # build_check (its fail is replaced by this script's below)
  ferry_install_plugin
  build_check
  # A jar, not a folder: class data archives take only jars on the class path.
  jar --create --file "$stage/kafka/check.jar" -C "$stage/kafka/check/classes" .
  check_cp=$stage/kafka/check.jar:$(bash tests/kafka/cluster.sh classpath)
  # Three storage formats (a JVM each) done here; the guest's nodes copy this storage.
  FERRY_KAFKA_DIR=$stage/kafka-format bash tests/kafka/cluster.sh format 3 > /dev/null
  # The same cluster and check here, recording the classes node 1 and the check load: -cp and
  # the JVM options as in the guest. Stopped node 1 first, given time to write its archive.
  (
    export FERRY_KAFKA_DIR=$stage/kafka-train FERRY_KAFKA_FORMATTED=$stage/kafka-format FERRY_KAFKA_PORT_BASE=19390
    mkdir -p "$FERRY_KAFKA_DIR"
    KAFKA_NODE_OPTS="$kafka_jvm_opts $(ferry_plugin_opts)"
    export KAFKA_NODE_OPTS KAFKA_NODE_OPTS_1="$KAFKA_NODE_OPTS -XX:ArchiveClassesAtExit=$stage/kafka/broker.jsa"
    trap 'bash tests/kafka/cluster.sh stop' EXIT
    bash tests/kafka/cluster.sh start 3 > /dev/null
    KAFKA_CHECK_CP=$check_cp KAFKA_CHECK_OPTS="$kafka_jvm_opts -XX:ArchiveClassesAtExit=$stage/kafka/check.jsa" \
      create_produce_consume "$(bash tests/kafka/cluster.sh bootstrap)" train 5000 "$FERRY_KAFKA_DIR/train.acked" \
      > "$FERRY_KAFKA_DIR/check.out" 2>&1 ||
      { echo "jobs.sh: the check on the Kafka cluster here failed:" >&2; cat "$FERRY_KAFKA_DIR/check.out" >&2; exit 1; }
    node1=$(cat "$FERRY_KAFKA_DIR/node1/pid")
    kill "$node1"
    for _ in $(seq 240); do kill -0 "$node1" 2> /dev/null || break; sleep 0.5; done
  )
  for archive in broker check; do
    [ -s "$stage/kafka/$archive.jsa" ] || { echo "jobs.sh: no class data archive $archive.jsa" >&2; exit 1; }
  done
fi

cat > "$FERRY_VM_OUT/env" <<ENV
FERRY_VM_CLASSES="$classes"
FERRY_VM_JOBS="$jobs"
FERRY_VM_KAFKA_CLASSES="$kafka_classes"
FERRY_SPARK_HOME=$stage/spark
FERRY_SPARK_JARS=$spark_jars
FERRY_SPARK_APP=$stage/shuffle-jobs.jar
FERRY_VM_JVM_OPTS="$jvm_opts"
FERRY_KAFKA_JVM_OPTS="$kafka_jvm_opts"
FERRY_KAFKA_LIB=$stage/kafka/lib
FERRY_KAFKA_FORMATTED=$stage/kafka-format
FERRY_KAFKA_ARCHIVES=$stage/kafka
FERRY_KAFKA_CHECK_CP=${check_cp:-}
FERRY_STAGED_REPO=$stage/repo
ENV
# Spark's driver and two executors, then three brokers, in the guest: 6 GiB; 50 minutes at most.
FERRY_VM_MEMORY_MB=6144 bash tests/vm/run.sh "$stage/jobs-guest.sh" 3000 || echo "jobs.sh: the VM run exited $?" >&2

failed=0
fail() { echo "jobs.sh: FAILED on $class: $*" >&2; failed=1; }
field() { local v; v=$(sed -n "s/.*[ {]$1=\([0-9]*\).*/\1/p" <<< " $2" | head -1); echo "${v:-0}"; }
judge_spark() {
  local out=$FERRY_VM_OUT/spark-$class.out traffic remote fetched packets address nodes
  if ! diff <(grep -E '^(CHECKSUM|READ_METRICS) ' "$out" 2>/dev/null) "$FERRY_VM_OUT/spark-reference.expected" > /dev/null; then
    fail "Spark: checksums or read metrics differ from the default shuffle's (see $out, spark-$class.log)"
  fi
  traffic=$(grep '^FERRY_TRAFFIC ' "$out" 2>/dev/null || true)
  remote=$(sed -n 's/^REMOTE_BYTES_READ //p' "$out" 2>/dev/null)
  fetched=$(field fetched "$traffic")
  [[ -n $fetched && $fetched -gt 0 && $fetched == "$remote" ]] || fail "Spark: Ferry fetched '${fetched}' of ${remote:-?} remote bytes"
  [[ $(field fetchedInline "$traffic") == 0 ]] || fail "Spark: blocks came inline, not by RDMA READ: $traffic"
  [[ $(field servedByCpu "$traffic") == 0 ]] || fail "Spark: a node's CPU served bytes: $traffic"
  # Each executor's node served on the class's address (so on its device).
  address=$(sed -n 's/^ADDRESS //p' "$FERRY_VM_OUT/spark-$class.txt" 2>/dev/null)
  nodes=$(cat "$FERRY_VM_OUT/spark-$class-work"/*/*/stderr 2>/dev/null | grep -c "Ferry node of executor .* serving at $address:" || true)
  ((nodes == 2)) || fail "Spark: $nodes executors' nodes served at ${address:-?}, expected 2"
  packets=$(grep '^DEVICE_PACKETS' "$FERRY_VM_OUT/spark-$class.txt" 2>/dev/null | tr '\n' ' ')
  echo "jobs.sh: $class Spark: remote shuffle bytes $remote, by RDMA READ $((fetched - $(field fetchedInline "$traffic"))), served by a CPU $(field servedByCpu "$traffic"); device $packets"
}

judge_kafka() {
  local log=$FERRY_VM_OUT/kafka-$class.txt consume read_total=0 received_total=0 line packets
  grep -q '^EXIT 0$' "$log" 2>/dev/null || fail "Kafka: the guest's run failed (see $log)"
  consume=$(grep '^consume: ' "$log" 2>/dev/null || true)
  [[ $consume == "consume: OK "* ]] || fail "Kafka: acknowledged records not read back: ${consume:-no consume line}"
  [[ $(grep -c "payload by one-sided READ over verbs" "$log") == 3 ]] || fail "Kafka: not every broker moved its payload by READ over verbs"
  [[ $(sed -n 's/^SETUP_TIMEOUTS //p' "$log") == 0 ]] || fail "Kafka: connection setup timeouts"
  while read -r line; do
    read_total=$((read_total + $(field readBytes "$line"))) || true
    received_total=$((received_total + $(field bytesReceived "$line"))) || true
  done < <(grep '^NODE [123] streams' "$log")
  # 5,000 records of ~170 B went to two followers each (~1.7 MB); most of it by READ.
  ((read_total > 1000000)) || fail "Kafka: replication bytes by READ: $read_total"
  packets=$(grep '^DEVICE_PACKETS' "$log" | tr '\n' ' ')
  echo "jobs.sh: $class Kafka: ${consume#consume: }; replication bytes received $received_total, by RDMA READ $read_total; device $packets; started in $(sed -n 's/^STARTED_SECONDS //p' "$log") s, checked at $(sed -n 's/^CHECKED_SECONDS //p' "$log") s"
}

for class in $classes; do
  [[ " $jobs " != *" spark "* ]] || judge_spark
  [[ " $jobs " != *" kafka "* || " $kafka_classes " != *" $class "* ]] || judge_kafka
done
[ "$failed" = 0 ] || exit 1
echo "jobs.sh: $jobs moved their bytes by RDMA READ on: $classes"
