package io.ferry.spark;

import java.util.Map;

import org.apache.spark.SparkConf;
import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.SparkPlugin;

import io.ferry.NodeStats;

/**
 * {@code spark.plugins=io.ferry.spark.FerryPlugin}: starts each executor's Ferry node and lets
 * executors find each other's Ferry endpoints through the driver, with no per-host configuration.
 * Without it {@link FerryShuffleManager} passes every shuffle through to Spark's own transport
 * (and says so in a WARN); on Spark 3.5 the manager adds it to {@code spark.plugins} itself.
 */
public final class FerryPlugin implements SparkPlugin {
    /** This plugin's class name, as {@code spark.plugins} names it. */
    public static final String NAME = FerryPlugin.class.getName();

    /** Spark's plugin list, and the list a cluster's administrator may set beneath it. */
    static final String PLUGINS_KEY = "spark.plugins";
    private static final String DEFAULT_PLUGINS_KEY = "spark.plugins.defaultList";

    /** @return whether the configuration starts this plugin */
    static boolean isNamedIn(SparkConf conf) {
        for (String key : new String[] {DEFAULT_PLUGINS_KEY, PLUGINS_KEY}) {
            for (String plugin : conf.get(key, "").split(",")) {
                if (plugin.trim().equals(NAME)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Adds this plugin to spark.plugins (only useful before Spark has started the plugins). */
    static void addTo(SparkConf conf) {
        String plugins = conf.get(PLUGINS_KEY, "").trim();
        conf.set(PLUGINS_KEY, plugins.isEmpty() ? NAME : plugins + "," + NAME);
    }

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
