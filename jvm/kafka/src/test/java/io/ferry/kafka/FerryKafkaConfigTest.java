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
            "listeners=CLIENT://127.0.0.1:19100,REPLICATION://127.0.0.1:19101\n"
                    + "inter.broker.listener.name=REPLICATION\n");

    @Test
    public void defaultsSelectTheInterBrokerListener() {
        FerryKafkaConfig c = FerryKafkaConfig.parse("", "test", BROKER);
        assertTrue(c.errors().toString(), c.errors().isEmpty());
        assertTrue(c.active());
        assertTrue(c.rules().accepts(19101));
        assertFalse(c.rules().accepts(19100));
        assertTrue(c.rules().connects(new InetSocketAddress("10.0.0.7", 19101)));
        assertFalse(c.rules().connects(new InetSocketAddress("10.0.0.7", 19102)));
        assertEquals(1 << 20, c.messageSize());
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
