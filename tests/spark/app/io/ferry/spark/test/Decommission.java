package io.ferry.spark.test;

import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.spark.ShuffleDependency;
import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.ExecutorDecommissionInfo;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorRemoved;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.scheduler.cluster.CoarseGrainedSchedulerBackend;
import org.apache.spark.storage.BlockId;
import org.apache.spark.storage.BlockManagerId;
import org.apache.spark.storage.ShuffleBlockId;

import io.ferry.spark.FerryPlugin;

import scala.Option;
import scala.Tuple2;
import scala.Tuple3;
import scala.collection.Iterator;
import scala.collection.Seq;

/**
 * A decommissioned executor's map outputs, migrated to the others, read by the next stage
 * (tests/spark/run.sh: local-cluster[3,1,1024], spark.decommission.enabled and storage
 * decommissioning with shuffle blocks on). The map stage of reduceByKey runs alone; the executor
 * holding the most of its outputs is decommissioned; once the driver points every one of them at
 * another executor and the decommissioned one has left, the reduce stage runs. Its checksum must
 * be the default shuffle's, with no failed task and no stage attempt beyond the first; the reduce
 * tasks must run on both executors left, so each migrated output is read remotely by one of them;
 * with Ferry, every remote byte of that stage must come through the executors' Ferry nodes, and
 * the driver must have dropped the decommissioned executor's endpoint.
 */
final class Decommission extends SparkListener {
    static final int EXECUTORS = 3;
    static final long MIGRATION_TIMEOUT_MS = 90_000;

    final Set<String> removed = ConcurrentHashMap.newKeySet();
    final AtomicInteger stageReruns = new AtomicInteger();
    /** Executors that ran tasks reading shuffle records. */
    final Set<String> readers = ConcurrentHashMap.newKeySet();

    @Override
    public void onExecutorRemoved(SparkListenerExecutorRemoved event) {
        removed.add(event.executorId());
    }

    @Override
    public void onStageSubmitted(SparkListenerStageSubmitted event) {
        if (event.stageInfo().attemptNumber() > 0) {
            stageReruns.incrementAndGet();
        }
    }

    @Override
    public void onTaskEnd(SparkListenerTaskEnd event) {
        if (event.taskMetrics() != null && event.taskMetrics().shuffleReadMetrics().recordsRead() > 0) {
            readers.add(event.taskInfo().executorId());
        }
    }

    static void jobs(JavaSparkContext sc, ShuffleJobs.ShuffleReads reads, boolean ferry) throws Exception {
        ShuffleJobs.waitForExecutors(sc, EXECUTORS, 120_000);
        Decommission events = new Decommission();
        sc.sc().addSparkListener(events);
        JavaPairRDD<Integer, Long> reduced = ShuffleJobs.reduced(ShuffleJobs.generate(sc, ShuffleJobs.RECORDS, 1));
        ShuffleDependency<?, ?, ?> dependency = (ShuffleDependency<?, ?, ?>) reduced.rdd().dependencies().head();
        int shuffleId = dependency.shuffleId();
        int partitions = dependency.partitioner().numPartitions();
        sc.sc().submitMapStage(dependency).get();

        Map<String, Integer> before = outputsByExecutor(shuffleId, partitions);
        String leaving = before.entrySet().stream().max(Map.Entry.comparingByValue()).get().getKey();
        System.err.println("map outputs by executor: " + before + "; decommissioning executor " + leaving);
        CoarseGrainedSchedulerBackend backend = (CoarseGrainedSchedulerBackend) sc.sc().schedulerBackend();
        // No replacement: the reduce stage runs on the two executors left.
        if (!backend.decommissionExecutor(leaving, new ExecutorDecommissionInfo("ferry test", Option.empty()), true,
                false)) {
            throw new IllegalStateException("executor " + leaving + " was not decommissioned");
        }
        long deadline = System.currentTimeMillis() + MIGRATION_TIMEOUT_MS;
        Map<String, Integer> after = outputsByExecutor(shuffleId, partitions);
        while (after.containsKey(leaving) || !events.removed.contains(leaving)) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("within " + MIGRATION_TIMEOUT_MS + " ms: map outputs by executor "
                        + after + ", executor " + leaving + (events.removed.contains(leaving) ? "" : " not") + " gone");
            }
            Thread.sleep(200);
            after = outputsByExecutor(shuffleId, partitions);
        }
        int outputs = before.values().stream().mapToInt(Integer::intValue).sum();
        if (after.values().stream().mapToInt(Integer::intValue).sum() != outputs) {
            throw new IllegalStateException("map outputs before " + before + ", after " + after);
        }

        FerryChecks.Traffic traffic = ferry ? FerryChecks.traffic(sc) : null;
        reads.drain();
        long[] read = reads.snapshot();
        ShuffleJobs.job(reads, "reduceByKey", () -> ShuffleJobs.unordered(reduced));
        long remoteBytes = reads.snapshot()[2] - read[2];
        System.out.println("DECOMMISSION executor " + leaving + " left; its " + before.get(leaving)
                + " map outputs migrated: outputs by executor " + before + " -> " + after + "; reduce read by "
                + new TreeSet<>(events.readers) + ", " + remoteBytes + " remote bytes, "
                + events.stageReruns.get() + " stage reruns, " + reads.failedTasks.get() + " failed tasks");
        if (events.stageReruns.get() != 0 || reads.failedTasks.get() != 0) {
            throw new IllegalStateException("after decommissioning, " + events.stageReruns.get() + " stage reruns and "
                    + reads.failedTasks.get() + " failed tasks (" + reads.fetchFailures.get() + " fetch failures)");
        }
        if (events.readers.size() != EXECUTORS - 1 || events.readers.contains(leaving) || remoteBytes <= 0) {
            throw new IllegalStateException("the reduce stage ran on " + events.readers + ", not on the "
                    + (EXECUTORS - 1) + " executors left, or read no remote bytes (" + remoteBytes + ")");
        }
        if (ferry) {
            long fetched = FerryChecks.traffic(sc).fetched() - traffic.fetched();
            System.out.println("DECOMMISSION_FERRY fetched=" + fetched + " remote=" + remoteBytes);
            if (fetched != remoteBytes) {
                throw new IllegalStateException("after decommissioning, Ferry fetched " + fetched
                        + " bytes but Spark counted " + remoteBytes + " remote shuffle bytes");
            }
            if (FerryPlugin.endpoints().containsKey(leaving)) {
                throw new IllegalStateException("the driver still lists executor " + leaving + "'s Ferry endpoint");
            }
        }
    }

    /** How many non-empty map outputs of the shuffle each executor holds, as the driver sees them. */
    static Map<String, Integer> outputsByExecutor(int shuffleId, int partitions) {
        Iterator<Tuple2<BlockManagerId, Seq<Tuple3<BlockId, Object, Object>>>> located = SparkEnv.get()
                .mapOutputTracker().getMapSizesByExecutorId(shuffleId, 0, Integer.MAX_VALUE, 0, partitions);
        Map<String, Set<Long>> maps = new TreeMap<>();
        while (located.hasNext()) {
            Tuple2<BlockManagerId, Seq<Tuple3<BlockId, Object, Object>>> next = located.next();
            Set<Long> ids = maps.computeIfAbsent(next._1().executorId(), id -> new HashSet<>());
            Iterator<Tuple3<BlockId, Object, Object>> blocks = next._2().iterator();
            while (blocks.hasNext()) {
                ids.add(((ShuffleBlockId) blocks.next()._1()).mapId());
            }
        }
        Map<String, Integer> counts = new TreeMap<>();
        maps.forEach((executor, ids) -> counts.put(executor, ids.size()));
        return counts;
    }
}
