#!/usr/bin/env bash
# Real Kafka (the newest line tested, tests/kafka/pom.xml's 4.4.0; KRaft, Maven Central jars) with
# the Ferry broker plugin: a 3-node cluster on loopback (separate JVMs, tests/kafka/cluster.sh;
# other lines: tests/kafka/lines.sh), topic RF 3 / min.insync.replicas 2, plain
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
# State: $FERRY_KAFKA_DIR (default /tmp/ferry-kafka-test). Ports 19100-19122 (see cluster.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
export FERRY_KAFKA_DIR=${FERRY_KAFKA_DIR:-/tmp/ferry-kafka-test}
dir=$FERRY_KAFKA_DIR
start=$SECONDS
trap 'cluster stop >/dev/null 2>&1 || true' EXIT

source "$root/tests/kafka/plugin.sh"   # ferry_install_plugin, ferry_plugin_opts, ferry_stats, ...
source "$root/tests/kafka/checks.sh"   # cluster, fail, check, produce_through_kill, ...
ferry_install_plugin
build_check

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
# ferry.kafka.payload=auto on a host without RDMA: the node stops again, streams are inline.
for i in 1 2 3; do
  grep -q "payload inline over TCP (ferry.kafka.payload=auto)" "$dir/node$i/out.log" \
    || fail "node $i: no payload decision logged"
done
# Every record (~170 B on the wire) went to two followers: at least 30000 x 150 x 2 bytes came
# through streams. (Inline streams count what a leader sends with sendfile at the receiver.)
streams_carried_replication 9000000

echo "== 3. SIGKILL node 2 while producing, restart it, no acknowledged record lost, ISR complete again"
produce_through_kill t1 2 40000 "$out/t1.kill.acked"
check consume "$B" t1 "$out/t1.acked" "$out/t1.kill.acked" || fail "acknowledged records lost after SIGKILL"
ferry_wait_isr "$B" t1 3 || fail "node 2 did not rejoin every ISR"
echo "ISR complete: $(cluster tool TopicCommand --bootstrap-server "$B" --describe --topic t1 | grep -c 'Isr: [0-9],[0-9],[0-9]') of 3 partitions"
echo "node 2 after its restart: $(ferry_stats 2)"

echo "== 4. garbage to the listener ports leaves the broker serving"
# node 1's replication, client and controller ports
python3 - $(for l in replication client controller; do cluster ports "$l" | cut -d' ' -f1; done) <<'PY'
import os, socket, sys
ports = [int(p) for p in sys.argv[1:]]
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
mixed_cluster t2 20000
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
