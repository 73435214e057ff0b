"""Ferry's Spark plugin pulled by its Maven coordinate, the way a pyspark or notebook user adds it.

Usage: spark_packages.py COORDINATE OUT_DIR   (run with the pyspark environment's python)

pyspark starts the driver JVM with spark.jars.packages=COORDINATE (resolved by Spark's Ivy from the
local Maven repository, into a fresh Ivy directory under OUT_DIR, with ferry-core beside it) and
Ferry's two keys, on local-cluster[2,1,1024] with host-local disk reads off. A Python RDD shuffle
and a DataFrame aggregation must give the results computed here in Python, every executor's
Ferry counters must reach Spark's CsvSink, and the bytes the executors' Ferry nodes fetched must
equal the remote shuffle bytes Spark's REST API reports: every remote block went through Ferry.
"""

import csv
import glob
import json
import os
import sys
import time
import urllib.request

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

RECORDS = 200_000
KEYS = 1_000
GROUPS = 97
METRIC = "plugin.io.ferry.spark.FerryPlugin.bytesFetched"


def session(coordinate, out):
    return (
        SparkSession.builder.master("local-cluster[2,1,1024]")
        .appName("ferry-spark-packages")
        .config("spark.jars.packages", coordinate)
        .config("spark.jars.ivy", os.path.join(out, "ivy"))
        .config("spark.shuffle.manager", "io.ferry.spark.FerryShuffleManager")
        .config("spark.plugins", "io.ferry.spark.FerryPlugin")
        .config("spark.shuffle.readHostLocalDisk", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.port", "0")
        .config("spark.metrics.conf.executor.sink.csv.class", "org.apache.spark.metrics.sink.CsvSink")
        .config("spark.metrics.conf.executor.sink.csv.period", "1")
        .config("spark.metrics.conf.executor.sink.csv.unit", "seconds")
        .config("spark.metrics.conf.executor.sink.csv.directory", os.path.join(out, "metrics"))
        .getOrCreate()
    )


def check(what, got, expected):
    if got != expected:
        sys.exit(f"FAIL: {what}: got {got!r}, expected {expected!r}")
    print(f"{what}: as expected")


def remote_bytes_read(spark):
    """Remote shuffle bytes over all stages, from the driver's REST API."""
    sc = spark.sparkContext
    url = f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}/stages?status=complete"
    with urllib.request.urlopen(url, timeout=30) as response:
        return sum(stage["shuffleRemoteBytesRead"] for stage in json.load(response))


def csv_bytes_fetched(out):
    """Each executor's latest bytesFetched, as Spark's CsvSink wrote it."""
    latest = {}
    for path in glob.glob(os.path.join(out, "metrics", f"*.{METRIC}.csv")):
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        if len(rows) > 1:
            latest[os.path.basename(path)] = int(float(rows[-1][1]))
    return latest


def main():
    coordinate, out = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(out, "metrics"), exist_ok=True)
    spark = session(coordinate, out)
    sc = spark.sparkContext
    print(f"Spark {spark.version}, {coordinate} by spark.jars.packages")

    pairs = sc.parallelize(range(RECORDS), 8).map(lambda i: (i % KEYS, i))
    sums = dict(pairs.reduceByKey(lambda a, b: a + b, 10).collect())
    check("RDD reduceByKey", sums, {k: sum(range(k, RECORDS, KEYS)) for k in range(KEYS)})

    rows = spark.range(0, RECORDS * 5, numPartitions=8).groupBy((F.col("id") % GROUPS).alias("g")).count()
    counts = {row["g"]: row["count"] for row in rows.collect()}
    check("DataFrame groupBy count", counts, {g: len(range(g, RECORDS * 5, GROUPS)) for g in range(GROUPS)})

    remote = remote_bytes_read(spark)
    if remote <= 0:
        sys.exit("FAIL: no shuffle bytes were read remotely: the jobs did not cross executors")
    # The sink writes every second: wait for both executors' files to catch up.
    deadline = time.monotonic() + 60
    while True:
        fetched = csv_bytes_fetched(out)
        if len(fetched) == 2 and sum(fetched.values()) == remote:
            break
        if time.monotonic() > deadline:
            sys.exit(f"FAIL: Ferry's bytesFetched in the CsvSink {fetched} does not add up to the "
                     f"{remote} remote shuffle bytes Spark read")
        time.sleep(1)
    print(f"FERRY_PACKAGES remote shuffle bytes {remote}, all fetched by Ferry (CsvSink: {fetched})")
    spark.stop()


if __name__ == "__main__":
    main()
