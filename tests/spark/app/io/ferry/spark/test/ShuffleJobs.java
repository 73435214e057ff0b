package io.ferry.spark.test;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32;

import org.apache.spark.HashPartitioner;
import org.apache.spark.ShuffleDependency;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.executor.ShuffleReadMetrics;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

import scala.Tuple2;

/**
 * Shuffle jobs on a real Spark cluster, each printing one {@code CHECKSUM <job> <records> <hash>}
 * line that must be identical whatever {@code spark.shuffle.manager} is. tests/spark/run.sh runs it
 * with Spark's default shuffle and with Ferry's and compares the lines.
 *
 * <p>The data: {@value #RECORDS} (key, value) records made from fixed seeds in {@value #MAP_PARTITIONS}
 * map partitions, one of them empty; keys are even, so the odd reduce partitions of the
 * {@link HashPartitioner}s below get no records at all. Checksums of unordered results are sums of
 * per-record hashes (order-free); the sortByKey checksum follows the output order, which the job
 * also checks.
 *
 * <p>With {@code --sql} (run.sh passes it when FERRY_SPARK_SQL=1), also DataFrame jobs with
 * adaptive query execution (see {@link #sqlJobs}); with {@code --compact} (run.sh's compact runs
 * on other Spark lines), without the job of large records; with {@code --one-job}, reduceByKey
 * only; with {@code --auth-only}, the authentication checks only; with {@code --elastic},
 * reduceByKey and groupByKey while executors leave and join ({@link Elasticity}); with
 * {@code --decommission}, reduceByKey reading a decommissioned executor's migrated map outputs
 * ({@link Decommission}); with
 * {@code --marker TEXT}, {@link #markerJob} only (and the check that, with Ferry, every remote
 * byte went through it).
 *
 * <p>Also prints {@code SHUFFLE_MANAGER <driver class> <executor class>...} and
 * {@code EXECUTOR_DIR <dir>} per executor (for log checks), and fails unless {@link #EXECUTORS}
 * executors ran tasks, every process uses the shuffle manager given as the first argument (if any),
 * and shuffle bytes were read remotely.
 */
public final class ShuffleJobs {
    static final int RECORDS = 300_000;
    static final int MAP_PARTITIONS = 8;
    static final int EMPTY_MAP_PARTITION = 3;
    static final int KEYS = 20_000;
    /** Executors the cluster has (2 in local-cluster; the namespace cluster of tests/spark/netns has 3). */
    static final int EXECUTORS = Integer.getInteger("ferry.test.executors", 2);

    public static void main(String[] args) throws Exception {
        // Arguments: [--sql] [--compact] [--auth-only | --one-job | --core | --elastic | --decommission
        // | --marker TEXT]
        // [expected shuffle manager class]
        List<String> arguments = new ArrayList<>(List.of(args));
        boolean withSql = arguments.remove("--sql");
        boolean compact = arguments.remove("--compact");
        boolean authOnly = arguments.remove("--auth-only");
        boolean oneJob = arguments.remove("--one-job");
        boolean coreOnly = arguments.remove("--core"); // the four RDD jobs only (tests/vm/jobs.sh)
        boolean elastic = arguments.remove("--elastic"); // see Elasticity
        boolean decommission = arguments.remove("--decommission"); // see Decommission
        String marker = null; // --marker TEXT: markerJob only
        int markerAt = arguments.indexOf("--marker");
        if (markerAt >= 0) {
            marker = arguments.remove(markerAt + 1);
            arguments.remove(markerAt);
        }
        String expectedManager = arguments.isEmpty() ? null : arguments.get(0);
        SparkConf conf = new SparkConf().setAppName("ferry-shuffle-jobs");
        boolean ferry = FERRY_MANAGER.equals(expectedManager);
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            ShuffleReads reads = new ShuffleReads();
            sc.sc().addSparkListener(reads);
            waitForExecutors(sc, EXECUTORS, Long.getLong("ferry.test.executor.wait.ms", 120_000)); // longer in the TCG VM
            checkShuffleManagers(sc, expectedManager);

            if (elastic) {
                Elasticity.jobs(sc, reads);
                return;
            }
            if (decommission) {
                Decommission.jobs(sc, reads, ferry);
                return;
            }
            if (marker != null) {
                String text = marker;
                job(reads, "marker", () -> markerJob(sc, text));
                remoteReads(sc, reads, ferry);
                return;
            }
            JavaPairRDD<Integer, Long> data = generate(sc, RECORDS, 1).cache();
            JavaPairRDD<Integer, Long> other = generate(sc, RECORDS / 3, 2);
            data.count(); // materialize the cache: later jobs shuffle, they do not regenerate
            if (authOnly) {
                authentication(conf, data);
                return;
            }

            job(reads, "reduceByKey", () -> unordered(reduced(data)));
            if (oneJob) {
                return;
            }

            job(reads, "groupByKey", () -> unordered(grouped(data)));

            job(reads, "sortByKey", () -> sorted(data.sortByKey(true, 6)));

            job(reads, "join", () -> unordered(data.join(other, new HashPartitioner(9))
                    .mapValues(vw -> vw._1() * 31 + vw._2())));

            if (withSql) {
                SparkSession spark = SparkSession.builder().sparkContext(sc.sc()).getOrCreate();
                sqlJobs(spark, reads);
            }

            FerryChecks.Traffic traffic = remoteReads(sc, reads, ferry);
            if (ferry) {
                checkJmx(conf, traffic);
                if (coreOnly) {
                    return;
                }
                authentication(conf, data);
            }
            if (coreOnly) {
                return;
            }

            if (!compact) {
                job(reads, "largeRecords", () -> largeRecords(sc));
            }

            String expected = reads.checksums.get("reduceByKey");
            job(reads, "reduceByKeyExecutorKilled", () -> unordered(data.reduceByKey(new HashPartitioner(10), Long::sum)
                    .mapPartitionsWithIndex((index, it) -> {
                        TaskContext task = TaskContext.get();
                        if (index == 0 && task.attemptNumber() == 0 && task.stageAttemptNumber() == 0) {
                            Thread.sleep(500); // let the other executor's reducers start fetching from this one
                            Runtime.getRuntime().halt(137); // dies like a SIGKILLed executor
                        }
                        return it;
                    }, true).mapToPair(kv -> kv)));
            if (!expected.equals(reads.checksums.get("reduceByKeyExecutorKilled"))) {
                throw new IllegalStateException("with an executor killed mid-shuffle the result changed");
            }
            System.err.println("executor killed mid-shuffle: " + reads.fetchFailures.get() + " fetch failures, "
                    + "same result");
        }
    }

    static final String FERRY_MANAGER = "io.ferry.spark.FerryShuffleManager";

    static final int MARKER_RECORDS = 20_000;

    /**
     * Shuffles {@value #MARKER_RECORDS} strings that each carry {@code marker}, for a capture of
     * the wire (tests/spark/run.sh): with spark.shuffle.compress off, every one crosses in clear
     * unless the transport encrypts.
     */
    static String markerJob(JavaSparkContext sc, String marker) {
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < MARKER_RECORDS; i++) {
            ids.add(i);
        }
        return unordered(sc.parallelize(ids, MAP_PARTITIONS).mapToPair(i -> new Tuple2<>(i % 16, marker + "-" + i))
                .groupByKey(new HashPartitioner(4)).mapValues(texts -> {
                    long h = 0;
                    for (String text : texts) {
                        h += mix(text.hashCode());
                    }
                    return h;
                }));
    }

    /** The reduceByKey job's result. */
    static JavaPairRDD<Integer, Long> reduced(JavaPairRDD<Integer, Long> data) {
        return data.reduceByKey(new HashPartitioner(10), Long::sum);
    }

    /** The groupByKey job's result: per key, a hash of its sorted values. */
    static JavaPairRDD<Integer, Long> grouped(JavaPairRDD<Integer, Long> data) {
        return data.groupByKey(new HashPartitioner(7)).mapValues(values -> {
            List<Long> sorted = new ArrayList<>();
            values.forEach(sorted::add);
            Collections.sort(sorted);
            long h = sorted.size();
            for (long v : sorted) {
                h = h * 1_000_003L + v;
            }
            return h;
        });
    }

    /**
     * Records larger than a Ferry buffer (2 MiB each, 1 MiB buffers) and one reduce partition of
     * 144 MiB, each map's share 72 MiB: one block that streams through the bounded pool.
     */
    static String largeRecords(JavaSparkContext sc) {
        int recordsPerMap = 36;
        int recordBytes = 2 << 20;
        JavaPairRDD<Integer, byte[]> big = sc.parallelize(List.of(0, 1), 2).flatMapToPair(map -> {
            Random random = new Random(map);
            List<Tuple2<Integer, byte[]>> out = new ArrayList<>();
            for (int i = 0; i < recordsPerMap; i++) {
                byte[] value = new byte[recordBytes];
                random.nextBytes(value);
                out.add(new Tuple2<>(0, value));
            }
            return out.iterator();
        });
        return unordered(big.partitionBy(new HashPartitioner(2)).mapValues(value -> {
            CRC32 crc = new CRC32();
            crc.update(value);
            return crc.getValue() * 31 + value.length;
        }));
    }

    /**
     * Shuffles {@code data} through Ferry, then checks that the executors' endpoints refuse peers
     * without the application's secret (Spark's with spark.authenticate on, else the driver's
     * random one) and listen on the block manager's address only.
     */
    static void authentication(SparkConf conf, JavaPairRDD<Integer, Long> data) {
        JavaPairRDD<Integer, Long> shuffled = data.partitionBy(new HashPartitioner(4));
        shuffled.count();
        int shuffleId = ((ShuffleDependency<?, ?, ?>) shuffled.rdd().dependencies().head()).shuffleId();
        FerryChecks.authentication(shuffleId, 4,
                conf.getBoolean("spark.authenticate", false) ? conf.get("spark.authenticate.secret") : null);
    }

    /**
     * Prints REMOTE_BYTES_READ and fails unless shuffle bytes were read remotely; with Ferry, also
     * prints FERRY_BYTES_FETCHED and FERRY_TRAFFIC and fails unless every remote byte went through
     * the executors' Ferry nodes.
     *
     * @return the nodes' traffic with Ferry, else null
     */
    static FerryChecks.Traffic remoteReads(JavaSparkContext sc, ShuffleReads reads, boolean ferry) {
        System.out.println("REMOTE_BYTES_READ " + reads.remoteBytes.get());
        if (reads.remoteBytes.get() <= 0) {
            throw new IllegalStateException("no shuffle bytes were read remotely: the jobs did not cross executors");
        }
        if (!ferry) {
            return null;
        }
        FerryChecks.Traffic traffic = FerryChecks.traffic(sc);
        System.out.println("FERRY_BYTES_FETCHED " + traffic.fetched());
        System.out.println("FERRY_TRAFFIC " + traffic);
        if (traffic.fetched() != reads.remoteBytes.get()) {
            throw new IllegalStateException("Ferry fetched " + traffic.fetched() + " bytes but Spark counted "
                    + reads.remoteBytes.get() + " remote shuffle bytes: not every remote read went through Ferry");
        }
        return traffic;
    }

    /**
     * With Spark's JmxSink configured (spark.metrics.conf.*.sink.jmx.class), every executor
     * publishes Ferry's bytesFetched through it, and the published values add up to what the nodes
     * fetched. Prints FERRY_METRICS_JMX for tests/spark/run.sh.
     */
    static void checkJmx(SparkConf conf, FerryChecks.Traffic traffic) {
        boolean jmxSink = Arrays.stream(conf.getAll())
                .anyMatch(kv -> kv._1().startsWith("spark.metrics.conf.") && kv._1().endsWith(".sink.jmx.class"));
        if (!jmxSink) {
            return;
        }
        if (traffic.fetchedByJmx() != traffic.fetched()) {
            throw new IllegalStateException("Ferry's bytesFetched gauges read through JMX add up to "
                    + traffic.fetchedByJmx() + " (-1 per executor without one), the nodes fetched " + traffic.fetched());
        }
        System.out.println("FERRY_METRICS_JMX bytesFetched=" + traffic.fetchedByJmx());
    }

    /**
     * DataFrame jobs with adaptive query execution, which reads shuffles through partition ranges
     * (coalesced partitions), map ranges (local shuffle reads after a runtime broadcast join) and
     * partial partitions (skew-join splits): the 7-argument ShuffleManager.getReader. Each job
     * checks that AQE really planned the read it is meant to exercise.
     */
    static void sqlJobs(SparkSession spark, ShuffleReads reads) throws Exception {
        spark.conf().set("spark.sql.adaptive.enabled", "true");
        spark.conf().set("spark.sql.shuffle.partitions", "24");
        spark.conf().set("spark.sql.adaptive.coalescePartitions.minPartitionSize", "1");
        spark.conf().set("spark.sql.adaptive.advisoryPartitionSizeInBytes", "64k");
        // No broadcast joins at planning time: only AQE may turn a sort-merge join into one.
        spark.conf().set("spark.sql.autoBroadcastJoinThreshold", "-1");
        spark.conf().set("spark.sql.adaptive.autoBroadcastJoinThreshold", "1m");
        spark.conf().set("spark.sql.adaptive.skewJoin.skewedPartitionFactor", "2");
        spark.conf().set("spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes", "64k");

        // 300k rows over 8 input partitions; k is skewed (a third of the rows share k = 0).
        Dataset<Row> facts = spark.range(0, RECORDS, 1, MAP_PARTITIONS).selectExpr(
                "id",
                "CASE WHEN id % 3 = 0 THEN 0 ELSE (id * 7919) % 5000 END AS k",
                "(id * 104729) % 1000003 AS v");
        Dataset<Row> dims = spark.range(0, 5000, 1, 4).selectExpr("id AS k", "id * 13 % 97 AS w");

        job(reads, "sqlAggregate", () -> sql(facts.groupBy("k")
                .agg(org.apache.spark.sql.functions.count("*").as("n"),
                        org.apache.spark.sql.functions.sum("v").as("s"),
                        org.apache.spark.sql.functions.max("id").as("m")),
                "coalesced"));

        job(reads, "sqlJoinBroadcastAtRuntime", () -> sql(facts.join(dims.where("w < 3"), "k")
                .selectExpr("id", "k", "v + w AS x"), "local"));

        // Both sides too big to broadcast, so AQE keeps the sort-merge join and splits its skewed
        // partition (k = 0) by map ranges.
        spark.conf().set("spark.sql.adaptive.autoBroadcastJoinThreshold", "-1");
        job(reads, "sqlSkewJoin", () -> sql(facts.join(dims, "k").selectExpr("id", "k", "v * w AS x"),
                "skewed"));
    }

    /**
     * Order-free checksum of a DataFrame: row count and the sum of xxhash64 over all columns,
     * computed by Spark itself. Fails unless the executed adaptive plan reads a shuffle the way
     * {@code expectedRead} says ("coalesced", "local" or "skewed", as AQEShuffleRead prints it).
     */
    static String sql(Dataset<Row> df, String expectedRead) {
        Dataset<Row> checksum = df.selectExpr("count(*)", "sum(cast(xxhash64(*) AS DECIMAL(38, 0)))");
        Row r = checksum.collectAsList().get(0);
        String plan = checksum.queryExecution().executedPlan().toString();
        if (System.getenv("FERRY_SPARK_PRINT_PLANS") != null) {
            System.err.println(plan);
        }
        if (!plan.contains("AQEShuffleRead") || !plan.contains(expectedRead)) {
            throw new IllegalStateException("adaptive plan has no '" + expectedRead + "' shuffle read:\n" + plan);
        }
        return r.getLong(0) + " " + r.getDecimal(1).toPlainString();
    }

    /** Even keys, deterministic values; partition EMPTY_MAP_PARTITION yields nothing. */
    static JavaPairRDD<Integer, Long> generate(JavaSparkContext sc, int records, int salt) {
        List<Integer> slices = new ArrayList<>();
        for (int i = 0; i < MAP_PARTITIONS; i++) {
            slices.add(i);
        }
        int perPartition = records / (MAP_PARTITIONS - 1);
        JavaRDD<Integer> seeds = sc.parallelize(slices, MAP_PARTITIONS);
        return seeds.flatMapToPair(slice -> {
            List<Tuple2<Integer, Long>> out = new ArrayList<>();
            if (slice != EMPTY_MAP_PARTITION) {
                Random random = new Random(slice * 7919L + salt);
                for (int i = 0; i < perPartition; i++) {
                    int key = 2 * (int) Math.floor(KEYS * Math.pow(random.nextDouble(), 2)); // skewed, even
                    out.add(new Tuple2<>(key, random.nextLong() >>> 20));
                }
            }
            return out.iterator();
        });
    }

    /** Order-free checksum: record count and the sum of a strong per-record hash. */
    static String unordered(JavaPairRDD<Integer, Long> rdd) {
        Tuple2<Long, Long> r = rdd.map(kv -> new Tuple2<>(1L, mix(kv._1() * 0x9E3779B97F4A7C15L + kv._2())))
                .fold(new Tuple2<>(0L, 0L), (a, b) -> new Tuple2<>(a._1() + b._1(), a._2() + b._2()));
        return r._1() + " " + Long.toHexString(r._2());
    }

    /** Order-dependent checksum of a sortByKey result, after checking the order itself. */
    static String sorted(JavaPairRDD<Integer, Long> rdd) {
        List<long[]> parts = rdd.mapPartitionsWithIndex((index, it) -> {
            long count = 0;
            long h = 0;
            long first = Long.MAX_VALUE;
            long last = Long.MIN_VALUE;
            // Values of one key come in no fixed order: hash each run of equal keys order-free,
            // then the runs in order.
            long runCount = 0;
            long runSum = 0;
            while (it.hasNext()) {
                Tuple2<Integer, Long> kv = it.next();
                if (kv._1() < last) {
                    throw new IllegalStateException("sortByKey: key " + kv._1() + " after " + last);
                }
                if (runCount > 0 && kv._1() != last) {
                    h = h * 1_000_003L + mix(last) + mix(runCount) + runSum;
                    runCount = 0;
                    runSum = 0;
                }
                first = Math.min(first, kv._1());
                last = kv._1();
                runCount++;
                runSum += mix(kv._2());
                count++;
            }
            if (runCount > 0) {
                h = h * 1_000_003L + mix(last) + mix(runCount) + runSum;
            }
            return Collections.singletonList(new long[] {index, count, h, first, last}).iterator();
        }, true).collect();
        long count = 0;
        long h = 0;
        long previousLast = Long.MIN_VALUE;
        for (long[] p : parts) {
            if (p[1] > 0) {
                if (p[3] < previousLast) {
                    throw new IllegalStateException("sortByKey: partition " + p[0] + " starts below the previous one");
                }
                previousLast = p[4];
            }
            count += p[1];
            h = h * 1_000_003L + mix(p[0] * 0x9E3779B97F4A7C15L + p[2]);
        }
        return count + " " + Long.toHexString(h);
    }

    static long mix(long z) { // SplitMix64 finalizer
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    interface Job {
        String run() throws Exception;
    }

    /**
     * Runs a job, prints its checksum and, unless tasks failed, its read metrics (records and
     * bytes read, the same whatever the shuffle manager; the split local/remote is not).
     */
    static void job(ShuffleReads reads, String name, Job job) throws Exception {
        reads.drain();
        long[] before = reads.snapshot();
        long start = System.nanoTime();
        String checksum = job.run();
        long ms = (System.nanoTime() - start) / 1_000_000;
        reads.drain();
        reads.checksums.put(name, checksum);
        System.out.println("CHECKSUM " + name + " " + checksum);
        long[] after = reads.snapshot();
        long records = after[0] - before[0];
        long bytes = after[1] - before[1];
        if (after[5] == before[5]) {
            System.out.println("READ_METRICS " + name + " records=" + records + " bytes=" + bytes);
        }
        System.err.printf("job %s: %d ms; read %d records, %d bytes (%d remote in %d blocks), fetch wait %d ms%n",
                name, ms, records, bytes, after[2] - before[2], after[3] - before[3], after[4] - before[4]);
        if (records <= 0 || bytes <= 0) {
            throw new IllegalStateException("job " + name + ": no shuffle read metrics");
        }
    }

    static void waitForExecutors(JavaSparkContext sc, int executors, long timeoutMs) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        // getExecutorInfos includes the driver.
        while (sc.sc().statusTracker().getExecutorInfos().length < executors + 1) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("fewer than " + executors + " executors registered in " + timeoutMs + " ms");
            }
            Thread.sleep(100);
        }
    }

    /** Asks every executor (by running enough small tasks) which shuffle manager it runs. */
    static void checkShuffleManagers(JavaSparkContext sc, String expected) {
        String driver = SparkEnv.get().shuffleManager().getClass().getName();
        List<Integer> slices = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            slices.add(i);
        }
        Map<String, String> managers = new TreeMap<>();
        Map<String, String> dirs = new TreeMap<>();
        for (int attempt = 0; attempt < 10 && managers.size() < EXECUTORS; attempt++) {
            List<String[]> seen = sc.parallelize(slices, slices.size()).map(i -> {
                Thread.sleep(50); // spread the tasks over all executors
                SparkEnv env = SparkEnv.get();
                return new String[] {env.executorId(), env.shuffleManager().getClass().getName(),
                        System.getProperty("user.dir")};
            }).collect();
            for (String[] s : seen) {
                managers.put(s[0], s[1]);
                dirs.put(s[0], s[2]);
            }
        }
        System.out.println("SHUFFLE_MANAGER driver=" + driver + " executors=" + managers);
        dirs.forEach((id, dir) -> System.out.println("EXECUTOR_DIR " + id + " " + dir));
        if (managers.size() < EXECUTORS) {
            throw new IllegalStateException("tasks ran on fewer than " + EXECUTORS + " executors: " + managers.keySet());
        }
        if (expected != null) {
            if (!expected.equals(driver)) {
                throw new IllegalStateException("driver shuffle manager is " + driver + ", not " + expected);
            }
            managers.forEach((id, manager) -> {
                if (!expected.equals(manager)) {
                    throw new IllegalStateException("executor " + id + " shuffle manager is " + manager + ", not " + expected);
                }
            });
        }
    }

    /** Sums the shuffle read metrics of finished tasks, as the Spark UI and REST API show them. */
    static final class ShuffleReads extends SparkListener implements Serializable {
        private static final long serialVersionUID = 1L;
        final AtomicLong records = new AtomicLong();
        final AtomicLong bytes = new AtomicLong();
        final AtomicLong remoteBytes = new AtomicLong();
        final AtomicLong remoteBlocks = new AtomicLong();
        final AtomicLong fetchWaitMs = new AtomicLong();
        final AtomicLong failedTasks = new AtomicLong();
        final AtomicLong fetchFailures = new AtomicLong();
        final Map<String, String> checksums = new java.util.concurrent.ConcurrentHashMap<>();

        @Override
        public void onTaskEnd(SparkListenerTaskEnd taskEnd) {
            if (!(taskEnd.reason() instanceof org.apache.spark.Success$)) {
                failedTasks.incrementAndGet();
                if (taskEnd.reason() instanceof org.apache.spark.FetchFailed) {
                    fetchFailures.incrementAndGet();
                }
            }
            if (taskEnd.taskMetrics() != null) {
                ShuffleReadMetrics read = taskEnd.taskMetrics().shuffleReadMetrics();
                records.addAndGet(read.recordsRead());
                bytes.addAndGet(read.totalBytesRead());
                remoteBytes.addAndGet(read.remoteBytesRead());
                remoteBlocks.addAndGet(read.remoteBlocksFetched());
                fetchWaitMs.addAndGet(read.fetchWaitTime());
            }
        }

        /** Waits until the listener has seen every event posted so far (Spark delivers them asynchronously). */
        void drain() throws java.util.concurrent.TimeoutException {
            SparkContext.getOrCreate().listenerBus().waitUntilEmpty();
        }

        long[] snapshot() {
            return new long[] {records.get(), bytes.get(), remoteBytes.get(), remoteBlocks.get(), fetchWaitMs.get(),
                failedTasks.get()};
        }
    }
}
