#!/usr/bin/env bash
# Kafka's own producer benchmark (org.apache.kafka.tools.ProducerPerformance) against 3-broker
# KRaft clusters on loopback (tests/kafka/cluster.sh), topic with 3 partitions, RF 3,
# min.insync.replicas 2, acks=all: plain Kafka against Kafka with the Ferry plugin on every broker
# (tcp provider: replication through Ferry streams). Both clusters run side by side for the whole
# benchmark (plain on ports 19100-19132, plugin on 19200-19232) and the passes alternate between
# them, first plain then plugin in odd rounds and the other way round in even ones, so that both
# see the same machine load. Each round and mode: a throughput pass (unlimited rate) and a latency
# pass (fixed rate well below saturation, where p99 is the path's and not the queue's).
#
#   bash benches/kafka/run.sh [ROUNDS]      (default 4; env: RECORDS, SIZE, RATE, LAT_RECORDS)
#
# Prints the table and writes benches/results/kafka-produce.json with the command, every pass and
# the ratios (best and median pass per mode; KAFKA_BENCH_JSON names another file). Targets: throughput >= 0.95x, p99 <= 1.05x of plain.
# FERRY_BENCH_PAYLOAD=read (or framed) runs the plugin's streams in that ferry.kafka.payload mode on
# the tcp provider instead of the default (inline here) and writes kafka-produce-<mode>.json.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
work=${FERRY_KAFKA_BENCH_DIR:-/tmp/ferry-kafka-bench}
rounds=${1:-4}
records=${RECORDS:-200000}
size=${SIZE:-1024}
rate=${RATE:-2000}
lat_records=${LAT_RECORDS:-30000}
out=$work/results
payload=${FERRY_BENCH_PAYLOAD:-}
result=${KAFKA_BENCH_JSON:-benches/results/kafka-produce${payload:+-$payload}.json}
if [[ -n $payload ]]; then
  export FERRY_KAFKA_EXTRA_CONF="ferry.kafka.payload=$payload"$'\n'"ferry.kafka.provider=tcp"
fi
source "$root/tests/kafka/plugin.sh"
# The Kafka release of the recorded figures (tests/kafka/cluster.sh runs any; its default is the
# newest line tested).
export FERRY_KAFKA_VERSION=${FERRY_KAFKA_VERSION:-4.1.1}

# Runs "$@" against the cluster of mode $1 (plain or ferry).
in_mode() {
  local mode=$1
  shift
  if [[ $mode == plain ]]; then
    FERRY_KAFKA_DIR=$work/plain FERRY_KAFKA_PORT_BASE=19090 "$@"
  else
    FERRY_KAFKA_DIR=$work/ferry FERRY_KAFKA_PORT_BASE=19190 "$@"
  fi
}
cluster() { bash "$root/tests/kafka/cluster.sh" "$@"; }
trap 'in_mode plain cluster stop >/dev/null 2>&1 || true; in_mode ferry cluster stop >/dev/null 2>&1 || true' EXIT

# CPU seconds (user + system) the three brokers of the current mode have used so far.
broker_cpu() {
  local i total=0 ticks
  for i in 1 2 3; do
    ticks=$(awk '{ print $14 + $15 }' "/proc/$(cat "$FERRY_KAFKA_DIR/node$i/pid")/stat")
    total=$((total + ticks))
  done
  awk -v t="$total" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}

# producer <records> <rate>: one ProducerPerformance run on the current mode's cluster.
producer() {
  cluster tool ProducerPerformance --topic bench --num-records "$1" --record-size "$size" \
    --throughput "$2" --producer-props bootstrap.servers="$(cluster bootstrap)" acks=all \
    linger.ms=5 batch.size=65536
}

perf() { # <mode> <round> <pass> <records> <rate>   (inside in_mode)
  local file="$out/$1-$3-$2.txt" cpu0
  cpu0=$(broker_cpu)
  producer "$4" "$5" > "$file.raw" 2>&1
  tail -n 1 "$file.raw" > "$file"
  echo "cpu $(awk -v a="$(broker_cpu)" -v b="$cpu0" 'BEGIN { printf "%.2f", a - b }')" >> "$file"
  echo "load $(cut -d' ' -f1 /proc/loadavg)" >> "$file"
  echo "$1 round $2 $3: $(head -n 1 "$file") brokers' CPU $(sed -n 's/^cpu //p' "$file") s"
}

mkdir -p "$work/plain" "$work/ferry"
rm -rf "$out"
mkdir -p "$out"
in_mode plain cluster setup
in_mode ferry ferry_install_plugin
plugin_opts=$(in_mode ferry ferry_plugin_opts 60000)
echo "== starting both clusters: plain (ports 19100-19132) and with the plugin (19200-19232)"
KAFKA_NODE_OPTS="" in_mode plain cluster start 3
# FERRY_BENCH_FERRY_OPTS replaces the plugin's options for the second cluster (an A/A check of
# the method: FERRY_BENCH_FERRY_OPTS= runs it plain too).
KAFKA_NODE_OPTS=${FERRY_BENCH_FERRY_OPTS-$plugin_opts} in_mode ferry cluster start 3
for mode in plain ferry; do
  in_mode "$mode" ferry_create_topic "$(in_mode "$mode" cluster bootstrap)" bench
  in_mode "$mode" ferry_wait_isr "$(in_mode "$mode" cluster bootstrap)" bench 3
  in_mode "$mode" producer 20000 -1 > /dev/null 2>&1   # warm-up (JIT, segments), not counted
done

for round in $(seq 1 "$rounds"); do
  order="plain ferry"
  if ((round % 2 == 0)); then order="ferry plain"; fi
  for mode in $order; do in_mode "$mode" perf "$mode" "$round" throughput "$records" -1; done
  for mode in $order; do in_mode "$mode" perf "$mode" "$round" latency "$lat_records" "$rate"; done
done
in_mode ferry cluster stop > /dev/null   # the exit line carries the final counters
for i in 1 2 3; do
  echo "ferry node $i: $(in_mode ferry ferry_stats "$i")" | tee -a "$out/ferry-stats.txt"
done
in_mode plain cluster stop > /dev/null

command="bash benches/kafka/run.sh $*"
if [[ -v FERRY_BENCH_FERRY_OPTS ]]; then command="FERRY_BENCH_FERRY_OPTS='$FERRY_BENCH_FERRY_OPTS' $command"; fi
if [[ -n $payload ]]; then command="FERRY_BENCH_PAYLOAD=$payload $command"; fi
python3 - "$out" "$rounds" "$records" "$size" "$rate" "$lat_records" "$command" "$result" <<'PY'
import json, os, re, sys, time
out, rounds, records, size, rate, lat_records, command = sys.argv[1:8]
pat = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
                 r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th")
runs = []
for mode in ("plain", "ferry"):
    for r in range(1, int(rounds) + 1):
        for p in ("throughput", "latency"):
            lines = open(f"{out}/{mode}-{p}-{r}.txt").read().splitlines()
            m = pat.search(lines[0])
            if not m:
                sys.exit(f"kafka bench: no result in {out}/{mode}-{p}-{r}.txt.raw: {lines[0]}")
            runs.append({"mode": mode, "round": r, "pass": p, "records_per_s": float(m[2]), "mb_per_s": float(m[3]),
                         "avg_ms": float(m[4]), "p50_ms": int(m[6]), "p95_ms": int(m[7]), "p99_ms": int(m[8]),
                         "p999_ms": int(m[9]), "broker_cpu_s": float(lines[1].split()[1]),
                         "load": float(lines[2].split()[1])})
def best(mode, p, key, pick):
    return pick(x[key] for x in runs if x["mode"] == mode and x["pass"] == p)
def median(mode, p, key):
    v = sorted(x[key] for x in runs if x["mode"] == mode and x["pass"] == p)
    return v[len(v) // 2] if len(v) % 2 else round((v[len(v) // 2 - 1] + v[len(v) // 2]) / 2, 3)
tp_med = (median("plain", "throughput", "mb_per_s"), median("ferry", "throughput", "mb_per_s"))
p99_med = (median("plain", "latency", "p99_ms"), median("ferry", "latency", "p99_ms"))
tp_plain, tp_ferry = best("plain", "throughput", "mb_per_s", max), best("ferry", "throughput", "mb_per_s", max)
p99_plain, p99_ferry = best("plain", "latency", "p99_ms", min), best("ferry", "latency", "p99_ms", min)
avg_plain, avg_ferry = best("plain", "latency", "avg_ms", min), best("ferry", "latency", "avg_ms", min)
cpu_plain, cpu_ferry = best("plain", "throughput", "broker_cpu_s", min), best("ferry", "throughput", "broker_cpu_s", min)
stats = open(f"{out}/ferry-stats.txt").read().splitlines()
summary = {
    "throughput_mb_s": {"plain": tp_plain, "ferry": tp_ferry, "ratio": round(tp_ferry / tp_plain, 3), "target": ">= 0.95"},
    "latency_p99_ms": {"plain": p99_plain, "ferry": p99_ferry, "ratio": round(p99_ferry / max(p99_plain, 1), 3), "target": "<= 1.05"},
    "throughput_mb_s_median": {"plain": tp_med[0], "ferry": tp_med[1], "ratio": round(tp_med[1] / tp_med[0], 3)},
    "latency_p99_ms_median": {"plain": p99_med[0], "ferry": p99_med[1], "ratio": round(p99_med[1] / max(p99_med[0], 1), 3)},
    "latency_avg_ms": {"plain": avg_plain, "ferry": avg_ferry, "ratio": round(avg_ferry / avg_plain, 3)},
    "broker_cpu_s_throughput_pass": {"plain": cpu_plain, "ferry": cpu_ferry, "ratio": round(cpu_ferry / cpu_plain, 3)},
}
result = {
    "benchmark": "kafka-produce",
    "command": command,
    "settings": {"rounds": int(rounds), "records": int(records), "record_size": int(size), "latency_rate": int(rate),
                 "latency_records": int(lat_records), "brokers": 3, "partitions": 3, "replication_factor": 3,
                 "min_insync_replicas": 2, "acks": "all", "kafka": os.environ["FERRY_KAFKA_VERSION"], "provider": "tcp",
                 "producer_props": "linger.ms=5 batch.size=65536",
                 "method": "both clusters running side by side, passes alternating between them"},
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "machine": f"{os.cpu_count()} CPUs, shared (load in each pass)",
    "summary": summary, "ferry_counters": stats, "runs": runs,
}
os.makedirs(os.path.dirname(sys.argv[8]) or ".", exist_ok=True)
json.dump(result, open(sys.argv[8], "w"), indent=2)
print()
print("| Measure | Plain Kafka | With Ferry plugin | Ratio | Target |")
print("|---|---|---|---|---|")
print(f"| throughput, best pass (MB/s) | {tp_plain} | {tp_ferry} | {tp_ferry / tp_plain:.2f}x | >= 0.95x |")
print(f"| p99 latency at {rate} rec/s, best pass (ms) | {p99_plain} | {p99_ferry} | {p99_ferry / max(p99_plain, 1):.2f}x | <= 1.05x |")
print(f"| throughput, median pass (MB/s) | {tp_med[0]} | {tp_med[1]} | {tp_med[1] / tp_med[0]:.2f}x | |")
print(f"| p99 latency at {rate} rec/s, median pass (ms) | {p99_med[0]} | {p99_med[1]} | {p99_med[1] / max(p99_med[0], 1):.2f}x | |")
print(f"| avg latency at {rate} rec/s, best pass (ms) | {avg_plain} | {avg_ferry} | {avg_ferry / avg_plain:.2f}x | |")
print(f"| brokers' CPU in the throughput pass, least (s) | {cpu_plain} | {cpu_ferry} | {cpu_ferry / cpu_plain:.2f}x | |")
print("written: " + sys.argv[8])
PY
