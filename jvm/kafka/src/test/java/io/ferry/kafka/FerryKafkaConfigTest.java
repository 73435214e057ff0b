package io.ferry.kafka;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import org.junit.Test;

public class FerryKafkaConfigTest {
    private static final FerryKafkaConfig.BrokerListeners BROKER = FerryKafkaConfig.BrokerListeners.of(
            "listeners=CLIENT://127.0.0.1:19100,REPLICATION://127.0.0.1:19101,CONTROLLER://127.0.0.1:19102\n"
                    + "inter.broker.listener.name=REPLICATION\n"
                    + "controller.quorum.voters=1@127.0.0.1:19102,2@127.0.0.1:19112,3@127.0.0.1:19122\n");

    @Test
    public void defaultsAcceptOnTheInterBrokerListenerAndConnectToPeersOnAnyPortButTheControllers() {
        FerryKafkaConfig c = FerryKafkaConfig.parse("", "test", BROKER);
        assertTrue(c.errors().toString(), c.errors().isEmpty());
        assertTrue(c.active());
        assertTrue(c.rules().accepts(19101));
        assertFalse(c.rules().accepts(19100));
        assertFalse(c.rules().accepts(19102));
        // Peers' inter-broker listeners on their own ports, on this host or another.
        assertTrue(c.rules().connects(new InetSocketAddress("127.0.0.1", 19111)));
        assertTrue(c.rules().connects(new InetSocketAddress("127.0.0.1", 19121)));
        assertTrue(c.rules().connects(new InetSocketAddress("192.0.2.7", 9092)));
        // The controller quorum stays plain.
        assertFalse(c.rules().connects(new InetSocketAddress("127.0.0.1", 19102)));
        assertFalse(c.rules().connects(new InetSocketAddress("127.0.0.1", 19112)));
        assertTrue(c.rules().connects(new InetSocketAddress("192.0.2.7", 19112)));
        assertEquals(1 << 20, c.messageSize());
        assertEquals("127.0.0.1", c.nodeHost());
    }

    @Test
    public void controllersFromTheBootstrapServersStayPlain() {
        FerryKafkaConfig c = FerryKafkaConfig.parse("", "test", FerryKafkaConfig.BrokerListeners.of(
                "listeners=PLAINTEXT://:9092\ncontroller.quorum.bootstrap.servers=192.0.2.1:9093,[::1]:9094\n"));
        assertTrue(c.errors().toString(), c.errors().isEmpty());
        assertTrue(c.rules().accepts(9092));
        assertFalse(c.rules().connects(new InetSocketAddress("192.0.2.1", 9093)));
        assertFalse(c.rules().connects(new InetSocketAddress("::1", 9094)));
        assertTrue(c.rules().connects(new InetSocketAddress("192.0.2.2", 9092)));
        assertEquals("every interface when the listener names no host", "0.0.0.0", c.nodeHost());
    }

    @Test
    public void zooKeeperStaysPlainInZooKeeperMode() {
        FerryKafkaConfig c = FerryKafkaConfig.parse("", "test", FerryKafkaConfig.BrokerListeners.of(
                "listeners=CLIENT://127.0.0.1:19100,REPLICATION://127.0.0.1:19101\n"
                        + "inter.broker.listener.name=REPLICATION\n"
                        + "zookeeper.connect=127.0.0.1:19095,192.0.2.3:2181/kafka\n"));
        assertTrue(c.errors().toString(), c.errors().isEmpty());
        assertTrue(c.rules().accepts(19101));
        assertFalse(c.rules().connects(new InetSocketAddress("127.0.0.1", 19095)));
        assertFalse("the chroot is not part of the port", c.rules().connects(new InetSocketAddress("192.0.2.3", 2181)));
        assertTrue(c.rules().connects(new InetSocketAddress("127.0.0.1", 19111)));
    }

    @Test
    public void brokersWithoutAKnownQuorumIsAnError() {
        FerryKafkaConfig c = FerryKafkaConfig.parse("ferry.kafka.rules=out:*:brokers\n", "test",
                FerryKafkaConfig.BrokerListeners.of("listeners=PLAINTEXT://:9092\n"));
        assertEquals(c.errors().toString(), 1, c.errors().size());
        assertTrue(c.errors().toString(), c.errors().get(0).contains("`ferry.kafka.rules`")
                && c.errors().get(0).contains("controller quorum is unknown"));
    }

    @Test
    public void nodeHost() {
        FerryKafkaConfig c = FerryKafkaConfig.parse("ferry.kafka.node.host=192.0.2.9\n", "test", BROKER);
        assertEquals("192.0.2.9", c.nodeHost());
        c = FerryKafkaConfig.parse("ferry.kafka.node.host=no.such.host.invalid\n", "test", BROKER);
        assertTrue(c.errors().toString(), c.errors().get(0).contains("`ferry.kafka.node.host`"));
    }

    @Test
    public void badValuesAndUnknownKeysNameTheKey() {
        FerryKafkaConfig c = FerryKafkaConfig.parse("ferry.kafka.message.size=12q\nferry.kafka.io.threads=0\n"
                + "ferry.kafka.colour=blue\nferry.kafka.rules=sideways:1\n", "test", BROKER);
        assertFalse(c.active());
        String all = String.join("\n", c.errors());
        assertEquals(all, 4, c.errors().size());
        assertTrue(all, all.contains("`ferry.kafka.message.size`"));
        assertTrue(all, all.contains("`ferry.kafka.io.threads`"));
        assertTrue(all, all.contains("`ferry.kafka.colour`"));
        assertTrue(all, all.contains("`ferry.kafka.rules`"));
    }

    @Test
    public void payloadKeysAreCheckedTogether() {
        FerryKafkaConfig c = FerryKafkaConfig.parse("ferry.kafka.payload=rdma\nferry.kafka.provider=ib\n",
                "test", BROKER);
        String all = String.join("\n", c.errors());
        assertEquals(all, 2, c.errors().size());
        assertTrue(all, all.contains("`ferry.kafka.payload`") && all.contains("`ferry.kafka.provider`"));
        c = FerryKafkaConfig.parse("ferry.kafka.region.grow.bytes=8m\nferry.kafka.window.bytes=4m\n", "test", BROKER);
        assertTrue(c.errors().toString(), c.errors().get(0).contains("`ferry.kafka.window.bytes`"));
        c = FerryKafkaConfig.parse("ferry.kafka.payload=read\nferry.kafka.region.grow.bytes=1m\n"
                + "ferry.kafka.window.bytes=8m\nferry.kafka.read.min.bytes=32k\nferry.kafka.node.port=7100\n",
                "test", BROKER);
        assertTrue(c.errors().toString(), c.errors().isEmpty());
        assertEquals("read", c.payload());
        assertEquals(1 << 20, c.slabBytes());
        assertEquals(8L << 20, c.windowBytes());
        assertEquals(32 << 10, c.readMinBytes());
        assertEquals(7100, c.nodePort());
    }

    @Test
    public void interBrokerWithoutServerPropertiesIsAnError() {
        FerryKafkaConfig c = FerryKafkaConfig.parse("", "test", FerryKafkaConfig.BrokerListeners.of(""));
        assertTrue(c.errors().toString(), c.errors().get(0).contains("`ferry.kafka.rules`"));
    }

    @Test
    public void explicitRules() {
        FerryKafkaConfig c = FerryKafkaConfig.parse(
                "ferry.kafka.rules=in:9000-9002, out:127.0.0.1:19101,out:*:7000\n", "test", BROKER);
        assertTrue(c.errors().toString(), c.errors().isEmpty());
        assertTrue(c.rules().accepts(9001));
        assertTrue(c.rules().connects(new InetSocketAddress("127.0.0.1", 19101)));
        assertFalse(c.rules().connects(new InetSocketAddress("127.0.0.2", 19101)));
        assertTrue(c.rules().connects(new InetSocketAddress("127.0.0.2", 7000)));
    }

    @Test
    public void readmeDocumentsEveryKeyWithItsDefault() throws Exception {
        String readme = new String(Files.readAllBytes(Paths.get(System.getProperty("ferry.readme", "../../README.md"))),
                StandardCharsets.UTF_8);
        for (FerryKafkaConfig.Key key : FerryKafkaConfig.KEYS) {
            String row = readme.lines().filter(l -> l.startsWith("| `" + key.name + "` |")).findFirst()
                    .orElseThrow(() -> new AssertionError("README has no row for " + key.name));
            if (!key.defaultValue.isEmpty()) {
                assertTrue(row, row.contains("`" + key.defaultValue + "`"));
            }
        }
    }
}
