package io.ferry;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Collections;
import java.util.List;
import org.junit.Test;

/** Native memory stays flat over a long loop of fetches, including failing ones. */
public class NativeMemoryTest {
    private static long residentBytes() throws IOException {
        for (String line : Files.readAllLines(Paths.get("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IllegalStateException("no VmRSS");
    }

    @Test
    public void longFetchLoopDoesNotGrowResidentMemory() throws Exception {
        try (FerryNode server = FerryNode.create(); FerryNode client = FerryNode.create()) {
            InetSocketAddress address = server.serve(FerryNodeTest.LOOPBACK);
            ByteBuffer data = ByteBuffer.allocateDirect(3 << 20);
            Region region = server.registerBuffer(data);
            server.registerBlock("large".getBytes(StandardCharsets.UTF_8), region, 0, 3 << 20);
            server.registerBlock("small".getBytes(StandardCharsets.UTF_8), region, 0, 3000);
            List<FetchRequest> requests = Collections.singletonList(FetchRequest.of(address,
                    "small".getBytes(StandardCharsets.UTF_8),
                    "large".getBytes(StandardCharsets.UTF_8),
                    "missing".getBytes(StandardCharsets.UTF_8)));
            Runnable round = () -> {
                Object[] got = FerryNodeTest.fetchAll(client, requests);
                assertEquals(3000, FerryNodeTest.bytesOf(got[0]).length);
                assertTrue(got[2] instanceof FerryPeerException);
            };
            for (int i = 0; i < 300; i++) {
                round.run();
            }
            System.gc();
            long warm = residentBytes();
            for (int i = 0; i < 1500; i++) {
                round.run();
            }
            System.gc();
            long grown = residentBytes() - warm;
            // 1500 rounds move 4.5 GB: leaking one chunk buffer a round would show as 1.5 GB.
            assertTrue("resident memory grew by " + grown, grown < (48 << 20));
            assertEquals(0, client.stats().poolInUseBytes());
        }
    }
}
