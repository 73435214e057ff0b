package io.ferry.kafka;

import io.ferry.FerryNode;
import io.ferry.FerryStream;
import io.ferry.NativeLibrary;
import io.ferry.RemotePayload;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import javax.management.ObjectName;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The plugin's state in one broker: its config, which peers answered like plain brokers, and its
 * counters (logged as {@code ferry-kafka: ...} lines and exposed as the MBean {@value #MBEAN}).
 */
public final class FerryKafka implements FerryKafkaMXBean {
    /** JMX name of the counters. */
    public static final String MBEAN = "io.ferry:type=FerryKafka";

    private final FerryKafkaConfig config;
    private volatile boolean active;
    private final Map<InetSocketAddress, Long> plainUntil = new ConcurrentHashMap<>();
    private final AtomicLong acceptedFerry = new AtomicLong();
    private final AtomicLong connectedFerry = new AtomicLong();
    private final AtomicLong acceptedPlain = new AtomicLong();
    private final AtomicLong handshakeFailures = new AtomicLong();
    private final AtomicLong fallbacks = new AtomicLong();
    private volatile Logger log;
    /** How streams move payload once decided (read, inline or framed), and the node for read. */
    private volatile String payload;
    private volatile RemotePayload remote;

    private FerryKafka(FerryKafkaConfig config) {
        this.config = config;
        this.active = config.active() && !config.rules().isEmpty();
    }

    /**
     * Starts the plugin: its log lines, MBean and native library load on a thread of their own,
     * because the provider is built inside {@code SelectorProvider.provider()}, where nothing may
     * open a channel.
     */
    static FerryKafka start(FerryKafkaConfig config) {
        FerryKafka plugin = new FerryKafka(config);
        Thread t = new Thread(plugin::run, "ferry-kafka");
        t.setDaemon(true);
        t.start();
        return plugin;
    }

    private Logger log() {
        Logger l = log;
        if (l == null) {
            l = LoggerFactory.getLogger("io.ferry.kafka");
            log = l;
        }
        return l;
    }

    private void run() {
        Logger l = log();
        if (!config.errors().isEmpty()) {
            for (String error : config.errors()) {
                l.error("ferry-kafka: config {}: {}", config.source(), error);
            }
            l.error("ferry-kafka: bad config, Ferry is off: every connection is plain TCP");
        } else if (!active) {
            l.info("ferry-kafka: off (ferry.kafka.enabled=false or no rules): every connection is plain TCP");
        } else {
            try {
                NativeLibrary.load();
                String mode = payload();
                l.info("ferry-kafka: on, payload {}, native library {}; config {}: {}", mode,
                        NativeLibrary.version(), config.source(), config.describe());
                warnIfRulesMissReplication(l);
            } catch (RuntimeException | LinkageError e) {
                active = false;
                l.error("ferry-kafka: Ferry's native library does not load, every connection is plain TCP: {}",
                        e.toString());
            }
        }
        try {
            ManagementFactory.getPlatformMBeanServer().registerMBean(this, new ObjectName(MBEAN));
        } catch (Exception e) {
            l.warn("ferry-kafka: MBean {} not registered: {}", MBEAN, e.toString());
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> log().info(statsLine()), "ferry-kafka-exit"));
        long interval = config.statsIntervalMillis();
        if (interval <= 0) {
            return;
        }
        while (true) {
            try {
                Thread.sleep(interval);
            } catch (InterruptedException e) {
                return;
            }
            l.info(statsLine());
        }
    }

    /**
     * Rules that do not cover replication leave the plugin on and doing nothing: say so loudly.
     * (Replication is this broker's inter-broker listener, accepted, and its fetchers' connections
     * to the peers' listeners, outgoing.)
     */
    private void warnIfRulesMissReplication(Logger l) {
        int port = config.broker().interBrokerPort();
        if (port > 0 && !config.rules().accepts(port)) {
            l.warn("ferry-kafka: no `in:` rule in {} selects this broker's inter-broker listener (port {}): "
                    + "followers replicate from this broker over plain TCP", FerryKafkaConfig.RULES, port);
        }
        if (!config.rules().hasOut()) {
            l.warn("ferry-kafka: no `out:` rule in {}: this broker replicates from its leaders over plain TCP",
                    FerryKafkaConfig.RULES);
        }
    }

    /** @return the counters as one log line */
    public String statsLine() {
        String streams = "streams n/a";
        if (active) {
            try {
                streams = "streams " + FerryStream.counters();
            } catch (RuntimeException | LinkageError e) {
                streams = "streams n/a (" + e + ")";
            }
        }
        return "ferry-kafka: " + streams + "; connections acceptedFerry=" + acceptedFerry.get()
                + " connectedFerry=" + connectedFerry.get() + " acceptedPlain=" + acceptedPlain.get()
                + " handshakeFailures=" + handshakeFailures.get() + " fallbacks=" + fallbacks.get();
    }

    boolean active() {
        return active;
    }

    /** Whether outgoing sockets need a wrapper: only when some rule selects outgoing connections. */
    boolean connectsOut() {
        return active && config.rules().hasOut();
    }

    boolean accepts(int localPort) {
        return active && config.rules().accepts(localPort);
    }

    /** Whether a connection to {@code remote} should send the preamble. */
    boolean tryFerry(InetSocketAddress remote) {
        if (!active || !config.rules().connects(remote)) {
            return false;
        }
        Long until = plainUntil.get(remote);
        if (until == null) {
            return true;
        }
        if (System.currentTimeMillis() < until) {
            return false;
        }
        plainUntil.remove(remote, until);
        return true;
    }

    FerryStream newServerStream(SocketChannel socket) {
        return newStream(socket, true);
    }

    FerryStream newClientStream(SocketChannel socket) {
        return newStream(socket, false);
    }

    /**
     * Decides once how streams move payload: {@code read} starts the broker's Ferry node (serving
     * READs of its streams' slabs on {@value FerryKafkaConfig#NODE_PORT}); {@code auto} keeps it
     * only when it runs on RDMA verbs, and otherwise, like a {@code read} whose node cannot start,
     * falls back to {@code inline}.
     */
    synchronized String payload() {
        if (payload != null) {
            return payload;
        }
        String mode = config.payload();
        if (mode.equals("read") || mode.equals("auto")) {
            remote = startNode(mode);
            mode = remote != null ? "read" : "inline";
        }
        payload = mode;
        return mode;
    }

    private RemotePayload startNode(String mode) {
        Map<String, String> settings = new HashMap<>();
        settings.put("ferry.provider", config.provider());
        settings.put("ferry.io.threads", Integer.toString(config.ioThreads()));
        if (config.secret().length > 0) {
            settings.put("ferry.auth.secret", new String(config.secret(), StandardCharsets.UTF_8));
        }
        FerryNode node = null;
        try {
            node = FerryNode.create(settings);
            if (mode.equals("auto") && !node.provider().equals("verbs")) {
                log().info("ferry-kafka: the node runs on tcp (no RDMA device, or ferry.kafka.provider=tcp): "
                        + "payload inline over TCP (ferry.kafka.payload=auto)");
                node.close();
                return null;
            }
            InetSocketAddress bound = node.serve(new InetSocketAddress(config.nodeHost(), config.nodePort()));
            log().info("ferry-kafka: payload by one-sided READ over {}, node serving on {}", node.provider(), bound);
            return new RemotePayload(node, bound.getPort(), config.windowBytes(), config.slabBytes(), config.readMinBytes(),
                    config.streamsPerConnection());
        } catch (RuntimeException | LinkageError e) {
            if (node != null) {
                node.close();
            }
            log().error("ferry-kafka: the Ferry node for READ payload does not start ({}); payload inline over TCP",
                    e.toString());
            return null;
        }
    }

    /**
     * A stream for a network thread, which must not wait: the payload mode is decided on the
     * {@code ferry-kafka} thread (starting a node takes a while), and until it is, streams move
     * payload without READ (a {@code read} peer's stream then becomes framed).
     */
    private FerryStream newStream(SocketChannel socket, boolean server) {
        try {
            String mode = payload;
            RemotePayload r = remote; // written before payload
            byte[] secret = config.secret();
            int frame = config.messageSize();
            if ("read".equals(mode)) {
                return server ? FerryStream.server(socket, secret, frame, r)
                        : FerryStream.client(socket, secret, frame, r);
            }
            boolean framed = (mode != null ? mode : config.payload()).equals("framed");
            return server ? FerryStream.server(socket, secret, frame)
                    : FerryStream.client(socket, secret, frame, framed);
        } catch (RuntimeException | LinkageError e) {
            active = false;
            log().error("ferry-kafka: cannot create a stream, Ferry is off from now on: {}", e.toString());
            return null;
        }
    }

    void opened(boolean accepted) {
        (accepted ? acceptedFerry : connectedFerry).incrementAndGet();
    }

    void acceptedPlain() {
        acceptedPlain.incrementAndGet();
    }

    /**
     * A handshake failed. On the connecting side (remote known), connections to that peer stay
     * plain for {@code ferry.kafka.plain.retry.ms}: Kafka reconnects, and the next connection is
     * plain TCP.
     */
    void handshakeFailed(InetSocketAddress remote, Exception cause) {
        handshakeFailures.incrementAndGet();
        if (remote == null) {
            log().warn("ferry-kafka: an accepted connection failed the Ferry handshake: {}", cause.getMessage());
            return;
        }
        fallbacks.incrementAndGet();
        Long previous = plainUntil.put(remote, System.currentTimeMillis() + config.plainRetryMillis());
        if (previous == null) {
            log().info("ferry-kafka: {} did not complete the Ferry handshake ({}); plain TCP to it for {} ms",
                    remote, cause.getMessage(), config.plainRetryMillis());
        }
    }

    @Override
    public long getStreamsOpened() {
        return acceptedFerry.get() + connectedFerry.get();
    }

    @Override
    public long getAcceptedPlain() {
        return acceptedPlain.get();
    }

    @Override
    public long getHandshakeFailures() {
        return handshakeFailures.get();
    }

    @Override
    public long getFallbacks() {
        return fallbacks.get();
    }

    @Override
    public long getBytesSent() {
        return active ? FerryStream.counters().bytesSent() : 0;
    }

    @Override
    public long getBytesReceived() {
        return active ? FerryStream.counters().bytesReceived() : 0;
    }

    @Override
    public long getReadBytes() {
        return active ? FerryStream.counters().readBytes() : 0;
    }

    @Override
    public long getSlabBytes() {
        return active ? FerryStream.counters().slabBytes() : 0;
    }

    @Override
    public String getPayload() {
        return active ? payload() : "plain";
    }

    @Override
    public String getTransport() {
        RemotePayload r = active && payload().equals("read") ? remote : null;
        return r == null ? "none" : r.node().provider();
    }

    @Override
    public boolean isActive() {
        return active;
    }
}
