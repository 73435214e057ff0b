#!/usr/bin/env bash
# Usage: setup.sh [VERSION]   (default: SPARK_NEWEST in tests/spark/versions.sh)
# Installs the Spark the Spark tests run: the PyPI package pyspark, which carries a full Spark
# (bin/spark-submit, jars/; Scala 2.12 for 3.5, 2.13 for 4.x). Idempotent: installs only when
# that version is missing, into build/venvs/pyspark-<version>. Prints SPARK_HOME=<dir> as its
# last line. Needs Java 17 (tests/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/spark/versions.sh
version=${1:-$SPARK_NEWEST}
# Spark's scripts run the Spark that SPARK_HOME names, if set: here it is the one installed below.
unset SPARK_HOME

# A project-local virtual environment per Spark version (build/venvs, not the system Python):
# no PEP 668 override, and Spark lines side by side.
venv=build/venvs/pyspark-$version
python=$venv/bin/python
installed=$("$python" -c 'import pyspark; print(pyspark.__version__)' 2>/dev/null || true)
if [[ "$installed" != "$version" ]]; then
  source tests/lib.sh
  python3 -m venv --help >/dev/null 2>&1 || apt_install python3 python3-venv
  echo "spark setup: installing pyspark==$version from PyPI into $venv (found: ${installed:-none})"
  rm -rf "$venv"
  python3 -m venv "$venv"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$python" -m pip install -q "pyspark==$version"
fi

spark_home=$("$python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
# spark-submit --version prints its banner on stderr.
banner=$("$spark_home/bin/spark-submit" --version 2>&1)
grep -q "version $version\$" <<<"$banner" \
  || { echo "spark setup: $spark_home is not Spark $version:"; echo "$banner"; exit 1; } >&2
scala=$(sed -n 's/^Using Scala version \([0-9.]*\),.*/\1/p' <<<"$banner")
expected=$(spark_scala_binary "$version")
[[ "$scala" == "$expected".* ]] || { echo "spark setup: expected Scala $expected, got '$scala'" >&2; exit 1; }
echo "spark setup: Spark $version, Scala $scala, $("${JAVA_HOME:+$JAVA_HOME/bin/}java" -version 2>&1 | head -1)"
echo "SPARK_HOME=$spark_home"
