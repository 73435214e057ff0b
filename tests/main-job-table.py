"""The main job's closing table, from the three results files in the folder given."""
import json
import os
import sys

out = sys.argv[1]
load = os.getloadavg()[0]


def read(name):
    with open(os.path.join(out, name)) as f:
        return json.load(f)


rows = []
fetch = {r["name"]: r for r in read("tcp-fetch.json")}
for size in ("4k", "32k", "1m"):
    r = fetch[f"throughput_{size}"]
    rows.append((f"block fetch {size}, MB/s (higher is better)", "plain TCP stream",
                 r["baseline"], r["ferry"], r["ratio"],
                 "one socket copying memory vs batched, checked READs into pinned buffers"))
latency = fetch["latency_4k_median"]
rows.append(("4 KiB fetch latency, median µs (lower is better)", "plain TCP round trip",
             latency["baseline"], latency["ferry"], latency["ratio"],
             "cross-CPU wake-ups dominate on 2 vCPUs"))

spark = read("spark-job.json")
for job in spark["best_of_rounds"]:
    rows.append((f"Spark {job['job']}, best wall ms of {spark['rounds']} (lower is better)",
                 "Spark's default shuffle", job["default_ms"], job["ferry_ms"], job["ratio"],
                 "CPU-bound here: fetch wait <1% of task time, so ~1.0x is the ceiling"))

kafka = read("kafka.json")["summary"]
rows.append(("Kafka produce, best MB/s (higher is better)", "plain Kafka",
             kafka["throughput_mb_s"]["plain"], kafka["throughput_mb_s"]["ferry"],
             kafka["throughput_mb_s"]["ratio"], "RF 3, acks=all; tcp provider, inline streams"))
rows.append(("Kafka p99 ms at 2000 rec/s, best (lower is better)", "plain Kafka",
             kafka["latency_p99_ms"]["plain"], kafka["latency_p99_ms"]["ferry"],
             kafka["latency_p99_ms"]["ratio"], "single passes swing ±15% on a shared 2-core host"))

print()
print(f"== main job: Ferry beside its baseline on one {os.cpu_count()}-core host (load now {load:.1f})")
header = ("measure", "baseline", "baseline figure", "Ferry", "Ferry/baseline", "what it means here")
widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
for r in [header] + rows:
    print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
print(f"results: {out}/ (tcp-fetch.json, spark-job.json, kafka.json); the recorded figures and "
      "their commands are under benches/results/")
