#!/usr/bin/env bash
# Ferry's JVM fetch path (FerryNode.fetch over JNI) against the Rust-native fetch (`ferry fetch`)
# on the same workload, over loopback, in one run.
#
# Builds the release `ferry` binary and the ferry-core jar (native library inside), compiles
# JvmFetchBench against the jar, and runs it: for each block size (4k, 32k, 256k, 1m) a
# `ferry serve --generate` child serves 256 MiB of blocks; `ferry fetch` and its JVM twin
# (`JvmFetchBench fetch`, each chunk CRC32-checked exactly as `ferry fetch` does) run as fresh
# child processes, alternating, 5 rounds of 10 warmup + 5 timed repetitions; the best timed
# repetition counts. Then single-block 4 KiB fetch latency (10000 warmup + 5000 timed fetches
# per process), unpinned and with everything pinned to one CPU.
# Writes benches/results/jvm-fetch.json (committed) and prints the table.
#
# Target: JVM throughput >= 0.9x native at 32 KiB blocks and above.
# Extra arguments go to `JvmFetchBench run` (e.g. --sizes 1m --rounds 1 --latency-iterations 0).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

cargo build --release -p ferry-cli
gradle --no-daemon --console=plain -q :ferry-core:jar

version="$(sed -n 's/^version=//p' gradle.properties)"
jar="jvm/core/build/libs/ferry-core-$version.jar"
slf4j_version="$(sed -n "s/.*'org.slf4j:slf4j-api:\([0-9.]*\)'.*/\1/p" jvm/core/build.gradle | head -n 1)"
# The SLF4J API jar the Gradle build just resolved (ferry-core's one runtime dependency).
slf4j="$(find "${GRADLE_USER_HOME:-$HOME/.gradle}/caches/modules-2" \
  -name "slf4j-api-$slf4j_version.jar" 2>/dev/null | head -n 1)"
if [[ ! -f "$jar" || -z "$slf4j" ]]; then
  echo "jvm-fetch: missing $jar or slf4j-api-$slf4j_version.jar in the Gradle cache" >&2
  exit 1
fi

classes=benches/jvm-fetch/build/classes
rm -rf "$classes"
mkdir -p "$classes" benches/results
javac --release 11 -Xlint:all -Werror -cp "$jar" -d "$classes" \
  benches/jvm-fetch/src/io/ferry/bench/JvmFetchBench.java

RUST_LOG="${RUST_LOG:-warn}" java -cp "$classes:$jar:$slf4j" io.ferry.bench.JvmFetchBench run \
  --ferry target/release/ferry --json benches/results/jvm-fetch.json \
  --command "bash benches/jvm-fetch/run.sh${*:+ $*}" "$@"
