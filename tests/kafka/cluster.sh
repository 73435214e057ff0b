#!/usr/bin/env bash
# A KRaft Kafka cluster on loopback from Maven Central jars alone: each node is
# a combined controller+broker JVM (`kafka.Kafka`), with separate listeners for
# clients, replication between brokers, and the controller quorum.
#
#   cluster.sh setup             resolve the jars (tests/kafka/pom.xml) into $FERRY_KAFKA_DIR/lib
#   cluster.sh start [N]         format storage and start N nodes (default 3); waits until ready
#   cluster.sh stop              stop every node (SIGTERM, then SIGKILL)
#   cluster.sh kill I | start-node I   SIGKILL node I / start it again on its existing storage (same log)
#   cluster.sh tool CLASS ARGS   run a Kafka tool class (TopicCommand, ProducerPerformance, ...)
#
# Node I (1-based) listens on $FERRY_KAFKA_HOST (default 127.0.0.1): clients 19090+10I, replication 19091+10I,
# controller 19092+10I ($FERRY_KAFKA_PORT_BASE moves 19090, for a second cluster beside the
# first). Extra JVM options for every node: $KAFKA_NODE_OPTS; node I takes
# $KAFKA_NODE_OPTS_I instead when it is set (KAFKA_NODE_OPTS_3= runs node 3 without a plugin).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${FERRY_KAFKA_DIR:-/tmp/ferry-kafka}"
lib="$dir/lib"

base=${FERRY_KAFKA_PORT_BASE:-19090}
host=${FERRY_KAFKA_HOST:-127.0.0.1}
client_port() { echo $((base + 10 * $1)); }
replication_port() { echo $((base + 1 + 10 * $1)); }
controller_port() { echo $((base + 2 + 10 * $1)); }

bootstrap() {
  local n=$1 i out=()
  for ((i = 1; i <= n; i++)); do out+=("$host:$(client_port "$i")"); done
  (IFS=,; echo "${out[*]}")
}

setup() {
  if [[ -f "$lib/.complete" ]]; then return; fi
  mkdir -p "$lib"
  mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$lib" -DincludeScope=runtime
  touch "$lib/.complete"
}

java_cmd() { echo "${JAVA_HOME:+$JAVA_HOME/bin/}java"; }

tool() {
  local class=$1; shift
  "$(java_cmd)" -Xmx256m -cp "$lib/*" -Dlog4j2.configurationFile="$dir/log4j2-tools.xml" \
    "org.apache.kafka.tools.$class" "$@"
}

write_configs() {
  local n=$1 i voters=()
  for ((i = 1; i <= n; i++)); do voters+=("$i@$host:$(controller_port "$i")"); done
  for ((i = 1; i <= n; i++)); do
    mkdir -p "$dir/node$i"
    cat > "$dir/node$i/server.properties" <<PROPS
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$(IFS=,; echo "${voters[*]}")
listeners=CLIENT://$host:$(client_port "$i"),REPLICATION://$host:$(replication_port "$i"),CONTROLLER://$host:$(controller_port "$i")
advertised.listeners=CLIENT://$host:$(client_port "$i"),REPLICATION://$host:$(replication_port "$i")
listener.security.protocol.map=CLIENT:PLAINTEXT,REPLICATION:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=REPLICATION
controller.listener.names=CONTROLLER
log.dirs=$dir/node$i/data
num.partitions=3
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
group.initial.rebalance.delay.ms=0
PROPS
  done
  for name in node tools; do
    local appender="<Console name=\"out\" target=\"SYSTEM_ERR\"><PatternLayout pattern=\"[%d] %p %m (%c)%n\"/></Console>"
    local level=warn extra=""
    # Nodes log their connection setup timeouts and quorum transitions (run.sh counts and times them).
    [[ $name == node ]] && level=info extra='<Logger name="org.apache.kafka.clients.NetworkClient" level="info"/>
<Logger name="org.apache.kafka.raft.QuorumState" level="info"/>'
    cat > "$dir/log4j2-$name.xml" <<XML
<Configuration status="warn"><Appenders>$appender</Appenders>
<Loggers><Root level="$level"><AppenderRef ref="out"/></Root>
<Logger name="kafka" level="warn"/><Logger name="org.apache.kafka" level="warn"/>
<Logger name="kafka.server.KafkaServer" level="info"/><Logger name="kafka.server.BrokerServer" level="info"/>
$extra</Loggers></Configuration>
XML
  done
}

start_node() {
  local i=$1 own="KAFKA_NODE_OPTS_$1" node_opts=${KAFKA_NODE_OPTS:-}
  if [[ -v $own ]]; then node_opts=${!own}; fi
  # shellcheck disable=SC2086
  nohup "$(java_cmd)" -Xms256m -Xmx512m $node_opts -cp "$lib/*" \
    -Dlog4j2.configurationFile="$dir/log4j2-node.xml" \
    kafka.Kafka "$dir/node$i/server.properties" >> "$dir/node$i/out.log" 2>&1 &
  echo $! > "$dir/node$i/pid"
}

# Ready: every node logged its broker's start (cheap to poll), then a client lists the topics.
wait_ready() {
  local n=$1 deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-120})) i
  for ((i = 1; i <= n; i++)); do
    until grep -q "Transition from STARTING to STARTED" "$dir/node$i/out.log" 2> /dev/null; do
      if ((SECONDS > deadline)); then break 2; fi
      sleep 1
    done
  done
  until tool TopicCommand --bootstrap-server "$(bootstrap "$n")" --list > /dev/null 2>&1; do
    if ((SECONDS > deadline)); then
      echo "cluster: not ready after ${KAFKA_START_TIMEOUT:-120}s; node logs in $dir/node*/out.log" >&2
      return 1
    fi
    sleep 2
  done
}

start() {
  local n=${1:-3} i cluster_id
  setup
  stop 2> /dev/null || true
  rm -rf "$dir"/node*
  write_configs "$n"
  # What `StorageTool random-uuid` prints (a random UUID, base64url without padding), without
  # starting a JVM for it: JVM starts are most of a cluster's start-up in the TCG test VM.
  cluster_id=$(python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')
  for ((i = 1; i <= n; i++)); do
    "$(java_cmd)" -cp "$lib/*" -Dlog4j2.configurationFile="$dir/log4j2-tools.xml" \
      kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/node$i/server.properties" > /dev/null
    start_node "$i"
  done
  echo "$n" > "$dir/size"
  wait_ready "$n"
  echo "cluster: $n nodes ready, bootstrap $(bootstrap "$n")"
}

stop() {
  local pidfile pid
  for pidfile in "$dir"/node*/pid; do
    [[ -f $pidfile ]] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2> /dev/null || true
  done
  for pidfile in "$dir"/node*/pid; do
    [[ -f $pidfile ]] || continue
    pid=$(cat "$pidfile")
    for _ in $(seq 1 30); do kill -0 "$pid" 2> /dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2> /dev/null || true
    rm -f "$pidfile"
  done
}

case "${1:-}" in
  setup) setup ;;
  start) start "${2:-3}" ;;
  stop) stop ;;
  kill) kill -9 "$(cat "$dir/node$2/pid")"; rm -f "$dir/node$2/pid" ;;
  start-node) start_node "$2" ;;
  bootstrap) bootstrap "$(cat "$dir/size")" ;;
  tool) shift; tool "$@" ;;
  *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
