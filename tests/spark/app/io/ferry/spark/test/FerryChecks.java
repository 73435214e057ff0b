package io.ferry.spark.test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import javax.management.MBeanServer;
import javax.management.ObjectName;

import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.BlockId;
import org.apache.spark.storage.BlockManagerId;
import org.apache.spark.storage.ShuffleBlockId;

import io.ferry.FerryAuthenticationException;
import io.ferry.FerryNode;
import io.ferry.FetchRequest;
import io.ferry.FetchResult;
import io.ferry.FetchStream;
import io.ferry.NodeStats;
import io.ferry.spark.FerryPlugin;
import io.ferry.spark.ShuffleBlocks;
import scala.Tuple2;
import scala.Tuple3;
import scala.collection.Iterator;
import scala.collection.Seq;

/** Checks only a run with Ferry's shuffle makes (kept apart so the default run never loads Ferry). */
final class FerryChecks {
    private FerryChecks() {}

    /**
     * What the executors' Ferry nodes moved, summed over executors: bytes fetched from peers, of
     * those the bytes that came inline in lookup replies (the rest came by READ: one-sided RDMA
     * READ on verbs), and bytes the nodes' CPUs sent to peers (tcp READs and inline blocks).
     */
    record Traffic(long fetched, long fetchedInline, long servedByCpu, long fetchedByJmx)
            implements java.io.Serializable {
        Traffic plus(Traffic other) {
            return new Traffic(fetched + other.fetched, fetchedInline + other.fetchedInline,
                    servedByCpu + other.servedByCpu, fetchedByJmx + other.fetchedByJmx);
        }

        @Override
        public String toString() {
            return "fetched=" + fetched + " fetchedInline=" + fetchedInline + " servedByCpu=" + servedByCpu;
        }
    }

    /** Where Spark's JmxSink publishes an executor's Ferry counter (the plugin's metrics source). */
    private static final String JMX_BYTES_FETCHED = "metrics:name=*.plugin.io.ferry.spark.FerryPlugin.bytesFetched,*";

    /**
     * @return the executor's bytesFetched gauge as Spark's JmxSink publishes it, or -1 without
     *     one; fails if there is more than one
     */
    private static long jmxBytesFetched() throws Exception {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        Set<ObjectName> names = server.queryNames(new ObjectName(JMX_BYTES_FETCHED), null);
        if (names.size() > 1) {
            throw new IllegalStateException("more than one Ferry bytesFetched MBean: " + names);
        }
        return names.isEmpty() ? -1 : ((Number) server.getAttribute(names.iterator().next(), "Value")).longValue();
    }

    /**
     * The executors' {@link Traffic}, asked of each executor by running tasks there. Fails unless
     * every pinned buffer is back in its pool (no reader leaked a chunk) and the pool stayed within
     * its cap. With Spark's JmxSink on, each executor also reports its bytesFetched gauge as read
     * through JMX (-1 where there is none).
     */
    static Traffic traffic(JavaSparkContext sc) {
        List<Integer> slices = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            slices.add(i);
        }
        // Counters only grow: the largest seen of each executor is its latest.
        Map<String, Traffic> byExecutor = new TreeMap<>();
        for (int attempt = 0; attempt < 10 && byExecutor.size() < ShuffleJobs.EXECUTORS; attempt++) {
            for (Tuple2<String, Traffic> seen : sc.parallelize(slices, slices.size()).map(i -> {
                Thread.sleep(50); // spread the tasks over all executors
                NodeStats stats = FerryPlugin.executorStats();
                if (stats == null) {
                    throw new IllegalStateException("executor " + SparkEnv.get().executorId() + " has no Ferry node");
                }
                if (stats.poolInUseBytes() != 0 || stats.poolMappedBytes() > stats.poolCapacityBytes()) {
                    throw new IllegalStateException("executor " + SparkEnv.get().executorId() + " pool: " + stats);
                }
                System.err.println("executor " + SparkEnv.get().executorId() + " Ferry node: " + stats);
                return new Tuple2<>(SparkEnv.get().executorId(), new Traffic(stats.bytesFetched(),
                        stats.bytesFetchedInline(), stats.bytesServed(), jmxBytesFetched()));
            }).collect()) {
                byExecutor.merge(seen._1(), seen._2(), (a, b) -> a.fetched() >= b.fetched() ? a : b);
            }
        }
        System.err.println("Ferry traffic by executor: " + byExecutor);
        return byExecutor.values().stream().reduce(new Traffic(0, 0, 0, 0), Traffic::plus);
    }

    /**
     * An executor's Ferry endpoint serves a map output of shuffle {@code shuffleId} (of
     * {@code partitions} reduce partitions) only to a peer holding the application's secret:
     * {@code secret} (spark.authenticate), or with {@code secret} null the one the driver made, which
     * this process never sees (the jobs' fetches between executors show it is served). The endpoint
     * listens on its own address only: another loopback address of the same port is refused.
     */
    static void authentication(int shuffleId, int partitions, String secret) {
        Iterator<Tuple2<BlockManagerId, Seq<Tuple3<BlockId, Object, Object>>>> located = SparkEnv.get()
                .mapOutputTracker().getMapSizesByExecutorId(shuffleId, 0, Integer.MAX_VALUE, 0, partitions);
        Tuple2<BlockManagerId, Seq<Tuple3<BlockId, Object, Object>>> first = located.next();
        ShuffleBlockId block = (ShuffleBlockId) first._2().head()._1();
        String hostPort = FerryPlugin.endpoints().get(first._1().executorId());
        int colon = hostPort.lastIndexOf(':');
        InetSocketAddress endpoint = new InetSocketAddress(hostPort.substring(0, colon),
                Integer.parseInt(hostPort.substring(colon + 1)));
        byte[] id = ShuffleBlocks.partitions(shuffleId, block.mapId(), block.reduceId(), block.reduceId() + 1);

        expectRefused(Collections.emptyMap(), endpoint, id, "no secret");
        expectRefused(Collections.singletonMap("ferry.auth.secret", secret + "-forged"), endpoint, id, "a wrong secret");
        expectNotListening(endpoint);
        if (secret == null) {
            System.out.println("FERRY_AUTH default: refused without the secret and with a wrong one; "
                    + "listening on " + endpoint + " only");
            return;
        }
        long served = fetch(Collections.singletonMap("ferry.auth.secret", secret), endpoint, id);
        if (served <= 0) {
            throw new IllegalStateException("the application's secret was not served " + block);
        }
        System.out.println("FERRY_AUTH spark.authenticate: refused without the secret and with a wrong one; served "
                + served + " bytes of " + block.name() + " with it");
    }

    /** The endpoint's port on another loopback address (127.0.0.2 for 127.0.0.1) refuses connections. */
    private static void expectNotListening(InetSocketAddress endpoint) {
        byte[] ip = endpoint.getAddress().getAddress();
        if (ip.length != 4 || ip[0] != 127) {
            throw new IllegalStateException("the test cluster runs on loopback, not " + endpoint);
        }
        ip[3] = (byte) (ip[3] == 2 ? 3 : 2);
        try (Socket socket = new Socket()) {
            InetAddress other = InetAddress.getByAddress(ip);
            socket.connect(new InetSocketAddress(other, endpoint.getPort()), 2000);
            throw new IllegalStateException("Ferry's port " + endpoint.getPort() + " also listens on " + other);
        } catch (ConnectException expected) {
            // bound to the block manager's address only
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void expectRefused(Map<String, String> settings, InetSocketAddress endpoint, byte[] id,
            String what) {
        try {
            long served = fetch(settings, endpoint, id);
            throw new IllegalStateException("a peer with " + what + " was served " + served + " bytes");
        } catch (FerryAuthenticationException expected) {
            System.err.println("peer with " + what + " refused: " + expected.getMessage());
        }
    }

    /** Fetches one block; returns its length or throws its failure. */
    private static long fetch(Map<String, String> settings, InetSocketAddress endpoint, byte[] id) {
        try (FerryNode node = FerryNode.create(settings);
                FetchStream stream = node.fetch(Collections.singletonList(FetchRequest.of(endpoint, id)))) {
            long bytes = 0;
            FetchResult result;
            while ((result = stream.next()) != null) {
                if (result.failure() != null) {
                    throw result.failure();
                }
                try (var chunk = result.chunk()) {
                    bytes += chunk.data().remaining();
                }
            }
            return bytes;
        }
    }
}
