#!/usr/bin/env bash
# The published artifacts, used the way users pull them:
#   1. `gradle publishToMavenLocal` at the repository root: every artifact (ferry-core with its
#      native libraries inside, each Spark line's ferry-spark, ferry-kafka) into ~/.m2, and a check
#      of each POM (name, description, license; the Spark artifacts depend on ferry-core alone,
#      never on Spark, Scala or SLF4J, which Spark provides);
#   2. a separate Gradle build (this directory) that depends on io.ferry:ferry-core from
#      mavenLocal() and runs ConsumerMain: it spawns a server JVM serving a generated file as
#      file-backed blocks, fetches them back and checks the CRC32 of every block;
#   3. pyspark (the newest Spark line the tests run) with spark.jars.packages naming the Spark
#      plugin's coordinate, resolved from the local repository: spark_packages.py.
# Exits non-zero if any step fails or any check does not hold.
# Extra arguments go to ConsumerMain (e.g. --size 32m --block-size 1m).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
source tests/spark/versions.sh
version=$(sed -n 's/^version=//p' gradle.properties)
repository=$HOME/.m2/repository/io/ferry

echo "== consumer: publish every artifact to the local Maven repository"
timeout 1800 gradle --no-daemon --console=plain -q publishToMavenLocal

# check_pom ARTIFACT [DEPENDENCY...]: the POM's metadata, and its dependencies' artifact ids.
check_pom() {
  local artifact=$1 pom
  shift
  pom=$repository/$artifact/$version/$artifact-$version.pom
  python3 - "$pom" "$@" <<'PY'
import sys
import xml.etree.ElementTree as ET

pom, expected = sys.argv[1], sorted(sys.argv[2:])
ns = {"m": "http://maven.apache.org/POM/4.0.0"}
root = ET.parse(pom).getroot()
for field in ("m:name", "m:description", "m:licenses/m:license/m:name"):
    if not (root.findtext(field, namespaces=ns) or "").strip():
        sys.exit(f"FAIL: {pom} has no {field[2:]}")
dependencies = sorted(d.findtext("m:artifactId", namespaces=ns) for d in root.findall("m:dependencies/m:dependency", ns))
if dependencies != expected:
    sys.exit(f"FAIL: {pom} depends on {dependencies}, expected {expected}")
print(f"{pom.rsplit('/', 1)[1]}: name, description, license; depends on {dependencies or 'nothing'}")
PY
}
check_pom ferry-core slf4j-api
check_pom ferry-kafka ferry-core
for line in ferry-spark-3.5_2.12 ferry-spark-3.5_2.13 ferry-spark-4_2.13; do
  check_pom "$line" ferry-core
done

echo "== consumer: separate build against io.ferry:ferry-core:$version from mavenLocal()"
consumer_args=()
if (($#)); then
  consumer_args=("-Pconsumer.args=$*")
fi
# Gradle reads mavenLocal() in place (no cached copy), so this is the jar just published.
timeout 900 gradle --no-daemon --console=plain -p tests/consumer \
  clean run "${consumer_args[@]+"${consumer_args[@]}"}"

coordinate=io.ferry:$(ferry_spark_project "$SPARK_NEWEST"):$version
echo "== consumer: pyspark $SPARK_NEWEST with spark.jars.packages=$coordinate"
bash tests/spark/setup.sh "$SPARK_NEWEST"
out=build/consumer-spark
rm -rf "$out" && mkdir -p "$out"
# The pyspark environment's python, for the driver and the executors' Python workers.
python=$root/build/venvs/pyspark-$SPARK_NEWEST/bin/python
export SPARK_LOCAL_IP=127.0.0.1 SPARK_LOCAL_HOSTNAME=localhost PYSPARK_PYTHON=$python
unset SPARK_HOME # pyspark's own Spark (local-cluster's executor logs go to its work/)
if ! timeout 900 "$python" tests/consumer/spark_packages.py "$coordinate" "$root/$out" >"$out/stdout" 2>"$out/stderr"; then
  tail -n 40 "$out/stderr" >&2
  cat "$out/stdout" >&2
  exit 1
fi
cat "$out/stdout"
