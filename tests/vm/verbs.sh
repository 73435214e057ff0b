#!/usr/bin/env bash
# Usage: verbs.sh [--bench]
# Builds the verbs integration tests and `ferry` (release), boots the test VM once and runs them
# there on each device class, Soft-RoCE (rxe0) and Soft-iWARP (siw0) (tests/vm/verbs-guest.sh).
# With --bench, also runs perftest and `ferry bench` on the verbs provider on each and copies the
# JSON to benches/results/verbs-<class>.json.
# Exits non-zero if any test fails on any class. Results: $FERRY_VM_OUT (default target/vm-verbs).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bench=0
[ "${1:-}" = --bench ] && bench=1

cargo build --release --locked -p ferry-cli
tests=$(cargo test --release --locked -p ferry-core --test verbs --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -x "$tests" ] || { echo "verbs.sh: cannot find the verbs test executable" >&2; exit 1; }

# The JVM checks: the Java stream API (ferry-core's jar, native library inside, and SLF4J), and the
# Kafka plugin's selector-provider tests (their JUnit class, JUnit, the plugin's classes).
gradle --no-daemon --console=plain -q :ferry-core:jar :ferry-kafka:jar :ferry-kafka:testClasses
core_jar=$(ls jvm/core/build/libs/ferry-core-*.jar | grep -v -e sources -e javadoc | head -1)
kafka_jar=$(ls jvm/kafka/build/libs/ferry-kafka-*.jar | grep -v -e sources -e javadoc | head -1)
cache="${GRADLE_USER_HOME:-$HOME/.gradle}/caches/modules-2"
jars=()
for jar in slf4j-api-1.7.36.jar slf4j-simple-1.7.36.jar junit-4.13.2.jar hamcrest-core-1.3.jar; do
  found=$(find "$cache" -name "$jar" | head -1)
  [ -f "$found" ] || { echo "verbs.sh: $jar not in the Gradle cache" >&2; exit 1; }
  jars+=("$found")
done
[ -f "$core_jar" ] && [ -f "$kafka_jar" ] || { echo "verbs.sh: ferry-core or ferry-kafka jar missing" >&2; exit 1; }

export FERRY_VM_OUT=${FERRY_VM_OUT:-$root/target/vm-verbs}
rm -rf "$FERRY_VM_OUT"
mkdir -p "$FERRY_VM_OUT"
# The guest sees the host's files read-only, but not its /tmp or /run (where a checkout may
# live): stage what it runs in the results share, which it sees at the same path.
stage=$(cd "$FERRY_VM_OUT" && pwd -P)/stage
mkdir -p "$stage"
cp tests/vm/verbs-guest.sh tests/vm/guest-net.sh tests/vm/perftest-guest.sh \
  target/release/ferry "$tests" "$stage/"
mkdir -p "$stage/java" "$stage/kafka-tests"
javac --release 17 -Xlint:all -Werror -cp "$core_jar" -d "$stage/java" tests/vm/java/RemoteStreamCheck.java
cp "$core_jar" "$kafka_jar" "${jars[@]}" "$stage/java/"
cp -r jvm/kafka/build/classes/java/test/. "$stage/kafka-tests/"
cp_of() { local p=$1 jar; shift; for jar in "$@"; do p+=":$stage/java/$(basename "$jar")"; done; echo "$p"; }
cat > "$FERRY_VM_OUT/env" <<ENV
FERRY_JAVA_CP=$(cp_of "$stage/java" "$core_jar" "${jars[0]}")
FERRY_KAFKA_TEST_CP=$(cp_of "$stage/kafka-tests" "$kafka_jar" "$core_jar" "${jars[@]}")
FERRY_BIN=$stage/ferry
FERRY_VERBS_TESTS=$stage/$(basename "$tests")
FERRY_VM_BENCH=$bench
ENV
timeout_s=$((bench ? 2400 : 1500))
bash tests/vm/run.sh "$stage/verbs-guest.sh" "$timeout_s"
failed=0
expect() { # CLASS FILE PATTERN WHAT
  if ! grep -q "$3" "$FERRY_VM_OUT/$2-$1.txt" 2>/dev/null; then
    echo "verbs.sh: FAILED on $1: $4 (see $FERRY_VM_OUT/$2-$1.txt)" >&2
    # CI keeps only what is printed: show why, not just where.
    sed -n '/^failures:/,$p' "$FERRY_VM_OUT/$2-$1.txt" 2>/dev/null | head -n 80 | sed "s/^/verbs.sh: $1: /" >&2
    failed=1
  fi
}
for class in rxe siw; do
  expect "$class" verbs-tests '^test result: ok' "verbs integration tests"
  expect "$class" java-remote '^remote stream check: OK' "Java remote streams"
  expect "$class" kafka-plugin '^OK (' "Kafka plugin tests"
  expect "$class" kafka-plugin 'payload by one-sided READ over verbs' "Kafka payload by RDMA READ"
  grep -h '^test result:' "$FERRY_VM_OUT/verbs-tests-$class.txt" 2>/dev/null | sed "s/^/verbs.sh: $class: /"
done
[ "$failed" = 0 ] || exit 1
if [ "$bench" = 1 ]; then
  mkdir -p benches/results
  for class in rxe siw; do
    cp "$FERRY_VM_OUT/verbs-bench-$class.json" "benches/results/verbs-$class.json"
    echo "verbs.sh: benchmark written to benches/results/verbs-$class.json"
  done
fi
