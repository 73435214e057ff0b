"""Where a traced benches/spark-cluster run (TRACE=1) spent its time, per application and job.

Usage: trace.py CLUSTER_OUT RATE. Reads CLUSTER_OUT/events/<side>-<round>/ (Spark event logs,
uncompressed) and CLUSTER_OUT/links (net_sample_links: MILLIS, bytes into each worker, bytes out
of each). For each job (ClusterJobs sets the job description) prints every stage's tasks per
executor (placement: where a stage ran is where its output lies), and for stages that read a
shuffle their fetch wait, the megabytes into the workers while the stage ran, and for each
worker (NET_WORKERS order; the header names each executor's host) the share of 100 ms samples in
which its incoming link ran at 80% of RATE or more; then the first TASK_LINES reduce tasks to
start (executor, start and end in seconds from the stage's start, run time, fetch wait, MiB read
remotely and locally).
"""
import collections
import json
import pathlib
import re
import sys

TASK_LINES = 24  # reduce tasks shown per stage, the first to start
UNITS = {"kbit": 1e3 / 8, "mbit": 1e6 / 8, "gbit": 1e9 / 8, "bit": 1 / 8}


def bytes_per_second(rate):
    number, unit = re.fullmatch(r"([0-9.]+)([a-z]+)", rate.lower()).groups()
    return float(number) * UNITS[unit]


def events(app_dir):
    for log in sorted(p for p in app_dir.rglob("events_*") if p.is_file()):
        for line in log.open():
            yield json.loads(line)


def stages_by_job(app_dir):
    """{executor id: host}, and {job description: [stage dicts in order]}, each with its finished tasks."""
    hosts, description, stages, tasks = {}, {}, {}, collections.defaultdict(list)
    for e in events(app_dir):
        kind = e["Event"]
        if kind == "SparkListenerExecutorAdded":
            hosts[e["Executor ID"]] = e["Executor Info"]["Host"]
        elif kind == "SparkListenerJobStart":
            for stage in e["Stage IDs"]:
                description[stage] = e.get("Properties", {}).get("spark.job.description", f"job {e['Job ID']}")
        elif kind == "SparkListenerStageCompleted":
            info = e["Stage Info"]
            stages[info["Stage ID"]] = info
        elif kind == "SparkListenerTaskEnd":
            tasks[e["Stage ID"]].append(e)
    jobs = collections.defaultdict(list)
    for sid in sorted(stages):
        if stages[sid].get("Submission Time") is not None:
            jobs[description.get(sid, "?")].append((stages[sid], tasks[sid]))
    return hosts, jobs


def link_use(samples, start, end, full):
    """MB into the workers between start and end, and each worker's share of busy samples."""
    inside = [s for s in samples if start <= s[0] <= end]
    workers = (len(samples[0]) - 1) // 2 if samples else 0
    if len(inside) < 2:
        return 0.0, [0.0] * workers
    into = sum(inside[-1][1 + w] - inside[0][1 + w] for w in range(workers)) / 1e6
    busy = []
    for w in range(workers):
        hits = sum(1 for a, b in zip(inside, inside[1:])
                   if (b[1 + w] - a[1 + w]) / max(b[0] - a[0], 1) * 1000 >= 0.8 * full)
        busy.append(hits / (len(inside) - 1))
    return into, busy


def main(out, rate):
    out = pathlib.Path(out)
    full = bytes_per_second(rate)
    samples = [list(map(int, line.split())) for line in (out / "links").open() if len(line.split()) > 1]
    for app_dir in sorted((out / "events").iterdir(), key=lambda p: p.stat().st_mtime):
        hosts, jobs = stages_by_job(app_dir)
        print(f"== {app_dir.name}: executors {', '.join(f'{e} on {h}' for e, h in sorted(hosts.items()))}")
        for job, stages in jobs.items():
            print(f"  {job}")
            for info, tasks in stages:
                start, end = info["Submission Time"], info["Completion Time"]
                placement = collections.Counter(t["Task Info"]["Executor ID"] for t in tasks)
                line = (f"    stage {info['Stage ID']} {info['Stage Name'][:28]:28s} {(end - start) / 1000:5.1f} s,"
                        f" tasks per executor {dict(sorted(placement.items()))}")
                reads = [t for t in tasks if t.get("Task Metrics", {}).get("Shuffle Read Metrics", {}).get("Remote Blocks Fetched")]
                if reads:
                    wait = sum(t["Task Metrics"]["Shuffle Read Metrics"]["Fetch Wait Time"] for t in tasks) / 1000
                    into, busy = link_use(samples, start, end, full)
                    line += (f"; fetch wait {wait:.1f} s; {into:.1f} MB into the workers,"
                             f" links busy {' '.join(f'{b:.2f}' for b in busy)}")
                print(line)
                for t in sorted(reads, key=lambda t: t["Task Info"]["Launch Time"])[:TASK_LINES]:
                    ti, m = t["Task Info"], t["Task Metrics"]
                    r = m["Shuffle Read Metrics"]
                    print(f"      task {ti['Index']:3d} on {ti['Executor ID']}"
                          f" {(ti['Launch Time'] - start) / 1000:5.1f}-{(ti['Finish Time'] - start) / 1000:5.1f} s:"
                          f" run {m['Executor Run Time'] / 1000:4.1f} s, fetch wait {r['Fetch Wait Time'] / 1000:4.1f} s,"
                          f" remote {r['Remote Bytes Read'] / 2**20:4.1f} MiB, local {r['Local Bytes Read'] / 2**20:4.1f} MiB")


if __name__ == "__main__":
    main(*sys.argv[1:])
