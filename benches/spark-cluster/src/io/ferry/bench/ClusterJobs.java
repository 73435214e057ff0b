package io.ferry.bench;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import org.apache.spark.HashPartitioner;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkExecutorInfo;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;

import scala.Tuple2;
import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

/**
 * Shuffle-heavy jobs for the namespace cluster (benches/spark-cluster, and the fault run of
 * tests/spark/netns): {@code <megabytes>} MiB of benches/spark-job's (long key, 100-byte value)
 * records ({@link SparkJobBench#records}) in {@code <maps>} map partitions, generated once and
 * cached evenly on the executors ({@link #placedSlices}), then each job named by a
 * {@code <job>:<reducers>} argument:
 * <ul>
 * <li>{@code sort}: sortByKey into that many partitions (few reducers: large blocks), as
 * {@link SparkJobBench#sort};
 * <li>{@code groupBy}: groupByKey on a coarser key (many reducers: small blocks), as
 * {@link SparkJobBench#groupBy};
 * <li>{@code skewJoin}: a join with a 4096-row table on a coarse key that a third of the records
 * share, so one reducer reads a third of the shuffle.
 * </ul>
 * Waits for {@code -Dferry.bench.executors} (default 3) executors first. Prints one
 * {@code RESULT <job> <ms> <fetch wait ms> <remote bytes> <remote blocks> <records> <checksum>}
 * line per job; checksums are order-free sums and do not depend on the shuffle transport.
 */
public final class ClusterJobs {
    static final int JOIN_KEYS = 4096;

    public static void main(String[] args) throws Exception {
        int megabytes = Integer.parseInt(args[0]);
        int maps = Integer.parseInt(args[1]);
        long perMap = (long) megabytes * (1 << 20) / (SparkJobBench.VALUE_BYTES + 8) / maps;
        try (JavaSparkContext sc = new JavaSparkContext(new SparkConf().setAppName("ferry-cluster-jobs"))) {
            sc.sc().addSparkListener(READS);
            List<String> hosts = waitForExecutors(sc, Integer.getInteger("ferry.bench.executors", 3));
            JavaPairRDD<Long, byte[]> data = placedSlices(sc, maps, hosts)
                    .flatMapToPair(slice -> SparkJobBench.records(slice, perMap))
                    .persist(StorageLevel.MEMORY_AND_DISK());
            sc.setJobDescription("generate"); // (benches/spark-cluster/trace.py groups stages by job)
            data.count(); // jobs below time their shuffles, not the generation
            for (int i = 2; i < args.length; i++) {
                String[] spec = args[i].split(":");
                run(sc, data, spec[0], Integer.parseInt(spec[1]));
            }
        }
    }

    static void run(JavaSparkContext sc, JavaPairRDD<Long, byte[]> data, String job, int reducers) throws Exception {
        SparkContext.getOrCreate().listenerBus().waitUntilEmpty();
        READS.reset();
        sc.setJobDescription(job);
        long start = System.nanoTime();
        Tuple2<Long, Long> result = switch (job) {
            case "sort" -> SparkJobBench.sort(data, reducers);
            case "groupBy" -> SparkJobBench.groupBy(data, reducers);
            case "skewJoin" -> {
                List<Tuple2<Long, Long>> table = new ArrayList<>();
                for (long k = 0; k < JOIN_KEYS; k++) {
                    table.add(new Tuple2<>(k, k * 0x9E3779B97F4A7C15L));
                }
                JavaPairRDD<Long, byte[]> skewed = data.mapToPair(kv -> new Tuple2<>(
                        kv._1() % 3 == 0 ? 0L : Math.floorMod(kv._1(), JOIN_KEYS), kv._2()));
                yield SparkJobBench.sum(skewed.join(sc.parallelizePairs(table, 4), new HashPartitioner(reducers))
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

    /** @return the executors' hosts, sorted, once {@code executors} have registered */
    static List<String> waitForExecutors(JavaSparkContext sc, int executors) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 120_000;
        while (sc.sc().statusTracker().getExecutorInfos().length < executors + 1) { // the driver is one
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("fewer than " + executors + " executors registered in 120 s");
            }
            Thread.sleep(100);
        }
        String driver = sc.getConf().get("spark.driver.host");
        List<String> hosts = new ArrayList<>();
        for (SparkExecutorInfo executor : sc.sc().statusTracker().getExecutorInfos()) {
            if (!executor.host().equals(driver)) {
                hosts.add(executor.host());
            }
        }
        Collections.sort(hosts);
        return hosts;
    }

    /**
     * Slices 0..maps-1, slice i preferring hosts[i % hosts]: the cached data, and so the map outputs
     * of every job, lie evenly on the executors. Left to the scheduler, an executor that starts
     * late (one fetching the application's jars over its shaped link: Ferry's are 8 MB) generates
     * fewer slices, the others' links carry more of each shuffle, and the job's time follows that
     * placement more than the transport (measured: 1/5/3 slices instead of 3/3/3, and the skewed
     * join's reducer reading 40 MiB remotely instead of 29).
     */
    static JavaRDD<Integer> placedSlices(JavaSparkContext sc, int maps, List<String> hosts) {
        List<Tuple2<Integer, scala.collection.immutable.Seq<String>>> slices = new ArrayList<>();
        for (int i = 0; i < maps; i++) {
            slices.add(new Tuple2<>(i, CollectionConverters.asScala(List.of(hosts.get(i % hosts.size()))).toSeq()));
        }
        ClassTag<Integer> tag = ClassTag$.MODULE$.apply(Integer.class);
        return JavaRDD.fromRDD(sc.sc().makeRDD(CollectionConverters.asScala(slices).toSeq(), tag), tag);
    }

    /** Shuffle read metrics summed over a job's tasks (Spark's fetchWaitTime among them). */
    static final SparkJobBench.TaskTimes READS = new SparkJobBench.TaskTimes();
}
