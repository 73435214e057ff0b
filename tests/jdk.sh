#!/usr/bin/env bash
# Usage: jdk.sh [JAVA_HOME]   (default: Temurin 25, /usr/lib/jvm/temurin-25-jdk-amd64)
# Runs every JVM module's JUnit tests on another JDK than the one Gradle runs on: Debian's
# Gradle 4.4.1 cannot run on JDK 25, so Gradle (on JDK 17) compiles and writes each module's test
# launch (class path, JVM arguments such as ferry-kafka's --add-opens java.base/sun.nio.ch, test
# classes: the writeTestLaunch task in build.gradle) and this runs it with JUnitCore on that JDK.
# The classes are the Java 11 (ferry-core, ferry-spark) and 17 (ferry-kafka) bytecode that ships.
# ferry-spark's JUnit test needs no Spark runtime. Exits non-zero if any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
java_home=${1:-/usr/lib/jvm/temurin-25-jdk-amd64}
java=$java_home/bin/java
[ -x "$java" ] || { echo "jdk.sh: no JDK at $java_home (Temurin 25: adoptium.net)" >&2; exit 1; }
echo "jdk.sh: $("$java" -version 2>&1 | head -1)"

modules=(jvm/core jvm/kafka jvm/spark) # Gradle projects ferry-core, ferry-kafka, ferry-spark
gradle --no-daemon --console=plain -q $(printf ' :ferry-%s:writeTestLaunch' "${modules[@]#jvm/}")

failed=0
for dir in "${modules[@]}"; do
  launch=$dir/build/test-launch
  mapfile -t jvm_args <"$launch/jvm-args"
  mapfile -t classes <"$launch/classes"
  log=$dir/build/test-launch/junit.txt
  # Gradle runs a module's tests in its directory.
  if (cd "$dir" && "$java" "${jvm_args[@]}" -cp "$(cat build/test-launch/classpath)" \
    org.junit.runner.JUnitCore "${classes[@]}") >"$log" 2>&1; then
    echo "jdk.sh: ferry-${dir#jvm/} on $(basename "$java_home"): $(grep '^OK (' "$log")"
  else
    failed=1
    cat "$log"
    echo "jdk.sh: ferry-${dir#jvm/} FAILED on $(basename "$java_home") (log above: $log)" >&2
  fi
done
# JDK 24 and newer warn when a class path library calls System.load (JEP 472); README says how
# users turn it off (--enable-native-access=ALL-UNNAMED).
if grep -q 'System::load has been called by io.ferry.NativeLibrary' "${modules[@]/%//build/test-launch/junit.txt}"; then
  echo "jdk.sh: this JDK warns that io.ferry.NativeLibrary calls System::load (restricted method)"
fi
exit $failed
