#!/usr/bin/env bash
# Shuffle-heavy Spark jobs on a multi-host network on one machine, Spark's default shuffle against
# Ferry's: the standalone cluster of tests/spark/netns (master and driver in one namespace, three
# workers of one core in three more, veths to a bridge, TEST-NET-2 addresses only), each worker's
# link shaped to FERRY_NETNS_RATE (default NET_RATE, tests/spark/netns/net.sh). ClusterJobs
# generates MEGABYTES (default 256) MiB of 108-byte records in MAPS (default 9) map partitions,
# caches them, then runs JOBS (default: sort into 6 partitions, large blocks; groupBy into 360,
# small blocks; a skewed join into 24). ROUNDS (default 4) rounds, each one application per side,
# the order alternating per round so both sides see the same machine.
# Prints best and median job wall time and Spark's shuffle fetch wait (the sum over reduce tasks
# of shuffleReadMetrics.fetchWaitTime) per side, their ratios Ferry/default, and writes
# $SPARK_CLUSTER_JSON (default benches/results/spark-cluster.json) with the load averages seen.
# TRACE=1 also keeps each application's Spark event log and samples the links every 100 ms, and
# prints per job where the data lay and how busy the links were (benches/spark-cluster/trace.py).
# Needs root (ip netns, tc); everything runs in its own namespaces, removed on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/spark/versions.sh
source benches/lib.sh
source tests/spark/netns/net.sh
source tests/spark/netns/cluster.sh

megabytes=${MEGABYTES:-256}
maps=${MAPS:-9}
rounds=${ROUNDS:-4}
jobs=${JOBS:-sort:6 groupBy:360 skewJoin:24}
rate=${FERRY_NETNS_RATE:-$NET_RATE}
trace=${TRACE:-}
json=${SPARK_CLUSTER_JSON:-benches/results/spark-cluster.json}
command="bash benches/spark-cluster/run.sh (MEGABYTES=$megabytes MAPS=$maps ROUNDS=$rounds JOBS='$jobs' FERRY_NETNS_RATE=$rate)"

CLUSTER_SPARK_HOME=$(bash tests/spark/setup.sh "$SPARK_NEWEST" | sed -n 's/^SPARK_HOME=//p')
CLUSTER_OUT=$PWD/build/spark-cluster-bench
CLUSTER_EXECUTOR_MEMORY=2g
rm -rf "$CLUSTER_OUT"
mkdir -p "$CLUSTER_OUT" "$(dirname "$json")"
cluster_build_apps "$CLUSTER_OUT"
net_up
net_shape "$rate"
cluster_start
[[ -z $trace ]] || net_sample_links "$CLUSTER_OUT/links"

run() { # <side> <round> [spark-submit args...]
  local side=$1 round=$2 events=$CLUSTER_OUT/events/$1-$2
  shift 2
  if [[ -n $trace ]]; then
    mkdir -p "$events"
    set -- --conf spark.eventLog.enabled=true --conf spark.eventLog.compress=false \
      --conf spark.eventLog.dir="file://$events" "$@"
  fi
  cluster_submit "$side-$round" --class io.ferry.bench.ClusterJobs --conf spark.driver.memory=1g \
    --conf spark.executor.extraJavaOptions=-Djava.net.preferIPv4Stack=true \
    "$@" "$CLUSTER_APP_BENCH" "$megabytes" "$maps" $jobs
  sed "s/^RESULT /RESULT $side $round /" "$CLUSTER_OUT/$side-$round.out" | grep '^RESULT' | tee -a "$CLUSTER_OUT/results"
  echo "LOAD $side $round $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$CLUSTER_OUT/results"
}

echo "== $rounds rounds of $megabytes MiB on $rate links: $jobs (load: $(cut -d' ' -f1-3 /proc/loadavg))"
alternate_rounds "$rounds" "${CLUSTER_FERRY_ARGS[@]}"

python3 - "$CLUSTER_OUT/results" "$json" "$command" "$rate" "$megabytes" "$maps" "$rounds" <<'PY'
import datetime, json, statistics, sys
path, json_path, command, rate, megabytes, maps, rounds = sys.argv[1:]
runs, answers, loads, order = {}, {}, [], []
for line in open(path):
    f = line.split()
    if f[0] == "LOAD":
        loads.append({"side": f[1], "round": int(f[2]), "loadavg": [float(x) for x in f[3:6]]})
        continue
    _, side, rnd, job, ms, wait, remote, blocks, records, checksum = f
    if job not in order:
        order.append(job)
    runs.setdefault((side, job), []).append({"ms": int(ms), "fetch_wait_ms": int(wait), "remote_bytes": int(remote),
                                              "remote_blocks": int(blocks)})
    answers.setdefault(job, set()).add((records, checksum))
for job, seen in answers.items():
    if len(seen) != 1:
        sys.exit(f"spark-cluster: {job} results differ between runs: {seen}")
out = []
for job in order:
    d, f = runs[("default", job)], runs[("ferry", job)]
    row = {"job": job, "block_bytes_mean": sum(r["remote_bytes"] for r in d) // max(1, sum(r["remote_blocks"] for r in d))}
    for name, key in (("wall_ms", "ms"), ("fetch_wait_ms", "fetch_wait_ms")):
        for side, rs in (("default", d), ("ferry", f)):
            values = sorted(r[key] for r in rs)
            row[f"{side}_{name}"] = {"best": values[0], "median": statistics.median(values), "all": [r[key] for r in rs]}
        for stat in ("best", "median"):
            base = row[f"default_{name}"][stat]
            row[f"{name}_ratio_{stat}"] = round(row[f"ferry_{name}"][stat] / base, 3) if base else None
    row["fetch_wait_share_default_median"] = round(row["default_fetch_wait_ms"]["median"] / row["default_wall_ms"]["median"], 3)
    row["target"] = "wall time <= 0.9x where fetch wait matters"
    out.append(row)
    print(f"{job:9s} blocks ~{row['block_bytes_mean'] >> 10} KiB  wall default {row['default_wall_ms']['best']}/{row['default_wall_ms']['median']} ms"
          f"  ferry {row['ferry_wall_ms']['best']}/{row['ferry_wall_ms']['median']} ms  ratio {row['wall_ms_ratio_best']}x best, {row['wall_ms_ratio_median']}x median;"
          f"  fetch wait default {row['default_fetch_wait_ms']['median']} ms, ferry {row['ferry_fetch_wait_ms']['median']} ms (median)")
json.dump({
    "benchmark": "spark-cluster", "command": command,
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
    "machine": "2 vCPU VM; Spark standalone, master + driver and 3 workers (1 core, 2g executor each) in 4 network namespaces on a bridge; ferry.provider auto (tcp here)",
    "link_rate": rate, "link_delay": "none (no netem in this kernel)",
    "megabytes": int(megabytes), "maps": int(maps), "rounds": int(rounds),
    "jobs": out, "load": loads,
}, open(json_path, "w"), indent=2)
print(f"wrote {json_path}")
PY
[[ -z $trace ]] || python3 benches/spark-cluster/trace.py "$CLUSTER_OUT" "$rate"
