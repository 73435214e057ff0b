#!/usr/bin/env bash
# Usage: run.sh GUEST_SCRIPT [TIMEOUT_SECONDS]
# Boot the Soft-RoCE test VM (qemu, TCG) and run GUEST_SCRIPT (absolute host path) in it with
# /bin/bash, chrooted into the host's root filesystem. Prints the guest console and exits with the
# script's exit code; 124 if the VM timed out, 125 if the script reported no exit code.
# Guest memory: $FERRY_VM_MEMORY_MB (default 2048).
# Results: $FERRY_VM_OUT (default $FERRY_VM_DIR/out, emptied first), the same path in the guest.
set -euo pipefail

usage() { echo "usage: $0 GUEST_SCRIPT [TIMEOUT_SECONDS]" >&2; exit 2; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
SCRIPT=$1
TIMEOUT=${2:-600}
[[ $TIMEOUT =~ ^[0-9]+$ ]] || usage
[[ $SCRIPT == /* ]] || { echo "ferry-vm: GUEST_SCRIPT must be an absolute path" >&2; exit 2; }
[ -f "$SCRIPT" ] || { echo "ferry-vm: no such file: $SCRIPT" >&2; exit 2; }
# Paths travel on the kernel command line, which splits on whitespace.
[[ $SCRIPT != *[[:space:]]* ]] || { echo "ferry-vm: GUEST_SCRIPT path must not contain spaces" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export FERRY_VM_DIR=${FERRY_VM_DIR:-/tmp/ferry-vm}
DIR=$FERRY_VM_DIR
"$here/setup.sh"
"$here/siw.sh"
"$here/mkinitrd.sh"
K=$(cat "$DIR/kernel-version")

if [ -n "${FERRY_VM_OUT:-}" ]; then
  OUT=$FERRY_VM_OUT
  mkdir -p "$OUT"
  rm -f "$OUT/exit-code"
else
  # The default results dir is shared by all runs: serialise them rather than mix their files.
  exec 8>"$DIR/.run.lock"
  flock 8
  OUT=$DIR/out
  rm -rf "$OUT"
  mkdir -p "$OUT"
fi
# The guest resolves the path inside the host root, where a symlink would point outside the mount.
OUT=$(cd "$OUT" && pwd -P)
[[ $OUT != *[[:space:]]* ]] || { echo "ferry-vm: results path must not contain spaces" >&2; exit 2; }
# The guest's /tmp and /run are private tmpfs; only the results share shows through there.
case $SCRIPT in
  "$OUT"/*) ;;
  /tmp/*|/run/*) echo "ferry-vm: $SCRIPT is hidden in the guest (its /tmp and /run are private tmpfs); stage it in \$FERRY_VM_OUT" >&2; exit 2 ;;
esac

# TCG, not KVM: -enable-kvm hangs at "Booting from ROM" on these hosts. -nic none: the VM has no
# network to the outside; all its traffic stays on its own veth pair. stdin from /dev/null keeps
# qemu from putting a terminal into raw mode (and leaving it so when timeout kills it). sed drops
# the serial console's CRs and SeaBIOS's terminal escapes so the log reads as plain text.
set +e
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -m "${FERRY_VM_MEMORY_MB:-2048}" -smp 2 \
  -nographic -no-reboot -nic none \
  -kernel "$DIR/kroot-$K/boot/vmlinuz-$K" -initrd "$DIR/initrd.gz" \
  -append "console=ttyS0 quiet panic=-1 ferry.script=$SCRIPT ferry.out=$OUT" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=$OUT,mount_tag=out,security_model=none,multidevs=remap" \
  < /dev/null 2>&1 | sed -u 's/\r$//; s/\x1bc//g; s/\x1b\[[0-9;?]*[A-Za-z]//g' | tee "$OUT/console.log"
qemu_rc=${PIPESTATUS[0]}
set -e

if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
  echo "ferry-vm: VM timed out after ${TIMEOUT}s" >&2
  exit 124
fi
rc=$(cat "$OUT/exit-code" 2>/dev/null || true)
if ! [[ $rc =~ ^[0-9]+$ ]]; then
  echo "ferry-vm: guest script reported no exit code (qemu exit $qemu_rc); see $OUT/console.log" >&2
  exit 125
fi
exit "$rc"
