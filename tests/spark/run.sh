#!/usr/bin/env bash
# Real Spark shuffle jobs on local-cluster[2,1,1024] with host-local disk reads off: reduceByKey,
# groupByKey, sortByKey, join, records of 2 MiB in a 144 MiB reduce partition, reduceByKey with an
# executor killed mid-shuffle, and (unless FERRY_SPARK_SQL=0) three DataFrame jobs with adaptive
# query execution (coalesced, local and skew-split shuffle reads).
# Runs them twice with spark-submit: Spark's default shuffle, then
# spark.shuffle.manager=io.ferry.spark.FerryShuffleManager + spark.plugins=io.ferry.spark.FerryPlugin
# with the ferry-spark and ferry-core jars and spark.authenticate on; then a short Ferry run with
# spark.authenticate off (the default), where executors' nodes must still refuse peers without the
# application's (driver-made, random) secret; then once with a bad spark.ferry.* value, which must
# fail at start-up naming the key.
# Fails unless every job's checksum and read metrics (records, bytes) are the same in both runs,
# the second run really used FerryShuffleManager (the app checks the driver's and every executor's
# SparkEnv; this script also finds the manager's start line in the logs), every remote byte went
# through the executors' Ferry nodes, and a peer without the application's secret was refused (with
# and without spark.authenticate), and each node listens on its block manager's address only.
#
# Installs Spark itself (tests/spark/setup.sh) and builds the jars with Gradle. Loopback only.
# Output and logs: $FERRY_SPARK_OUT (default build/spark-test).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
start=$SECONDS

# (Not `tee /dev/stderr`: reopening stderr truncates a log file it points to.)
setup_report=$(bash tests/spark/setup.sh)
echo "$setup_report" >&2
spark_home=$(sed -n 's/^SPARK_HOME=//p' <<< "$setup_report")
export SPARK_LOCAL_IP=127.0.0.1
export SPARK_LOCAL_HOSTNAME=localhost

out=${FERRY_SPARK_OUT:-$root/build/spark-test}
rm -rf "$out"
mkdir -p "$out/app-classes" "$out/spark-home"

# local-cluster workers write executor logs to $SPARK_HOME/work/<app>/<executor>/ whatever
# SPARK_WORKER_DIR says, so run from a SPARK_HOME of links to the installed one: logs stay in $out
# and concurrent runs never share a work dir.
for entry in "$spark_home"/*; do
  [[ "$(basename "$entry")" == work ]] || ln -s "$entry" "$out/spark-home/"
done
export SPARK_HOME=$out/spark-home

app_args=()
jobs=6
if [[ "${FERRY_SPARK_SQL:-1}" == 1 ]]; then
  app_args+=(--sql)
  jobs=9
fi

echo "== building ferry-spark and ferry-core jars (Gradle)"
gradle --no-daemon --console=plain -q :ferry-spark:jar :ferry-core:jar
ferry_jars=$(ls "$root"/jvm/spark/build/libs/ferry-spark-*.jar "$root"/jvm/core/build/libs/ferry-core-*.jar \
  | grep -v -e '-sources' -e '-javadoc' | paste -sd, -)
echo "ferry jars: $ferry_jars"

echo "== compiling the test application against \$SPARK_HOME/jars"
javac --release 17 -Xlint:all,-path -Werror -cp "$SPARK_HOME/jars/*:${ferry_jars//,/:}" -d "$out/app-classes" \
  $(find tests/spark/app -name '*.java')
jar --create --file "$out/shuffle-jobs.jar" -C "$out/app-classes" .

# Short-lived JVMs on 2 shared cores: C1 only (half the CPU time of these runs).
java_opts="-Djava.net.preferIPv4Stack=true -XX:TieredStopAtLevel=1"

submit() { # <name> <extra spark-submit args...>
  local name=$1
  shift
  local t0=$SECONDS
  echo "== run: $name"
  if ! "$SPARK_HOME/bin/spark-submit" \
    --master 'local-cluster[2,1,1024]' \
    --class io.ferry.spark.test.ShuffleJobs \
    --conf spark.shuffle.readHostLocalDisk=false \
    --conf spark.ui.enabled=false \
    --conf spark.driver.host=127.0.0.1 \
    --conf spark.driver.bindAddress=127.0.0.1 \
    --conf spark.default.parallelism=8 \
    --conf "spark.driver.extraJavaOptions=$java_opts" \
    --conf "spark.executor.extraJavaOptions=$java_opts" \
    "$@" >"$out/$name.out" 2>"$out/$name.log"; then
    echo "spark-submit ($name) failed; last lines of $out/$name.log:" >&2
    tail -n 60 "$out/$name.log" >&2
    cat "$out/$name.out" >&2
    exit 1
  fi
  cat "$out/$name.out"
  echo "($name: $((SECONDS - t0)) s)"
}

submit default "$out/shuffle-jobs.jar" "${app_args[@]}"
submit ferry \
  --jars "$ferry_jars" \
  --conf spark.shuffle.manager=io.ferry.spark.FerryShuffleManager \
  --conf spark.plugins=io.ferry.spark.FerryPlugin \
  --conf spark.authenticate=true \
  --conf spark.authenticate.secret=ferry-test-secret \
  "$out/shuffle-jobs.jar" "${app_args[@]}" io.ferry.spark.FerryShuffleManager
submit ferry-default-auth \
  --jars "$ferry_jars" \
  --conf spark.shuffle.manager=io.ferry.spark.FerryShuffleManager \
  --conf spark.plugins=io.ferry.spark.FerryPlugin \
  "$out/shuffle-jobs.jar" --auth-only io.ferry.spark.FerryShuffleManager

echo "== run: a bad spark.ferry.* value fails at start-up, naming the key"
if "$SPARK_HOME/bin/spark-submit" --master 'local-cluster[1,1,1024]' --class io.ferry.spark.test.ShuffleJobs \
  --conf spark.ui.enabled=false --conf spark.driver.host=127.0.0.1 --conf spark.driver.bindAddress=127.0.0.1 \
  --jars "$ferry_jars" --conf spark.shuffle.manager=io.ferry.spark.FerryShuffleManager \
  --conf spark.plugins=io.ferry.spark.FerryPlugin --conf spark.ferry.pool.bytes=plenty \
  "$out/shuffle-jobs.jar" >"$out/badconfig.out" 2>"$out/badconfig.log"; then
  echo "FAIL: spark.ferry.pool.bytes=plenty was accepted" >&2
  exit 1
fi
grep -m1 'spark.ferry.pool.bytes' "$out/badconfig.log" || {
  echo "FAIL: the start-up error does not name spark.ferry.pool.bytes; see $out/badconfig.log" >&2
  exit 1
}

echo "== checks"
fail=0
grep '^CHECKSUM ' "$out/default.out" >"$out/default.checksums"
grep '^CHECKSUM ' "$out/ferry.out" >"$out/ferry.checksums"
if [[ $(wc -l <"$out/default.checksums") -ne $jobs ]]; then
  echo "FAIL: expected $jobs checksums from the default run" >&2
  fail=1
fi
if ! diff -u "$out/default.checksums" "$out/ferry.checksums"; then
  echo "FAIL: checksums differ between the default shuffle and FerryShuffleManager" >&2
  fail=1
fi
# Records and bytes read per job (local plus remote) do not depend on the shuffle transport.
if ! diff -u <(grep '^READ_METRICS ' "$out/default.out") <(grep '^READ_METRICS ' "$out/ferry.out"); then
  echo "FAIL: shuffle read metrics differ between the default shuffle and FerryShuffleManager" >&2
  fail=1
fi
for line in FERRY_BYTES_FETCHED 'FERRY_AUTH spark.authenticate:'; do
  grep -q "^$line " "$out/ferry.out" || {
    echo "FAIL: no $line line from the ferry run" >&2
    fail=1
  }
done
require() { # <file> <pattern> <failure>
  grep -q "$2" "$1" || {
    echo "FAIL: $3" >&2
    fail=1
  }
}
require "$out/ferry-default-auth.out" '^FERRY_AUTH default: ' \
  "no FERRY_AUTH line from the run with spark.authenticate off"
require "$out/ferry-default-auth.log" 'spark.authenticate is off: executors' \
  "the driver did not say it hands out a per-application secret"
grep -q '^SHUFFLE_MANAGER driver=io.ferry.spark.FerryShuffleManager ' "$out/ferry.out" || {
  echo "FAIL: the ferry run did not report FerryShuffleManager" >&2
  fail=1
}
grep -q 'FerryShuffleManager started (driver' "$out/ferry.log" || {
  echo "FAIL: no FerryShuffleManager start line in the driver log" >&2
  fail=1
}
executors=0
while read -r _ id dir; do
  log=$dir/stderr
  if grep -q 'FerryShuffleManager started (executor' "$log"; then
    executors=$((executors + 1))
  else
    echo "FAIL: no FerryShuffleManager start line in executor $id's log $log" >&2
    fail=1
  fi
done < <(grep '^EXECUTOR_DIR ' "$out/ferry.out")
if ((executors < 2)); then
  echo "FAIL: FerryShuffleManager start line found in $executors executor logs, expected 2" >&2
  fail=1
fi
if ((fail)); then
  exit 1
fi
echo "spark shuffle: $jobs jobs, same checksums with FerryShuffleManager on $executors executors ($((SECONDS - start)) s)"
