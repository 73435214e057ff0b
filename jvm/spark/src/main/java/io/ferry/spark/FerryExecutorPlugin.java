package io.ferry.spark;

import java.net.InetSocketAddress;
import java.util.Map;

import org.apache.spark.SparkEnv;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.PluginContext;
import org.apache.spark.storage.BlockManagerId;
import org.apache.spark.util.Utils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.ferry.FerryNode;

/**
 * The executor's side of {@link FerryPlugin}: starts this executor's Ferry node with the
 * application's secret (encrypting where Spark encrypts), serving on the executor's block manager address (not every interface) at a
 * free port, registers the endpoint with the driver and the node's counters with Spark's metrics
 * system. Spark starts plugins before the first task runs (Spark 4 also before it creates the
 * shuffle manager, 3.5 after), and the manager looks the node up at each call.
 */
final class FerryExecutorPlugin implements ExecutorPlugin {
    private static final Logger LOG = LoggerFactory.getLogger(FerryExecutorPlugin.class);

    @Override
    public void init(PluginContext context, Map<String, String> extraConf) {
        if (FerrySparkSettings.stepsAside(context.conf())) {
            return; // encrypted transfers on verbs: the shuffle manager's WARN names the settings
        }
        FerryNode node = FerrySparkSettings.createNode(context.conf(), askSecret(context));
        try {
            String host = advertisedHost();
            InetSocketAddress bound = node.serve(new InetSocketAddress(host, 0));
            String hostPort = host + ":" + bound.getPort();
            context.ask(EndpointMessages.register(context.executorID(), hostPort));
            ExecutorRuntime.start(new ExecutorRuntime(node, context));
            NodeGauges.register(context.metricRegistry(), node);
            LOG.info("Ferry node of executor {} serving at {}; settings {}", context.executorID(), hostPort,
                    FerrySparkSettings.describe(context.conf()));
        } catch (Exception e) {
            node.close();
            throw new IllegalStateException("Ferry could not start on executor " + context.executorID(), e);
        }
    }

    /** The application's Ferry secret from the driver (null when spark.authenticate is on). */
    private static String askSecret(PluginContext context) {
        try {
            return (String) context.ask(EndpointMessages.secret());
        } catch (Exception e) {
            throw new IllegalStateException("Ferry could not get the application's secret from the driver", e);
        }
    }

    /**
     * The host the executor's block manager advertises (Spark initializes it before plugins), so
     * Ferry is reached where Spark's own transport is; PluginContext.hostname() is null on
     * executors, whose RPC environment has no address.
     */
    private static String advertisedHost() {
        BlockManagerId id = SparkEnv.get().blockManager().blockManagerId();
        return id != null ? id.host() : Utils.localHostName();
    }

    @Override
    public void shutdown() {
        ExecutorRuntime.stop();
    }
}
