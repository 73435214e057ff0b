#!/usr/bin/env bash
# The main job: sets up, builds, and runs Ferry's block-fetch benchmark over
# loopback beside a plain TCP baseline, printing the figures side by side.
# (The Spark and Kafka jobs join it as those integrations land.)
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/setup.sh
bash benches/tcp-fetch/run.sh "$@"
