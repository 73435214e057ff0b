package io.ferry.spark;

import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.SparkPlugin;

/**
 * {@code spark.plugins=io.ferry.spark.FerryPlugin}: starts each executor's Ferry node and lets
 * executors find each other's Ferry endpoints through the driver, with no per-host configuration.
 * Without it {@link FerryShuffleManager} passes every shuffle through to Spark's own transport.
 */
public final class FerryPlugin implements SparkPlugin {
    @Override
    public DriverPlugin driverPlugin() {
        return new FerryDriverPlugin();
    }

    @Override
    public ExecutorPlugin executorPlugin() {
        return new FerryExecutorPlugin();
    }
}
