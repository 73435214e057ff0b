#!/usr/bin/env bash
# Every test: formatting and lints, the Rust workspace (unit, integration,
# property, fault and leak tests, CLI tests over loopback), and the JVM build
# with its JUnit tests, real Spark jobs with FerryShuffleManager (tests/spark), a real Kafka
# cluster replicating through the Ferry broker plugin (tests/kafka), and the
# verbs provider's integration tests on Soft-RoCE in a qemu VM (tests/vm/verbs.sh).
# Installs what it needs first. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/setup.sh

echo "== format and lint"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== Rust tests"
cargo test --workspace --locked

echo "== JVM build and tests (Gradle)"
gradle --no-daemon --console=plain build

echo "== verbs provider and Java streams on real RDMA: Soft-RoCE in a qemu VM (tests/vm/verbs.sh)"
bash tests/vm/verbs.sh

echo "== Spark: real local-cluster shuffle jobs, default shuffle vs FerryShuffleManager"
bash tests/spark/run.sh

echo "== Kafka: a real 3-broker KRaft cluster with the Ferry broker plugin (tests/kafka/run.sh)"
bash tests/kafka/run.sh

echo "== JVM consumer: the published jar from a separate Gradle build (tests/consumer)"
bash tests/consumer/run.sh

echo "== all tests passed"
