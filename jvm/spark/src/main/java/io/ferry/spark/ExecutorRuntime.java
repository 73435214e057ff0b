package io.ferry.spark;

import java.io.File;
import java.net.InetSocketAddress;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;

import org.apache.spark.api.plugin.PluginContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.ferry.FerryNode;
import io.ferry.Region;

/**
 * An executor's Ferry state, shared by the plugin that starts it and the shuffle manager that
 * uses it: the node, the map outputs it serves, and the endpoints of other executors.
 */
final class ExecutorRuntime {
    private static final Logger LOG = LoggerFactory.getLogger(ExecutorRuntime.class);

    private static volatile ExecutorRuntime current;

    private final FerryNode node;
    private final PluginContext context;
    private final Map<String, InetSocketAddress> endpoints = new ConcurrentHashMap<>();
    private final Map<Integer, Queue<MapOutput>> served = new ConcurrentHashMap<>();

    /** A registered map output: its block and the region over its data file. */
    private static final class MapOutput {
        final long mapId;
        final byte[] blockId;
        final Region region;

        MapOutput(long mapId, byte[] blockId, Region region) {
            this.mapId = mapId;
            this.blockId = blockId;
            this.region = region;
        }
    }

    ExecutorRuntime(FerryNode node, PluginContext context) {
        this.node = node;
        this.context = context;
    }

    static void start(ExecutorRuntime runtime) {
        current = runtime;
    }

    /** @return this executor's runtime, or null without {@link FerryPlugin} */
    static ExecutorRuntime current() {
        return current;
    }

    static void stop() {
        ExecutorRuntime runtime = current;
        current = null;
        if (runtime != null) {
            runtime.node.close();
        }
    }

    FerryNode node() {
        return node;
    }

    String executorId() {
        return context.executorID();
    }

    /**
     * Serves a committed map output: its data file, cut at the reduce partitions' bounds.
     *
     * @param bounds the partitions' offsets in the data file, as in its index file: partition
     *     {@code r} is {@code [bounds[r], bounds[r + 1])}
     * @return whether it is served (an empty map output is not)
     */
    boolean serveMapOutput(int shuffleId, long mapId, File dataFile, long[] bounds) {
        long total = bounds[bounds.length - 1];
        if (total == 0) {
            return false;
        }
        byte[] blockId = ShuffleBlocks.mapOutput(shuffleId, mapId);
        Region region = node.registerFile(dataFile.toPath(), 0, total);
        try {
            node.registerSegmentedBlock(blockId, region, bounds);
        } catch (RuntimeException e) {
            region.close();
            throw e;
        }
        served.computeIfAbsent(shuffleId, id -> new ConcurrentLinkedQueue<>())
                .add(new MapOutput(mapId, blockId, region));
        LOG.debug("serving map output {} of shuffle {}: {} bytes in {} partitions", mapId, shuffleId, total,
                bounds.length - 1);
        return true;
    }

    /** The offsets of a map output's partitions in its data file, from their lengths. */
    static long[] bounds(long[] lengths) {
        long[] bounds = new long[lengths.length + 1];
        for (int i = 0; i < lengths.length; i++) {
            bounds[i + 1] = bounds[i] + lengths[i];
        }
        return bounds;
    }

    /** Stops serving one map output (one whose files could not be stored after all). */
    void forgetMapOutput(int shuffleId, long mapId) {
        Queue<MapOutput> outputs = served.get(shuffleId);
        if (outputs == null) {
            return;
        }
        for (Iterator<MapOutput> it = outputs.iterator(); it.hasNext();) {
            MapOutput output = it.next();
            if (output.mapId == mapId) {
                it.remove();
                forget(output);
            }
        }
    }

    private void forget(MapOutput output) {
        node.removeBlock(output.blockId);
        output.region.close();
    }

    /** Stops serving a shuffle's map outputs (Spark may call this early or twice). */
    void forgetShuffle(int shuffleId) {
        Queue<MapOutput> outputs = served.remove(shuffleId);
        if (outputs == null) {
            return;
        }
        outputs.forEach(this::forget);
        LOG.debug("stopped serving {} map outputs of shuffle {}", outputs.size(), shuffleId);
    }

    /**
     * The Ferry endpoints of these executors, asking the driver for the ones not yet known.
     *
     * @return the endpoints found; executors without one are missing
     */
    Map<String, InetSocketAddress> endpoints(Collection<String> executorIds) throws Exception {
        Set<String> missing = new HashSet<>();
        for (String executorId : executorIds) {
            if (!endpoints.containsKey(executorId)) {
                missing.add(executorId);
            }
        }
        if (!missing.isEmpty()) {
            Map<?, ?> found = (Map<?, ?>) context.ask(EndpointMessages.lookup(missing));
            for (Map.Entry<?, ?> entry : found.entrySet()) {
                endpoints.put((String) entry.getKey(), parse((String) entry.getValue()));
            }
        }
        Map<String, InetSocketAddress> result = new HashMap<>();
        for (String executorId : executorIds) {
            InetSocketAddress address = endpoints.get(executorId);
            if (address != null) {
                result.put(executorId, address);
            }
        }
        return result;
    }

    private static InetSocketAddress parse(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        return InetSocketAddress.createUnresolved(hostPort.substring(0, colon),
                Integer.parseInt(hostPort.substring(colon + 1)));
    }

    /** Drops a cached endpoint that failed, so the next lookup asks the driver again. */
    void forgetEndpoint(String executorId) {
        endpoints.remove(executorId);
    }
}
