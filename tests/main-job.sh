#!/usr/bin/env bash
# The main job: sets up, builds, and runs each part beside its baseline, in alternating rounds
# on the same machine, then prints one closing table:
#   1. Ferry's block fetch over loopback vs a plain TCP stream (benches/tcp-fetch);
#   2. a real Spark job (local-cluster, 2 executors), Spark's default shuffle vs Ferry, rounds in
#      alternating order, same results checked (benches/spark-job);
#   3. plain Kafka vs Kafka with the Ferry plugin, two 3-broker clusters side by side, producer
#      passes alternating between them (benches/kafka).
# Results land in build/main-job/ (untracked); the recorded figures under benches/results/ are
# only rewritten by the benchmarks themselves. Environment: MEGABYTES (Spark data, default 256),
# ROUNDS (Spark and Kafka rounds, default 2), RECORDS (Kafka throughput pass, default 100000).
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/lib.sh
export CARGO_TERM_QUIET=true
out=build/main-job
rm -rf "$out"
mkdir -p "$out"
rounds=${ROUNDS:-2}

step "set-up" bash tests/setup.sh
step "1. block fetch: Ferry tcp provider vs plain TCP" \
  env TCP_FETCH_JSON="$out/tcp-fetch.json" bash benches/tcp-fetch/run.sh
step "2. Spark: sort and groupBy, default shuffle vs Ferry" \
  env SPARK_JOB_JSON="$out/spark-job.json" MEGABYTES="${MEGABYTES:-256}" ROUNDS="$rounds" \
  bash benches/spark-job/run.sh
step "3. Kafka: plain vs the Ferry plugin, side by side" \
  env KAFKA_BENCH_JSON="$out/kafka.json" RECORDS="${RECORDS:-100000}" LAT_RECORDS=10000 \
  bash benches/kafka/run.sh "$rounds"
step_summary
python3 tests/main-job-table.py "$out"
