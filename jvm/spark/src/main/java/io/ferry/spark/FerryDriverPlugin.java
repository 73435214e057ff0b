package io.ferry.spark;

import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.spark.SparkContext;
import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.PluginContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorRemoved;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;


/**
 * The driver's side of {@link FerryPlugin}: the registry of executors' Ferry endpoints. Executors
 * register when their node starts and are dropped when Spark removes them; reducers look up the
 * executors they read from. Without {@code spark.authenticate}, it also hands executors the random
 * secret of this application, so their nodes serve only each other.
 */
final class FerryDriverPlugin implements DriverPlugin {
    private static final Logger LOG = LoggerFactory.getLogger(FerryDriverPlugin.class);

    private static final Map<String, String> ENDPOINTS = new ConcurrentHashMap<>();

    /** This application's Ferry secret; null while Spark's own one serves (spark.authenticate). */
    private volatile String secret;

    /** The registered endpoints, executor id to {@code host:port} (read-only; for tests and tools). */
    static Map<String, String> endpoints() {
        return Collections.unmodifiableMap(ENDPOINTS);
    }

    @Override
    public Map<String, String> init(SparkContext sc, PluginContext context) {
        // Fail the application at start-up, naming the key, rather than in every executor.
        FerrySparkSettings.check(sc.conf());
        secret = FerrySparkSettings.applicationSecret(sc.conf());
        if (secret != null) {
            LOG.info("spark.authenticate is off: executors' Ferry nodes prove a random per-application secret"
                    + " to each other, handed out by the driver");
        }
        LOG.info("Ferry endpoint registry started; settings {}", FerrySparkSettings.describe(sc.conf()));
        sc.addSparkListener(new SparkListener() {
            @Override
            public void onExecutorRemoved(SparkListenerExecutorRemoved removed) {
                if (ENDPOINTS.remove(removed.executorId()) != null) {
                    LOG.info("Ferry endpoint of executor {} removed", removed.executorId());
                }
            }
        });
        return Collections.emptyMap();
    }

    @Override
    public Object receive(Object message) {
        String kind = EndpointMessages.kind(message);
        List<String> arguments = kind == null ? null : EndpointMessages.arguments(message);
        if (EndpointMessages.REGISTER.equals(kind) && arguments.size() == 2) {
            ENDPOINTS.put(arguments.get(0), arguments.get(1));
            LOG.info("executor {} serves Ferry at {}", arguments.get(0), arguments.get(1));
            return Boolean.TRUE;
        }
        if (EndpointMessages.SECRET.equals(kind)) {
            return secret;
        }
        if (EndpointMessages.LOOKUP.equals(kind)) {
            HashMap<String, String> found = new HashMap<>();
            for (String executorId : arguments) {
                String hostPort = ENDPOINTS.get(executorId);
                if (hostPort != null) {
                    found.put(executorId, hostPort);
                }
            }
            return found;
        }
        throw new IllegalArgumentException("unknown Ferry plugin message " + message);
    }

    @Override
    public void shutdown() {
        ENDPOINTS.clear();
    }
}
