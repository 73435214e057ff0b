package io.ferry.kafka;

/** The plugin's counters over JMX ({@value FerryKafka#MBEAN}). */
public interface FerryKafkaMXBean {
    /** @return Ferry streams opened, accepted and connected */
    long getStreamsOpened();

    /** @return accepted connections on a selected port whose peer was plain */
    long getAcceptedPlain();

    /** @return handshakes that failed (a plain broker closing, another secret, garbage) */
    long getHandshakeFailures();

    /** @return outgoing connections that fell back: their peer is plain for a while */
    long getFallbacks();

    /** @return payload bytes this process sent through Ferry streams */
    long getBytesSent();

    /** @return payload bytes this process received through Ferry streams */
    long getBytesReceived();

    /** @return payload bytes this process received by one-sided READ (RDMA READ on verbs) */
    long getReadBytes();

    /** @return bytes of stream slabs registered now (bounded by ferry.kafka.window.bytes per stream) */
    long getSlabBytes();

    /** @return how streams move payload: read, inline or framed */
    String getPayload();

    /** @return what carries READ payload: verbs (RDMA) or tcp; none when payload is not read */
    String getTransport();

    /** @return whether the plugin acts on connections */
    boolean isActive();
}
