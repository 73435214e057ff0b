package io.ferry.spark.test;

import java.util.concurrent.atomic.AtomicInteger;

import org.apache.spark.ShuffleDependency;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorAdded;
import org.apache.spark.scheduler.SparkListenerExecutorRemoved;

/**
 * Shuffles while executors leave and join, under dynamic allocation with shuffle tracking
 * (tests/spark/run.sh sets it: 2 to 3 executors, idle ones released after 2 s). reduceByKey runs on
 * slow map tasks, so the backlog brings a third executor in mid-stage; the job's shuffle is then
 * cleaned up, so an idle executor leaves; groupByKey then brings a new one in, whose Ferry node
 * readers must find, and whose readers must find the nodes of the executors that stayed. Both
 * checksums must equal the default shuffle's, with no failed task (so no stage rerun).
 */
final class Elasticity extends SparkListener {
    /**
     * Per map task: 8 tasks on 2 executors keep a stage busy for 12 s, long after the scheduler's
     * 1 s backlog timeout asks for a third executor and time enough for it to start.
     */
    static final long MAP_TASK_MS = 3000;
    static final long LEAVE_TIMEOUT_MS = 120_000;

    final AtomicInteger added = new AtomicInteger();
    final AtomicInteger removed = new AtomicInteger();

    @Override
    public void onExecutorAdded(SparkListenerExecutorAdded event) {
        added.incrementAndGet();
    }

    @Override
    public void onExecutorRemoved(SparkListenerExecutorRemoved event) {
        removed.incrementAndGet();
    }

    static void jobs(JavaSparkContext sc, ShuffleJobs.ShuffleReads reads) throws Exception {
        Elasticity executors = new Elasticity();
        sc.sc().addSparkListener(executors);
        // Not cached: cached blocks would keep executors from leaving.
        JavaPairRDD<Integer, Long> data = ShuffleJobs.generate(sc, ShuffleJobs.RECORDS, 1)
                .mapPartitionsToPair(records -> {
                    Thread.sleep(MAP_TASK_MS);
                    return records;
                }, true);

        JavaPairRDD<Integer, Long> reduced = ShuffleJobs.reduced(data);
        ShuffleJobs.job(reads, "reduceByKey", () -> ShuffleJobs.unordered(reduced));
        int joinedWhileReducing = executors.added.get();

        // Shuffle tracking keeps executors that hold live shuffle data: clean it up, as the
        // context cleaner does once the job's RDDs are gone, and wait for idle executors to leave.
        int shuffleId = ((ShuffleDependency<?, ?, ?>) reduced.rdd().dependencies().head()).shuffleId();
        sc.sc().cleaner().get().doCleanupShuffle(shuffleId, true);
        long deadline = System.currentTimeMillis() + LEAVE_TIMEOUT_MS;
        while (executors.removed.get() == 0) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("no idle executor left within " + LEAVE_TIMEOUT_MS + " ms ("
                        + executors.added.get() + " joined)");
            }
            Thread.sleep(200);
        }
        int addedBefore = executors.added.get();
        ShuffleJobs.job(reads, "groupByKey", () -> ShuffleJobs.unordered(ShuffleJobs.grouped(data)));
        int joinedWhileGrouping = executors.added.get() - addedBefore;

        reads.drain();
        System.out.println("ELASTIC joined while reducing=" + joinedWhileReducing + " left="
                + executors.removed.get() + " joined while grouping=" + joinedWhileGrouping + " failed tasks="
                + reads.failedTasks.get());
        if (joinedWhileGrouping == 0) {
            throw new IllegalStateException("no executor joined for groupByKey after others left");
        }
        if (reads.failedTasks.get() != 0) {
            throw new IllegalStateException(reads.failedTasks.get() + " tasks failed ("
                    + reads.fetchFailures.get() + " fetch failures) while executors left and joined");
        }
    }
}
