#!/usr/bin/env bash
# The main job: sets up, builds, and runs Ferry's block-fetch benchmark over
# loopback beside a plain TCP baseline, printing the figures side by side; then a
# small Kafka cluster (3 brokers, RF 3) replicating through the Ferry plugin, with
# the producer's figures and the bytes each broker moved through Ferry streams.
# (The Spark job joins it as that integration lands.)
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/setup.sh
bash benches/tcp-fetch/run.sh "$@"
bash tests/kafka/demo.sh
