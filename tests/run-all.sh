#!/usr/bin/env bash
# Every test: formatting and lints, the Rust workspace (unit, integration, property, fault and
# leak tests, CLI tests over loopback), ferry-core's Rust tests built for linux-aarch64 under
# qemu-user, the JVM build with its JUnit tests (and again on JDK 25, and on an aarch64 JDK 25
# under qemu-user), real Spark jobs with FerryShuffleManager (tests/spark: the full suite on the
# newest Spark line, a compact run on each other line; tests/spark/netns: a standalone cluster
# whose three workers are network namespaces on shaped veths, with a link cut and packet loss), a
# real Kafka cluster replicating through the Ferry broker plugin (tests/kafka: in full on the
# newest Kafka line, compact on every other line and with TLS between brokers), the verbs
# provider's integration tests on Soft-RoCE and Soft-iWARP in a qemu VM (tests/vm/verbs.sh), and
# a Spark job and a Kafka cluster moving their bytes by RDMA READ there (tests/vm/jobs.sh), and
# the published artifacts as users pull them (tests/consumer).
# Installs what it needs first. Each step prints its start time and duration; a table of all
# steps closes the run. Exits non-zero on the first failing step.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/lib.sh
# Cargo's download and compile lines are noise in a CI log; warnings and test output still show.
export CARGO_TERM_QUIET=true

step "set-up (Debian packages, Rust components)" bash tests/setup.sh
step "format and lint" bash -c 'cargo fmt --all --check &&
  cargo clippy --workspace --all-targets --locked -- -D warnings'
step "Rust tests" cargo test --workspace --locked
step "Rust core tests on linux-aarch64 under qemu-user (tests/aarch64.sh)" bash tests/aarch64.sh
# CI's jar carries both native libraries: a missing cross toolchain fails here, never a WARN.
step "JVM build and tests (Gradle)" gradle --no-daemon --console=plain -q \
  -Pferry.native.aarch64=require build
step "JVM modules' JUnit tests on JDK 25 (tests/jdk.sh)" bash tests/jdk.sh
step "JVM modules' JUnit tests on an aarch64 JVM under qemu-user (tests/aarch64-jvm.sh)" \
  bash tests/aarch64-jvm.sh
step "verbs provider and Java streams on Soft-RoCE and Soft-iWARP in a qemu VM (tests/vm/verbs.sh)" \
  bash tests/vm/verbs.sh
step "a Spark job and a Kafka cluster by RDMA READ on Soft-RoCE and Soft-iWARP in a qemu VM (tests/vm/jobs.sh)" \
  bash tests/vm/jobs.sh
source tests/spark/versions.sh
step "Spark $SPARK_NEWEST: local-cluster shuffle jobs, default shuffle vs FerryShuffleManager" \
  bash tests/spark/run.sh
other_lines=
for line in "${SPARK_OTHER_LINES[@]}"; do # 3.5.9_2.13:25 -> "3.5 (Scala 2.13) on JDK 25"
  release=${line%%:*}
  scala=$([[ $release != *_* ]] || echo " (Scala ${release#*_})")
  release=${release%_*}
  other_lines+="${release%.*}$scala$([[ $line != *:* ]] || echo " on JDK ${line#*:}"), "
done
step "Spark lines: compact runs on ${other_lines%, } (tests/spark/run.sh --lines)" \
  bash tests/spark/run.sh --lines
step "Spark across network namespaces: 3 workers on shaped veths, a link cut (tests/spark/netns/run.sh)" \
  bash tests/spark/netns/run.sh
step "Kafka: a 3-broker KRaft cluster with the Ferry broker plugin" bash tests/kafka/run.sh
step "Kafka lines 3.7 to 4.3 (KRaft, ZooKeeper), TLS between brokers, JDK 25 (tests/kafka/lines.sh)" \
  bash tests/kafka/lines.sh
step "published artifacts: POMs, a user's Gradle build, pyspark by coordinate (tests/consumer/run.sh)" \
  bash tests/consumer/run.sh
step_summary
echo "== all tests passed"
