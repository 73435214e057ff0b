#!/usr/bin/env bash
# Real Kafka (4.1.1, KRaft, Maven Central jars) with the Ferry broker plugin: a 3-node cluster on
# loopback (separate JVMs, tests/kafka/cluster.sh), topic RF 3 / min.insync.replicas 2, plain
# producers (acks=all) and consumers (tests/kafka/app/KafkaCheck.java, no Ferry in their JVM).
# The plugin is the one jar the build makes (ferry-kafka-plugin-<version>.jar) with the default
# rules, and every node listens on its own ports.
#   1. every acknowledged record is read back, in order per partition;
#   2. replication went through Ferry streams: every node's counters show streams opened and bytes;
#   3. SIGKILL of a broker mid-produce loses no acknowledged record; it rejoins every ISR;
#   4. garbage (random bytes, a bad Ferry hello) sent to the listener ports leaves the broker serving;
#   5. SIGKILL of the active controller: a new quorum leader within 5 s;
#   6. a mixed cluster (node 3 without the plugin) still replicates: 1 and 2 fall back to TCP with it;
#   7. payload by one-sided READ (ferry.kafka.payload=read, a secret on the nodes): every acknowledged
#      record back, also across a follower SIGKILLed mid-transfer, and the bytes moved by READ.
# Before each cluster stops, no node may have logged a "socket connection setup timeout" (a
# connection that never became ready).
# Installs its jars (tests/kafka/cluster.sh setup: Maven), builds the plugin with Gradle.
# State: $FERRY_KAFKA_DIR (default /tmp/ferry-kafka-test). Ports 19100-19122.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
export FERRY_KAFKA_DIR=${FERRY_KAFKA_DIR:-/tmp/ferry-kafka-test}
dir=$FERRY_KAFKA_DIR
cluster() { bash "$root/tests/kafka/cluster.sh" "$@"; }
start=$SECONDS
fail() {
  echo "kafka test FAILED: $*" >&2
  for log in "$dir"/node*/out.log; do echo "--- $log (last lines)" >&2; tail -n 15 "$log" >&2; done
  exit 1
}
trap 'cluster stop >/dev/null 2>&1 || true' EXIT
# Fails when a node logged a connection that never became ready.
no_setup_timeouts() {
  local n
  n=$(ferry_setup_timeouts)
  echo "socket connection setup timeouts in the nodes' logs: $n"
  ((n == 0)) || fail "$n connection(s) never became ready: $(grep -h 'setup timeout' "$dir"/node*/out.log | head -3)"
}

source "$root/tests/kafka/plugin.sh"   # ferry_install_plugin, ferry_plugin_opts, ferry_stats, ...
ferry_install_plugin
out=$dir/check
mkdir -p "$out/classes"
javac --release 17 -Xlint:all -Werror -cp "$dir/lib/*" -d "$out/classes" tests/kafka/app/io/ferry/kafka/test/KafkaCheck.java
check() { java -Xmx256m -cp "$out/classes:$dir/lib/*" -Dlog4j2.configurationFile="$dir/log4j2-tools.xml" \
  io.ferry.kafka.test.KafkaCheck "$@"; }

# produce_through_kill TOPIC NODE RECORDS ACKED: an acks=all producer (5000 records/s) while
# node NODE is SIGKILLed after 3 s and restarted 4 s later; fails when the producer does.
produce_through_kill() {
  local log="$out/$1-kill-produce.log" producer
  check produce "$B" "$1" "$3" 5000 "$4" > "$log" 2>&1 &
  producer=$!
  sleep 3
  cluster kill "$2"
  echo "node $2 killed (SIGKILL)"
  sleep 4
  cluster start-node "$2"
  echo "node $2 restarted"
  wait "$producer" || fail "producer failed: $(cat "$log")"
  grep '^produce' "$log"
}

echo "== cluster of 3 brokers, all with the Ferry plugin"
export KAFKA_NODE_OPTS
KAFKA_NODE_OPTS=$(ferry_plugin_opts 2000)
cluster start 3
B=$(cluster bootstrap)
ferry_create_topic "$B" t1
ferry_wait_isr "$B" t1 3 || fail "t1: ISR not complete after creation"
ferry_preferred_leaders "$B" t1 || echo "(t1: some leader is not its preferred replica)"

echo "== 1. acks=all producer, consumer reads every acknowledged record back in order"
check produce "$B" t1 30000 0 "$out/t1.acked"
check consume "$B" t1 "$out/t1.acked" || fail "records lost or out of order"

echo "== 2. replication went through Ferry streams"
ferry_wait_isr "$B" t1 3 || fail "t1: ISR not complete"
sleep 3
total=0
for i in 1 2 3; do
  line=$(ferry_stats "$i")
  echo "node $i: $line"
  recv=$(sed -n 's/.*bytesReceived=\([0-9]*\).*/\1/p' <<< "$line")
  opened=$(sed -n 's/.*streams opened=\([0-9]*\).*/\1/p' <<< "$line")
  ((opened >= 1)) || fail "node $i: no Ferry stream opened"
  grep -q "ferry.kafka.rules=in:inter-broker,out:\*:brokers " "$dir/node$i/out.log" \
    || fail "node $i: not on the default rules"
  # ferry.kafka.payload=auto on a host without RDMA: the node stops again, streams are inline.
  grep -q "payload inline over TCP (ferry.kafka.payload=auto)" "$dir/node$i/out.log" \
    || fail "node $i: no payload decision logged"
  total=$((total + recv))
done
# Every record (~170 B on the wire) went to two followers: at least 30000 x 150 x 2 bytes came
# through streams. (Inline streams count what a leader sends with sendfile at the receiver.)
echo "replication bytes received through Ferry streams, all nodes: $total"
((total > 9000000)) || fail "replication did not go through Ferry"

echo "== 3. SIGKILL node 2 while producing, restart it, no acknowledged record lost, ISR complete again"
produce_through_kill t1 2 40000 "$out/t1.kill.acked"
check consume "$B" t1 "$out/t1.acked" "$out/t1.kill.acked" || fail "acknowledged records lost after SIGKILL"
ferry_wait_isr "$B" t1 3 || fail "node 2 did not rejoin every ISR"
echo "ISR complete: $(cluster tool TopicCommand --bootstrap-server "$B" --describe --topic t1 | grep -c 'Isr: [0-9],[0-9],[0-9]') of 3 partitions"
echo "node 2 after its restart: $(ferry_stats 2)"

echo "== 4. garbage to the listener ports leaves the broker serving"
python3 - <<'PY'
import os, socket
ports = [19101, 19100, 19102]                   # node 1: replication, client, controller
bad_hello = bytes([0xFF, 0xFE, 0x46, 0x52, 9, 0, 0, 0]) + os.urandom(64)   # Ferry magic, bad version
for port in ports:
    for payload in (os.urandom(4096), bad_hello, b"GET / HTTP/1.0\r\n\r\n", b"\xff\xfe"):
        s = socket.create_connection(("127.0.0.1", port))
        try:
            s.sendall(payload)
            s.settimeout(2)
            s.recv(100)
        except OSError:
            pass
        s.close()
print("garbage: sent 4 kinds of garbage to ports", ports)
PY
kill -0 "$(cat "$dir/node1/pid")" || fail "node 1 died"
check produce "$B" t1 3000 0 "$out/t1.after-garbage.acked"
check consume "$B" t1 "$out/t1.acked" "$out/t1.kill.acked" "$out/t1.after-garbage.acked" \
  || fail "broker not serving after garbage"

echo "== 5. SIGKILL the active controller: a new quorum leader within 5 s"
read -r killed failover_ms < <(ferry_controller_failover "$B") || fail "no new quorum leader within 30 s"
echo "node $killed (active controller) killed: new leader after $failover_ms ms"
((failover_ms < 5000)) || fail "controller failover took $failover_ms ms"
cluster start-node "$killed"
ferry_wait_isr "$B" t1 3 || fail "node $killed did not rejoin every ISR"
no_setup_timeouts

echo "== 6. mixed cluster: node 3 without the plugin replicates over plain TCP"
cluster stop
KAFKA_NODE_OPTS_3="" cluster start 3
ferry_create_topic "$B" t2
ferry_wait_isr "$B" t2 3 || fail "t2: ISR not complete after creation"
ferry_preferred_leaders "$B" t2 || echo "(t2: some leader is not its preferred replica)"
check produce "$B" t2 20000 0 "$out/t2.acked"
check consume "$B" t2 "$out/t2.acked" || fail "mixed cluster lost records"
ferry_wait_isr "$B" t2 3 || fail "mixed cluster: ISR not complete"
sleep 3
leaders=$(cluster tool TopicCommand --bootstrap-server "$B" --describe --topic t2 \
  | awk '/Leader:/ { for (f = 1; f <= NF; f++) if ($f == "Leader:") print $(f + 1) }' | sort | uniq | tr '\n' ' ')
echo "t2 leaders: $leaders"
ferry_bytes=0
for i in 1 2; do
  line=$(ferry_stats "$i")
  echo "node $i: $line"
  fallbacks=$(sed -n 's/.*fallbacks=\([0-9]*\).*/\1/p' <<< "$line")
  plain=$(sed -n 's/.*acceptedPlain=\([0-9]*\).*/\1/p' <<< "$line")
  recv=$(sed -n 's/.*bytesReceived=\([0-9]*\).*/\1/p' <<< "$line")
  ferry_bytes=$((ferry_bytes + recv))
  # Node i follows what node 3 leads (its preamble meets a plain broker: fallback), and node 3
  # follows what node i leads (node 3 connects plain: accepted as plain).
  if [[ " $leaders " == *" 3 "* ]]; then
    ((fallbacks >= 1)) || fail "node $i never fell back to TCP with the plain node 3"
  fi
  if [[ " $leaders " == *" $i "* ]]; then
    ((plain >= 1)) || fail "node $i never served the plain node 3 over plain TCP"
  fi
done
# What node 1 or 2 leads, the other follows through a Ferry stream.
if [[ " $leaders " == *" 1 "* || " $leaders " == *" 2 "* ]]; then
  ((ferry_bytes > 500000)) || fail "no Ferry stream between the two plugin nodes"
fi
grep -q "ferry-kafka" "$dir/node3/out.log" && fail "node 3 ran the plugin"
echo "node 3: no plugin; ISR complete on every partition of t2"

no_setup_timeouts

echo "== 7. payload by one-sided READ (ferry.kafka.payload=read; tcp provider here, RDMA READ on verbs)"
cluster stop
# Replication fetches under this light load carry a few KiB each: READ from 512 bytes on.
FERRY_KAFKA_EXTRA_CONF=$'ferry.kafka.payload=read\nferry.kafka.provider=tcp\nferry.kafka.secret=t3-secret\nferry.kafka.read.min.bytes=512'
KAFKA_NODE_OPTS=$(ferry_plugin_opts 2000)
cluster start 3
ferry_create_topic "$B" t3
ferry_wait_isr "$B" t3 3 || fail "t3: ISR not complete after creation"
ferry_preferred_leaders "$B" t3 || echo "(t3: some leader is not its preferred replica)"
check produce "$B" t3 20000 0 "$out/t3.acked"
check consume "$B" t3 "$out/t3.acked" || fail "READ payload: records lost or out of order"
# A follower dies in the middle of READs; it comes back and catches up through READs again.
produce_through_kill t3 3 30000 "$out/t3.kill.acked"
check consume "$B" t3 "$out/t3.acked" "$out/t3.kill.acked" || fail "READ payload: acknowledged records lost"
ferry_wait_isr "$B" t3 3 || fail "node 3 did not rejoin every ISR of t3"
sleep 3
read_total=0
for i in 1 2 3; do
  grep -q "payload by one-sided READ over tcp" "$dir/node$i/out.log" || fail "node $i: no READ payload"
  line=$(ferry_stats "$i")
  echo "node $i: $line"
  read_bytes=$(sed -n 's/.*readBytes=\([0-9]*\).*/\1/p' <<< "$line")
  read_total=$((read_total + read_bytes))
done
# 50,000 records of ~170 B each went to two followers (~17 MB); most of it by READ (writes under
# 512 bytes ride in DATA frames).
echo "replication bytes received by one-sided READ, all nodes: $read_total"
((read_total > 5000000)) || fail "replication did not move by READ"
no_setup_timeouts

cluster stop
echo "== kafka tests passed ($((SECONDS - start)) s)"
