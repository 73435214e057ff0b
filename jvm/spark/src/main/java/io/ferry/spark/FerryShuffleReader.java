package io.ferry.spark;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import org.apache.spark.InterruptibleIterator;
import org.apache.spark.ShuffleDependency;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.network.buffer.ManagedBuffer;
import org.apache.spark.serializer.SerializerInstance;
import org.apache.spark.serializer.SerializerManager;
import org.apache.spark.shuffle.BaseShuffleHandle;
import org.apache.spark.shuffle.FetchFailedException;
import org.apache.spark.shuffle.IndexShuffleBlockResolver;
import org.apache.spark.shuffle.ShuffleReadMetricsReporter;
import org.apache.spark.shuffle.ShuffleReader;
import org.apache.spark.storage.BlockId;
import org.apache.spark.storage.BlockManagerId;
import org.apache.spark.storage.ShuffleBlockId;
import org.apache.spark.util.collection.ExternalSorter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.ferry.FerryException;
import io.ferry.FetchRequest;
import scala.Option;
import scala.Product2;
import scala.Tuple2;
import scala.Tuple3;
import scala.collection.AbstractIterator;
import scala.collection.Iterator;
import scala.collection.Seq;

/**
 * Reads a reduce task's shuffle input through Ferry: block locations from the MapOutputTracker,
 * one fetch for all remote executors (one lookup per executor, one read per map output piece),
 * local map outputs straight from disk, then deserialization, aggregation and sorting exactly as
 * Spark's own {@code BlockStoreShuffleReader}. Pieces are whole reduce partitions, or a run of
 * them in one read where Spark would batch-fetch (adaptive execution's coalesced partitions with a
 * relocatable serializer and a concatenable codec). A failed read becomes a
 * {@link FetchFailedException} for its map output, so Spark reruns the map stage.
 */
final class FerryShuffleReader<K, C> implements ShuffleReader<K, C> {
    private static final Logger LOG = LoggerFactory.getLogger(FerryShuffleReader.class);

    private final BaseShuffleHandle<K, ?, C> handle;
    private final int startMapIndex;
    private final int endMapIndex;
    private final int startPartition;
    private final int endPartition;
    private final TaskContext context;
    private final ShuffleReadMetricsReporter metrics;
    private final ExecutorRuntime runtime;
    private final IndexShuffleBlockResolver resolver;
    private final boolean batchFetch;
    private final Supplier<ShuffleReader<K, C>> sparkReader;

    FerryShuffleReader(BaseShuffleHandle<K, ?, C> handle, int startMapIndex, int endMapIndex, int startPartition,
            int endPartition, TaskContext context, ShuffleReadMetricsReporter metrics, ExecutorRuntime runtime,
            IndexShuffleBlockResolver resolver, boolean batchFetch, Supplier<ShuffleReader<K, C>> sparkReader) {
        this.handle = handle;
        this.startMapIndex = startMapIndex;
        this.endMapIndex = endMapIndex;
        this.startPartition = startPartition;
        this.endPartition = endPartition;
        this.context = context;
        this.metrics = metrics;
        this.runtime = runtime;
        this.resolver = resolver;
        this.batchFetch = batchFetch;
        this.sparkReader = sparkReader;
    }

    @Override
    public Iterator<Product2<K, C>> read() {
        ShuffleDependency<K, ?, C> dep = handle.dependency();
        Map<BlockManagerId, List<MapOutputPiece>> byAddress = locate(dep.shuffleId());
        List<MapOutputPiece> local = new ArrayList<>();
        Map<String, List<MapOutputPiece>> remote = new LinkedHashMap<>();
        for (Map.Entry<BlockManagerId, List<MapOutputPiece>> entry : byAddress.entrySet()) {
            String executorId = entry.getKey().executorId();
            if (executorId.equals(runtime.executorId())) {
                local.addAll(entry.getValue());
            } else {
                remote.computeIfAbsent(executorId, id -> new ArrayList<>()).addAll(entry.getValue());
            }
        }
        Map<String, InetSocketAddress> endpoints;
        try {
            endpoints = runtime.endpoints(remote.keySet());
        } catch (Exception e) {
            throw new IllegalStateException("cannot look up Ferry endpoints on the driver", e);
        }
        if (endpoints.size() < remote.size()) {
            // E.g. an executor that left after the tracker placed outputs there: Spark's reader
            // handles that as it would without Ferry.
            LOG.info("shuffle {}: executors {} serve no Ferry endpoint; Spark's reader takes this task",
                    dep.shuffleId(), remoteWithout(remote, endpoints));
            return sparkReader.get().read();
        }

        List<MapOutputPiece> fetched = new ArrayList<>();
        List<FetchRequest> requests = new ArrayList<>();
        for (Map.Entry<String, List<MapOutputPiece>> entry : remote.entrySet()) {
            List<byte[]> ids = new ArrayList<>();
            for (MapOutputPiece piece : entry.getValue()) {
                fetched.add(piece);
                ids.add(piece.ferryBlockId());
            }
            requests.add(new FetchRequest(endpoints.get(entry.getKey()), ids));
        }
        RemoteBlocks remoteBlocks = fetched.isEmpty() ? null
                : new RemoteBlocks(runtime.node().fetch(requests), fetched.size());
        Records records = new Records(dep, fetched, remoteBlocks, local);
        context.addTaskCompletionListener(new org.apache.spark.util.TaskCompletionListener() {
            @Override
            public void onTaskCompletion(TaskContext done) {
                records.close();
            }
        });
        return combineAndSort(dep, new InterruptibleIterator<>(context, records));
    }

    /** Map output pieces by location: a piece per non-empty partition, or per map when batching. */
    private Map<BlockManagerId, List<MapOutputPiece>> locate(int shuffleId) {
        Iterator<Tuple2<BlockManagerId, Seq<Tuple3<BlockId, Object, Object>>>> located = SparkEnv.get()
                .mapOutputTracker()
                .getMapSizesByExecutorId(shuffleId, startMapIndex, endMapIndex, startPartition, endPartition);
        Map<BlockManagerId, List<MapOutputPiece>> byAddress = new LinkedHashMap<>();
        while (located.hasNext()) {
            Tuple2<BlockManagerId, Seq<Tuple3<BlockId, Object, Object>>> next = located.next();
            List<MapOutputPiece> pieces = byAddress.computeIfAbsent(next._1(), a -> new ArrayList<>());
            Iterator<Tuple3<BlockId, Object, Object>> blocks = next._2().iterator();
            while (blocks.hasNext()) {
                Tuple3<BlockId, Object, Object> block = blocks.next();
                ShuffleBlockId id = (ShuffleBlockId) block._1();
                int mapIndex = (Integer) block._3();
                MapOutputPiece last = pieces.isEmpty() ? null : pieces.get(pieces.size() - 1);
                if (batchFetch && last != null && last.mapId == id.mapId()) {
                    pieces.set(pieces.size() - 1, last.through(id.reduceId()));
                } else {
                    pieces.add(new MapOutputPiece(next._1(), shuffleId, id.mapId(), mapIndex, id.reduceId(),
                            id.reduceId() + 1));
                }
            }
        }
        return byAddress;
    }

    private static List<String> remoteWithout(Map<String, ?> remote, Map<String, ?> endpoints) {
        List<String> missing = new ArrayList<>(remote.keySet());
        missing.removeAll(endpoints.keySet());
        return missing;
    }

    /** Aggregates and sorts as BlockStoreShuffleReader does. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    private Iterator<Product2<K, C>> combineAndSort(ShuffleDependency<K, ?, C> dep, Iterator records) {
        Iterator combined = records;
        if (dep.aggregator().isDefined()) {
            combined = dep.mapSideCombine() ? dep.aggregator().get().combineCombinersByKey(records, context)
                    : dep.aggregator().get().combineValuesByKey(records, context);
        }
        if (dep.keyOrdering().isDefined()) {
            ExternalSorter<K, C, C> sorter = SparkLine.keySorter(context, dep.keyOrdering(), dep.serializer());
            combined = sorter.insertAllAndUpdateMetrics(combined);
        }
        return new InterruptibleIterator<>(context, combined);
    }

    /** The records of every piece, remote ones first, with the read metrics kept as they go. */
    private final class Records extends AbstractIterator<Product2<Object, Object>> {
        private final SerializerInstance serializer;
        private final SerializerManager serializerManager = SparkEnv.get().serializerManager();
        private final List<MapOutputPiece> fetched;
        private final RemoteBlocks remoteBlocks;
        private final java.util.Iterator<MapOutputPiece> local;
        private MapOutputPiece piece;
        private InputStream input;
        private Iterator<Tuple2<Object, Object>> current = emptyIterator();
        private long reportedWaitMillis;
        private boolean done;

        Records(ShuffleDependency<K, ?, C> dep, List<MapOutputPiece> fetched, RemoteBlocks remoteBlocks,
                List<MapOutputPiece> local) {
            this.serializer = dep.serializer().newInstance();
            this.fetched = fetched;
            this.remoteBlocks = remoteBlocks;
            this.local = local.iterator();
        }

        @Override
        public boolean hasNext() {
            try {
                while (!current.hasNext()) {
                    if (!openNext()) {
                        return false;
                    }
                }
                return true;
            } catch (Exception e) {
                throw fetchFailed(e);
            }
        }

        @Override
        public Product2<Object, Object> next() {
            if (!hasNext()) {
                throw new java.util.NoSuchElementException();
            }
            try {
                Product2<Object, Object> record = current.next();
                metrics.incRecordsRead(1);
                return record;
            } catch (Exception e) {
                throw fetchFailed(e);
            }
        }

        /** Moves to the next piece; false after the last, when the metrics are merged. */
        private boolean openNext() throws IOException {
            closeInput();
            if (done) {
                return false;
            }
            int block = remoteBlocks == null ? -1 : remoteBlocks.nextBlock();
            if (block >= 0) {
                piece = fetched.get(block);
                input = remoteBlocks.open(block);
                metrics.incRemoteBlocksFetched(1);
                reportWait();
            } else if (local.hasNext()) {
                piece = local.next();
                ManagedBuffer data = resolver.getBlockData(piece.sparkBlockId(), Option.empty());
                input = data.createInputStream();
                metrics.incLocalBlocksFetched(1);
                metrics.incLocalBytesRead(data.size());
            } else {
                finish();
                return false;
            }
            current = serializer.deserializeStream(serializerManager.wrapStream(piece.sparkBlockId(), input))
                    .asKeyValueIterator();
            return true;
        }

        private void reportWait() {
            long waitMillis = remoteBlocks.waitNanos() / 1_000_000;
            metrics.incFetchWaitTime(waitMillis - reportedWaitMillis);
            reportedWaitMillis = waitMillis;
        }

        private void finish() {
            done = true;
            piece = null;
            if (remoteBlocks != null) {
                reportWait();
                metrics.incRemoteBytesRead(remoteBlocks.bytes());
            }
            close();
            context.taskMetrics().mergeShuffleReadMetrics();
        }

        private void closeInput() throws IOException {
            if (input != null) {
                InputStream closing = input;
                input = null;
                closing.close();
            }
        }

        void close() {
            try {
                closeInput();
            } catch (IOException e) {
                LOG.debug("closing a shuffle block stream", e);
            }
            if (remoteBlocks != null) {
                remoteBlocks.close();
            }
        }

        /**
         * A read failure (an I/O error or Ferry's) as the fetch failure of its map output: of the piece
         * being read, or of the block the fetch reported failed. Anything else is rethrown as is.
         */
        private RuntimeException fetchFailed(Exception e) {
            if (!(e instanceof IOException || e instanceof FerryException)) {
                return sneaky(e);
            }
            MapOutputPiece failed = piece;
            if (e instanceof RemoteBlocks.BlockFailedException) {
                failed = fetched.get(((RemoteBlocks.BlockFailedException) e).block);
            }
            if (failed == null) {
                return new IllegalStateException(e);
            }
            if (!failed.address.executorId().equals(runtime.executorId())) {
                runtime.forgetEndpoint(failed.address.executorId());
            }
            LOG.warn("shuffle read of {} failed: {}", failed, e.toString());
            return sneaky(new FetchFailedException(failed.address, failed.shuffleId, failed.mapId, failed.mapIndex,
                    failed.startReduce, e.getMessage(), e));
        }
    }

    @SuppressWarnings("unchecked")
    private static Iterator<Tuple2<Object, Object>> emptyIterator() {
        return (Iterator<Tuple2<Object, Object>>) (Iterator<?>) scala.collection.Iterator$.MODULE$.empty();
    }

    /** Throws a checked exception where Scala's iterator signature cannot declare it, as Spark does. */
    @SuppressWarnings("unchecked")
    private static <E extends Exception> RuntimeException sneaky(Exception e) throws E {
        throw (E) e;
    }
}
