# A multi-host network on one machine, for the Spark standalone cluster of tests/spark/netns and
# benches/spark-cluster (source it). Every node is a network namespace of its own: "m" (the
# master and the driver, 198.51.100.10) and the workers "w1".."w3" (198.51.100.11..13), each with
# one veth whose other end is a port of a Linux bridge in a namespace of its own ("hub"). No
# address or interface is added to the host's namespace, so nothing reaches or leaves it; the
# addresses are TEST-NET-2 (RFC 5737) and exist only in these namespaces.
#
# net_up installs an EXIT trap that ends every process in the namespaces and deletes them (which
# deletes their veths and the bridge), on success and on failure alike.

NET_PREFIX=ferry-nc$$
NET_SUBNET=198.51.100
NET_MASTER_IP=$NET_SUBNET.10
NET_WORKERS=(w1 w2 w3)
# Each worker link's rate (net_shape). Measured on this 2-core host (benches/spark-cluster's jobs,
# 128 MiB, default shuffle, other work loading the host): unshaped, 100mbit and 50mbit links left
# the jobs CPU-bound (shuffle fetch wait 0.2-7 s of 37-164 s of task time); at 25mbit fetch wait
# rose to 14 s of 116 s (sort), 23 s of 93 s (groupBy) and 33 s of 47 s (the skewed join). So
# 25mbit: the slowest rate where the network matters without the jobs becoming only a link test.
NET_RATE=25mbit

# net_ns NODE: the namespace of a node (m, w1.., hub).
net_ns() { echo "$NET_PREFIX-$1"; }

# net_ip NODE: the node's address (m, w1..).
net_ip() {
  case $1 in
    m) echo "$NET_MASTER_IP" ;;
    w*) echo "$NET_SUBNET.$((10 + ${1#w}))" ;;
  esac
}

# net_port NODE: the node's port on the bridge, in the hub.
net_port() { echo "port-$1"; }

# net_exec NODE COMMAND...: runs COMMAND in the node's namespace.
net_exec() {
  local node=$1
  shift
  ip netns exec "$(net_ns "$node")" "$@"
}

net_up() {
  trap net_down EXIT
  trap 'exit 143' TERM INT # (and so through the EXIT trap)
  local hub node
  hub=$(net_ns hub)
  net_add "$hub"
  ip -n "$hub" link add br0 type bridge
  ip -n "$hub" link set br0 up
  for node in m "${NET_WORKERS[@]}"; do
    net_add "$(net_ns "$node")"
    # The veth is made inside the hub (its port there: net_port) and its other end moved into
    # the node as eth0.
    ip -n "$hub" link add name "$(net_port "$node")" type veth peer name eth0 netns "$(net_ns "$node")"
    ip -n "$hub" link set "$(net_port "$node")" master br0 up
    ip -n "$(net_ns "$node")" addr add "$(net_ip "$node")/24" dev eth0
    ip -n "$(net_ns "$node")" link set eth0 up
    ip -n "$(net_ns "$node")" link set lo up
  done
  echo "net: namespaces $(net_ns m), $(net_ns w1)..$(net_ns "${NET_WORKERS[-1]}") on bridge br0 in $hub ($NET_SUBNET.0/24)"
}

# net_add NS: a namespace without IPv6, so that its interfaces get no link-local address: the
# TEST-NET address is the only one.
net_add() {
  ip netns add "$1"
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

# net_down: ends every process still in the namespaces (only this run's: they are its own
# namespaces), then deletes them. Safe to call twice.
net_down() {
  local - node ns pids
  set +e
  for node in m "${NET_WORKERS[@]}" hub; do
    ns=$(net_ns "$node")
    [[ -e /run/netns/$ns ]] || continue
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -z $pids ]] || kill $pids 2>/dev/null || true
  done
  for _ in $(seq 50); do
    pids=$(for node in m "${NET_WORKERS[@]}"; do ip netns pids "$(net_ns "$node")" 2>/dev/null; done)
    [[ -n $pids ]] || break
    sleep 0.2
  done
  [[ -z $pids ]] || kill -9 $pids 2>/dev/null || true
  for node in m "${NET_WORKERS[@]}" hub; do
    ip netns del "$(net_ns "$node")" 2>/dev/null || true
  done
}

# net_shape RATE: shapes each worker's link to RATE (tc's units, e.g. 200mbit) in both directions:
# a token bucket on the worker's eth0 (what it sends) and on its port in the hub (what it
# receives). The master's link stays unshaped (control traffic, results).
net_shape() {
  local rate=$1 node
  for node in "${NET_WORKERS[@]}"; do
    net_tbf "$(net_ns "$node")" eth0 "$rate"
    net_tbf "$(net_ns hub)" "$(net_port "$node")" "$rate"
  done
}

# net_tbf NS DEV RATE: a token bucket filter: bursts of 64 KiB at most, and a queue of about 20 ms
# at the rate (a shallow queue, as a switch port has).
net_tbf() {
  ip -n "$1" link set "$2" txqueuelen 1000
  tc -n "$1" qdisc replace dev "$2" root tbf rate "$3" burst 64kb latency 20ms
}

# net_sample_links FILE: in the background until net_down, every 100 ms a line "MILLIS IN... OUT..."
# in FILE: the bytes each worker's link has carried so far into the worker (its port's tx counter
# in the hub) and out of it (rx), workers in NET_WORKERS order.
net_sample_links() {
  local node counters="" direction
  for direction in tx rx; do
    for node in "${NET_WORKERS[@]}"; do
      counters+=" /sys/class/net/$(net_port "$node")/statistics/${direction}_bytes"
    done
  done
  net_exec hub bash -c "while :; do echo \$(date +%s%3N) \$(cat$counters); sleep 0.1; done" >"$1" &
  disown # (no "Terminated" notice when net_down ends it)
}

# net_cut NODE / net_restore NODE: the node's link down (its port on the bridge), and up again.
# TCP connections across it stay open; their packets are dropped while it is down.
net_cut() { ip -n "$(net_ns hub)" link set "$(net_port "$1")" down; }
net_restore() { ip -n "$(net_ns hub)" link set "$(net_port "$1")" up; }

# net_bytes NODE: bytes the node's link has carried so far, both ways (its port's counters).
net_bytes() {
  local stats=/sys/class/net/$(net_port "$1")/statistics
  echo $(($(net_exec hub cat "$stats/rx_bytes") + $(net_exec hub cat "$stats/tx_bytes")))
}

# net_loss NODE PERCENT: drops PERCENT % of the packets the node receives, at random (nftables'
# numgen in the node's own namespace; 0 removes the rule's table).
net_loss() {
  local ns
  ns=$(net_ns "$1")
  ip netns exec "$ns" nft delete table inet ferry_loss 2>/dev/null || true
  (($2 > 0)) || return 0
  ip netns exec "$ns" nft -f - <<EOF
table inet ferry_loss {
  chain input {
    type filter hook input priority 0; policy accept;
    numgen random mod 100 < $2 counter drop
  }
}
EOF
}

# net_loss_dropped NODE: packets the loss rule dropped.
net_loss_dropped() {
  ip netns exec "$(net_ns "$1")" nft list table inet ferry_loss | sed -n 's/.*counter packets \([0-9]*\).*/\1/p'
}
