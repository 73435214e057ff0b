# Shared by tests/kafka/run.sh and tests/kafka/lines.sh (source it after plugin.sh): the checks
# both make on a running test cluster. Needs $root (repository) and $FERRY_KAFKA_DIR; the checks
# that produce or consume need $B (the cluster's bootstrap servers).

cluster() { bash "$root/tests/kafka/cluster.sh" "$@"; }

fail() {
  echo "kafka test FAILED: $*" >&2
  for log in "$FERRY_KAFKA_DIR"/node*/out.log; do echo "--- $log (last lines)" >&2; tail -n 15 "$log" >&2; done
  exit 1
}

# Fails when a node logged a connection that never became ready.
no_setup_timeouts() {
  local n
  n=$(ferry_setup_timeouts)
  echo "socket connection setup timeouts in the nodes' logs: $n"
  ((n == 0)) || fail "$n connection(s) never became ready: $(grep -h 'setup timeout' "$FERRY_KAFKA_DIR"/node*/out.log | head -3)"
}

# Compiles the plain client check (tests/kafka/app/KafkaCheck.java) against this cluster's Kafka
# jars into $out/classes; $out is $FERRY_KAFKA_DIR/check.
build_check() {
  out=$FERRY_KAFKA_DIR/check
  rm -rf "$out/classes" && mkdir -p "$out/classes"
  javac --release 17 -Xlint:all -Werror -cp "$FERRY_KAFKA_DIR/lib/*" -d "$out/classes" \
    "$root/tests/kafka/app/io/ferry/kafka/test/KafkaCheck.java"
}

# The check application's JVM: class path $KAFKA_CHECK_CP (default: what build_check compiled and
# the cluster's jars), JVM options $KAFKA_CHECK_OPTS ahead of the rest.
check() {
  # shellcheck disable=SC2086
  java ${KAFKA_CHECK_OPTS:-} -Xmx256m -cp "${KAFKA_CHECK_CP:-$out/classes:$FERRY_KAFKA_DIR/lib/*}" \
    -Dlog4j2.configurationFile="$FERRY_KAFKA_DIR/log4j2-tools.xml" io.ferry.kafka.test.KafkaCheck "$@"
}

# create_produce_consume BOOTSTRAP TOPIC RECORDS ACKED: one check JVM creates TOPIC (3 partitions,
# node I leads partition I-1, min ISR 2) and waits until every replica is in sync, produces
# RECORDS with acks=all (the acknowledged ones listed in ACKED) and reads each of them back.
create_produce_consume() {
  check create "$1" "$2" 1:2:3,2:3:1,3:1:2 2 + produce "$1" "$2" "$3" 0 "$4" + consume "$1" "$2" "$4"
}

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

# streams_carried_replication MIN_BYTES: every node opened Ferry streams and logs the default
# rules, and all nodes together received more than MIN_BYTES through them.
streams_carried_replication() {
  local i line recv opened total=0
  for i in $(seq 1 "$(cat "$FERRY_KAFKA_DIR/size")"); do
    line=$(ferry_stats "$i")
    echo "node $i: $line"
    recv=$(sed -n 's/.*bytesReceived=\([0-9]*\).*/\1/p' <<< "$line")
    opened=$(sed -n 's/.*streams opened=\([0-9]*\).*/\1/p' <<< "$line")
    ((opened >= 1)) || fail "node $i: no Ferry stream opened"
    grep -q "ferry.kafka.rules=in:inter-broker,out:\*:brokers " "$FERRY_KAFKA_DIR/node$i/out.log" \
      || fail "node $i: not on the default rules"
    total=$((total + recv))
  done
  echo "replication bytes received through Ferry streams, all nodes: $total"
  ((total > $1)) || fail "replication did not go through Ferry ($total bytes, expected more than $1)"
}

# mixed_cluster TOPIC RECORDS: restarts the cluster with node 3 without the plugin, produces
# RECORDS to a new TOPIC and reads them back; nodes 1 and 2 fall back to TCP with node 3 (what
# node 3 leads) and serve it plain (what they lead), and stream between themselves.
mixed_cluster() {
  local topic=$1 leaders i line fallbacks plain recv ferry_bytes=0
  cluster stop
  KAFKA_NODE_OPTS_3="" cluster start 3
  ferry_create_topic "$B" "$topic"
  ferry_wait_isr "$B" "$topic" 3 || fail "$topic: ISR not complete after creation"
  ferry_preferred_leaders "$B" "$topic" || echo "($topic: some leader is not its preferred replica)"
  check produce "$B" "$topic" "$2" 0 "$out/$topic.acked"
  check consume "$B" "$topic" "$out/$topic.acked" || fail "mixed cluster lost records"
  ferry_wait_isr "$B" "$topic" 3 || fail "mixed cluster: ISR not complete"
  sleep 3
  leaders=$(cluster tool TopicCommand --bootstrap-server "$B" --describe --topic "$topic" \
    | awk '/Leader:/ { for (f = 1; f <= NF; f++) if ($f == "Leader:") print $(f + 1) }' | sort | uniq | tr '\n' ' ')
  echo "$topic leaders: $leaders"
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
  grep -q "ferry-kafka" "$FERRY_KAFKA_DIR/node3/out.log" && fail "node 3 ran the plugin"
  echo "node 3: no plugin; ISR complete on every partition of $topic"
}
