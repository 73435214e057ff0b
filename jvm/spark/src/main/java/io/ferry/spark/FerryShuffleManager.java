package io.ferry.spark;

import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.spark.ShuffleDependency;
import org.apache.spark.SparkConf;
import org.apache.spark.TaskContext;
import org.apache.spark.io.CompressionCodec$;
import org.apache.spark.shuffle.BaseShuffleHandle;
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
 * Ferry's Spark {@code ShuffleManager}: {@code spark.shuffle.manager=io.ferry.spark.FerryShuffleManager},
 * which needs {@link FerryPlugin} in {@code spark.plugins} (on Spark 3.5 it adds the plugin itself).
 *
 * <p>The map side is Spark's own sort-based shuffle ({@link SortShuffleManager}): the same writers,
 * data and index files; a committed map output is then served by the executor's Ferry node, and so
 * is one that a decommissioned executor migrates to this one ({@link MigrationServingResolver}). The
 * reduce side reads through {@link FerryShuffleReader}. Where Spark encrypts block transfers, so
 * does Ferry (AES-GCM, tcp provider). In a process without a Ferry node (no plugin, or Spark
 * encrypts block transfers and the provider is verbs: each logged as a WARN naming the settings)
 * and for push-based merged shuffles, every call passes through to Spark's own manager.
 *
 * <p>Shared by every Spark line; what differs between lines is in {@link SparkLine}, one per
 * artifact. Spark 4.3 moved {@link #shuffleBlockResolver} to a sub-interface,
 * {@code BlockingShuffleManager}, and accepts only those as {@code spark.shuffle.manager}: see
 * NOTES.md.
 *
 * <p>Spark instantiates it once per process (driver and each executor) through the public
 * {@code (SparkConf, boolean isDriver)} constructor: on Spark 4 after the plugins, on 3.5 before
 * them, so the executor's Ferry node is looked up at each call, never in the constructor. Calls can
 * come from RPC threads at any time after construction (unregisterShuffle included), so the
 * delegate is final and created here, and {@link #stop} is idempotent.
 */
public final class FerryShuffleManager implements ShuffleManager {
    private static final Logger LOG = LoggerFactory.getLogger(FerryShuffleManager.class);

    /** The line every process logs once when its shuffle manager starts; tests look for it. */
    public static final String START_LOG_PREFIX = "FerryShuffleManager started";

    /** How the WARN starts that a process logs when Ferry cannot be in use; tests look for it. */
    public static final String NOT_IN_USE_PREFIX = "Ferry is not in use";

    private final SortShuffleManager delegate;
    private final MigrationServingResolver resolver;
    private final boolean isDriver;
    private final boolean batchFetchCapable;
    private final AtomicBoolean stopped = new AtomicBoolean();

    public FerryShuffleManager(SparkConf conf, boolean isDriver) {
        String sparkVersion = org.apache.spark.package$.MODULE$.SPARK_VERSION();
        if (!SparkLine.serves(sparkVersion)) {
            throw new IllegalStateException("this ferry-spark jar is built for " + SparkLine.NAME + ", but Spark "
                    + sparkVersion + " runs here: use the ferry-spark artifact of its line (Ferry README, Compatibility)");
        }
        this.isDriver = isDriver;
        this.delegate = new SortShuffleManager(conf);
        this.resolver = new MigrationServingResolver(conf, delegate.shuffleBlockResolver());
        this.batchFetchCapable = batchFetchCapable(conf);
        String process = isDriver ? "driver" : "executor";
        LOG.info("{} ({}; {} build, Spark {})", START_LOG_PREFIX, process, SparkLine.NAME, sparkVersion);
        requirePlugin(conf, process);
        reportEncryption(conf, process);
    }

    /**
     * Under a setting that makes Spark encrypt its block transfers, executors' nodes encrypt too
     * (tcp provider), or, on the verbs provider, whose RDMA READs the CPU cannot encrypt, start no
     * node (see {@link FerryExecutorPlugin}) so that every shuffle goes through Spark's own
     * transport: every process says which, naming the settings.
     */
    private static void reportEncryption(SparkConf conf, String process) {
        String key = FerrySparkSettings.encryptedTransfersKey(conf);
        if (key == null) {
            return;
        }
        if (FerrySparkSettings.stepsAside(conf)) {
            LOG.warn("{} in this {}: {}=true makes Spark encrypt shuffle blocks on the wire, and "
                    + "spark.ferry.provider=verbs moves them by RDMA READ, which the CPU cannot encrypt, so every "
                    + "shuffle goes through Spark's own (encrypted) transport; with spark.ferry.provider=tcp or auto "
                    + "Ferry carries them encrypted (AES-GCM)", NOT_IN_USE_PREFIX, process, key);
        } else {
            LOG.info("{}=true: Ferry encrypts its transfers in this {} too (spark.ferry.encryption=aes-gcm: "
                    + "AES-256-GCM, keys derived per connection from the application's secret; tcp provider)", key,
                    process);
        }
    }

    /**
     * FerryPlugin starts executors' nodes and lets them find each other: without it no byte goes
     * through Ferry. Where Spark starts plugins after the shuffle manager (3.5), the manager names
     * it in spark.plugins itself; where it starts them before (4), it is too late for that, and
     * every process says so in a WARN that names the setting.
     */
    private static void requirePlugin(SparkConf conf, String process) {
        if (FerryPlugin.isNamedIn(conf)) {
            return;
        }
        if (SparkLine.SHUFFLE_MANAGER_BEFORE_PLUGINS) {
            FerryPlugin.addTo(conf);
            LOG.info("added {} to {} ({} starts plugins after the shuffle manager)", FerryPlugin.NAME,
                    FerryPlugin.PLUGINS_KEY, SparkLine.NAME);
            return;
        }
        LOG.warn("{} in this {}: {} does not name {}, so every shuffle goes through Spark's own transport. "
                + "Set {}={} (Spark 4 starts plugins before the shuffle manager, which cannot add it then)",
                NOT_IN_USE_PREFIX, process, FerryPlugin.PLUGINS_KEY, FerryPlugin.NAME, FerryPlugin.PLUGINS_KEY,
                FerryPlugin.NAME);
    }

    /** The constructor Spark falls back to when it does not pass isDriver. */
    public FerryShuffleManager(SparkConf conf) {
        this(conf, false);
    }

    /**
     * Whether the settings let a run of reduce partitions be deserialized as one stream, as
     * Spark's BlockStoreShuffleReader decides (the codec can concatenate, no IO encryption).
     */
    private static boolean batchFetchCapable(SparkConf conf) {
        boolean compressed = conf.getBoolean("spark.shuffle.compress", true);
        boolean codecConcatenates = !compressed || CompressionCodec$.MODULE$
                .supportsConcatenationOfSerializedStreams(CompressionCodec$.MODULE$.createCodec(conf));
        return codecConcatenates && !conf.getBoolean("spark.shuffle.useOldFetchProtocol", false)
                && !conf.getBoolean("spark.io.encryption.enabled", false);
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
        ShuffleWriter<K, V> writer = delegate.getWriter(handle, mapId, context, metrics);
        ExecutorRuntime runtime = ExecutorRuntime.current();
        if (runtime == null) {
            return writer;
        }
        return new ServingShuffleWriter<>(writer, runtime, resolver, handle.shuffleId(), mapId);
    }

    @Override
    public <K, C> ShuffleReader<K, C> getReader(ShuffleHandle handle, int startPartition, int endPartition,
            TaskContext context, ShuffleReadMetricsReporter metrics) {
        return getReader(handle, 0, Integer.MAX_VALUE, startPartition, endPartition, context, metrics);
    }

    @Override
    @SuppressWarnings("unchecked")
    public <K, C> ShuffleReader<K, C> getReader(ShuffleHandle handle, int startMapIndex, int endMapIndex,
            int startPartition, int endPartition, TaskContext context, ShuffleReadMetricsReporter metrics) {
        ExecutorRuntime runtime = ExecutorRuntime.current();
        BaseShuffleHandle<K, ?, C> base = (BaseShuffleHandle<K, ?, C>) handle;
        if (runtime == null || base.dependency().isShuffleMergeFinalizedMarked()) {
            return delegate.getReader(handle, startMapIndex, endMapIndex, startPartition, endPartition, context,
                    metrics);
        }
        boolean batchFetch = batchFetchCapable && SortShuffleManager.canUseBatchFetch(startPartition, endPartition,
                context) && base.dependency().serializer().supportsRelocationOfSerializedObjects();
        return new FerryShuffleReader<>(base, startMapIndex, endMapIndex, startPartition, endPartition, context,
                metrics, runtime, resolver, batchFetch, () -> delegate.getReader(handle, startMapIndex, endMapIndex,
                        startPartition, endPartition, context, metrics));
    }

    @Override
    public boolean unregisterShuffle(int shuffleId) {
        ExecutorRuntime runtime = ExecutorRuntime.current();
        if (runtime != null) {
            runtime.forgetShuffle(shuffleId);
        }
        return delegate.unregisterShuffle(shuffleId);
    }

    /**
     * Spark's block manager serves Netty fetches, host-local reads and decommissioning through it,
     * and stores map outputs migrated here: {@link MigrationServingResolver} serves those by Ferry.
     */
    @Override
    public ShuffleBlockResolver shuffleBlockResolver() {
        return resolver;
    }

    @Override
    public void stop() {
        if (stopped.compareAndSet(false, true)) {
            delegate.stop();
        }
    }
}
