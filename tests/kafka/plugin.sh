# Shared by tests/kafka/run.sh, benches/kafka/run.sh and tests/main-job.sh (source it):
# install the Ferry plugin into the test cluster's libs/ and the helpers around it.
# Needs $root (repository) and $FERRY_KAFKA_DIR.

# Builds the plugin jar as a user does (Gradle's assemble; once per shell) and drops that one jar
# into the brokers' libs/, as the README's install says (nothing else of Ferry's is on their class
# path).
ferry_install_plugin() {
  bash "$root/tests/kafka/cluster.sh" setup
  if [[ -z ${ferry_plugin_built:-} ]]; then
    (cd "$root" && gradle --no-daemon --console=plain -q :ferry-kafka:assemble)
    ferry_plugin_built=1
  fi
  rm -f "$FERRY_KAFKA_DIR"/lib/ferry-*.jar
  cp "$root"/jvm/kafka/build/libs/ferry-kafka-plugin-*.jar "$FERRY_KAFKA_DIR/lib/"
}

# JVM options that switch the plugin on, with a config file holding the default rules (nodes on
# distinct ports: node I's replication listener is 19091+10I, moved by $FERRY_KAFKA_PORT_BASE),
# plus the lines in $FERRY_KAFKA_EXTRA_CONF. $1: stats interval in ms.
ferry_plugin_opts() {
  cat > "$FERRY_KAFKA_DIR/ferry.conf" <<CONF
# Default rules: accept on this broker's inter-broker listener, try Ferry to peers on any port
# but the controller quorum's.
ferry.kafka.stats.interval.ms=${1:-10000}
${FERRY_KAFKA_EXTRA_CONF:-}
CONF
  echo "-Djava.nio.channels.spi.SelectorProvider=io.ferry.kafka.FerrySelectorProvider" \
    "--add-opens java.base/sun.nio.ch=ALL-UNNAMED -Dferry.kafka.config=$FERRY_KAFKA_DIR/ferry.conf"
}

# The last counters line node $1 logged.
ferry_stats() {
  grep 'ferry-kafka: streams' "$FERRY_KAFKA_DIR/node$1/out.log" | tail -n 1 | sed 's/^.*ferry-kafka: //; s/ (io.ferry.kafka)$//'
}

# Creates topic $2 (3 partitions, RF 3, min ISR 2), retrying until all brokers are registered.
# Replicas are assigned so that node I leads partition I-1: every node leads one and follows two.
ferry_create_topic() {
  local i
  for i in $(seq 1 30); do
    if bash "$root/tests/kafka/cluster.sh" tool TopicCommand --bootstrap-server "$1" --create --topic "$2" \
      --replica-assignment 1:2:3,2:3:1,3:1:2 --config min.insync.replicas=2 > /dev/null 2>&1; then
      return 0
    fi
    sleep 2
  done
  echo "could not create topic $2" >&2
  return 1
}

# Waits up to 90 s until every partition of topic $2 has $3 replicas in its ISR.
ferry_wait_isr() {
  local i
  for i in $(seq 1 45); do
    if bash "$root/tests/kafka/cluster.sh" tool TopicCommand --bootstrap-server "$1" --describe --topic "$2" \
      | awk -v n="$3" '/Isr:/ { for (f = 1; f <= NF; f++) if ($f == "Isr:") { if (split($(f + 1), a, ",") < n) bad = 1 } }
                        END { exit bad }'; then
      return 0
    fi
    sleep 2
  done
  return 1
}

# Moves leadership of topic $2 back to each partition's first replica (node I leads partition
# I-1 again after a broker started late or restarted); tries for about 30 s.
ferry_preferred_leaders() {
  local i
  for i in $(seq 1 8); do
    bash "$root/tests/kafka/cluster.sh" tool LeaderElectionCommand --bootstrap-server "$1" \
      --election-type PREFERRED --topic "$2" --all-topic-partitions > /dev/null 2>&1 || true
    if bash "$root/tests/kafka/cluster.sh" tool TopicCommand --bootstrap-server "$1" --describe --topic "$2" \
      | awk '/Leader:/ { for (f = 1; f <= NF; f++) { if ($f == "Leader:") l = $(f + 1); if ($f == "Replicas:") r = $(f + 1) }
                         split(r, a, ","); if (l != a[1]) bad = 1 } END { exit bad }'; then
      return 0
    fi
    sleep 2
  done
  return 1
}

# The "socket connection setup timeout" lines (NetworkClient: a connection that never became
# ready) in every node's log since the cluster started.
ferry_setup_timeouts() {
  cat "$FERRY_KAFKA_DIR"/node*/out.log | grep -c "socket connection setup timeout" || true
}

# SIGKILLs the active controller of the cluster at bootstrap $1 and prints "NODE MS": the node
# killed and the milliseconds until a surviving node logged its transition to quorum leader.
# Fails when no new leader is logged within 30 s.
ferry_controller_failover() {
  local leader t0 ms
  leader=$(bash "$root/tests/kafka/cluster.sh" tool MetadataQuorumCommand --bootstrap-server "$1" describe --status \
    | awk '/^LeaderId:/ { print $2 }')
  [[ -n $leader ]] || return 1
  t0=$(date +%s%3N)
  bash "$root/tests/kafka/cluster.sh" kill "$leader"
  for _ in $(seq 1 60); do
    sleep 0.5
    ms=$(python3 - "$t0" "$leader" "$FERRY_KAFKA_DIR"/node*/out.log <<'PY'
import datetime, re, sys
t0, killed, logs = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
line = re.compile(r"^\[(\S+ \S+)\] INFO .*Completed transition to Leader\(")
times = []
for log in logs:
    if log.endswith("/node%s/out.log" % killed):
        continue
    for text in open(log, errors="replace"):
        m = line.match(text)
        if m:
            at = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() * 1000
            if at >= t0:
                times.append(at - t0)
if times:
    print(int(min(times)))
PY
    )
    if [[ -n $ms ]]; then
      echo "$leader $ms"
      return 0
    fi
  done
  return 1
}
