"""The main job's closing table, from the three results files in the folder given, beside the
ratios the benchmarks recorded under benches/results/ (each with the command and load it ran at)."""
import json
import os
import sys

out = sys.argv[1]
RECORDED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benches", "results")
FILES = {"fetch": "tcp-fetch.json", "spark": "spark-job.json", "kafka": ("kafka.json", "kafka-produce.json")}
load = os.getloadavg()[0]
cpus = os.cpu_count()


def read(folder, name):
    with open(os.path.join(folder, name)) as f:
        return json.load(f)


def rows(fetch, spark, kafka):
    """(measure, baseline, baseline figure, Ferry figure, ratio, what it means) per measure."""
    fetch = {r["name"]: r for r in fetch}
    for size in ("4k", "32k", "1m"):
        r = fetch[f"throughput_{size}"]
        yield (f"block fetch {size}, MB/s (higher is better)", "plain TCP stream",
               r["baseline"], r["ferry"], r["ratio"],
               "one socket copying memory vs batched, checked READs into pinned buffers")
    r = fetch["latency_4k_median"]
    yield ("4 KiB fetch latency, median µs (lower is better)", "plain TCP round trip",
           r["baseline"], r["ferry"], r["ratio"], "cross-CPU wake-ups dominate on 2 vCPUs")
    for job in spark["best_of_rounds"]:
        yield (f"Spark {job['job']}, best wall ms (lower is better)", "Spark's default shuffle",
               job["default_ms"], job["ferry_ms"], job["ratio"],
               "CPU-bound here: fetch wait <1% of task time, so ~1.0x is the ceiling")
    summary = kafka["summary"]
    for key, measure, meaning in (
            ("throughput_mb_s", "Kafka produce, best MB/s (higher is better)",
             "RF 3, acks=all; tcp provider, inline streams"),
            ("latency_p99_ms", "Kafka p99 ms at 2000 rec/s, best (lower is better)",
             "single passes swing ±15% on a quiet 2-core host, far more on a busy one")):
        yield (measure, "plain Kafka", summary[key]["plain"], summary[key]["ferry"], summary[key]["ratio"],
               meaning)


def results(folder, kafka_name):
    return rows(read(folder, FILES["fetch"]), read(folder, FILES["spark"]), read(folder, kafka_name))


here = list(results(out, FILES["kafka"][0]))
try:
    recorded = {r[0]: r[4] for r in results(RECORDED, FILES["kafka"][1])}
except (OSError, KeyError, ValueError):
    recorded = {}

print()
print(f"== main job: Ferry beside its baseline on one {cpus}-core host (load now {load:.1f})")
header = ("measure", "baseline", "baseline figure", "Ferry", "Ferry/baseline", "recorded", "what it means here")
table = [header] + [r[:5] + (recorded.get(r[0], "-"),) + r[5:] for r in here]
widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
for r in table:
    print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
print(f"results: {out}/ (tcp-fetch.json, spark-job.json, kafka.json). 'recorded': the ratio each "
      "benchmark recorded under benches/results/ (its command and load are in the file).")
if load > cpus:
    print(f"This host was busy (load {load:.1f} on {cpus} CPUs): one run's ratios swing with other work; "
          "the recorded column comes from more rounds, alternated, with the load of each kept in its file.")
