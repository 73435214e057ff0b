package io.ferry.spark;

import java.util.Map;
import java.util.TreeMap;

import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;

import io.ferry.FerryConfigException;
import io.ferry.FerryNode;
import scala.Tuple2;

/**
 * Turns a {@link SparkConf} into Ferry node settings: every {@code spark.ferry.X} is Ferry's
 * {@code ferry.X} (the keys and defaults are the core's, documented in the README), and with
 * {@code spark.authenticate} on, the application's secret becomes {@code ferry.auth.secret}, so only
 * processes of the same application can fetch from each other.
 */
final class FerrySparkSettings {
    static final String SPARK_PREFIX = "spark.";

    private FerrySparkSettings() {}

    static Map<String, String> from(SparkConf conf) {
        Map<String, String> settings = new TreeMap<>();
        for (Tuple2<String, String> entry : conf.getAllWithPrefix(SPARK_PREFIX + FerryNode.PREFIX)) {
            settings.put(FerryNode.PREFIX + entry._1(), entry._2());
        }
        if (conf.getBoolean("spark.authenticate", false)) {
            String secret = SparkEnv.get().securityManager().getSecretKey();
            if (secret == null || secret.isEmpty()) {
                throw new IllegalStateException("spark.authenticate is on but Spark has no secret for Ferry");
            }
            settings.put(FerryNode.PREFIX + "auth.secret", secret);
        }
        return settings;
    }

    /** The settings for a log line, the secret left out. */
    static String describe(SparkConf conf) {
        Map<String, String> shown = from(conf);
        shown.computeIfPresent(FerryNode.PREFIX + "auth.secret", (key, secret) -> "(set)");
        return shown.toString();
    }

    /** Creates a node, naming the Spark key in the error of a bad setting. */
    static FerryNode createNode(SparkConf conf) {
        try {
            return FerryNode.create(from(conf));
        } catch (FerryConfigException e) {
            throw sparkKeyError(e);
        }
    }

    /** Checks the settings without starting a node, naming the Spark key in the error. */
    static void check(SparkConf conf) {
        try {
            FerryNode.checkSettings(from(conf));
        } catch (FerryConfigException e) {
            throw sparkKeyError(e);
        }
    }

    private static IllegalArgumentException sparkKeyError(FerryConfigException e) {
        return new IllegalArgumentException("invalid Ferry setting (spark.ferry.* keys, see the Ferry README): "
                + e.getMessage().replace(FerryNode.PREFIX, SPARK_PREFIX + FerryNode.PREFIX), e);
    }
}
