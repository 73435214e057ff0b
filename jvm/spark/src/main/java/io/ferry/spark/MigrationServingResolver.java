package io.ferry.spark;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;

import org.apache.spark.SparkConf;
import org.apache.spark.network.client.StreamCallbackWithID;
import org.apache.spark.serializer.SerializerManager;
import org.apache.spark.shuffle.IndexShuffleBlockResolver;
import org.apache.spark.storage.BlockId;
import org.apache.spark.storage.ShuffleIndexBlockId;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The shuffle manager's {@code shuffleBlockResolver()}: Spark's own, plus one step where a
 * decommissioned executor's map output arrives here (storage decommissioning with
 * {@code spark.storage.decommission.shuffleBlocks.enabled}): it is served by this executor's Ferry
 * node before the driver learns its new location, so readers sent here find it.
 *
 * <p>Spark's block manager stores a migrated map output through this resolver (cast to
 * {@code MigratableResolver}), data file first, then index file, each written to a temporary file
 * and renamed into place when its stream completes; the index's completion reports the block to
 * the driver, which then points the map output here. So when the index stream completes, the data
 * file is final: its bounds are the index bytes that streamed in, and it is registered before the
 * index is renamed and reported, and only if its length is the index's last offset.
 *
 * <p>Storing goes to {@code SortShuffleManager}'s resolver, whose record of migrated outputs it
 * deletes with the shuffle; everything else is this (superclass) instance's, which finds the same
 * files (through the block manager) and keeps what the decommissioning side asks of it. Spark and
 * other plugins cast the resolver to {@link IndexShuffleBlockResolver}, hence a subclass; the
 * superclass constructor is the line's ({@link SparkLine.IndexResolver}).
 */
final class MigrationServingResolver extends SparkLine.IndexResolver {
    private static final Logger LOG = LoggerFactory.getLogger(MigrationServingResolver.class);

    private final IndexShuffleBlockResolver stores;

    /** @param stores the resolver of the shuffle manager that writes and cleans up map outputs */
    MigrationServingResolver(SparkConf conf, IndexShuffleBlockResolver stores) {
        super(conf);
        this.stores = stores;
    }

    @Override
    public StreamCallbackWithID putShuffleBlockAsStream(BlockId blockId, SerializerManager serializerManager) {
        StreamCallbackWithID stream = stores.putShuffleBlockAsStream(blockId, serializerManager);
        ExecutorRuntime runtime = ExecutorRuntime.current();
        if (runtime == null || !(blockId instanceof ShuffleIndexBlockId)) {
            return stream;
        }
        ShuffleIndexBlockId index = (ShuffleIndexBlockId) blockId;
        return new IndexStream(stream, runtime, index.shuffleId(), index.mapId());
    }

    /** A migrated index file's stream, which serves its map output once it is complete. */
    private final class IndexStream implements StreamCallbackWithID {
        private final StreamCallbackWithID stream;
        private final ExecutorRuntime runtime;
        private final int shuffleId;
        private final long mapId;
        /** The index: (reduce partitions + 1) offsets of 8 bytes. */
        private final ByteArrayOutputStream offsets = new ByteArrayOutputStream();

        IndexStream(StreamCallbackWithID stream, ExecutorRuntime runtime, int shuffleId, long mapId) {
            this.stream = stream;
            this.runtime = runtime;
            this.shuffleId = shuffleId;
            this.mapId = mapId;
        }

        @Override
        public String getID() {
            return stream.getID();
        }

        @Override
        public void onData(String streamId, ByteBuffer buf) throws IOException {
            byte[] copy = new byte[buf.remaining()];
            buf.duplicate().get(copy);
            stream.onData(streamId, buf);
            offsets.write(copy, 0, copy.length);
        }

        @Override
        public void onComplete(String streamId) throws IOException {
            boolean served = serve();
            try {
                stream.onComplete(streamId);
            } catch (IOException | RuntimeException e) {
                if (served) {
                    runtime.forgetMapOutput(shuffleId, mapId);
                }
                throw e;
            }
            if (served) {
                LOG.info("serving map output {} of shuffle {}, migrated here from a decommissioned executor", mapId,
                        shuffleId);
            }
        }

        /**
         * Serves the map output if its data file matches the index; false if not served (then
         * readers sent here fail to fetch it and Spark reruns its map task, as before).
         */
        private boolean serve() {
            ByteBuffer index = ByteBuffer.wrap(offsets.toByteArray());
            File data = stores.getDataFile(shuffleId, mapId);
            int count = index.remaining() / 8;
            if (index.remaining() % 8 != 0 || count < 2 || index.getLong(0) != 0
                    || index.getLong((count - 1) * 8) != data.length()) {
                LOG.warn("migrated map output {} of shuffle {}: index of {} bytes does not match data file {} "
                        + "({} bytes); not served by Ferry", mapId, shuffleId, index.remaining(), data, data.length());
                return false;
            }
            long[] bounds = new long[count];
            index.asLongBuffer().get(bounds);
            try {
                return runtime.serveMapOutput(shuffleId, mapId, data, bounds);
            } catch (RuntimeException e) {
                // Spark's migration still completes.
                LOG.warn("migrated map output {} of shuffle {}: not served by Ferry", mapId, shuffleId, e);
                return false;
            }
        }

        @Override
        public void onFailure(String streamId, Throwable cause) throws IOException {
            stream.onFailure(streamId, cause);
        }

        @Override
        public ByteBuffer getCompletionResponse() {
            return stream.getCompletionResponse();
        }
    }
}
