package io.ferry.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.spark.HashPartitioner;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.storage.StorageLevel;

import scala.Tuple2;

/**
 * Shuffle-heavy jobs for the namespace cluster (benches/spark-cluster, and the fault run of
 * tests/spark/netns): {@code <megabytes>} MiB of (long key, {@value #VALUE_BYTES}-byte value)
 * records in {@code <maps>} map partitions, generated once and cached, then each job named by a
 * {@code <job>:<reducers>} argument:
 * <ul>
 * <li>{@code sort}: sortByKey into that many partitions (few reducers: large blocks);
 * <li>{@code groupBy}: groupByKey on a coarser key (many reducers: small blocks);
 * <li>{@code skewJoin}: a join with a 4096-row table on a coarse key that a third of the records
 * share, so one reducer reads a third of the shuffle.
 * </ul>
 * Waits for {@code -Dferry.bench.executors} (default 3) executors first. Prints one
 * {@code RESULT <job> <ms> <fetch wait ms> <remote bytes> <remote blocks> <records> <checksum>}
 * line per job; checksums are order-free sums and do not depend on the shuffle transport.
 */
public final class ClusterJobs {
    static final int VALUE_BYTES = 100;
    static final int JOIN_KEYS = 4096;

    public static void main(String[] args) throws Exception {
        int megabytes = Integer.parseInt(args[0]);
        int maps = Integer.parseInt(args[1]);
        long perMap = (long) megabytes * (1 << 20) / (VALUE_BYTES + 8) / maps;
        try (JavaSparkContext sc = new JavaSparkContext(new SparkConf().setAppName("ferry-cluster-jobs"))) {
            sc.sc().addSparkListener(READS);
            waitForExecutors(sc, Integer.getInteger("ferry.bench.executors", 3));
            List<Integer> slices = new ArrayList<>();
            for (int i = 0; i < maps; i++) {
                slices.add(i);
            }
            JavaPairRDD<Long, byte[]> data = sc.parallelize(slices, maps)
                    .flatMapToPair(slice -> records(slice, perMap))
                    .persist(StorageLevel.MEMORY_AND_DISK());
            data.count(); // jobs below time their shuffles, not the generation
            for (int i = 2; i < args.length; i++) {
                String[] spec = args[i].split(":");
                run(sc, data, spec[0], Integer.parseInt(spec[1]));
            }
        }
    }

    static java.util.Iterator<Tuple2<Long, byte[]>> records(int slice, long count) {
        Random random = new Random(slice);
        return new java.util.Iterator<>() {
            long left = count;

            @Override
            public boolean hasNext() {
                return left > 0;
            }

            @Override
            public Tuple2<Long, byte[]> next() {
                left--;
                byte[] value = new byte[VALUE_BYTES];
                random.nextBytes(value);
                return new Tuple2<>(random.nextLong(), value);
            }
        };
    }

    static void run(JavaSparkContext sc, JavaPairRDD<Long, byte[]> data, String job, int reducers) throws Exception {
        SparkContext.getOrCreate().listenerBus().waitUntilEmpty();
        READS.reset();
        long start = System.nanoTime();
        Tuple2<Long, Long> result = switch (job) {
            case "sort" -> sum(data.sortByKey(true, reducers).map(kv -> new Tuple2<>(1L, kv._1() ^ kv._2()[0])));
            case "groupBy" -> sum(data.mapToPair(kv -> new Tuple2<>(kv._1() & 0xFFFF, kv._2()))
                    .groupByKey(new HashPartitioner(reducers))
                    .map(kv -> {
                        long n = 0;
                        long s = 0;
                        for (byte[] value : kv._2()) {
                            n++;
                            s += value[1];
                        }
                        return new Tuple2<>(n, kv._1() * 31 + s);
                    }));
            case "skewJoin" -> {
                List<Tuple2<Long, Long>> table = new ArrayList<>();
                for (long k = 0; k < JOIN_KEYS; k++) {
                    table.add(new Tuple2<>(k, k * 0x9E3779B97F4A7C15L));
                }
                JavaPairRDD<Long, byte[]> skewed = data.mapToPair(kv -> new Tuple2<>(
                        kv._1() % 3 == 0 ? 0L : Math.floorMod(kv._1(), JOIN_KEYS), kv._2()));
                yield sum(skewed.join(sc.parallelizePairs(table, 4), new HashPartitioner(reducers))
                        .map(kv -> new Tuple2<>(1L, kv._1() * 31 + kv._2()._1()[2] + kv._2()._2())));
            }
            default -> throw new IllegalArgumentException("unknown job " + job + " (sort, groupBy, skewJoin)");
        };
        long ms = (System.nanoTime() - start) / 1_000_000;
        SparkContext.getOrCreate().listenerBus().waitUntilEmpty();
        System.out.println("RESULT " + job + " " + ms + " " + READS.fetchWaitMs.get() + " " + READS.remoteBytes.get()
                + " " + READS.remoteBlocks.get() + " " + result._1() + " " + Long.toHexString(result._2()));
        System.err.printf("%s: %d ms; tasks ran %d ms, shuffle fetch wait %d ms; %d MiB remote in %d blocks%n", job, ms,
                READS.runMs.get(), READS.fetchWaitMs.get(), READS.remoteBytes.get() >> 20, READS.remoteBlocks.get());
    }

    static Tuple2<Long, Long> sum(org.apache.spark.api.java.JavaRDD<Tuple2<Long, Long>> rdd) {
        return rdd.fold(new Tuple2<>(0L, 0L), (a, b) -> new Tuple2<>(a._1() + b._1(), a._2() + b._2()));
    }

    static void waitForExecutors(JavaSparkContext sc, int executors) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 120_000;
        while (sc.sc().statusTracker().getExecutorInfos().length < executors + 1) { // the driver is one
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("fewer than " + executors + " executors registered in 120 s");
            }
            Thread.sleep(100);
        }
    }

    static final Reads READS = new Reads();

    /** Shuffle read metrics summed over a job's tasks (Spark's fetchWaitTime among them). */
    static final class Reads extends SparkListener {
        final AtomicLong runMs = new AtomicLong();
        final AtomicLong fetchWaitMs = new AtomicLong();
        final AtomicLong remoteBytes = new AtomicLong();
        final AtomicLong remoteBlocks = new AtomicLong();

        void reset() {
            runMs.set(0);
            fetchWaitMs.set(0);
            remoteBytes.set(0);
            remoteBlocks.set(0);
        }

        @Override
        public void onTaskEnd(SparkListenerTaskEnd end) {
            if (end.taskMetrics() != null) {
                runMs.addAndGet(end.taskMetrics().executorRunTime());
                fetchWaitMs.addAndGet(end.taskMetrics().shuffleReadMetrics().fetchWaitTime());
                remoteBytes.addAndGet(end.taskMetrics().shuffleReadMetrics().remoteBytesRead());
                remoteBlocks.addAndGet(end.taskMetrics().shuffleReadMetrics().remoteBlocksFetched());
            }
        }
    }
}
