#!/bin/bash
# Guest script for run.sh: checks the environment that guest scripts rely on (read-only host root,
# private writable /tmp, results share, Soft-RoCE device nodes). Exits non-zero if any check fails.
# shellcheck disable=SC2016  # the single-quoted checks expand inside the guest's bash -c.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
failed=0
check() { # DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then echo "ok   $what"; else echo "FAIL $what"; failed=1; fi
}
check "kernel is the VM's (rdma_rxe loaded)" test -d /sys/module/rdma_rxe
check "host root is read-only" bash -c '! touch /.ferry-ro-probe'
check "/tmp is a writable tmpfs" bash -c '[ "$(stat -f -c %T /tmp)" = tmpfs ] && touch /tmp/probe'
check "/dev/shm is writable" touch /dev/shm/probe
check "results share is writable at \$FERRY_VM_OUT" \
  bash -c 'mountpoint -q "$FERRY_VM_OUT" && echo ok > "$FERRY_VM_OUT/selftest.probe" && rm "$FERRY_VM_OUT/selftest.probe"'
source "$here/guest-net.sh" || failed=1
check "rxe0 is a verbs device" bash -c 'ibv_devices | grep -qw rxe0'
check "rxe0 port is active" bash -c 'ibv_devinfo -d rxe0 | grep -q PORT_ACTIVE'
check "/dev/infiniband/uverbs0 exists" test -c /dev/infiniband/uverbs0
check "/dev/infiniband/rdma_cm exists" test -c /dev/infiniband/rdma_cm
check "smc module is loaded" test -d /sys/module/smc
echo "kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
exit "$failed"
