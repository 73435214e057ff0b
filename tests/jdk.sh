#!/usr/bin/env bash
# Usage: jdk.sh [--skip CLASS]... [-DNAME=VALUE]... [JAVA_HOME]
#        (default JAVA_HOME: Temurin 25, /usr/lib/jvm/temurin-25-jdk-amd64)
# Runs every JVM module's JUnit tests on another JDK than the one Gradle runs on: Debian's
# Gradle 4.4.1 cannot run on JDK 25, so Gradle (on JDK 17) compiles and writes each module's test
# launch (class path, JVM arguments such as ferry-kafka's --add-opens java.base/sun.nio.ch, test
# classes: the writeTestLaunch task in build.gradle) and this runs it with JUnitCore on that JDK.
# The classes are the Java 11 (ferry-core, ferry-spark) and 17 (ferry-kafka) bytecode that ships.
# ferry-spark's JUnit test needs no Spark runtime. --skip leaves a test class out (the caller
# prints why; tests/aarch64-jvm.sh), -D sets a property in every test JVM. Exits non-zero if any
# test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
skip=() properties=()
while (($#)); do
  case $1 in
    --skip) skip+=("$2") && shift 2 ;;
    -D*) properties+=("$1") && shift ;;
    *) break ;;
  esac
done
java_home=${1:-/usr/lib/jvm/temurin-25-jdk-amd64}
java=$java_home/bin/java
[ -x "$java" ] || { echo "jdk.sh: no JDK at $java_home (Temurin 25: adoptium.net)" >&2; exit 1; }
echo "jdk.sh: $("$java" -version 2>&1 | head -1)"

# Module directories, each named after its Gradle project (ferry-spark's shared tests run in the
# module of the newest Spark line).
modules=(jvm/core jvm/kafka jvm/spark/ferry-spark-4_2.13)
project() { # <module dir>
  case $1 in
    jvm/spark/*) basename "$1" ;;
    *) echo "ferry-${1#jvm/}" ;;
  esac
}
gradle --no-daemon --console=plain -q $(for dir in "${modules[@]}"; do printf ' :%s:writeTestLaunch' "$(project "$dir")"; done)

# junit DIR LOG [JVM-OPTION...] [-- CLASS...]: runs DIR's test launch on $java, with its test
# classes or CLASS...; in DIR, where Gradle runs a module's tests.
junit() {
  local dir=$1 log=$2 launch=$1/build/test-launch
  shift 2
  local jvm_args classes options=("${properties[@]+"${properties[@]}"}")
  mapfile -t jvm_args <"$launch/jvm-args"
  mapfile -t classes < <(grep -vxF -f <(printf '%s\n' "${skip[@]+"${skip[@]}"}") "$launch/classes")
  while (($#)) && [ "$1" != -- ]; do options+=("$1") && shift; done
  (($#)) && shift && classes=("$@")
  (cd "$dir" && "$java" "${jvm_args[@]}" "${options[@]+"${options[@]}"}" \
    -cp "$(cat build/test-launch/classpath)" org.junit.runner.JUnitCore "${classes[@]}") >"$log" 2>&1
}

failed=0
for dir in "${modules[@]}"; do
  log=$dir/build/test-launch/junit.txt
  if junit "$dir" "$log"; then
    echo "jdk.sh: $(project "$dir") on $(basename "$java_home"): $(grep '^OK (' "$log")"
  else
    failed=1
    cat "$log"
    echo "jdk.sh: $(project "$dir") FAILED on $(basename "$java_home") (log above: $log)" >&2
  fi
done

# JDK 24 and newer warn when a class path library calls System.load (JEP 472); README tells users
# to add --enable-native-access=ALL-UNNAMED. Check that it silences the warning.
restricted='System::load has been called by io.ferry.NativeLibrary'
log=jvm/core/build/test-launch/native-access.txt
if grep -q "$restricted" jvm/core/build/test-launch/junit.txt; then
  echo "jdk.sh: this JDK warns that io.ferry.NativeLibrary calls System::load (restricted method)"
  if ! junit jvm/core "$log" --enable-native-access=ALL-UNNAMED -- io.ferry.NativeLibraryTest ||
    grep -q "$restricted" "$log"; then
    failed=1
    cat "$log"
    echo "jdk.sh: --enable-native-access=ALL-UNNAMED did not load the library without the warning" >&2
  else
    echo "jdk.sh: with --enable-native-access=ALL-UNNAMED it loads without the warning"
  fi
fi
exit $failed
