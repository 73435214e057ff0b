package io.ferry.spark;

import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.spark.ShuffleDependency;
import org.apache.spark.SparkConf;
import org.apache.spark.TaskContext;
import org.apache.spark.shuffle.ShuffleBlockResolver;
import org.apache.spark.shuffle.ShuffleHandle;
import org.apache.spark.shuffle.ShuffleManager;
import org.apache.spark.shuffle.ShuffleReadMetricsReporter;
import org.apache.spark.shuffle.ShuffleReader;
import org.apache.spark.shuffle.ShuffleWriteMetricsReporter;
import org.apache.spark.shuffle.ShuffleWriter;
import org.apache.spark.shuffle.sort.SortShuffleManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Ferry's Spark {@code ShuffleManager}: {@code spark.shuffle.manager=io.ferry.spark.FerryShuffleManager}.
 *
 * <p>For now every call is passed through to Spark's own {@link SortShuffleManager}, so the map side
 * writes Spark's sort-based data and index files and the reduce side still reads them through
 * Spark's block transfer. The Ferry reader replaces {@link #getReader} next (see NOTES.md beside
 * this module).
 *
 * <p>Built against Spark 4.2.0 (Scala 2.13), whose {@link ShuffleManager} still declares
 * {@link #shuffleBlockResolver}. Spark 4.3 moved that method to a sub-interface,
 * {@code BlockingShuffleManager}, and accepts only those as {@code spark.shuffle.manager}: see
 * NOTES.md.
 *
 * <p>Spark instantiates it once per process (driver and each executor), through the public
 * {@code (SparkConf, boolean isDriver)} constructor. Calls can come from RPC threads at any time
 * after construction (unregisterShuffle included), so the delegate is final and created here, and
 * {@link #stop} is idempotent.
 */
public final class FerryShuffleManager implements ShuffleManager {
    private static final Logger LOG = LoggerFactory.getLogger(FerryShuffleManager.class);

    /** The line every process logs once when its shuffle manager starts; tests look for it. */
    public static final String START_LOG_PREFIX = "FerryShuffleManager started";

    private final SortShuffleManager delegate;
    private final boolean isDriver;
    private final AtomicBoolean stopped = new AtomicBoolean();

    public FerryShuffleManager(SparkConf conf, boolean isDriver) {
        this.isDriver = isDriver;
        this.delegate = new SortShuffleManager(conf);
        LOG.info("{} ({}, pass-through to {})", START_LOG_PREFIX, isDriver ? "driver" : "executor",
                SortShuffleManager.class.getName());
    }

    /** The constructor Spark falls back to when it does not pass isDriver. */
    public FerryShuffleManager(SparkConf conf) {
        this(conf, false);
    }

    /** Whether Spark created this instance in the driver. */
    public boolean isDriver() {
        return isDriver;
    }

    @Override
    public <K, V, C> ShuffleHandle registerShuffle(int shuffleId, ShuffleDependency<K, V, C> dependency) {
        return delegate.registerShuffle(shuffleId, dependency);
    }

    @Override
    public <K, V> ShuffleWriter<K, V> getWriter(ShuffleHandle handle, long mapId, TaskContext context,
            ShuffleWriteMetricsReporter metrics) {
        return delegate.getWriter(handle, mapId, context, metrics);
    }

    @Override
    public <K, C> ShuffleReader<K, C> getReader(ShuffleHandle handle, int startPartition, int endPartition,
            TaskContext context, ShuffleReadMetricsReporter metrics) {
        return delegate.getReader(handle, startPartition, endPartition, context, metrics);
    }

    @Override
    public <K, C> ShuffleReader<K, C> getReader(ShuffleHandle handle, int startMapIndex, int endMapIndex,
            int startPartition, int endPartition, TaskContext context, ShuffleReadMetricsReporter metrics) {
        return delegate.getReader(handle, startMapIndex, endMapIndex, startPartition, endPartition, context,
                metrics);
    }

    @Override
    public boolean unregisterShuffle(int shuffleId) {
        return delegate.unregisterShuffle(shuffleId);
    }

    @Override
    public ShuffleBlockResolver shuffleBlockResolver() {
        return delegate.shuffleBlockResolver();
    }

    @Override
    public void stop() {
        if (stopped.compareAndSet(false, true)) {
            delegate.stop();
        }
    }
}
