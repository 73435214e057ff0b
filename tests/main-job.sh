#!/usr/bin/env bash
# The main job: sets up, builds, and runs, each beside its baseline with the figures printed:
#   1. Ferry's block fetch over loopback vs a plain TCP stream (benches/tcp-fetch);
#   2. a real Spark job (local-cluster, 2 executors) shuffling 512 MiB through Ferry vs Spark's
#      default shuffle: sort and group-by wall times, same results checked (benches/spark-job);
#   3. a small Kafka cluster (3 brokers, RF 3) replicating through the Ferry plugin, with the
#      producer's figures and the bytes each broker moved through Ferry streams (tests/kafka/demo.sh).
# Arguments go to the block-fetch benchmark (which records benches/results/tcp-fetch.json); the
# Spark figures of this run land in build/main-job/.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/setup.sh
mkdir -p build/main-job
echo "== 1. block fetch: Ferry tcp provider vs plain TCP"
bash benches/tcp-fetch/run.sh "$@"
echo "== 2. Spark: a shuffle-heavy job with Spark's default shuffle and with Ferry"
SPARK_JOB_JSON=build/main-job/spark-job.json MEGABYTES=${MEGABYTES:-512} ROUNDS=${ROUNDS:-1} \
  bash benches/spark-job/run.sh
echo "== 3. Kafka: a 3-broker cluster replicating through the Ferry plugin"
bash tests/kafka/demo.sh
