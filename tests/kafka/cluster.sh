#!/usr/bin/env bash
# A Kafka cluster on loopback from Maven Central jars alone: in KRaft mode each node is a combined
# controller+broker JVM (`kafka.Kafka`); in ZooKeeper mode (Kafka 3.x) each node is a broker and
# one ZooKeeper server (from the zookeeper jar Kafka 3.x depends on) runs beside them. Separate
# listeners for clients, replication between brokers, and the controller quorum (KRaft).
#
#   cluster.sh setup             resolve the jars (tests/kafka/pom.xml) into $FERRY_KAFKA_LIB
#   cluster.sh start [N]         format storage and start N nodes (default 3); waits until ready
#   cluster.sh format [N]        write N nodes' configs and format their storage (KRaft), no start
#   cluster.sh stop              stop every node (SIGTERM, then SIGKILL), then ZooKeeper
#   cluster.sh kill I | start-node I   SIGKILL node I / start it again on its existing storage (same log)
#   cluster.sh tool CLASS ARGS   run a Kafka tool class (TopicCommand, ProducerPerformance, ...)
#   cluster.sh ports replication|client|controller   every node's port of that listener
#   cluster.sh classpath         the jars, in one fixed order (what a class data archive records)
#
# $FERRY_KAFKA_VERSION: the Kafka release (default: the pom's, the newest line tested);
# $FERRY_KAFKA_MODE: kraft (default) or zk; $FERRY_KAFKA_SECURITY: the replication listener's
# security protocol, PLAINTEXT (default), SSL (mutual TLS) or SASL_SSL (SASL/PLAIN over TLS): a
# throwaway CA and key store are made with keytool at start, with random passwords.
# Node I (1-based) listens on $FERRY_KAFKA_HOST (default 127.0.0.1): clients 19090+10I,
# replication 19091+10I,
# controller 19092+10I ($FERRY_KAFKA_PORT_BASE moves 19090, for a second cluster beside the
# first); ZooKeeper on 19095. Extra JVM options for every node: $KAFKA_NODE_OPTS; node I takes
# $KAFKA_NODE_OPTS_I instead when it is set (KAFKA_NODE_OPTS_3= runs node 3 without a plugin).
# $FERRY_KAFKA_LIB: the jars' folder (default $FERRY_KAFKA_DIR/lib). $FERRY_KAFKA_FORMATTED: a
# $FERRY_KAFKA_DIR that `format` prepared (same N): start copies its storage instead of formatting
# (a JVM per node). $KAFKA_READY=started: start waits for the nodes' "started" log lines only, not
# for a client listing the topics (a JVM each try), for callers whose first client retries anyway.
# $KAFKA_SERVER_PROPS: lines appended to every node's server.properties.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${FERRY_KAFKA_DIR:-/tmp/ferry-kafka}"
lib="${FERRY_KAFKA_LIB:-$dir/lib}"
version=${FERRY_KAFKA_VERSION:-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")}
mode=${FERRY_KAFKA_MODE:-kraft}
security=${FERRY_KAFKA_SECURITY:-PLAINTEXT}
case "$mode/$security" in
  kraft/* | zk/*) ;;
  *) echo "cluster: FERRY_KAFKA_MODE is kraft or zk, not $mode" >&2; exit 2 ;;
esac
case "$security" in
  PLAINTEXT | SSL | SASL_SSL) ;;
  *) echo "cluster: FERRY_KAFKA_SECURITY is PLAINTEXT, SSL or SASL_SSL, not $security" >&2; exit 2 ;;
esac

base=${FERRY_KAFKA_PORT_BASE:-19090}
host=${FERRY_KAFKA_HOST:-127.0.0.1}
client_port() { echo $((base + 10 * $1)); }
replication_port() { echo $((base + 1 + 10 * $1)); }
controller_port() { echo $((base + 2 + 10 * $1)); }
zookeeper_port() { echo $((base + 5)); }

bootstrap() {
  local n=$1 i out=()
  for ((i = 1; i <= n; i++)); do out+=("$host:$(client_port "$i")"); done
  (IFS=,; echo "${out[*]}")
}

setup() {
  if [[ "$(cat "$lib/.complete" 2> /dev/null)" == "$version" ]]; then return; fi
  rm -rf "$lib"
  mkdir -p "$lib"
  mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
    -Dkafka.version="$version" -DoutputDirectory="$lib" -DincludeScope=runtime
  echo "$version" > "$lib/.complete"
}

java_cmd() { echo "${JAVA_HOME:+$JAVA_HOME/bin/}java"; }

# The jars in byte order rather than as "$lib/*" (directory order, which differs between file
# systems): a class data archive (-XX:SharedArchiveFile) holds only for the class path it recorded.
classpath() { find "$lib" -maxdepth 1 -name '*.jar' | LC_ALL=C sort | paste -sd:; }

# A short-lived tool JVM (admin commands, storage format): C1 only, serial GC, as it starts faster
# on a busy 2-core host.
tool_java() {
  "$(java_cmd)" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$(classpath)" \
    -Dlog4j2.configurationFile="$dir/log4j2-tools.xml" "$@"
}

tool() {
  local class=$1; shift
  tool_java "org.apache.kafka.tools.$class" "$@"
}

# Throwaway TLS material for the replication listener: a CA and one broker key pair (every node
# is $FERRY_KAFKA_HOST, the certificate's subject alternative name, so host name verification stays on),
# PKCS12 stores, a random password. Prints the listener's security settings.
tls_configs() {
  local tls=$dir/tls pass
  pass=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  rm -rf "$tls" && mkdir -p "$tls"
  keystore() { "${JAVA_HOME:+$JAVA_HOME/bin/}keytool" -storetype PKCS12 -storepass "$pass" "$@" 2> /dev/null; }
  keystore -genkeypair -keystore "$tls/ca.p12" -alias ca -dname CN=ferry-test-ca -keyalg EC \
    -groupname secp256r1 -ext bc:c -validity 2
  keystore -exportcert -keystore "$tls/ca.p12" -alias ca -rfc -file "$tls/ca.pem"
  keystore -importcert -noprompt -keystore "$tls/truststore.p12" -alias ca -file "$tls/ca.pem"
  keystore -genkeypair -keystore "$tls/broker.p12" -alias broker -dname "CN=$host" -keyalg EC \
    -groupname secp256r1 -validity 2
  keystore -certreq -keystore "$tls/broker.p12" -alias broker -file "$tls/broker.csr"
  keystore -gencert -keystore "$tls/ca.p12" -alias ca -infile "$tls/broker.csr" -outfile "$tls/broker.pem" \
    -ext "SAN=IP:$host" -validity 2 -rfc
  keystore -importcert -noprompt -keystore "$tls/broker.p12" -alias ca -file "$tls/ca.pem"
  keystore -importcert -keystore "$tls/broker.p12" -alias broker -file "$tls/broker.pem"
  cat <<PROPS
ssl.keystore.type=PKCS12
ssl.keystore.location=$tls/broker.p12
ssl.keystore.password=$pass
ssl.key.password=$pass
ssl.truststore.type=PKCS12
ssl.truststore.location=$tls/truststore.p12
ssl.truststore.password=$pass
PROPS
  if [[ $security == SSL ]]; then
    echo "ssl.client.auth=required"
  else
    # SASL/PLAIN between the brokers; the password (random) also goes into the logs' check.
    echo "$pass" > "$tls/sasl-password"
    cat <<PROPS
sasl.enabled.mechanisms=PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.replication.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="$pass" user_broker="$pass";
PROPS
  fi
}

write_configs() {
  local n=$1 i voters=() security_props=""
  for ((i = 1; i <= n; i++)); do voters+=("$i@$host:$(controller_port "$i")"); done
  [[ $security == PLAINTEXT ]] || security_props=$(tls_configs)
  for ((i = 1; i <= n; i++)); do
    mkdir -p "$dir/node$i"
    local listeners="CLIENT://$host:$(client_port "$i"),REPLICATION://$host:$(replication_port "$i")"
    if [[ $mode == kraft ]]; then
      cat <<PROPS
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$(IFS=,; echo "${voters[*]}")
listeners=$listeners,CONTROLLER://$host:$(controller_port "$i")
listener.security.protocol.map=CLIENT:PLAINTEXT,REPLICATION:$security,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
PROPS
    else
      cat <<PROPS
broker.id=$i
zookeeper.connect=$host:$(zookeeper_port)
zookeeper.session.timeout.ms=6000
listeners=$listeners
listener.security.protocol.map=CLIENT:PLAINTEXT,REPLICATION:$security
PROPS
    fi > "$dir/node$i/server.properties"
    cat >> "$dir/node$i/server.properties" <<PROPS
advertised.listeners=$listeners
inter.broker.listener.name=REPLICATION
log.dirs=$dir/node$i/data
num.partitions=3
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
group.initial.rebalance.delay.ms=0
$security_props
${KAFKA_SERVER_PROPS:-}
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

# ZooKeeper mode: waits (up to 30 s) until ZooKeeper dropped node $1's registration, an ephemeral
# node that outlives a SIGKILLed broker by its session timeout; a broker started before that
# finds its id taken and exits (NodeExists).
unregistered() {
  (exec 3<> "/dev/tcp/$host/$(zookeeper_port)" && echo dump >&3 \
    && ! grep -q "^[[:space:]]*/brokers/ids/$1\$" <&3) 2> /dev/null
}

wait_unregistered() {
  wait_until 30 "ZooKeeper still holds /brokers/ids/$1 after 30 s" unregistered "$1"
}

start_node() {
  local i=$1 own="KAFKA_NODE_OPTS_$1" node_opts=${KAFKA_NODE_OPTS:-}
  if [[ -v $own ]]; then node_opts=${!own}; fi
  [[ $mode == kraft ]] || wait_unregistered "$i"
  # shellcheck disable=SC2086
  nohup "$(java_cmd)" -Xms256m -Xmx512m $node_opts -cp "$(classpath)" \
    -Dlog4j2.configurationFile="$dir/log4j2-node.xml" \
    kafka.Kafka "$dir/node$i/server.properties" >> "$dir/node$i/out.log" 2>&1 &
  echo $! > "$dir/node$i/pid"
}

# wait_until SECONDS PROBLEM COMMAND...: runs COMMAND every second until it succeeds; fails
# naming PROBLEM when SECONDS have passed.
wait_until() {
  local deadline=$((SECONDS + $1)) problem=$2
  shift 2
  until "$@"; do
    if ((SECONDS > deadline)); then
      echo "cluster: $problem" >&2
      return 1
    fi
    sleep 1
  done
}

lists_topics() { tool TopicCommand --bootstrap-server "$(bootstrap "$1")" --list > /dev/null 2>&1; }

# Ready: every node logged its broker's start (cheap to poll; KRaft's BrokerServer, ZooKeeper
# mode's KafkaServer), then a client lists the topics.
started() {
  grep -q "Transition from STARTING to STARTED\|\] started (kafka.server.KafkaServer)" "$dir/node$1/out.log" 2> /dev/null
}

wait_ready() {
  local i timeout=${KAFKA_START_TIMEOUT:-120}
  for ((i = 1; i <= $1; i++)); do
    wait_until "$timeout" "node $i not started after ${timeout}s; log in $dir/node$i/out.log" started "$i"
  done
  [[ ${KAFKA_READY:-} == started ]] ||
    wait_until "$timeout" "not ready after ${timeout}s; node logs in $dir/node*/out.log" lists_topics "$1"
}

listening() { (exec 3<> "/dev/tcp/$host/$1") 2> /dev/null; }

# ZooKeeper mode: one standalone ZooKeeper server (the zookeeper jar Kafka 3.x depends on, no
# admin web server), ready when its port accepts connections.
start_zookeeper() {
  local port
  port=$(zookeeper_port)
  mkdir -p "$dir/zk/data"
  # A 1 s tick allows the brokers' 6 s sessions (zookeeper.session.timeout.ms).
  nohup "$(java_cmd)" -Xmx128m -cp "$(classpath)" -Dzookeeper.admin.enableServer=false \
    -Dzookeeper.4lw.commands.whitelist=dump -Dlog4j2.configurationFile="$dir/log4j2-tools.xml" \
    org.apache.zookeeper.server.ZooKeeperServerMain "$port" "$dir/zk/data" 1000 >> "$dir/zk/out.log" 2>&1 &
  echo $! > "$dir/zk/pid"
  wait_until 60 "ZooKeeper not listening on $port after 60 s; log in $dir/zk/out.log" listening "$port"
}

# KRaft mode: every node's storage formatted with one new cluster id.
format_storage() {
  local n=$1 i cluster_id
  # What `StorageTool random-uuid` prints (a random UUID, base64url without padding, never starting
  # with "-", which the tool's arguments would take for an option), without starting a JVM for it:
  # JVM starts are most of a cluster's start-up in the TCG test VM.
  cluster_id=$(python3 -c 'import base64, uuid
while True:
    id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not id.startswith("-"):
        print(id)
        break')
  for ((i = 1; i <= n; i++)); do
    tool_java kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/node$i/server.properties" > /dev/null
  done
}

# KRaft storage: formatted here, or copied from $FERRY_KAFKA_FORMATTED.
storage() {
  local n=$1 i
  if [[ -z ${FERRY_KAFKA_FORMATTED:-} ]]; then
    format_storage "$n"
    return
  fi
  for ((i = 1; i <= n; i++)); do
    [[ -f $FERRY_KAFKA_FORMATTED/node$i/data/meta.properties ]] ||
      { echo "cluster: FERRY_KAFKA_FORMATTED=$FERRY_KAFKA_FORMATTED holds no storage of node $i" >&2; return 1; }
    cp -a "$FERRY_KAFKA_FORMATTED/node$i/data" "$dir/node$i/"
  done
}

format() {
  local n=${1:-3}
  [[ $mode == kraft ]] || { echo "cluster: format is for KRaft mode" >&2; exit 2; }
  setup
  rm -rf "$dir"/node*
  write_configs "$n"
  format_storage "$n"
}

start() {
  local n=${1:-3} i
  setup
  stop 2> /dev/null || true
  rm -rf "$dir"/node* "$dir/zk"
  write_configs "$n"
  if [[ $mode == zk ]]; then start_zookeeper; else storage "$n"; fi
  for ((i = 1; i <= n; i++)); do start_node "$i"; done
  echo "$n" > "$dir/size"
  wait_ready "$n"
  echo "cluster: $n nodes ready (Kafka $version, $mode, replication $security), bootstrap $(bootstrap "$n")"
}

# stop_processes PIDFILE...: SIGTERM to each, then waits up to 15 s for each before SIGKILL.
stop_processes() {
  local pidfile pid
  for pidfile in "$@"; do
    [[ -f $pidfile ]] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2> /dev/null || true
  done
  for pidfile in "$@"; do
    [[ -f $pidfile ]] || continue
    pid=$(cat "$pidfile")
    for _ in $(seq 1 30); do kill -0 "$pid" 2> /dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2> /dev/null || true
    rm -f "$pidfile"
  done
}

# The brokers first: their controlled shutdown still needs ZooKeeper.
stop() {
  stop_processes "$dir"/node*/pid
  stop_processes "$dir/zk/pid"
}

# ports LISTENER: that listener's port on every node of the running cluster.
ports() {
  local i out=()
  for ((i = 1; i <= $(cat "$dir/size"); i++)); do out+=("$("${1}_port" "$i")"); done
  echo "${out[*]}"
}

case "${1:-}" in
  setup) setup ;;
  start) start "${2:-3}" ;;
  format) format "${2:-3}" ;;
  classpath) classpath ;;
  stop) stop ;;
  kill) kill -9 "$(cat "$dir/node$2/pid")"; rm -f "$dir/node$2/pid" ;;
  start-node) start_node "$2" ;;
  bootstrap) bootstrap "$(cat "$dir/size")" ;;
  tool) shift; tool "$@" ;;
  ports) ports "$2" ;;
  *) sed -n '2,29p' "$0" >&2; exit 2 ;;
esac
