# shellcheck shell=bash disable=SC2317  # "return || exit" serves both sourcing and running.
# Source from a guest script (inside the test VM only): brings up lo, a veth pair with TEST-NET-1
# addresses that exist only inside the VM, Soft-RoCE device rxe0 on veth0 (192.0.2.1) and
# Soft-iWARP device siw0 on veth1 (192.0.2.2). rdma_cm picks the device by address, so a test runs
# on one device class or the other by the address it serves on. Safe to source twice.
# `ferry_device_class rxe|siw` sets FERRY_RDMA_DEV and FERRY_SERVER_IP to that class's device and
# address; sourcing selects rxe unless FERRY_DEVICE_CLASS=siw. Also sources $FERRY_VM_OUT/env (what
# the host script staged) and lifts RLIMIT_MEMLOCK. Returns non-zero on failure and leaves shell
# options to the caller (guest scripts use set -euo pipefail).

# Refuse to touch a machine's real network: only the VM's init sets FERRY_VM, and only its kernel has rxe.
if [ "${FERRY_VM:-}" != 1 ] || [ ! -d /sys/module/rdma_rxe ]; then
  echo "guest-net.sh: not inside the Ferry test VM, refusing to configure the network" >&2
  return 1 2>/dev/null || exit 1
fi

FERRY_RXE_IP=192.0.2.1
FERRY_SIW_IP=192.0.2.2

ferry_device_class() { # rxe | siw
  case $1 in
    rxe) FERRY_RDMA_DEV=rxe0 FERRY_SERVER_IP=$FERRY_RXE_IP ;;
    siw) FERRY_RDMA_DEV=siw0 FERRY_SERVER_IP=$FERRY_SIW_IP ;;
    *) echo "guest-net.sh: unknown device class $1 (rxe or siw)" >&2; return 1 ;;
  esac
}

ferry_link_up() { # DEVICE TYPE NETDEV
  rdma link show "$1/1" >/dev/null 2>&1 || rdma link add "$1" type "$2" netdev "$3" || return
  # The port turns ACTIVE once the netdev has carrier; verbs calls before that fail.
  for _ in $(seq 100); do
    rdma link show "$1/1" 2>/dev/null | grep -q 'state ACTIVE' && return 0
    sleep 0.1
  done
  echo "guest-net.sh: $1 did not become ACTIVE" >&2
  rdma link show >&2
  return 1
}

ferry_net_up() {
  ip link set lo up || return
  ip link show veth0 >/dev/null 2>&1 || ip link add veth0 type veth peer name veth1 || return
  ip addr replace "$FERRY_RXE_IP/24" dev veth0 || return
  ip addr replace "$FERRY_SIW_IP/24" dev veth1 || return
  ip link set veth0 up && ip link set veth1 up || return
  ferry_link_up rxe0 rxe veth0 || return
  ferry_link_up siw0 siw veth1
}

ferry_net_up && ferry_device_class "${FERRY_DEVICE_CLASS:-rxe}" ||
  { echo "guest-net.sh: network setup failed" >&2; return 1 2>/dev/null || exit 1; }

# What the host script staged for the guest script (verbs.sh, jobs.sh), and no cap on pinned
# memory: RDMA registers the pinned pools and served regions.
# shellcheck disable=SC1091  # written on the host
if [ -f "$FERRY_VM_OUT/env" ]; then source "$FERRY_VM_OUT/env"; fi
ulimit -l unlimited
