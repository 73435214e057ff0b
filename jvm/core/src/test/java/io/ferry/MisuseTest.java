package io.ferry;

import static io.ferry.FerryNodeTest.LOOPBACK;
import static io.ferry.FerryNodeTest.fetchAll;
import static io.ferry.FerryNodeTest.id;
import static io.ferry.FerryNodeTest.randomBytes;
import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.After;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * Faults and misuse that must not crash the JVM (a crash fails the whole test run): a served file
 * truncated under its blocks, buffers read after their chunk or node is closed, calls after close,
 * null arguments.
 */
public class MisuseTest {
    @Rule public TemporaryFolder folder = new TemporaryFolder();

    private FerryNode server;
    private InetSocketAddress address;

    @Before
    public void start() {
        server = FerryNode.create();
        address = server.serve(LOOPBACK);
    }

    @After
    public void stop() {
        server.close();
    }

    private Region registerData(String name, byte[] data) throws IOException {
        Path file = folder.newFile(name).toPath();
        Files.write(file, data);
        return server.registerFile(file, 0, data.length);
    }

    /** Fetches one block whole, or fails the test. */
    private static byte[] fetchOne(FerryNode node, InetSocketAddress peer, String block) {
        Object got = fetchAll(node, Collections.singletonList(FetchRequest.of(peer, id(block))))[0];
        if (!(got instanceof ByteBuffer)) {
            throw new AssertionError(block + ": " + got);
        }
        return ((ByteBuffer) got).array();
    }

    /** Served from pread/sendfile, never a read through the mapping: SIGBUS killed the JVM before. */
    @Test
    public void aFileTruncatedUnderItsBlocksFailsTheirFetchesNotTheJvm() throws IOException {
        byte[] data = randomBytes(5, 4 << 20);
        Path file = folder.newFile("shuffle.data").toPath();
        Files.write(file, data);
        Region region = server.registerFile(file, 0, data.length);
        String[] lost = {"inline", "small", "big"};
        long[][] ranges = {{70_000, 100}, {80_000, 40_000}, {1 << 20, 2 << 20}};
        for (int i = 0; i < lost.length; i++) {
            server.registerBlock(id(lost[i]), region, ranges[i][0], ranges[i][1]);
        }
        server.registerBlock(id("kept"), region, 0, 60_000);
        server.registerBlock(id("other"), registerData("other.data", data), 0, 1 << 20);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            channel.truncate(60_000);
        }
        try (FerryNode client = FerryNode.create()) {
            Object[] got = fetchAll(client, Collections.singletonList(
                    FetchRequest.of(address, id("inline"), id("small"), id("big"), id("kept"))));
            for (int i = 0; i < lost.length; i++) {
                assertTrue(lost[i] + ": " + got[i], got[i] instanceof FerryPeerException);
                String message = ((Exception) got[i]).getMessage();
                assertTrue(message, message.contains("truncated after registration"));
                assertTrue(message, message.contains(file.toString()));
            }
            assertArrayEquals(Arrays.copyOf(data, 60_000), ((ByteBuffer) got[3]).array());
            assertArrayEquals(Arrays.copyOf(data, 1 << 20), fetchOne(client, address, "other"));
        }
    }

    /** Before: the view kept reading the pool buffer, which the next fetch had filled. */
    @Test
    public void aChunksBuffersAreEmptyAfterClose() {
        byte[] first = randomBytes(1, 50_000);
        byte[] second = randomBytes(2, 50_000);
        Region a = server.registerBuffer(ByteBuffer.allocateDirect(first.length).put(first).flip());
        Region b = server.registerBuffer(ByteBuffer.allocateDirect(second.length).put(second).flip());
        server.registerBlock(id("a"), a, 0, first.length);
        server.registerBlock(id("b"), b, 0, second.length);
        try (FerryNode client = FerryNode.create(Collections.singletonMap("ferry.pool.bytes", "1m"))) {
            ByteBuffer stale;
            try (FetchStream stream = client.fetch(Collections.singletonList(FetchRequest.of(address, id("a"))))) {
                FetchedChunk chunk = stream.next().chunk();
                stale = chunk.data();
                assertEquals(first[0], stale.get(0));
                chunk.close();
                chunk.close();
                try {
                    chunk.data();
                    fail("data() after close");
                } catch (IllegalStateException expected) {
                    // named as closed
                }
            }
            // The one pool buffer now holds block b.
            assertArrayEquals(second, fetchOne(client, address, "b"));
            assertEquals(0, stale.remaining());
            try {
                stale.get();
                fail("a closed chunk's buffer read");
            } catch (BufferUnderflowException expected) {
                // empty
            }
            try {
                stale.get(0);
                fail("a closed chunk's buffer read by index");
            } catch (IndexOutOfBoundsException expected) {
                // empty
            }
        }
    }

    /** Before: SIGSEGV, the pool was unmapped under the buffer at node close. */
    @Test
    public void buffersKeptPastTheirNodesCloseStillReadWithoutACrash() throws IOException {
        byte[] data = randomBytes(3, 300_000);
        server.registerBlock(id("d"), registerData("d", data), 0, data.length);
        ByteBuffer kept;
        FerryNode client = FerryNode.create();
        try (FetchStream stream = client.fetch(Collections.singletonList(FetchRequest.of(address, id("d"))))) {
            FetchedChunk chunk = stream.next().chunk();
            kept = chunk.data().duplicate(); // a copy of the view: close() cannot empty it
            chunk.close();
        }
        client.close();
        client.close();
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        byte[] read = new byte[kept.remaining()];
        kept.get(read);
        assertArrayEquals("nothing reused the closed node's pool", data, read);
    }

    @Test
    public void callsAfterCloseAndNullArgumentsThrowNotCrash() throws IOException {
        Region region = registerData("r", new byte[100]);
        server.registerBlock(id("r"), region, 0, 100);
        Map<String, String> nullValue = new HashMap<>();
        nullValue.put("ferry.pool.bytes", null);
        try {
            FerryNode.create(nullValue);
            fail("a null value");
        } catch (FerryConfigException expected) {
            assertTrue(expected.getMessage(), expected.getMessage().contains("ferry.pool.bytes"));
        }
        List<Runnable> misuse = Arrays.asList(
                () -> FerryNode.create(null),
                () -> FerryNode.checkSettings(null),
                () -> server.serve(null),
                () -> server.registerFile(null, 0, 1),
                () -> server.registerBuffer(null),
                () -> server.registerBlock(null, region, 0, 1),
                () -> server.registerBlock(id("x"), null, 0, 1),
                () -> server.registerSegmentedBlock(null, region, new long[] {0, 1}),
                () -> server.registerSegmentedBlock(id("x"), region, null),
                () -> server.removeBlock(null),
                () -> server.fetch(null),
                () -> server.fetch(Collections.singletonList(null)),
                () -> server.fetch(Collections.singletonList(new FetchRequest(address, Arrays.asList(id("r"), null)))),
                () -> FerryNode.segmentRunId(null, 0, 1));
        for (int i = 0; i < misuse.size(); i++) {
            try {
                misuse.get(i).run();
                fail("misuse " + i + " was accepted");
            } catch (RuntimeException expected) {
                // any clear exception: the JVM lives
            }
        }
        FetchStream stream = server.fetch(Collections.singletonList(FetchRequest.of(address, id("r"))));
        stream.close();
        stream.close();
        try {
            stream.next();
            fail("next() on a closed stream");
        } catch (IllegalStateException expected) {
            // closed
        }
        FetchStream open = server.fetch(Collections.singletonList(FetchRequest.of(address, id("r"))));
        server.close();
        region.close();
        region.close();
        server.close();
        for (Runnable call : Arrays.<Runnable>asList(
                () -> server.serve(LOOPBACK),
                () -> server.registerBlock(id("y"), region, 0, 1),
                () -> server.removeBlock(id("r")),
                () -> server.stats(),
                () -> server.fetch(Collections.emptyList()))) {
            try {
                call.run();
                fail("a call on a closed node");
            } catch (IllegalStateException expected) {
                // the node is closed
            }
        }
        // A stream opened before the node closed ends with failures or results, never a crash.
        for (FetchResult r = open.next(); r != null; r = open.next()) {
            if (r.chunk() != null) {
                r.chunk().close();
            }
        }
        open.close();
        server = FerryNode.create(); // for stop()
    }
}
