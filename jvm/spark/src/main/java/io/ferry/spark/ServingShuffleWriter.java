package io.ferry.spark;

import org.apache.spark.scheduler.MapStatus;
import org.apache.spark.shuffle.IndexShuffleBlockResolver;
import org.apache.spark.shuffle.ShuffleWriter;

import scala.Option;
import scala.Product2;
import scala.collection.Iterator;

/**
 * Spark's own sort-based writer, plus one step: when the map output is committed (stop with
 * success returns a status, before the status reaches the driver), its data file is served
 * through the executor's Ferry node.
 */
final class ServingShuffleWriter<K, V> extends ShuffleWriter<K, V> {
    private final ShuffleWriter<K, V> delegate;
    private final ExecutorRuntime runtime;
    private final IndexShuffleBlockResolver resolver;
    private final int shuffleId;
    private final long mapId;

    ServingShuffleWriter(ShuffleWriter<K, V> delegate, ExecutorRuntime runtime, IndexShuffleBlockResolver resolver,
            int shuffleId, long mapId) {
        this.delegate = delegate;
        this.runtime = runtime;
        this.resolver = resolver;
        this.shuffleId = shuffleId;
        this.mapId = mapId;
    }

    @Override
    public void write(Iterator<Product2<K, V>> records) throws java.io.IOException {
        delegate.write(records);
    }

    @Override
    public Option<MapStatus> stop(boolean success) {
        Option<MapStatus> status = delegate.stop(success);
        if (success && status.isDefined()) {
            // The lengths match the committed files even when another attempt committed first.
            runtime.serveMapOutput(shuffleId, mapId, resolver.getDataFile(shuffleId, mapId),
                    ExecutorRuntime.bounds(delegate.getPartitionLengths()));
        }
        return status;
    }

    @Override
    public long[] getPartitionLengths() {
        return delegate.getPartitionLengths();
    }
}
