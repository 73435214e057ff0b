package io.ferry.spark;

import java.security.SecureRandom;
import java.util.Base64;
import java.util.Map;
import java.util.TreeMap;

import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;

import io.ferry.FerryConfigException;
import io.ferry.FerryNode;
import scala.Tuple2;

/**
 * Turns a {@link SparkConf} into Ferry node settings: every {@code spark.ferry.X} is Ferry's
 * {@code ferry.X} (the keys and defaults are the core's, documented in the README), and
 * {@code ferry.auth.secret} is always set, so only processes of the same application can fetch from
 * each other: Spark's secret with {@code spark.authenticate} on, else {@code spark.ferry.auth.secret}
 * if given, else a random secret the driver makes per application ({@link #applicationSecret}).
 * Where Spark encrypts its block transfers, the node encrypts too ({@code ferry.encryption=aes-gcm},
 * tcp provider), or, on the verbs provider, which cannot encrypt, no node starts ({@link #stepsAside}).
 */
final class FerrySparkSettings {
    static final String SPARK_PREFIX = "spark.";
    static final String SECRET_KEY = FerryNode.PREFIX + "auth.secret";
    static final String ENCRYPTION_KEY = FerryNode.PREFIX + "encryption";
    static final String AES_GCM = "aes-gcm";
    static final String PROVIDER_KEY = FerryNode.PREFIX + "provider";
    /**
     * Checking the settings on the driver: the secret executors will have when the configuration
     * gives none (the driver's {@link #applicationSecret}, handed out at their start).
     */
    private static final String SECRET_TO_COME = "the driver's per-application secret";

    private FerrySparkSettings() {}

    /** The settings for checking them: the secret, if any, as the configuration gives it. */
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
            settings.put(SECRET_KEY, secret);
        }
        settings.remove(SECRET_KEY, ""); // an empty secret is none: the driver's random one serves
        return settings;
    }

    /**
     * A new random secret for this application's nodes, or null when the configuration already
     * gives one (spark.authenticate, or spark.ferry.auth.secret).
     */
    static String applicationSecret(SparkConf conf) {
        if (from(conf).containsKey(SECRET_KEY)) {
            return null;
        }
        byte[] random = new byte[32];
        new SecureRandom().nextBytes(random);
        return Base64.getEncoder().encodeToString(random);
    }

    /** Spark settings under which Spark encrypts its block transfers. */
    private static final String[] ENCRYPTED_TRANSFERS = {"spark.network.crypto.enabled", "spark.ssl.rpc.enabled"};

    /**
     * The setting that makes Spark encrypt shuffle blocks on the wire, or null when none does.
     * Under it Ferry encrypts too (tcp provider) or stays out of the way (verbs): never does it move
     * in clear what Spark would have encrypted.
     */
    static String encryptedTransfersKey(SparkConf conf) {
        for (String key : ENCRYPTED_TRANSFERS) {
            if (conf.getBoolean(key, false)) {
                return key;
            }
        }
        return null;
    }

    /**
     * Whether Spark encrypts block transfers and the provider is verbs: an RDMA READ cannot be
     * encrypted by the CPU, so executors start no node and Spark's own transport carries the shuffle.
     */
    static boolean stepsAside(SparkConf conf) {
        // Read here, not through from(): the shuffle manager asks before SparkEnv (and its secret) exists.
        return encryptedTransfersKey(conf) != null
                && "verbs".equals(conf.get(SPARK_PREFIX + PROVIDER_KEY, "auto").trim());
    }

    /**
     * The settings a node starts with: the configuration's, the application's secret when the
     * configuration gives none, and {@code ferry.encryption=aes-gcm} where Spark encrypts (and
     * the node starts: not where it {@link #stepsAside}).
     *
     * @throws IllegalArgumentException where Spark encrypts and spark.ferry.encryption says otherwise
     */
    static Map<String, String> nodeSettings(SparkConf conf, String applicationSecret) {
        Map<String, String> settings = from(conf);
        if (applicationSecret != null) {
            settings.putIfAbsent(SECRET_KEY, applicationSecret);
        }
        String sparkKey = encryptedTransfersKey(conf);
        if (sparkKey != null && !stepsAside(conf)) {
            String chosen = settings.put(ENCRYPTION_KEY, AES_GCM);
            if (chosen != null && !chosen.equals(AES_GCM)) {
                throw new IllegalArgumentException(sparkKey + "=true makes Spark encrypt shuffle blocks on the wire, "
                        + "and " + SPARK_PREFIX + ENCRYPTION_KEY + "=" + chosen + " would move them in clear: leave "
                        + SPARK_PREFIX + ENCRYPTION_KEY + " unset or set it to " + AES_GCM);
            }
        }
        return settings;
    }

    /** The settings for a log line, the secret left out. */
    static String describe(SparkConf conf) {
        Map<String, String> shown = nodeSettings(conf, null);
        shown.computeIfPresent(SECRET_KEY, (key, secret) -> "(set)");
        return shown.toString();
    }

    /**
     * Creates a node, naming the Spark key in the error of a bad setting.
     *
     * @param applicationSecret the driver's {@link #applicationSecret}
     * @throws IllegalStateException when neither the configuration nor the driver gives a secret:
     *     a node never serves unauthenticated peers
     */
    static FerryNode createNode(SparkConf conf, String applicationSecret) {
        Map<String, String> settings = nodeSettings(conf, applicationSecret);
        if (!settings.containsKey(SECRET_KEY)) {
            throw new IllegalStateException("no Ferry secret: spark.authenticate is off and the driver gave none");
        }
        try {
            return FerryNode.create(settings);
        } catch (FerryConfigException e) {
            throw sparkKeyError(e);
        }
    }

    /** Checks the settings executors' nodes will have without starting one, naming the Spark key in the error. */
    static void check(SparkConf conf) {
        try {
            FerryNode.checkSettings(nodeSettings(conf, SECRET_TO_COME));
        } catch (FerryConfigException e) {
            throw sparkKeyError(e);
        }
    }

    private static IllegalArgumentException sparkKeyError(FerryConfigException e) {
        return new IllegalArgumentException("invalid Ferry setting (spark.ferry.* keys, see the Ferry README): "
                + e.getMessage().replace(FerryNode.PREFIX, SPARK_PREFIX + FerryNode.PREFIX), e);
    }
}
