#!/usr/bin/env bash
# Installs what building and testing Ferry needs on a fresh Debian machine.
# Idempotent: a second run installs nothing. Needs root for apt-get; waits for another apt.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/lib.sh

missing=()
command -v gradle >/dev/null || missing+=(gradle)
command -v javac >/dev/null || missing+=(openjdk-17-jdk-headless)
command -v cc >/dev/null || missing+=(gcc)
command -v mvn >/dev/null || missing+=(maven)       # tests/kafka: the Kafka jars from Maven Central
command -v python3 >/dev/null || missing+=(python3) # tests/kafka and benches/kafka helpers
command -v tcpdump >/dev/null || missing+=(tcpdump) # tests/kafka/lines.sh: is TLS between brokers end to end
python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv) # pyspark, per Spark line
# linux-aarch64: the cross linker for the library in ferry-core's jar, qemu-user for its tests
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
apt_install "${missing[@]+"${missing[@]}"}"

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust with rustup (stable, with clippy and rustfmt)" >&2
  exit 1
fi
for component in clippy rustfmt; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" \
    || rustup component add "$component"
done
rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$' \
  || rustup target add aarch64-unknown-linux-gnu
