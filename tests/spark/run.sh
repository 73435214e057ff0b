#!/usr/bin/env bash
# Usage: run.sh [VERSION]            the full suite on Spark VERSION (default: SPARK_NEWEST)
#        run.sh --lines              a compact run on each of SPARK_OTHER_LINES
#        run.sh --compact VERSION... a compact run on each VERSION (VERSION:25: on Temurin 25)
# (versions and the ferry-spark artifact of each: tests/spark/versions.sh)
#
# Real Spark shuffle jobs on local-cluster[2,1,1024] with host-local disk reads off, each run
# twice with spark-submit: Spark's default shuffle, then
# spark.shuffle.manager=io.ferry.spark.FerryShuffleManager with the ferry-spark jar of the line and
# ferry-core, and spark.authenticate on.
# - The full suite: reduceByKey, groupByKey, sortByKey, join, records of 2 MiB in a 144 MiB reduce
#   partition, reduceByKey with an executor killed mid-shuffle, and (unless FERRY_SPARK_SQL=0)
#   three DataFrame jobs with adaptive query execution (coalesced, local and skew-split shuffle
#   reads); then a short Ferry run with spark.authenticate off (the default), where executors'
#   nodes must still refuse peers without the application's (driver-made, random) secret; one
#   without spark.plugins, which must say in a WARN on the driver and on every executor that Ferry
#   is not in use, naming spark.plugins; one with spark.network.crypto.enabled, where every
#   executor's Ferry node encrypts (AES-GCM) and carries every remote byte, every process says so
#   naming the setting, the result is the default shuffle's, and a capture of the loopback shows
#   none of the shuffled records in clear (where a capture of the same job without encryption
#   shows them); one with spark.network.crypto.enabled and spark.ferry.provider=verbs, where no
#   executor starts a Ferry node and every process says in a WARN that Spark's own encrypted
#   transport carries the shuffle, naming both settings; one under dynamic allocation with shuffle tracking on
#   local-cluster[3,1,1024] (2 to 3 executors), where an executor joins mid-stage, one leaves once
#   idle and a new one joins for the next job, with results equal to the default shuffle's and no failed task;
#   one on local-cluster[3,1,1024] with storage decommissioning, first with the default shuffle:
#   after a map stage the executor holding the most map outputs is decommissioned, its outputs
#   migrate to the other two, and once it has left the reduce stage reads them, with the default
#   shuffle's result, no failed task, no stage rerun, and with Ferry every remote byte through the
#   nodes of the executors they migrated to; one with a bad spark.ferry.* value, which must fail at
#   start-up naming the key; and one with the ferry-spark artifact of another line, which must fail
#   at start-up naming the lines it serves.
# - A compact run: the four RDD jobs and the executor killed mid-shuffle, with spark.authenticate;
#   then the decommissioning run with Ferry.
# How Ferry gets onto Spark's class path follows the line: --jars and spark.plugins on Spark 4; on
# 3.5, whose executors create the shuffle manager before they fetch --jars (SPARK-45762),
# spark.driver.extraClassPath and spark.executor.extraClassPath, and no spark.plugins: the manager
# adds FerryPlugin itself there.
# Fails unless every job's checksum and read metrics (records, bytes) are the same in both runs,
# the second run really used FerryShuffleManager (the app checks the driver's and every executor's
# SparkEnv; this script also finds the manager's start line in the logs, and no "not in use"
# WARN), every remote byte went through the executors' Ferry nodes, and a peer without the
# application's secret was refused, each node listens on its block manager's address only, and
# every executor publishes Ferry's counters through Spark's metrics system (JmxSink, read back over
# JMX in the executors).
#
# Installs Spark itself (tests/spark/setup.sh) and builds the jars with Gradle. Loopback only.
# Output and logs: $FERRY_SPARK_OUT/<version> (default build/spark-test/<version>).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
source tests/spark/versions.sh

mode=full
case ${1:-} in
  --lines) mode=compact && versions=("${SPARK_OTHER_LINES[@]}") ;;
  --compact) mode=compact && shift && versions=("$@") ;;
  *) versions=("${1:-$SPARK_NEWEST}") ;;
esac
((${#versions[@]})) || { echo "usage: run.sh [VERSION] | --lines | --compact VERSION..." >&2 && exit 2; }

export SPARK_LOCAL_IP=127.0.0.1
export SPARK_LOCAL_HOSTNAME=localhost
manager=io.ferry.spark.FerryShuffleManager

# other_line_project VERSION: an artifact for another Spark line (the full suite checks that it
# refuses to start there).
other_line_project() {
  [[ $1 == 3.* ]] && echo ferry-spark-4_2.13 || echo ferry-spark-3.5_2.12
}
projects=()
for version in "${versions[@]}"; do
  for project in $(ferry_spark_project "$version") $([[ $mode == compact ]] || other_line_project "$version"); do
    [[ " ${projects[*]-} " == *" $project "* ]] || projects+=("$project")
  done
done
echo "== building the jars of ferry-core and ${projects[*]} (Gradle)"
gradle --no-daemon --console=plain -q :ferry-core:jar $(printf ' :%s:jar' "${projects[@]}")
core_jar=$(jar_of jvm/core ferry-core)

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

# captured RUN <submit args...>: submit under a capture of the loopback; RUN.clear then holds how
# many times the run's --marker text crossed it in clear.
captured() {
  local name=$1 capture marker
  marker=$(sed -n 's/.*--marker \([^ ]*\).*/\1/p' <<<"$*")
  tcpdump -i lo -s 0 -B 65536 -U -w "$out/$name.pcap" tcp >"$out/$name.tcpdump.log" 2>&1 &
  capture=$!
  for _ in $(seq 1 20); do grep -q 'listening on' "$out/$name.tcpdump.log" && break; sleep 0.5; done
  submit "$@"
  kill -INT "$capture"
  # tcpdump prints its counts once it has written everything out.
  for _ in $(seq 1 120); do grep -q 'dropped by kernel' "$out/$name.tcpdump.log" && break; sleep 0.5; done
  wait "$capture" || true
  grep -q '^0 packets dropped by kernel' "$out/$name.tcpdump.log" \
    || { echo "FAIL: $name: the capture dropped packets or did not run: $(cat "$out/$name.tcpdump.log")" >&2 && exit 1; }
  { grep -a -o -- "$marker" "$out/$name.pcap" || true; } | wc -l >"$out/$name.clear"
  rm -f "$out/$name.pcap"
  echo "($name: the marker crossed the loopback in clear $(cat "$out/$name.clear") times)"
}

# fails_at_start RUN PATTERN <spark-submit args...>: the application must fail to start, with
# PATTERN in its log.
fails_at_start() {
  local name=$1 pattern=$2
  shift 2
  echo "== run: $name (must fail at start-up)"
  if "$SPARK_HOME/bin/spark-submit" --master 'local-cluster[1,1,1024]' --class io.ferry.spark.test.ShuffleJobs \
    --conf spark.ui.enabled=false --conf spark.driver.host=127.0.0.1 --conf spark.driver.bindAddress=127.0.0.1 \
    "$@" "$out/shuffle-jobs.jar" >"$out/$name.out" 2>"$out/$name.log"; then
    echo "FAIL: $name: the application started" >&2
    exit 1
  fi
  grep -m1 -- "$pattern" "$out/$name.log" || {
    echo "FAIL: $name: the start-up error does not match '$pattern'; see $out/$name.log" >&2
    exit 1
  }
}

fail=0
require() { # <file> <pattern> <failure>
  grep -q -- "$2" "$1" || {
    echo "FAIL: $3" >&2
    fail=1
  }
}
refuse() { # <file> <pattern> <failure>
  ! grep -- "$2" "$1" || {
    echo "FAIL: $3" >&2
    fail=1
  }
}

# executor_logs RUN: the stderr of each executor of that run (the app prints their dirs).
executor_logs() {
  sed -n 's|^EXECUTOR_DIR [^ ]* \(.*\)|\1/stderr|p' "$out/$1.out"
}

# check_processes RUN PATTERN WHAT: the driver's log and every executor's (at least 2) have PATTERN.
check_processes() {
  local run=$1 pattern=$2 what=$3 executors=0 log
  require "$out/$run.log" "$pattern" "$run: no $what in the driver log"
  for log in $(executor_logs "$run"); do
    require "$log" "$pattern" "$run: no $what in executor log $log"
    executors=$((executors + 1))
  done
  ((executors >= 2)) || { echo "FAIL: $run: $executors executor logs, expected 2" >&2 && fail=1; }
}

# The checksum and read metrics lines of a run, for comparison with the default run.
results() { # <run> <kind: CHECKSUM or READ_METRICS>
  grep "^$2 " "$out/$1.out" || true
}

run_version() { # <version[:JDK]>
  local version=${1%%:*} jdk= start=$SECONDS
  local project spark_jar setup_report spark_home
  # VERSION:25: Spark's JVMs (spark-submit, driver, executors) on Temurin 25, not the default JDK.
  if [[ $1 == *:* ]]; then
    jdk=${1#*:}
    local -x JAVA_HOME=/usr/lib/jvm/temurin-$jdk-jdk-amd64
    [[ -x $JAVA_HOME/bin/java ]] || { echo "no JDK $jdk at $JAVA_HOME" >&2 && exit 1; }
  fi
  project=$(ferry_spark_project "$version")
  spark_jar=$(jar_of "jvm/spark/$project" "$project")
  echo "== Spark $version${jdk:+ on JDK $jdk} with $project ($mode run)"
  # (Not `tee /dev/stderr`: reopening stderr truncates a log file it points to.)
  setup_report=$(bash tests/spark/setup.sh "$version")
  echo "$setup_report" >&2
  spark_home=$(sed -n 's/^SPARK_HOME=//p' <<<"$setup_report")

  out=${FERRY_SPARK_OUT:-$root/build/spark-test}/$version${jdk:+-jdk$jdk}
  rm -rf "$out"
  mkdir -p "$out/app-classes" "$out/spark-home"
  # local-cluster workers write executor logs to $SPARK_HOME/work/<app>/<executor>/ whatever
  # SPARK_WORKER_DIR says, so run from a SPARK_HOME of links to the installed one: logs stay in
  # $out and concurrent runs never share a work dir.
  for entry in "$spark_home"/*; do
    [[ "$(basename "$entry")" == work ]] || ln -s "$entry" "$out/spark-home/"
  done
  export SPARK_HOME=$out/spark-home

  local ferry=() plugin=()
  if [[ $version == 3.* ]]; then
    ferry=(--conf "spark.driver.extraClassPath=$spark_jar:$core_jar"
      --conf "spark.executor.extraClassPath=$spark_jar:$core_jar")
  else
    ferry=(--jars "$spark_jar,$core_jar")
    plugin=(--conf spark.plugins=io.ferry.spark.FerryPlugin)
  fi
  local app_args=() jobs=5
  if [[ $mode == compact ]]; then
    app_args+=(--compact)
  else
    jobs=6
    if [[ "${FERRY_SPARK_SQL:-1}" == 1 ]]; then
      app_args+=(--sql)
      jobs=9
    fi
  fi

  echo "== compiling the test application against \$SPARK_HOME/jars"
  # -classfile: Spark 3.5's jars name annotation classes that pyspark leaves out.
  javac --release 17 -Xlint:all,-path,-classfile -Werror -cp "$SPARK_HOME/jars/*:$spark_jar:$core_jar" \
    -d "$out/app-classes" $(find tests/spark/app -name '*.java')
  jar --create --file "$out/shuffle-jobs.jar" -C "$out/app-classes" .

  submit default "$out/shuffle-jobs.jar" "${app_args[@]}"
  submit ferry "${ferry[@]}" --conf spark.shuffle.manager=$manager "${plugin[@]}" \
    --conf spark.authenticate=true --conf spark.authenticate.secret=ferry-test-secret \
    --conf spark.metrics.conf.executor.sink.jmx.class=org.apache.spark.metrics.sink.JmxSink \
    "$out/shuffle-jobs.jar" "${app_args[@]}" $manager
  if [[ $mode == full ]]; then
    submit ferry-default-auth "${ferry[@]}" --conf spark.shuffle.manager=$manager "${plugin[@]}" \
      "$out/shuffle-jobs.jar" --auth-only $manager
    # Spark encrypts its block transfers here: Ferry must encrypt too (never move in clear). A
    # capture of the loopback shows what crossed in clear, first without encryption (the check
    # sees shuffle bytes), then with it, shuffle compression off in both.
    local marker=ferry-clear-$RANDOM$RANDOM
    captured default-marker --conf spark.shuffle.compress=false "$out/shuffle-jobs.jar" --marker "$marker"
    captured ferry-crypto "${ferry[@]}" --conf spark.shuffle.manager=$manager "${plugin[@]}" \
      --conf spark.authenticate=true --conf spark.authenticate.secret=ferry-test-secret \
      --conf spark.network.crypto.enabled=true --conf spark.shuffle.compress=false \
      "$out/shuffle-jobs.jar" --marker "$marker" $manager
    # On verbs, which cannot encrypt, Ferry steps aside for Spark's own transport, loudly.
    submit ferry-crypto-verbs "${ferry[@]}" --conf spark.shuffle.manager=$manager "${plugin[@]}" \
      --conf spark.authenticate=true --conf spark.authenticate.secret=ferry-test-secret \
      --conf spark.network.crypto.enabled=true --conf spark.ferry.provider=verbs \
      "$out/shuffle-jobs.jar" --one-job $manager
    # Executors leave and join (dynamic allocation with shuffle tracking) between and during jobs.
    submit ferry-elastic "${ferry[@]}" --conf spark.shuffle.manager=$manager "${plugin[@]}" \
      --master 'local-cluster[3,1,1024]' --conf spark.dynamicAllocation.enabled=true \
      --conf spark.dynamicAllocation.shuffleTracking.enabled=true \
      --conf spark.dynamicAllocation.initialExecutors=2 --conf spark.dynamicAllocation.minExecutors=2 \
      --conf spark.dynamicAllocation.maxExecutors=3 --conf spark.dynamicAllocation.executorIdleTimeout=2s \
      --conf spark.dynamicAllocation.schedulerBacklogTimeout=1s \
      --conf spark.dynamicAllocation.sustainedSchedulerBacklogTimeout=1s \
      "$out/shuffle-jobs.jar" --elastic $manager
  fi
  # A decommissioned executor's map outputs migrate to the other executors, whose nodes serve them.
  local decommission=(--master 'local-cluster[3,1,1024]' --conf spark.decommission.enabled=true
    --conf spark.storage.decommission.enabled=true --conf spark.storage.decommission.shuffleBlocks.enabled=true
    --conf spark.storage.decommission.replicationReattemptInterval=1s)
  [[ $mode == compact ]] || submit default-decommission "${decommission[@]}" "$out/shuffle-jobs.jar" --decommission
  submit ferry-decommission "${ferry[@]}" --conf spark.shuffle.manager=$manager "${plugin[@]}" "${decommission[@]}" \
    "$out/shuffle-jobs.jar" --decommission $manager
  if [[ $mode == full ]]; then
    if ((${#plugin[@]})); then
      submit ferry-no-plugin "${ferry[@]}" --conf spark.shuffle.manager=$manager \
        "$out/shuffle-jobs.jar" --one-job $manager
    fi
    # A bad spark.ferry.* value, and the jar of another line, fail at start-up naming what is wrong.
    fails_at_start badconfig 'spark.ferry.pool.bytes' \
      "${ferry[@]}" --conf spark.shuffle.manager=$manager "${plugin[@]}" --conf spark.ferry.pool.bytes=plenty
    local wrong
    wrong=$(other_line_project "$version")
    fails_at_start wrong-line "this ferry-spark jar is built for .*, but Spark $version runs here" \
      --jars "$(jar_of "jvm/spark/$wrong" "$wrong"),$core_jar" --conf spark.shuffle.manager=$manager
  fi

  echo "== checks (Spark $version)"
  fail=0
  if [[ $(results default CHECKSUM | wc -l) -ne $jobs ]]; then
    echo "FAIL: expected $jobs checksums from the default run" >&2
    fail=1
  fi
  if ! diff -u <(results default CHECKSUM) <(results ferry CHECKSUM); then
    echo "FAIL: checksums differ between the default shuffle and FerryShuffleManager" >&2
    fail=1
  fi
  # Records and bytes read per job (local plus remote) do not depend on the shuffle transport.
  if ! diff -u <(results default READ_METRICS) <(results ferry READ_METRICS); then
    echo "FAIL: shuffle read metrics differ between the default shuffle and FerryShuffleManager" >&2
    fail=1
  fi
  require "$out/ferry.out" '^FERRY_BYTES_FETCHED ' "no FERRY_BYTES_FETCHED line from the ferry run"
  require "$out/ferry.out" '^FERRY_METRICS_JMX ' "no FERRY_METRICS_JMX line: Ferry's counters did not reach Spark's JmxSink"
  require "$out/ferry.out" '^FERRY_AUTH spark.authenticate: ' "no FERRY_AUTH line from the ferry run"
  require "$out/ferry.out" "^SHUFFLE_MANAGER driver=$manager " "the ferry run did not report $manager"
  require "$out/ferry.log" 'FerryShuffleManager started (driver' "no FerryShuffleManager start line in the driver log"
  [[ -z $jdk ]] || require "$out/ferry.log" "Java version $jdk\\." "the driver did not run on JDK $jdk"
  refuse "$out/ferry.log" 'Ferry is not in use' "the ferry run's driver says Ferry is not in use"
  local log
  check_processes ferry 'FerryShuffleManager started (' "FerryShuffleManager start line"
  for log in $(executor_logs ferry); do
    refuse "$log" 'Ferry is not in use' "an executor of the ferry run says Ferry is not in use: $log"
  done
  if ((${#plugin[@]} == 0)); then
    require "$out/ferry.log" 'added io.ferry.spark.FerryPlugin to spark.plugins' \
      "the manager did not add FerryPlugin to spark.plugins on Spark $version"
  fi
  if [[ $mode == full ]]; then
    require "$out/ferry-default-auth.out" '^FERRY_AUTH default: ' \
      "no FERRY_AUTH line from the run with spark.authenticate off"
    require "$out/ferry-default-auth.log" 'spark.authenticate is off: executors' \
      "the driver did not say it hands out a per-application secret"
  fi
  if [[ -f $out/ferry-crypto.out ]]; then
    check_processes ferry-crypto 'spark.network.crypto.enabled=true: Ferry encrypts its transfers in this' \
      "line saying Ferry encrypts under spark.network.crypto.enabled"
    for log in $(executor_logs ferry-crypto); do
      require "$log" 'Ferry node of executor .*ferry.encryption=aes-gcm' \
        "an executor's node does not encrypt under spark.network.crypto.enabled: $log"
      refuse "$log" 'Ferry is not in use' "an executor says Ferry is not in use under spark.network.crypto.enabled: $log"
    done
    # The app fails unless Ferry's fetched bytes equal Spark's remote bytes; some there must be.
    require "$out/ferry-crypto.out" '^FERRY_BYTES_FETCHED [1-9]' \
      "Ferry carried no shuffle bytes under spark.network.crypto.enabled"
    if ! diff -u <(results default-marker CHECKSUM) <(results ferry-crypto CHECKSUM); then
      echo "FAIL: the run with spark.network.crypto.enabled computed another result" >&2
      fail=1
    fi
    # Each of the job's 20,000 records carries the marker; about half are read remotely (8,129
    # seen in clear on a run here): without encryption, thousands must show.
    if (($(cat "$out/default-marker.clear") < 5000)); then
      echo "FAIL: the capture saw the marker only $(cat "$out/default-marker.clear") times unencrypted: it cannot judge" >&2
      fail=1
    fi
    if (($(cat "$out/ferry-crypto.clear") != 0)); then
      echo "FAIL: with spark.network.crypto.enabled the marker crossed the loopback in clear $(cat "$out/ferry-crypto.clear") times" >&2
      fail=1
    fi
  fi
  if [[ -f $out/ferry-crypto-verbs.out ]]; then
    check_processes ferry-crypto-verbs \
      'WARN.*Ferry is not in use in this .*spark.network.crypto.enabled=true makes Spark encrypt .*spark.ferry.provider=verbs' \
      "WARN that Ferry steps aside for spark.network.crypto.enabled on verbs"
    for log in $(executor_logs ferry-crypto-verbs); do
      refuse "$log" 'Ferry node of executor' "an executor started a Ferry node for encrypted transfers on verbs: $log"
    done
    if ! diff -u <(results default CHECKSUM | grep ' reduceByKey ') <(results ferry-crypto-verbs CHECKSUM); then
      echo "FAIL: the run with spark.network.crypto.enabled on verbs computed another reduceByKey" >&2
      fail=1
    fi
  fi
  if [[ -f $out/ferry-elastic.out ]]; then
    require "$out/ferry-elastic.out" '^ELASTIC ' "no ELASTIC line from the run with executors leaving and joining"
    if ! diff -u <(results default CHECKSUM | grep -e ' reduceByKey ' -e ' groupByKey ') <(results ferry-elastic CHECKSUM); then
      echo "FAIL: with executors leaving and joining, reduceByKey or groupByKey computed another result" >&2
      fail=1
    fi
    # Every executor of the application, the ones that joined later included.
    local app_dir joined=0
    app_dir=$(dirname "$(executor_logs ferry-elastic | head -1)")/..
    for log in "$app_dir"/*/stderr; do
      refuse "$log" 'serve no Ferry endpoint' "a reader did not find another executor's Ferry node: $log"
      joined=$((joined + 1))
    done
    ((joined > 2)) || { echo "FAIL: ferry-elastic: $joined executors in all, expected some to join" >&2 && fail=1; }
  fi
  local run
  for run in default-decommission ferry-decommission; do
    [[ -f $out/$run.out ]] || continue
    require "$out/$run.out" '^DECOMMISSION executor ' "$run: no DECOMMISSION line"
    if ! diff -u <(results default CHECKSUM | grep ' reduceByKey ') <(results "$run" CHECKSUM); then
      echo "FAIL: $run: reading a decommissioned executor's migrated map outputs computed another reduceByKey" >&2
      fail=1
    fi
  done
  require "$out/ferry-decommission.out" '^DECOMMISSION_FERRY ' "no DECOMMISSION_FERRY line from ferry-decommission"
  local app_dir served=0
  app_dir=$(dirname "$(executor_logs ferry-decommission | head -1)")/..
  for log in "$app_dir"/*/stderr; do
    refuse "$log" 'serve no Ferry endpoint' "ferry-decommission: a reader did not find another executor's Ferry node: $log"
    served=$((served + $(grep -c 'migrated here from a decommissioned executor' "$log" || true)))
  done
  ((served > 0)) || { echo "FAIL: ferry-decommission: no executor served a migrated map output" >&2 && fail=1; }
  if [[ -f $out/ferry-no-plugin.out ]]; then
    check_processes ferry-no-plugin 'WARN.*Ferry is not in use in this .*spark.plugins does not name io.ferry.spark.FerryPlugin' \
      "WARN that Ferry is not in use without spark.plugins"
    if ! diff -u <(results default CHECKSUM | grep ' reduceByKey ') <(results ferry-no-plugin CHECKSUM); then
      echo "FAIL: the run without spark.plugins computed another reduceByKey" >&2
      fail=1
    fi
  fi
  if ((fail)); then
    exit 1
  fi
  echo "spark $version${jdk:+ on JDK $jdk} ($project): $jobs jobs, same checksums and read metrics with FerryShuffleManager ($mode run, $((SECONDS - start)) s)"
  summary+=("Spark $version${jdk:+ on JDK $jdk}, $project, $mode run: passed in $((SECONDS - start)) s")
}

summary=()
for version in "${versions[@]}"; do
  run_version "$version"
done
printf '%s\n' "${summary[@]}"
