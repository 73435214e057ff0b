#!/usr/bin/env bash
# The main job's Kafka part: a 3-broker KRaft cluster on loopback with the Ferry plugin on every
# broker, topic RF 3 / min.insync.replicas 2, Kafka's own ProducerPerformance (acks=all), a plain
# consumer that checks every acknowledged record, and the figures: producer throughput and
# latency, and the replication bytes each broker moved through Ferry streams.
# Environment: RECORDS (default 100000), SIZE (1024), FERRY_KAFKA_DIR (/tmp/ferry-kafka-demo).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
export FERRY_KAFKA_DIR=${FERRY_KAFKA_DIR:-/tmp/ferry-kafka-demo}
records=${RECORDS:-100000}
size=${SIZE:-1024}
cluster() { bash "$root/tests/kafka/cluster.sh" "$@"; }
trap 'cluster stop >/dev/null 2>&1 || true' EXIT
source "$root/tests/kafka/plugin.sh"

echo "== Kafka: 3 brokers replicating through Ferry (plugin jars into the brokers' libs/)"
ferry_install_plugin
export KAFKA_NODE_OPTS
KAFKA_NODE_OPTS=$(ferry_plugin_opts 1000)
cluster start 3
B=$(cluster bootstrap)
ferry_create_topic "$B" demo
ferry_wait_isr "$B" demo 3
echo "== ProducerPerformance: $records records of $size B, acks=all, RF 3, min ISR 2"
cluster tool ProducerPerformance --topic demo --num-records "$records" --record-size "$size" \
  --throughput -1 --producer-props bootstrap.servers="$B" acks=all linger.ms=5 batch.size=65536 | tail -n 1
ferry_wait_isr "$B" demo 3
echo "== ISR after the run"
cluster tool TopicCommand --bootstrap-server "$B" --describe --topic demo | grep -o 'Partition: [0-9]*.*Isr: [0-9,]*'
sleep 2
echo "== Ferry counters per broker"
total=0
for i in 1 2 3; do
  line=$(ferry_stats "$i")
  echo "broker $i: $line"
  total=$((total + $(sed -n 's/.*bytesReceived=\([0-9]*\).*/\1/p' <<< "$line")))
done
payload=$((records * size))
echo "replication through Ferry streams: $((total / 1048576)) MiB received by followers" \
  "($(awk -v t="$total" -v p="$payload" 'BEGIN { printf "%.2f", t / p }')x the produced payload; RF 3 means ~2x)"
cluster stop > /dev/null
