# shellcheck shell=bash disable=SC2317  # "return || exit" serves both sourcing and running.
# Source from a guest script (inside the test VM only): brings up lo, a veth pair with TEST-NET-1
# addresses that exist only inside the VM, and Soft-RoCE device rxe0 on veth0. Safe to source twice.
# Sets FERRY_RDMA_DEV, FERRY_SERVER_IP (veth0) and FERRY_CLIENT_IP (veth1). Returns non-zero on
# failure and leaves shell options to the caller (guest scripts use set -euo pipefail).

# Refuse to touch a machine's real network: only the VM's init sets FERRY_VM, and only its kernel has rxe.
if [ "${FERRY_VM:-}" != 1 ] || [ ! -d /sys/module/rdma_rxe ]; then
  echo "guest-net.sh: not inside the Ferry test VM, refusing to configure the network" >&2
  return 1 2>/dev/null || exit 1
fi

FERRY_RDMA_DEV=rxe0
FERRY_SERVER_IP=192.0.2.1
FERRY_CLIENT_IP=192.0.2.2

ferry_net_up() {
  ip link set lo up || return
  ip link show veth0 >/dev/null 2>&1 || ip link add veth0 type veth peer name veth1 || return
  ip addr replace "$FERRY_SERVER_IP/24" dev veth0 || return
  ip addr replace "$FERRY_CLIENT_IP/24" dev veth1 || return
  ip link set veth0 up && ip link set veth1 up || return
  rdma link show "$FERRY_RDMA_DEV/1" >/dev/null 2>&1 ||
    rdma link add "$FERRY_RDMA_DEV" type rxe netdev veth0 || return
  # The port turns ACTIVE once veth0 has carrier; verbs calls before that fail.
  for _ in $(seq 100); do
    rdma link show "$FERRY_RDMA_DEV/1" 2>/dev/null | grep -q 'state ACTIVE' && return 0
    sleep 0.1
  done
  echo "guest-net.sh: $FERRY_RDMA_DEV did not become ACTIVE" >&2
  rdma link show >&2
  return 1
}

ferry_net_up || { echo "guest-net.sh: network setup failed" >&2; return 1 2>/dev/null || exit 1; }
