#!/usr/bin/env bash
# The published ferry-core jar, used the way an application uses it:
#   1. `gradle :ferry-core:publishToMavenLocal` at the repository root (builds the native library
#      with cargo and puts io.ferry:ferry-core:0.1.0, .so inside, into ~/.m2; only ferry-core,
#      the one artifact this consumer needs);
#   2. a separate Gradle build (this directory) that depends on io.ferry:ferry-core:0.1.0 from
#      mavenLocal() and runs ConsumerMain: it spawns a server JVM serving a generated file as
#      file-backed blocks, fetches them back and checks the CRC32 of every block.
# Exits non-zero if either step fails or any block does not verify.
# Extra arguments go to ConsumerMain (e.g. --size 32m --block-size 1m).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

echo "== consumer: publish ferry-core to the local Maven repository"
timeout 1800 gradle --no-daemon --console=plain :ferry-core:publishToMavenLocal

echo "== consumer: separate build against io.ferry:ferry-core:0.1.0 from mavenLocal()"
consumer_args=()
if (($#)); then
  consumer_args=("-Pconsumer.args=$*")
fi
# Gradle reads mavenLocal() in place (no cached copy), so this is the jar just published.
timeout 900 gradle --no-daemon --console=plain -p tests/consumer \
  clean run "${consumer_args[@]+"${consumer_args[@]}"}"
