# A Spark standalone cluster on the namespace network of net.sh (source both): the master in
# node m, one worker with one core in each of w1..w3, the driver in m (client mode). Each worker's
# executor runs in its worker's namespace, so executors are remote to each other: their shuffle
# blocks cross two veths and the bridge, and spark.shuffle.readHostLocalDisk keeps its default
# (executors on distinct hosts never read each other's files).
#
# Set CLUSTER_SPARK_HOME (a Spark: tests/spark/setup.sh) and CLUSTER_OUT (logs, work and local
# dirs) before cluster_start.

CLUSTER_PORT=7077
CLUSTER_EXECUTOR_MEMORY=${CLUSTER_EXECUTOR_MEMORY:-1g}

# cluster_env NODE COMMAND...: COMMAND in the node's namespace with Spark bound to its address.
cluster_env() {
  local node=$1
  shift
  net_exec "$node" env SPARK_HOME="$CLUSTER_SPARK_HOME" SPARK_LOCAL_IP="$(net_ip "$node")" \
    SPARK_LOCAL_HOSTNAME="$(net_ip "$node")" SPARK_LOCAL_DIRS="$CLUSTER_OUT/$node/local" \
    SPARK_DAEMON_MEMORY=512m SPARK_DAEMON_JAVA_OPTS="-Djava.net.preferIPv4Stack=true -XX:TieredStopAtLevel=1" \
    "$@"
}

# cluster_start: the master and the workers, in the background (net_down ends them); returns
# once every worker has registered with the master.
cluster_start() {
  local node master=spark://$NET_MASTER_IP:$CLUSTER_PORT deadline=$((SECONDS + 180))
  mkdir -p "$CLUSTER_OUT"
  cluster_env m "$CLUSTER_SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
    --host "$NET_MASTER_IP" --port "$CLUSTER_PORT" --webui-port 8080 >"$CLUSTER_OUT/master.log" 2>&1 &
  for node in "${NET_WORKERS[@]}"; do
    mkdir -p "$CLUSTER_OUT/$node/work" "$CLUSTER_OUT/$node/local"
    cluster_env "$node" "$CLUSTER_SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker \
      --host "$(net_ip "$node")" --cores 1 --memory "$CLUSTER_EXECUTOR_MEMORY" \
      --work-dir "$CLUSTER_OUT/$node/work" "$master" >"$CLUSTER_OUT/$node.log" 2>&1 &
  done
  until (($(grep -c 'Registering worker' "$CLUSTER_OUT/master.log" 2>/dev/null || true) == ${#NET_WORKERS[@]})); do
    if ((SECONDS > deadline)); then
      echo "cluster: the workers did not all register in 180 s; see $CLUSTER_OUT/master.log" >&2
      tail -n 20 "$CLUSTER_OUT/master.log" >&2
      return 1
    fi
    sleep 1
  done
  echo "cluster: master at $master, workers $(for node in "${NET_WORKERS[@]}"; do printf '%s ' "$(net_ip "$node")"; done)"
}

# cluster_submit NAME SPARK-SUBMIT-ARGS...: an application from the driver's node m, its stdout in
# $CLUSTER_OUT/NAME.out and its log in NAME.log; prints the last log lines and fails if it fails.
cluster_submit() {
  local name=$1
  shift
  if ! cluster_env m "$CLUSTER_SPARK_HOME/bin/spark-submit" --master "spark://$NET_MASTER_IP:$CLUSTER_PORT" \
    --conf spark.driver.host="$NET_MASTER_IP" --conf spark.driver.bindAddress="$NET_MASTER_IP" \
    --conf spark.ui.enabled=false --conf spark.executor.cores=1 \
    --conf spark.executor.memory="$CLUSTER_EXECUTOR_MEMORY" \
    "$@" >"$CLUSTER_OUT/$name.out" 2>"$CLUSTER_OUT/$name.log"; then
    echo "cluster: $name failed; last lines of $CLUSTER_OUT/$name.log:" >&2
    tail -n 40 "$CLUSTER_OUT/$name.log" >&2
    return 1
  fi
}

# cluster_build_apps DIR: builds ferry-core and the ferry-spark jar of SPARK_NEWEST (Gradle), and
# compiles tests/spark's ShuffleJobs and benches/spark-cluster's ClusterJobs against
# CLUSTER_SPARK_HOME into DIR. Sets CLUSTER_APP_JOBS, CLUSTER_APP_BENCH (the two application
# jars) and CLUSTER_FERRY_ARGS (the spark-submit arguments that put Ferry's shuffle on).
cluster_build_apps() {
  local dir=$1 project core_jar spark_jar app
  project=$(ferry_spark_project "$SPARK_NEWEST")
  gradle --no-daemon --console=plain -q :ferry-core:jar ":$project:jar"
  core_jar=$(jar_of jvm/core ferry-core)
  spark_jar=$(jar_of "jvm/spark/$project" "$project")
  # (ClusterJobs builds on benches/spark-job's SparkJobBench.)
  for app in "jobs tests/spark/app" "bench benches/spark-cluster/src benches/spark-job/src"; do
    set -- $app
    mkdir -p "$dir/$1-classes"
    javac --release 17 -Xlint:all,-path -Werror -cp "$CLUSTER_SPARK_HOME/jars/*:$spark_jar:$core_jar" \
      -d "$dir/$1-classes" $(find "${@:2}" -name '*.java')
    jar --create --file "$dir/$1.jar" -C "$dir/$1-classes" .
  done
  CLUSTER_APP_JOBS=$dir/jobs.jar
  CLUSTER_APP_BENCH=$dir/bench.jar
  CLUSTER_FERRY_ARGS=(--jars "$spark_jar,$core_jar" --conf spark.shuffle.manager=io.ferry.spark.FerryShuffleManager
    --conf spark.plugins=io.ferry.spark.FerryPlugin)
}
