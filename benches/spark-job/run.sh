#!/usr/bin/env bash
# A shuffle-heavy Spark job with Spark's default shuffle and with Ferry's, in one run: generates
# MEGABYTES (default 1024) MiB of records and sorts them, then groups them, on
# local-cluster[2,1,2048] with host-local disk reads off, so reducers fetch across executors.
# Runs ROUNDS (default 2) rounds, each the default shuffle then Ferry (order alternating per round),
# checks both give the same results, and takes each side's best wall time per job.
# Writes $SPARK_JOB_JSON (default benches/results/spark-job.json) and prints the ratio
# Ferry/default (target: <= 0.9).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

megabytes=${MEGABYTES:-1024}
rounds=${ROUNDS:-2}
maps=${MAPS:-16}
reducers=${REDUCERS:-16}
json=${SPARK_JOB_JSON:-benches/results/spark-job.json}

setup_report=$(bash tests/spark/setup.sh)
spark_home=$(sed -n 's/^SPARK_HOME=//p' <<< "$setup_report")
export SPARK_LOCAL_IP=127.0.0.1 SPARK_LOCAL_HOSTNAME=localhost

source tests/spark/versions.sh
source benches/lib.sh
project=$(ferry_spark_project "$SPARK_NEWEST")
gradle --no-daemon --console=plain -q ":$project:jar" :ferry-core:jar
ferry_jars=$(ls "jvm/spark/$project/build/libs/$project"-*.jar jvm/core/build/libs/ferry-core-*.jar | paste -sd, -)

out=build/spark-job-bench
rm -rf "$out"
mkdir -p "$out/classes" "$out/spark-home" "$(dirname "$json")"
for entry in "$spark_home"/*; do
  [[ "$(basename "$entry")" == work ]] || ln -s "$entry" "$out/spark-home/"
done
export SPARK_HOME=$root/$out/spark-home
javac --release 17 -Xlint:all,-path -Werror -cp "$SPARK_HOME/jars/*" -d "$out/classes" \
  benches/spark-job/src/io/ferry/bench/SparkJobBench.java
jar --create --file "$out/bench.jar" -C "$out/classes" .

run() { # <label> <round> [spark-submit args...]
  local label=$1 round=$2
  shift 2
  local log="$out/$label-$round"
  "$SPARK_HOME/bin/spark-submit" --master 'local-cluster[2,1,2048]' --class io.ferry.bench.SparkJobBench \
    --conf spark.shuffle.readHostLocalDisk=false --conf spark.ui.enabled=false \
    --conf spark.driver.host=127.0.0.1 --conf spark.driver.bindAddress=127.0.0.1 \
    --conf spark.driver.memory=2g \
    "$@" "$out/bench.jar" "$megabytes" "$maps" "$reducers" >"$log.out" 2>"$log.log" \
    || { tail -n 40 "$log.log" >&2; exit 1; }
  sed "s/^RESULT /RESULT $label /" "$log.out" | grep '^RESULT' | tee -a "$out/results"
}
ferry_args=(--jars "$ferry_jars" --conf spark.shuffle.manager=io.ferry.spark.FerryShuffleManager
  --conf spark.plugins=io.ferry.spark.FerryPlugin)

echo "== $rounds rounds of ${megabytes} MiB: sort and groupBy, default shuffle vs Ferry (load: $(cut -d' ' -f1-3 /proc/loadavg))"
alternate_rounds "$rounds" "${ferry_args[@]}"

python3 - "$out/results" "$json" "$megabytes" "$rounds" "bash benches/spark-job/run.sh (MEGABYTES=$megabytes ROUNDS=$rounds MAPS=$maps REDUCERS=$reducers)" <<'PY'
import json, sys, datetime
path, json_path, megabytes, rounds, command = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
best, answers = {}, {}
for line in open(path):
    _, label, job, ms, records, checksum = line.split()
    key = (label, job)
    best[key] = min(best.get(key, 10**12), int(ms))
    answers.setdefault(job, set()).add((records, checksum))
for job, seen in answers.items():
    if len(seen) != 1:
        sys.exit(f"spark-job: {job} results differ between runs: {seen}")
jobs = []
for job in ("sort", "groupBy"):
    d, f = best[("default", job)], best[("ferry", job)]
    ratio = f / d
    jobs.append({"job": job, "default_ms": d, "ferry_ms": f, "ratio": round(ratio, 3), "target": "<= 0.9",
                 "met": ratio <= 0.9})
    print(f"{job:8s} default {d:7d} ms   ferry {f:7d} ms   ratio {ratio:.2f} (target <= 0.9: {'met' if ratio <= 0.9 else 'MISSED'})")
total_d = sum(j["default_ms"] for j in jobs)
total_f = sum(j["ferry_ms"] for j in jobs)
print(f"total    default {total_d:7d} ms   ferry {total_f:7d} ms   ratio {total_f / total_d:.2f}")
json.dump({
    "benchmark": "spark-job", "command": command,
    "date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%MZ"),
    "machine": "2 vCPU VM, loopback, local-cluster[2,1,2048], ferry.provider auto (tcp here)",
    "megabytes": megabytes, "rounds": rounds, "best_of_rounds": jobs,
    "total_ratio": round(total_f / total_d, 3),
}, open(json_path, "w"), indent=2)
PY
