#!/usr/bin/env bash
# Ferry's fetcher against Spark's own NettyBlockTransferService, on the same blocks of the same
# file, over loopback, in one run.
#
# Builds the ferry-core jar (native library inside; the Gradle build runs cargo), installs Spark
# 4.2.0 through tests/spark/setup.sh (pyspark; the jars are in $SPARK_HOME/jars), compiles
# SparkFetchBench against both, and runs it: for each block size (32k, 1m) a server JVM writes
# 256 MiB of random data to one file and serves its blocks both ways (a FerryNode on the tcp
# provider, the file one registered region; Spark's NettyBlockTransferService, the blocks
# FileSegmentManagedBuffers as IndexShuffleBlockResolver serves them); this JVM fetches every
# block with each transport (30 warmup repetitions each, then 8 alternating rounds of 3), CRC32 of
# every block checked on both sides, and keeps the best repetition of each; it also reports the
# CPU time per GiB of the client and server processes. Writes benches/results/spark-fetch.json
# (committed) and prints the table. About 1 to 2 minutes.
#
# Targets: Ferry >= 1.5x Netty's throughput at 32 KiB blocks, >= 1.2x at 1 MiB.
# Extra arguments go to `SparkFetchBench run` (e.g. --sizes 1m --rounds 2 --json /tmp/x.json).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

gradle --no-daemon --console=plain -q :ferry-core:jar
version="$(sed -n 's/^version=//p' gradle.properties)"
jar="jvm/core/build/libs/ferry-core-$version.jar"
[[ -f "$jar" ]] || { echo "spark-fetch: missing $jar" >&2; exit 1; }

spark_home="$(bash tests/spark/setup.sh | sed -n 's/^SPARK_HOME=//p')"
[[ -d "$spark_home/jars" ]] || { echo "spark-fetch: no Spark jars" >&2; exit 1; }
# Spark's jars carry the SLF4J API ferry-core needs, and its log4j2 binding.
cp="$jar:$spark_home/jars/*"

bench=benches/spark-fetch
classes="$bench/build/classes"
rm -rf "$classes"
mkdir -p "$classes" benches/results
# JvmFetchBench is compiled along for its manifest reader and helpers. -classfile and -path: Spark's
# jars make javac warn about annotations it cannot resolve and Class-Path entries pyspark leaves out.
javac --release 17 -Xlint:all,-classfile,-path,-processing -Werror -cp "$cp" -d "$classes" \
  "$bench"/src/io/ferry/bench/*.java benches/jvm-fetch/src/io/ferry/bench/JvmFetchBench.java

# Only loopback traffic: Spark resolves its own address from this.
export SPARK_LOCAL_IP=127.0.0.1
RUST_LOG="${RUST_LOG:-warn}" java -Xmx1g -Dlog4j2.configurationFile="$bench/log4j2.properties" \
  -cp "$classes:$cp" io.ferry.bench.SparkFetchBench run \
  --json benches/results/spark-fetch.json --command "bash benches/spark-fetch/run.sh${*:+ $*}" "$@"
