package io.ferry.spark;

import java.util.Map;

import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.SparkPlugin;

import io.ferry.NodeStats;

/**
 * {@code spark.plugins=io.ferry.spark.FerryPlugin}: starts each executor's Ferry node and lets
 * executors find each other's Ferry endpoints through the driver, with no per-host configuration.
 * Without it {@link FerryShuffleManager} passes every shuffle through to Spark's own transport.
 */
public final class FerryPlugin implements SparkPlugin {
    /**
     * @return this executor's Ferry node counters (bytes fetched and served, pinned memory), or
     *     null in a process without a Ferry node (the driver, or without the plugin)
     */
    public static NodeStats executorStats() {
        ExecutorRuntime runtime = ExecutorRuntime.current();
        return runtime == null ? null : runtime.node().stats();
    }

    /** @return in the driver: the executors' registered Ferry endpoints, id to {@code host:port} */
    public static Map<String, String> endpoints() {
        return FerryDriverPlugin.endpoints();
    }

    @Override
    public DriverPlugin driverPlugin() {
        return new FerryDriverPlugin();
    }

    @Override
    public ExecutorPlugin executorPlugin() {
        return new FerryExecutorPlugin();
    }
}
