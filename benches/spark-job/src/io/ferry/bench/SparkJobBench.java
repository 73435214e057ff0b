package io.ferry.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.spark.HashPartitioner;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;

import scala.Tuple2;

/**
 * A shuffle-heavy Spark job for benches/spark-job/run.sh: generates {@code <megabytes>} MiB of
 * (long key, 100-byte value) records in {@code <maps>} map tasks, then sorts them by key and groups
 * them by a coarser key, each into {@code <reducers>} partitions. Prints one
 * {@code RESULT <job> <ms> <records> <checksum>} line per job and the shuffle bytes read.
 */
public final class SparkJobBench {
    static final int VALUE_BYTES = 100;

    public static void main(String[] args) throws Exception {
        int megabytes = Integer.parseInt(args[0]);
        int maps = Integer.parseInt(args[1]);
        int reducers = Integer.parseInt(args[2]);
        long records = (long) megabytes * (1 << 20) / (VALUE_BYTES + 8);
        long perMap = records / maps;
        try (JavaSparkContext sc = new JavaSparkContext(new SparkConf().setAppName("ferry-spark-job-bench"))) {
            sc.sc().addSparkListener(TASKS);
            List<Integer> slices = new ArrayList<>();
            for (int i = 0; i < maps; i++) {
                slices.add(i);
            }
            JavaPairRDD<Long, byte[]> data = sc.parallelize(slices, maps)
                    .flatMapToPair(slice -> records(slice, perMap));

            long start = System.nanoTime();
            report("sort", start, sort(data, reducers));

            start = System.nanoTime();
            report("groupBy", start, groupBy(data, reducers));
        }
    }

    /** Map partition {@code slice}'s {@code count} records: random keys, random values, seeded by the slice. */
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

    /** Sorts by key into {@code reducers} partitions; returns (records, an order-free checksum). */
    static Tuple2<Long, Long> sort(JavaPairRDD<Long, byte[]> data, int reducers) {
        return sum(data.sortByKey(true, reducers).map(kv -> new Tuple2<>(1L, kv._1() ^ kv._2()[0])));
    }

    /** Groups by a coarser key (16 bits) into {@code reducers} partitions; returns (records, checksum). */
    static Tuple2<Long, Long> groupBy(JavaPairRDD<Long, byte[]> data, int reducers) {
        return sum(data.mapToPair(kv -> new Tuple2<>(kv._1() & 0xFFFF, kv._2()))
                .groupByKey(new HashPartitioner(reducers))
                .map(kv -> {
                    long n = 0;
                    long sum = 0;
                    for (byte[] value : kv._2()) {
                        n++;
                        sum += value[1];
                    }
                    return new Tuple2<>(n, kv._1() * 31 + sum);
                }));
    }

    static Tuple2<Long, Long> sum(JavaRDD<Tuple2<Long, Long>> rdd) {
        return rdd.fold(new Tuple2<>(0L, 0L), (a, b) -> new Tuple2<>(a._1() + b._1(), a._2() + b._2()));
    }

    static final TaskTimes TASKS = new TaskTimes();

    static void report(String job, long start, Tuple2<Long, Long> result) throws Exception {
        long ms = (System.nanoTime() - start) / 1_000_000;
        SparkContext.getOrCreate().listenerBus().waitUntilEmpty();
        System.out.println("RESULT " + job + " " + ms + " " + result._1() + " " + Long.toHexString(result._2()));
        System.err.printf("%s: %d ms; tasks ran %d ms, of which shuffle fetch wait %d ms; %d MiB read remotely%n", job,
                ms, TASKS.runMs.getAndSet(0), TASKS.fetchWaitMs.getAndSet(0), TASKS.remoteBytes.getAndSet(0) >> 20);
    }

    /**
     * Task time, shuffle fetch wait and remote reads, summed over all tasks (where the time went);
     * also ClusterJobs' per-job figures.
     */
    static final class TaskTimes extends SparkListener {
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
