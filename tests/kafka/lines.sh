#!/usr/bin/env bash
# Usage: lines.sh [LINE...]   LINE: VERSION[:MODE[:SECURITY[:JDK]]], MODE kraft (default) or zk,
#                             SECURITY of the replication listener: PLAINTEXT (default), SSL, SASL_SSL,
#                             JDK of the brokers: 25 (Temurin 25); default the java on PATH (17)
# The Ferry broker plugin on every Kafka line but the newest (which tests/kafka/run.sh tests in
# full), and TLS between brokers: a compact run per line, default every line in $LINES below.
# Each is a real 3-node cluster (tests/kafka/cluster.sh: Maven Central jars of that release, the
# plugin jar the build makes, default rules, each node on its own ports), topic RF 3 / min ISR 2:
#   1. a producer (acks=all, plain clients) while node 2 is SIGKILLed and restarted: every
#      acknowledged record is read back, in order per partition, and node 2 rejoins every ISR;
#   2. replication went through Ferry streams (every node's counters) and no node logged a
#      "socket connection setup timeout";
# and on SSL / SASL_SSL replication listeners (a throwaway CA and key store, SASL/PLAIN):
#   3. a capture of the loopback (tcpdump) shows the record payload in clear on the plaintext
#      client listener and never on replication connections (nor the SASL password), which open
#      with Ferry's preamble and then carry TLS: Ferry carries the ciphertext;
#   4. (SASL_SSL) a mixed cluster (node 3 without the plugin) still replicates, 1 and 2 falling
#      back to TCP (TLS and SASL on plain TCP) with node 3.
# Prints each line's time and a table at the end. State: $FERRY_KAFKA_LINES_DIR (default
# /tmp/ferry-kafka-lines, a folder per release); ports from $FERRY_KAFKA_PORT_BASE (cluster.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
# The newest of each line Maven Central serves; 3.9 also in ZooKeeper mode; TLS on the newest;
# brokers on JDK 25 on the newest and on 3.9, the oldest line whose docs name Java 25 (best
# effort; every line from 3.7 passes on 25 by hand: README, Compatibility).
LINES=(3.7.2 3.8.1 3.9.2 3.9.2:zk 4.0.2 4.1.2 4.2.2 4.3.1 4.4.0:kraft:SSL 4.4.0:kraft:SASL_SSL
  4.4.0:kraft:PLAINTEXT:25 3.9.2:kraft:PLAINTEXT:25)
work=${FERRY_KAFKA_LINES_DIR:-/tmp/ferry-kafka-lines}
java_home=${JAVA_HOME:-} # the JVM of lines that name no JDK
marker=$(printf 'x%.0s' $(seq 1 32)) # KafkaCheck pads every record value with 150 of these

source "$root/tests/kafka/plugin.sh" # ferry_install_plugin, ferry_plugin_opts, ferry_stats, ...
source "$root/tests/kafka/checks.sh" # cluster, fail, check, produce_through_kill, ...
capture=""
trap '[[ -n $capture ]] && kill "$capture" 2>/dev/null; [[ -v FERRY_KAFKA_DIR ]] && cluster stop >/dev/null 2>&1 || true' EXIT

# Captures the loopback's client and replication connections into $out/loopback.pcap.
capture_start() {
  local ports filter
  ports="$(cluster ports replication) $(cluster ports client)"
  filter="tcp and (port ${ports// / or port })"
  tcpdump -i lo -s 0 -B 8192 -U -Z root -w "$out/loopback.pcap" "$filter" > "$out/tcpdump.log" 2>&1 &
  capture=$!
  for _ in $(seq 1 20); do grep -q 'listening on' "$out/tcpdump.log" && return 0; sleep 0.5; done
  fail "tcpdump did not start: $(cat "$out/tcpdump.log")"
}

capture_check() {
  kill -INT "$capture"
  wait "$capture" || true
  capture=""
  grep 'dropped by kernel' "$out/tcpdump.log"
  grep -q '^0 packets dropped by kernel' "$out/tcpdump.log" || fail "the capture dropped packets"
  # shellcheck disable=SC2046
  python3 "$root/tests/kafka/capture.py" "$out/loopback.pcap" --marker "$marker" \
    --replication $(cluster ports replication) --client $(cluster ports client) \
    $([[ $FERRY_KAFKA_SECURITY == SASL_SSL ]] && echo --secret "$FERRY_KAFKA_DIR/tls/sasl-password") \
    || fail "the loopback capture shows replication not encrypted end to end through Ferry"
}

# check_line VERSION[:MODE[:SECURITY[:JDK]]]
check_line() {
  local version mode security jdk
  IFS=: read -r version mode security jdk <<< "$1"
  export FERRY_KAFKA_VERSION=$version FERRY_KAFKA_MODE=${mode:-kraft} FERRY_KAFKA_SECURITY=${security:-PLAINTEXT}
  export FERRY_KAFKA_DIR=$work/$version KAFKA_NODE_OPTS
  # JDK 25 brokers (Temurin 25): JEP 472 wants the native library's load allowed.
  local native_access=""
  if [[ -n $jdk ]]; then
    export JAVA_HOME=/usr/lib/jvm/temurin-$jdk-jdk-amd64
    native_access="--enable-native-access=ALL-UNNAMED"
  elif [[ -n $java_home ]]; then
    export JAVA_HOME=$java_home
  else
    unset JAVA_HOME
  fi
  echo "== Kafka $version, $FERRY_KAFKA_MODE, replication listener $FERRY_KAFKA_SECURITY${jdk:+, JDK $jdk}"
  ferry_install_plugin
  build_check
  KAFKA_NODE_OPTS="$(ferry_plugin_opts 2000) $native_access"
  cluster start 3
  B=$(cluster bootstrap)
  if [[ -n $jdk ]]; then
    [[ $(readlink "/proc/$(cat "$FERRY_KAFKA_DIR/node1/pid")/exe") == "$JAVA_HOME"/* ]] \
      || fail "node 1 does not run on $JAVA_HOME"
  fi
  [[ $FERRY_KAFKA_SECURITY == PLAINTEXT ]] || capture_start
  ferry_create_topic "$B" lines
  ferry_wait_isr "$B" lines 3 || fail "ISR not complete after creation"
  produce_through_kill lines 2 15000 "$out/lines.acked"
  check consume "$B" lines "$out/lines.acked" || fail "acknowledged records lost or out of order"
  [[ $FERRY_KAFKA_SECURITY == PLAINTEXT ]] || capture_check
  ferry_wait_isr "$B" lines 3 || fail "node 2 did not rejoin every ISR"
  sleep 3 # a counters line from every node after the last replication
  # 15,000 records of ~170 B, each partition to two followers (~5 MB); node 2's counters
  # restarted with it.
  streams_carried_replication 2500000
  no_setup_timeouts
  # The mixed cluster once, on the listener with the most layers (TLS and SASL after a fallback).
  if [[ $FERRY_KAFKA_SECURITY == SASL_SSL ]]; then
    mixed_cluster lines-mixed 10000
    no_setup_timeouts
  fi
  # SIGKILL: three combined nodes stopping at once wait on each other's quorum (run.sh stops
  # its clusters gently).
  for i in 1 2 3; do cluster kill "$i"; done
  cluster stop
}

(($#)) || set -- "${LINES[@]}"
times=()
for line in "$@"; do
  t0=$SECONDS
  check_line "$line"
  times+=("$(printf '%-24s %4d s' "$line" $((SECONDS - t0)))")
  echo "== $line passed in $((SECONDS - t0)) s"
done
echo "== Kafka lines"
printf '%s\n' "${times[@]}"
echo "== Kafka lines passed ($SECONDS s)"
