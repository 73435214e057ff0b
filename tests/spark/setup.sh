#!/usr/bin/env bash
# Usage: setup.sh [VERSION]   (default: SPARK_NEWEST in tests/spark/versions.sh)
# Installs the Spark the Spark tests run: the PyPI package pyspark, which carries a full Spark
# (bin/spark-submit, jars/; Scala 2.12 for 3.5, 2.13 for 4.x). Idempotent: installs only when
# that version is missing, into build/venvs/pyspark-<version>. VERSION_2.13 (3.5.9_2.13): that
# release for Scala 2.13, which PyPI lacks: pyspark's scripts with the Scala 2.13 jars from Maven
# Central (tests/spark/scala), in build/spark-dist/VERSION_2.13. Prints SPARK_HOME=<dir> as its
# last line. Needs Java 17 (tests/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/spark/versions.sh
version=${1:-$SPARK_NEWEST}
release=${version%_*} # without a Scala suffix
# Spark's scripts run the Spark that SPARK_HOME names, if set: here it is the one installed below.
unset SPARK_HOME

# A project-local virtual environment per Spark version (build/venvs, not the system Python):
# no PEP 668 override, and Spark lines side by side.
venv=build/venvs/pyspark-$release
python=$venv/bin/python
installed=$("$python" -c 'import pyspark; print(pyspark.__version__)' 2>/dev/null || true)
if [[ "$installed" != "$release" ]]; then
  source tests/lib.sh
  python3 -m venv --help >/dev/null 2>&1 || apt_install python3 python3-venv
  echo "spark setup: installing pyspark==$release from PyPI into $venv (found: ${installed:-none})"
  rm -rf "$venv"
  python3 -m venv "$venv"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$python" -m pip install -q "pyspark==$release"
fi

spark_home=$("$python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
if [[ $version != "$release" ]]; then
  dist=$PWD/build/spark-dist/$version
  if [[ ! -f $dist/.complete ]]; then
    echo "spark setup: Spark $release for Scala ${version#*_}: its jars from Maven Central into $dist"
    rm -rf "$dist" && mkdir -p "$dist"
    for entry in "$spark_home"/*; do
      [[ $(basename "$entry") == @(jars|work) ]] || ln -s "$entry" "$dist/"
    done
    timeout 1800 gradle --no-daemon -q -p tests/spark/scala -Pspark.version="$release" \
      -Pscala.binary="${version#*_}" -Pinto="$dist/jars" jars
    touch "$dist/.complete"
  fi
  spark_home=$dist
fi
# spark-submit --version prints its banner on stderr.
banner=$("$spark_home/bin/spark-submit" --version 2>&1)
grep -q "version $release\$" <<<"$banner" \
  || { echo "spark setup: $spark_home is not Spark $release:"; echo "$banner"; exit 1; } >&2
scala=$(sed -n 's/^Using Scala version \([0-9.]*\),.*/\1/p' <<<"$banner")
expected=$(spark_scala_binary "$version")
[[ "$scala" == "$expected".* ]] || { echo "spark setup: expected Scala $expected, got '$scala'" >&2; exit 1; }
echo "spark setup: Spark $release, Scala $scala, $("${JAVA_HOME:+$JAVA_HOME/bin/}java" -version 2>&1 | head -1)"
echo "SPARK_HOME=$spark_home"
