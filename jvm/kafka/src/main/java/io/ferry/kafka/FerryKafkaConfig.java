package io.ferry.kafka;

import java.io.IOException;
import java.io.InputStream;
import java.io.StringReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;

/**
 * The plugin's configuration: a {@code key=value} file (Java properties syntax) named by the
 * system property {@value #PATH_PROPERTY}, in the spirit of NetACC's {@code /etc/netacc.conf}.
 * Every key, its default and meaning is in {@link #KEYS} (and in the README). An unknown key or a
 * bad value is an error naming the key; {@link #errors()} lists them and the provider then leaves
 * every connection plain.
 */
public final class FerryKafkaConfig {
    /** System property with the path of the config file; without it, every default applies. */
    public static final String PATH_PROPERTY = "ferry.kafka.config";
    /** System property naming the broker's server.properties (found from the command line otherwise). */
    public static final String SERVER_PROPERTIES_PROPERTY = "ferry.kafka.server.properties";

    /** A documented key. */
    public static final class Key {
        public final String name;
        public final String defaultValue;
        public final String meaning;

        Key(String name, String defaultValue, String meaning) {
            this.name = name;
            this.defaultValue = defaultValue;
            this.meaning = meaning;
        }
    }

    public static final String ENABLED = "ferry.kafka.enabled";
    public static final String RULES = "ferry.kafka.rules";
    public static final String PROVIDER = "ferry.kafka.provider";
    public static final String MESSAGE_SIZE = "ferry.kafka.message.size";
    public static final String PAYLOAD = "ferry.kafka.payload";
    public static final String REGION_GROW = "ferry.kafka.region.grow.bytes";
    public static final String WINDOW = "ferry.kafka.window.bytes";
    public static final String READ_MIN = "ferry.kafka.read.min.bytes";
    public static final String NODE_PORT = "ferry.kafka.node.port";
    public static final String NODE_HOST = "ferry.kafka.node.host";
    public static final String CONN_PER_QP = "ferry.kafka.conn.per.qp";
    public static final String IO_THREADS = "ferry.kafka.io.threads";
    public static final String SECRET = "ferry.kafka.secret";
    public static final String PLAIN_RETRY_MS = "ferry.kafka.plain.retry.ms";
    public static final String STATS_INTERVAL_MS = "ferry.kafka.stats.interval.ms";

    /** Every key with its default (empty: unset) and meaning. */
    public static final List<Key> KEYS = Collections.unmodifiableList(List.of(
            new Key(ENABLED, "true", "`false` turns the plugin off: every connection is the JDK's own, untouched."),
            new Key(RULES, "in:inter-broker,out:*:brokers",
                    "Which connections try Ferry: `in:PORTS` (accepted on a local port), `out:HOST:PORTS` "
                            + "(connected to HOST, `*` for any); PORTS is a port, a range `a-b`, `inter-broker` "
                            + "(the port of this broker's `inter.broker.listener.name` listener) or, for `out:`, "
                            + "`brokers` (any port but the controller quorum's, from `controller.quorum.voters` / "
                            + "`controller.quorum.bootstrap.servers`, or ZooKeeper's, from `zookeeper.connect`: "
                            + "peers on any ports, a peer that answers like plain Kafka costs one connection); "
                            + "`none`."),
            new Key(PROVIDER, "auto",
                    "`auto`, `verbs` or `tcp`: the transport of the plugin's Ferry node, which serves and makes "
                            + "one-sided READs of stream payload. `auto`: RDMA verbs when a device is there, else tcp."),
            new Key(PAYLOAD, "auto",
                    "How a stream moves Kafka's bytes: `read` (each write of at least `ferry.kafka.read.min.bytes` "
                            + "is copied into registered memory and the peer READs it: an RDMA READ on verbs), "
                            + "`inline` (after the handshake the TCP connection carries Kafka's bytes unchanged; "
                            + "log segments keep sendfile), `framed` (DATA frames on the TCP connection). `auto`: "
                            + "`read` when the node runs on verbs, else `inline`. The connecting broker offers; "
                            + "a peer without a node makes a `read` stream framed."),
            new Key(MESSAGE_SIZE, "1m", "Largest DATA frame (message) a stream sends; 4k to 64m."),
            new Key(REGION_GROW, "4m",
                    "Size of each registered slab a `read` stream copies writes into (the largest message "
                            + "READ at once); slabs are added as needed up to `ferry.kafka.window.bytes`; 64k to 1g."),
            new Key(WINDOW, "16m",
                    "Registered memory per `read` stream and direction, at least one slab; writes that find "
                            + "it full travel in DATA frames instead (a slow peer never blocks a broker); 64k to 1g."),
            new Key(READ_MIN, "16k",
                    "Smallest write a `read` stream sends by READ; smaller ones (requests, headers) ride in "
                            + "DATA frames, which costs less than a READ's round trip; 64 to 64m."),
            new Key(NODE_PORT, "0", "TCP port the node serves READs on (the handshake tells the peer); 0: any free port."),
            new Key(NODE_HOST, "inter-broker",
                    "Address the node serves READs on: an IP or host name, or `inter-broker` (the host of this "
                            + "broker's inter-broker listener; every interface when that listener names none)."),
            new Key(CONN_PER_QP, "8",
                    "`read` streams to one peer broker whose READs share one node connection (one queue pair on "
                            + "RDMA); more streams open more; 1 to 1024."),
            new Key(IO_THREADS, "2",
                    "I/O threads of the plugin's Ferry node (READs and their replies); tcp streams run on "
                            + "Kafka's own network threads; 1 to 64."),
            new Key(SECRET, "", "Shared secret both ends prove (HMAC-SHA256) before a stream opens; a mismatch means plain "
                    + "TCP. It also guards the node: READs are served only to peers that prove it."),
            new Key(PLAIN_RETRY_MS, "300000",
                    "After a peer answers the preamble like a plain broker (or the handshake fails), connections "
                            + "to it stay plain this long before Ferry is tried again."),
            new Key(STATS_INTERVAL_MS, "10000", "How often the counters are logged (`ferry-kafka: ...`); 0: only at exit.")));

    private final Map<String, String> values;
    private final List<String> errors;
    private final Rules rules;
    private final String source;
    private final BrokerListeners broker;

    private FerryKafkaConfig(Map<String, String> values, List<String> errors, Rules rules, String source,
            BrokerListeners broker) {
        this.values = values;
        this.errors = errors;
        this.rules = rules;
        this.source = source;
        this.broker = broker;
    }

    /** Loads the file named by {@value #PATH_PROPERTY} (defaults if unset). Never throws. */
    public static FerryKafkaConfig load() {
        String path = System.getProperty(PATH_PROPERTY);
        if (path == null || path.isEmpty()) {
            return parse("", "(defaults: -D" + PATH_PROPERTY + " not set)", BrokerListeners.find());
        }
        try {
            String text = new String(Files.readAllBytes(Paths.get(path)), StandardCharsets.UTF_8);
            return parse(text, path, BrokerListeners.find());
        } catch (IOException e) {
            List<String> errors = new ArrayList<>();
            errors.add(PATH_PROPERTY + ": cannot read " + path + ": " + e);
            return new FerryKafkaConfig(defaults(), errors, Rules.NONE, path, BrokerListeners.of(""));
        }
    }

    private static Map<String, String> defaults() {
        Map<String, String> values = new LinkedHashMap<>();
        for (Key key : KEYS) {
            values.put(key.name, key.defaultValue);
        }
        return values;
    }

    /**
     * Parses a config file's text.
     *
     * @param text properties text
     * @param source where it came from, for messages
     * @param broker this broker's listeners (for {@code inter-broker} in rules)
     * @return the config, with {@link #errors()} naming each bad key
     */
    public static FerryKafkaConfig parse(String text, String source, BrokerListeners broker) {
        Map<String, String> values = defaults();
        List<String> errors = new ArrayList<>();
        Properties props = new Properties();
        try {
            props.load(new StringReader(text));
        } catch (IOException | IllegalArgumentException e) {
            errors.add(source + ": not a properties file: " + e.getMessage());
        }
        for (String name : props.stringPropertyNames()) {
            if (!values.containsKey(name)) {
                errors.add("unknown key `" + name + "` (known: " + values.keySet() + ")");
                continue;
            }
            values.put(name, props.getProperty(name).trim());
        }
        check(values, errors, ENABLED, v -> {
            if (!v.equals("true") && !v.equals("false")) {
                throw new IllegalArgumentException("expected true or false, got `" + v + "`");
            }
        });
        check(values, errors, PROVIDER, v -> oneOf(v, "auto", "verbs", "tcp"));
        check(values, errors, PAYLOAD, v -> oneOf(v, "auto", "read", "inline", "framed"));
        check(values, errors, MESSAGE_SIZE, v -> range(size(v), 4 << 10, 64 << 20));
        check(values, errors, REGION_GROW, v -> range(size(v), 64 << 10, 1L << 30));
        check(values, errors, WINDOW, v -> range(size(v), 64 << 10, 1L << 30));
        check(values, errors, READ_MIN, v -> range(size(v), 64, 64 << 20));
        check(values, errors, NODE_PORT, v -> range(number(v), 0, 65535));
        check(values, errors, CONN_PER_QP, v -> range(number(v), 1, 1024));
        check(values, errors, NODE_HOST, v -> {
            if (!v.equals("inter-broker")) {
                address(v);
            }
        });
        if (errors.isEmpty() && size(values.get(WINDOW)) < size(values.get(REGION_GROW))) {
            errors.add("key `" + WINDOW + "`: " + values.get(WINDOW) + " is less than one slab (`" + REGION_GROW
                    + "` = " + values.get(REGION_GROW) + ")");
        }
        if (errors.isEmpty() && size(values.get(READ_MIN)) > size(values.get(REGION_GROW))) {
            errors.add("key `" + READ_MIN + "`: " + values.get(READ_MIN) + " is more than one slab (`"
                    + REGION_GROW + "` = " + values.get(REGION_GROW) + ")");
        }
        check(values, errors, IO_THREADS, v -> range(number(v), 1, 64));
        check(values, errors, PLAIN_RETRY_MS, v -> range(number(v), 0, Long.MAX_VALUE));
        check(values, errors, STATS_INTERVAL_MS, v -> range(number(v), 0, Long.MAX_VALUE));
        Rules rules = Rules.NONE;
        try {
            rules = Rules.parse(values.get(RULES), broker);
        } catch (IllegalArgumentException e) {
            errors.add("key `" + RULES + "`: " + e.getMessage());
        }
        return new FerryKafkaConfig(values, Collections.unmodifiableList(errors), rules, source, broker);
    }

    private interface Check {
        void run(String value);
    }

    private static void check(Map<String, String> values, List<String> errors, String key, Check check) {
        try {
            check.run(values.get(key));
        } catch (IllegalArgumentException e) {
            errors.add("key `" + key + "`: " + e.getMessage());
        }
    }

    private static void oneOf(String v, String... allowed) {
        if (!List.of(allowed).contains(v)) {
            throw new IllegalArgumentException("expected one of " + String.join(", ", allowed) + ", got `" + v + "`");
        }
    }

    private static InetAddress address(String host) {
        try {
            return InetAddress.getByName(host);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("unknown host `" + host + "`");
        }
    }

    private static void range(long v, long min, long max) {
        if (v < min || v > max) {
            throw new IllegalArgumentException(v + " is outside " + min + " .. " + max);
        }
    }

    static long number(String v) {
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not a whole number: `" + v + "`");
        }
    }

    /** A size with an optional k, m or g suffix (powers of 1024). */
    static long size(String v) {
        String t = v.trim().toLowerCase(Locale.ROOT);
        long unit = 1;
        if (t.endsWith("k") || t.endsWith("m") || t.endsWith("g")) {
            unit = t.endsWith("k") ? 1L << 10 : t.endsWith("m") ? 1L << 20 : 1L << 30;
            t = t.substring(0, t.length() - 1);
        }
        try {
            return Math.multiplyExact(Long.parseLong(t), unit);
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("not a size (a number with k, m or g): `" + v + "`");
        }
    }

    /** @return the errors, each naming its key; empty when the config is good */
    public List<String> errors() {
        return errors;
    }

    /** @return true when the plugin should act: no errors and {@value #ENABLED} */
    public boolean active() {
        return errors.isEmpty() && Boolean.parseBoolean(values.get(ENABLED));
    }

    public Rules rules() {
        return rules;
    }

    public int messageSize() {
        return (int) size(values.get(MESSAGE_SIZE));
    }

    /** @return the configured payload mode: auto, read, inline or framed */
    public String payload() {
        return values.get(PAYLOAD);
    }

    /** @return the node's provider: auto, verbs or tcp */
    public String provider() {
        return values.get(PROVIDER);
    }

    public int slabBytes() {
        return (int) size(values.get(REGION_GROW));
    }

    public long windowBytes() {
        return size(values.get(WINDOW));
    }

    public int readMinBytes() {
        return (int) size(values.get(READ_MIN));
    }

    public int nodePort() {
        return (int) number(values.get(NODE_PORT));
    }

    /** @return the host the node serves READs on ({@code 0.0.0.0}: every interface) */
    public String nodeHost() {
        String host = values.get(NODE_HOST);
        return host.equals("inter-broker") ? broker.interBrokerHost() : host;
    }

    /** @return this broker's listeners, as read from its server.properties */
    public BrokerListeners broker() {
        return broker;
    }

    public int streamsPerConnection() {
        return (int) number(values.get(CONN_PER_QP));
    }

    public int ioThreads() {
        return (int) number(values.get(IO_THREADS));
    }

    public byte[] secret() {
        return values.get(SECRET).getBytes(StandardCharsets.UTF_8);
    }

    public long plainRetryMillis() {
        return number(values.get(PLAIN_RETRY_MS));
    }

    public long statsIntervalMillis() {
        return number(values.get(STATS_INTERVAL_MS));
    }

    /** @return where the config came from */
    public String source() {
        return source;
    }

    /** @return the effective settings for the start-up log line (the secret masked) */
    public String describe() {
        StringBuilder b = new StringBuilder();
        for (Map.Entry<String, String> e : values.entrySet()) {
            String v = e.getKey().equals(SECRET) && !e.getValue().isEmpty() ? "(set)" : e.getValue();
            b.append(b.length() == 0 ? "" : " ").append(e.getKey()).append('=').append(v);
        }
        return b.toString();
    }

    /** Which connections are candidates for Ferry. */
    public static final class Rules {
        static final Rules NONE = new Rules(List.of(), List.of(), List.of());

        /** An {@code out:} rule: a host (null: any) and a port range, or every port but the quorum's. */
        private static final class Out {
            final InetAddress host;
            final long[] ports;
            final boolean brokers;

            Out(InetAddress host, long[] ports, boolean brokers) {
                this.host = host;
                this.ports = ports;
                this.brokers = brokers;
            }
        }

        private final List<long[]> in;
        private final List<Out> out;
        /** The controller quorum's (or ZooKeeper's) addresses, which {@code brokers} leaves plain. */
        private final List<InetSocketAddress> quorum;

        private Rules(List<long[]> in, List<Out> out, List<InetSocketAddress> quorum) {
            this.in = in;
            this.out = out;
            this.quorum = quorum;
        }

        static Rules parse(String text, BrokerListeners broker) {
            List<long[]> in = new ArrayList<>();
            List<Out> out = new ArrayList<>();
            List<InetSocketAddress> quorum = List.of();
            for (String raw : text.split(",")) {
                String rule = raw.trim();
                if (rule.isEmpty() || rule.equals("none")) {
                    continue;
                }
                if (rule.startsWith("in:")) {
                    in.add(ports(rule.substring(3), broker, rule));
                } else if (rule.startsWith("out:")) {
                    String rest = rule.substring(4);
                    int colon = rest.lastIndexOf(':');
                    if (colon <= 0) {
                        throw new IllegalArgumentException("`" + rule + "`: expected out:HOST:PORTS");
                    }
                    String host = rest.substring(0, colon);
                    InetAddress address = null;
                    if (!host.equals("*")) {
                        try {
                            address = address(host);
                        } catch (IllegalArgumentException e) {
                            throw new IllegalArgumentException("`" + rule + "`: " + e.getMessage());
                        }
                    }
                    String spec = rest.substring(colon + 1);
                    if (spec.equals("brokers")) {
                        quorum = broker.quorum();
                        if (quorum.isEmpty()) {
                            throw new IllegalArgumentException("`" + rule + "`: the controller quorum is unknown ("
                                    + broker.describe() + " names no controller.quorum.voters, "
                                    + "controller.quorum.bootstrap.servers or zookeeper.connect); name the ports "
                                    + "instead");
                        }
                        out.add(new Out(address, new long[] {1, 65535}, true));
                    } else {
                        out.add(new Out(address, ports(spec, broker, rule), false));
                    }
                } else {
                    throw new IllegalArgumentException("`" + rule + "`: a rule starts with in: or out:");
                }
            }
            return new Rules(in, out, quorum);
        }

        private static long[] ports(String spec, BrokerListeners broker, String rule) {
            if (spec.equals("inter-broker")) {
                int port = broker.interBrokerPort();
                if (port <= 0) {
                    throw new IllegalArgumentException("`" + rule + "`: this broker's inter-broker listener "
                            + "port is unknown (" + broker.describe() + "); name the port instead");
                }
                return new long[] {port, port};
            }
            try {
                int dash = spec.indexOf('-');
                long lo = Long.parseLong(dash < 0 ? spec : spec.substring(0, dash));
                long hi = dash < 0 ? lo : Long.parseLong(spec.substring(dash + 1));
                if (lo < 1 || hi > 65535 || lo > hi) {
                    throw new NumberFormatException();
                }
                return new long[] {lo, hi};
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("`" + rule + "`: `" + spec
                        + "` is not a port, a range a-b, inter-broker or (out:) brokers");
            }
        }

        /** @return true when connections accepted on this local port try Ferry */
        public boolean accepts(int localPort) {
            for (long[] r : in) {
                if (localPort >= r[0] && localPort <= r[1]) {
                    return true;
                }
            }
            return false;
        }

        /** @return true when connections to this address try Ferry */
        public boolean connects(InetSocketAddress remote) {
            for (Out r : out) {
                if (remote.getPort() >= r.ports[0] && remote.getPort() <= r.ports[1]
                        && (r.host == null || r.host.equals(remote.getAddress()))
                        && !(r.brokers && isQuorum(remote))) {
                    return true;
                }
            }
            return false;
        }

        private boolean isQuorum(InetSocketAddress remote) {
            for (InetSocketAddress c : quorum) {
                if (c.getPort() == remote.getPort()
                        && (c.isUnresolved() || c.getAddress().equals(remote.getAddress()))) {
                    return true;
                }
            }
            return false;
        }

        /** @return true when some rule selects outgoing connections */
        public boolean hasOut() {
            return !out.isEmpty();
        }

        /** @return true when no rule selects anything */
        public boolean isEmpty() {
            return in.isEmpty() && out.isEmpty();
        }
    }

    /** The listeners of the broker this JVM runs, read from its server.properties. */
    public static final class BrokerListeners {
        private final String path;
        private final Properties props;

        BrokerListeners(String path, Properties props) {
            this.path = path;
            this.props = props;
        }

        /** Parses server.properties text (for tests). */
        public static BrokerListeners of(String text) {
            Properties p = new Properties();
            try {
                p.load(new StringReader(text));
            } catch (IOException e) {
                throw new IllegalArgumentException(e);
            }
            return new BrokerListeners("(given)", p);
        }

        /**
         * Finds server.properties: the system property {@value #SERVER_PROPERTIES_PROPERTY}, else
         * the first argument of the command line ({@code kafka.Kafka server.properties}).
         */
        static BrokerListeners find() {
            String path = System.getProperty(SERVER_PROPERTIES_PROPERTY);
            if (path == null) {
                String command = System.getProperty("sun.java.command", "");
                for (String word : command.split("\\s+")) {
                    if (word.endsWith(".properties")) {
                        path = word;
                        break;
                    }
                }
            }
            Properties p = new Properties();
            if (path != null) {
                Path file = Paths.get(path);
                try (InputStream in = Files.newInputStream(file)) {
                    p.load(in);
                } catch (IOException e) {
                    return new BrokerListeners(path + " (unreadable: " + e.getMessage() + ")", p);
                }
            }
            return new BrokerListeners(path == null ? "(no server.properties on the command line)" : path, p);
        }

        /** @return the port of the inter-broker listener, or 0 when unknown */
        public int interBrokerPort() {
            String address = interBrokerAddress();
            try {
                return address == null ? 0 : Integer.parseInt(address.substring(address.lastIndexOf(':') + 1).trim());
            } catch (NumberFormatException e) {
                return 0;
            }
        }

        /** @return the host of the inter-broker listener; {@code 0.0.0.0} (every interface) when it names none */
        public String interBrokerHost() {
            String address = interBrokerAddress();
            String host = address == null ? "" : address.substring(0, Math.max(0, address.lastIndexOf(':'))).trim();
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
            }
            return host.isEmpty() ? "0.0.0.0" : host;
        }

        /** @return {@code host:port} of the inter-broker listener in {@code listeners}, or null */
        private String interBrokerAddress() {
            String name = props.getProperty("inter.broker.listener.name");
            if (name == null) {
                name = props.getProperty("security.inter.broker.protocol", "PLAINTEXT");
            }
            for (String listener : props.getProperty("listeners", "").split(",")) {
                String l = listener.trim();
                int sep = l.indexOf("://");
                if (sep > 0 && l.substring(0, sep).trim().equalsIgnoreCase(name.trim())) {
                    return l.substring(sep + 3);
                }
            }
            return null;
        }

        /**
         * @return the addresses of the quorum that coordinates this broker: in KRaft mode the
         *     controllers, {@code controller.quorum.voters} ({@code id@host:port,...}) and {@code
         *     controller.quorum.bootstrap.servers} ({@code host:port,...}); in ZooKeeper mode (Kafka
         *     3.x) the ensemble, {@code zookeeper.connect} ({@code host:port,...[/chroot]})
         */
        public List<InetSocketAddress> quorum() {
            List<InetSocketAddress> all = new ArrayList<>();
            String voters = props.getProperty("controller.quorum.voters", "");
            String bootstrap = props.getProperty("controller.quorum.bootstrap.servers", "");
            String zookeeper = props.getProperty("zookeeper.connect", "").replaceFirst("/.*$", "");
            for (String entry : (voters + "," + bootstrap + "," + zookeeper).split(",")) {
                String e = entry.trim().substring(entry.trim().indexOf('@') + 1);
                int colon = e.lastIndexOf(':');
                if (colon <= 0) {
                    continue;
                }
                String host = e.substring(0, colon).replace("[", "").replace("]", "");
                try {
                    all.add(new InetSocketAddress(host, Integer.parseInt(e.substring(colon + 1).trim())));
                } catch (IllegalArgumentException bad) {
                    // not an address: Kafka itself rejects it
                }
            }
            return all;
        }

        String describe() {
            return "server.properties: " + path;
        }
    }
}
