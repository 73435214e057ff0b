"""Draws issue 14's tcp performance measures from benches/results/*.json.

Each bar is Ferry's figure as a ratio of its baseline (best repetition; a dot marks the median
where the results keep one), the black tick is the target, and the colour says whether the best
figure meets it. CPU rows are Ferry's CPU ms per GiB over Netty's (lower is better); every other
row is a throughput ratio (higher is better). Run by benches/chart.sh:

    python benches/chart.py [RESULTS_DIR] [OUT.png]
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after the backend is chosen)

# (label, results file, record, how to read the ratio, target, higher is better)
MEASURES = [
    ("JVM fetch vs Spark Netty, 32 KiB", "spark-fetch.json", "throughput_32k", "ratio", 1.5, True),
    ("JVM fetch vs Spark Netty, 1 MiB", "spark-fetch.json", "throughput_1m", "ratio", 1.2, True),
    ("client CPU/GiB vs Netty, 1 MiB", "spark-fetch.json", "throughput_1m", "cpu:client", 0.8, False),
    ("server CPU/GiB vs Netty, 1 MiB", "spark-fetch.json", "throughput_1m", "cpu:server", 0.8, False),
    ("client CPU/GiB vs Netty, 32 KiB", "spark-fetch.json", "throughput_32k", "cpu:client", 0.8, False),
    ("server CPU/GiB vs Netty, 32 KiB", "spark-fetch.json", "throughput_32k", "cpu:server", 0.8, False),
    ("native fetch vs plain TCP, 4 KiB", "tcp-fetch.json", "throughput_4k", "ratio", 0.5, True),
    ("native fetch vs plain TCP, 32 KiB", "tcp-fetch.json", "throughput_32k", "ratio", 0.9, True),
    ("native fetch vs plain TCP, 1 MiB", "tcp-fetch.json", "throughput_1m", "ratio", 1.0, True),
    ("JVM fetch vs native fetch, 32 KiB", "jvm-fetch.json", "throughput_32k", "ratio", 0.95, True),
]


def ratios(record, how):
    """(best, median or None) for one measure of one record."""
    if how == "ratio":
        median = None
        if record.get("baseline_median"):
            median = record["ferry_median"] / record["baseline_median"]
        return record["ratio"], median
    side = how.split(":")[1]
    return record["ferry_cpu_ms_per_gib"][side] / record["baseline_cpu_ms_per_gib"][side], None


def main():
    results = Path(sys.argv[1] if len(sys.argv) > 1 else "benches/results")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else results / "performance.png")
    records = {}
    for name in {m[1] for m in MEASURES}:
        records[name] = {r["name"]: r for r in json.loads((results / name).read_text())}

    rows = []
    for label, name, record, how, target, higher in MEASURES:
        best, median = ratios(records[name][record], how)
        met = best >= target if higher else best <= target
        rows.append((label, best, median, target, higher, met))

    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.4))
    ys = range(len(rows))[::-1]
    for y, (label, best, median, target, higher, met) in zip(ys, rows):
        ax.barh(y, best, color="#3a923a" if met else "#c8423b", height=0.6)
        ax.text(best + 0.02, y, f"{best:.2f}x", va="center", fontsize=8)
        if median is not None:
            ax.plot(median, y, "o", color="white", markeredgecolor="black", markersize=4)
        ax.plot([target, target], [y - 0.4, y + 0.4], color="black", linewidth=2)
        ax.text(target, y + 0.42, ("≥ " if higher else "≤ ") + f"{target:g}", fontsize=7, ha="center")
    ax.set_yticks(list(ys))
    ax.set_yticklabels([r[0] for r in rows], fontsize=8)
    ax.axvline(1.0, color="grey", linewidth=0.5, linestyle=":")
    ax.set_xlabel("Ferry / baseline (bar: best, dot: median; black tick: target)")
    ax.set_title("Ferry on tcp against its baselines (benches/results, issue 14 targets)", fontsize=10)
    ax.set_xlim(0, max(max(r[1] for r in rows), max(r[3] for r in rows)) * 1.2)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"chart: wrote {out}")


if __name__ == "__main__":
    main()
