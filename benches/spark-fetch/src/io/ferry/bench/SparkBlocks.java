package io.ferry.bench;

import java.io.File;
import org.apache.spark.SecurityManager;
import org.apache.spark.SparkConf;
import org.apache.spark.TaskContext;
import org.apache.spark.network.BlockDataManager;
import org.apache.spark.network.buffer.FileSegmentManagedBuffer;
import org.apache.spark.network.buffer.ManagedBuffer;
import org.apache.spark.network.client.StreamCallbackWithID;
import org.apache.spark.network.netty.NettyBlockTransferService;
import org.apache.spark.network.netty.SparkTransportConf;
import org.apache.spark.network.shuffle.checksum.Cause;
import org.apache.spark.network.util.IOMode;
import org.apache.spark.network.util.NettyUtils;
import org.apache.spark.network.util.TransportConf;
import org.apache.spark.serializer.JavaSerializer;
import org.apache.spark.serializer.SerializerManager;
import org.apache.spark.storage.BlockId;
import org.apache.spark.storage.ShuffleBlockId;
import org.apache.spark.storage.StorageLevel;
import scala.Option;
import scala.reflect.ClassTag;

/**
 * The Spark side of the benchmark: Spark's own {@link NettyBlockTransferService} with default
 * {@code spark.shuffle.io.*} settings, and a {@link BlockDataManager} that serves the segments of
 * one data file as shuffle blocks {@code shuffle_0_<i>_0}, as {@code IndexShuffleBlockResolver}
 * does: a {@link FileSegmentManagedBuffer} per block, sent by Netty as a file region.
 */
final class SparkBlocks implements BlockDataManager {
    /** Cores given to the transport, as an executor passes its cores (sizes its thread pools). */
    static final int CORES = 2;
    static final String HOST = "127.0.0.1";

    private final TransportConf transportConf;
    private final File file;
    private final long blockSize;
    private final long count;

    /**
     * @param file the data file, or null for a client that serves nothing
     */
    SparkBlocks(SparkConf conf, File file, long blockSize, long count) {
        // What IndexShuffleBlockResolver builds its FileSegmentManagedBuffers with.
        this.transportConf = SparkTransportConf.fromSparkConf(conf, "shuffle", CORES,
                Option.empty(), Option.empty());
        this.file = file;
        this.blockSize = blockSize;
        this.count = file == null ? 0 : count;
    }

    /** A Spark configuration with defaults only (plus the app id the transfer service needs). */
    static SparkConf conf() {
        return new SparkConf(false).set("spark.app.id", "ferry-spark-fetch")
                .set("spark.app.name", "ferry-spark-fetch");
    }

    static String blockId(long index) {
        return "shuffle_0_" + index + "_0";
    }

    /** A started transfer service (server on 127.0.0.1, an ephemeral port) over these blocks. */
    static NettyBlockTransferService start(SparkConf conf, SparkBlocks blocks) {
        SecurityManager security = new SecurityManager(conf,
                SecurityManager.$lessinit$greater$default$2(),
                SecurityManager.$lessinit$greater$default$3());
        SerializerManager serializers = new SerializerManager(new JavaSerializer(conf), conf);
        NettyBlockTransferService service = new NettyBlockTransferService(conf, security,
                serializers, HOST, HOST, 0, CORES, null);
        service.init(blocks);
        return service;
    }

    /** What Netty runs on with this configuration: spark.shuffle.io.mode, channel, threads. */
    static String transport(SparkConf conf) {
        TransportConf t = SparkTransportConf.fromSparkConf(conf, "shuffle", CORES,
                Option.empty(), Option.empty());
        String mode = t.ioMode();
        return "Spark " + NettyBlockTransferService.class.getPackage().getImplementationVersion()
                + ", spark.shuffle.io.mode=" + mode + " ("
                + NettyUtils.getClientChannelClass(IOMode.valueOf(mode)).getSimpleName()
                + "), preferDirectBufs=" + t.preferDirectBufs() + ", numConnectionsPerPeer="
                + t.numConnectionsPerPeer() + ", serverThreads=" + t.serverThreads()
                + ", clientThreads=" + t.clientThreads() + ", maxIORetries=" + t.maxIORetries();
    }

    @Override
    public ManagedBuffer getLocalBlockData(BlockId blockId) {
        if (blockId instanceof ShuffleBlockId) {
            ShuffleBlockId id = (ShuffleBlockId) blockId;
            if (id.shuffleId() == 0 && id.reduceId() == 0 && id.mapId() >= 0
                    && id.mapId() < count) {
                return new FileSegmentManagedBuffer(transportConf, file, id.mapId() * blockSize,
                        blockSize);
            }
        }
        throw new IllegalArgumentException("no such block: " + blockId);
    }

    @Override
    public Cause diagnoseShuffleBlockCorruption(BlockId blockId, long checksum, String algorithm) {
        return Cause.UNKNOWN_ISSUE;
    }

    @Override
    public String[] getLocalDiskDirs() {
        return new String[0];
    }

    @Override
    public ManagedBuffer getHostLocalShuffleData(BlockId blockId, String[] dirs) {
        throw new UnsupportedOperationException("host-local reads");
    }

    @Override
    public boolean putBlockData(BlockId blockId, ManagedBuffer data, StorageLevel level,
            ClassTag<?> classTag) {
        throw new UnsupportedOperationException("uploads");
    }

    @Override
    public StreamCallbackWithID putBlockDataAsStream(BlockId blockId, StorageLevel level,
            ClassTag<?> classTag) {
        throw new UnsupportedOperationException("uploads");
    }

    @Override
    public void releaseLock(BlockId blockId, Option<TaskContext> taskContext) {}
}
