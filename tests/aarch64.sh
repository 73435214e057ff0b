#!/usr/bin/env bash
# Cross-builds ferry-core's Rust tests for linux-aarch64 (aarch64-unknown-linux-gnu, linked by
# Debian's gcc-aarch64-linux-gnu) and runs them under qemu-user (qemu-aarch64 with the cross
# sysroot's glibc). Release profile: debug builds run about ten times slower under emulation.
# tests/setup.sh installs the toolchain. Exits non-zero if any test fails. The JVM side on
# aarch64 (the jar's library loaded by an aarch64 JVM): tests/aarch64-jvm.sh.
#
# Skipped here, each for a reason:
# - tests/verbs.rs: needs an RDMA device; it runs on Soft-RoCE in the x86-64 VM (tests/vm/verbs.sh).
# - tests/leak.rs: it bounds the process's resident memory, and under qemu-user that is the
#   emulator's, which grows with its cache of translated code (17 MiB over the loop here).
# - verbs::sys::tests::layout_matches_headers: its probe is built and run by the host's C compiler,
#   so under qemu it would compare aarch64 Rust layouts with x86-64 C layouts and prove nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
triple=aarch64-unknown-linux-gnu
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER:-aarch64-linux-gnu-gcc}
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER:-qemu-aarch64 -L /usr/aarch64-linux-gnu}

targets=(--lib)
for file in native/core/tests/*.rs; do
  name=$(basename "$file" .rs)
  case $name in verbs | leak) ;; *) targets+=(--test "$name") ;; esac
done
skip=provider::verbs::sys::tests::layout_matches_headers
echo "aarch64.sh: skipped under qemu-user: tests/verbs.rs (needs an RDMA device; runs in the" \
  "Soft-RoCE VM on x86-64), tests/leak.rs (resident memory is the emulator's) and $skip" \
  "(its C probe would be built for the host, x86-64)"
cargo test --release --locked -p ferry-core --target $triple "${targets[@]}" -- --skip "$skip"
