package io.ferry.consumer;

import io.ferry.BlockFetcher;
import io.ferry.ChunkListener;
import io.ferry.FerryException;
import io.ferry.FerryNode;
import io.ferry.FerryPeerException;
import io.ferry.FetchRequest;
import io.ferry.FetchResult;
import io.ferry.FetchStream;
import io.ferry.FetchedChunk;
import io.ferry.NodeStats;
import io.ferry.Region;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;

/**
 * Uses ferry-core as an application would, from the published jar: a server JVM (spawned by this
 * one) serves a generated file as file-backed blocks, and this JVM fetches every block back
 * through {@link FetchStream} and through {@link BlockFetcher}, checking the CRC32 of each.
 *
 * <p>{@code ConsumerMain [--size BYTES] [--block-size BYTES]} runs the client (the default);
 * {@code ConsumerMain serve FILE BLOCK_SIZE} is the server it spawns, which prints {@code
 * listening on HOST:PORT} and serves until its standard input closes. Exit status 0 when every
 * block verified, 1 on any mismatch or failure.
 */
public final class ConsumerMain {
    static final String WHOLE = "whole";
    static final long TIMEOUT_SECONDS = 120;

    private final List<String> problems = new ArrayList<>();

    private ConsumerMain() {}

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("serve")) {
            serve(Paths.get(args[1]), Long.parseLong(args[2]));
            return;
        }
        long size = (6L << 20) + 4321; // not a multiple of the block size: a short last block
        long blockSize = 256 << 10;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--size":
                    size = parseSize(args[++i]);
                    break;
                case "--block-size":
                    blockSize = parseSize(args[++i]);
                    break;
                default:
                    System.err.println("usage: ConsumerMain [--size BYTES] [--block-size BYTES]"
                            + " | serve FILE BLOCK_SIZE");
                    System.exit(2);
            }
        }
        int status;
        try {
            status = new ConsumerMain().run(size, blockSize);
        } catch (Exception | AssertionError e) {
            e.printStackTrace();
            System.err.println("ferry consumer: FAILED: " + e);
            status = 1;
        }
        System.exit(status);
    }

    static long parseSize(String text) {
        String t = text.trim().toLowerCase();
        long unit = 1;
        char last = t.charAt(t.length() - 1);
        if (last == 'k' || last == 'm' || last == 'g') {
            unit = last == 'k' ? 1L << 10 : last == 'm' ? 1L << 20 : 1L << 30;
            t = t.substring(0, t.length() - 1);
        }
        return Long.parseLong(t) * unit;
    }

    static byte[] id(String name) {
        return name.getBytes(StandardCharsets.UTF_8);
    }

    static String blockName(int i) {
        return "block-" + i;
    }

    // ---------------------------------------------------------------- server (second JVM)

    /** Serves FILE cut into blocks {@code block-<i>}, plus {@value #WHOLE} for the whole file. */
    static void serve(Path file, long blockSize) throws IOException {
        long length = Files.size(file);
        try (FerryNode node = FerryNode.create();
                Region region = node.registerFile(file, 0, length)) {
            int blocks = 0;
            for (long offset = 0; offset < length; offset += blockSize) {
                node.registerBlock(id(blockName(blocks++)), region, offset,
                        Math.min(blockSize, length - offset));
            }
            node.registerBlock(id(WHOLE), region, 0, length);
            InetSocketAddress address = node.serve(new InetSocketAddress("127.0.0.1", 0));
            System.out.println("listening on " + address.getHostString() + ":" + address.getPort());
            System.out.flush();
            // Serve until the client closes our standard input (or dies).
            InputStream in = System.in;
            byte[] sink = new byte[256];
            while (in.read(sink) >= 0) {
                // nothing to do
            }
            NodeStats stats = node.stats();
            System.err.println("ferry consumer server: served " + stats.bytesServed() + " bytes, "
                    + stats.readsServed() + " READs, " + stats.blocksInlined() + " inlined");
        }
    }

    // ---------------------------------------------------------------- client (this JVM)

    private int run(long size, long blockSize) throws Exception {
        Path dir = Files.createTempDirectory("ferry-consumer");
        Path file = dir.resolve("data.bin");
        try {
            return run(file, size, blockSize);
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
        }
    }

    private int run(Path file, long size, long blockSize) throws Exception {
        byte[] content = new byte[Math.toIntExact(size)];
        new Random(20241125L).nextBytes(content);
        Files.write(file, content);

        // What every block must hash to: block-<i>, then the whole file.
        List<String> names = new ArrayList<>();
        List<Long> lengths = new ArrayList<>();
        List<Long> crcs = new ArrayList<>();
        for (long offset = 0; offset < size; offset += blockSize) {
            int len = (int) Math.min(blockSize, size - offset);
            CRC32 crc = new CRC32();
            crc.update(content, (int) offset, len);
            names.add(blockName(names.size()));
            lengths.add((long) len);
            crcs.add(crc.getValue());
        }
        CRC32 whole = new CRC32();
        whole.update(content);
        names.add(WHOLE);
        lengths.add(size);
        crcs.add(whole.getValue());
        List<byte[]> ids = new ArrayList<>();
        for (String name : names) {
            ids.add(id(name));
        }

        Process server = startServer(file, blockSize);
        try (FerryNode client = FerryNode.create(Collections.singletonMap("ferry.pool.bytes", "64m"))) {
            InetSocketAddress address = awaitAddress(server);
            List<FetchRequest> request = Collections.singletonList(new FetchRequest(address, ids));

            long start = System.nanoTime();
            Verifier viaStream = new Verifier("FetchStream", names, lengths, crcs);
            try (FetchStream stream = client.fetch(request)) {
                for (FetchResult r = stream.next(); r != null; r = stream.next()) {
                    if (r.failure() != null) {
                        viaStream.failed(r.block(), r.failure());
                    } else {
                        try (FetchedChunk chunk = r.chunk()) {
                            viaStream.chunk(chunk);
                        }
                    }
                }
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            viaStream.finish();

            ExecutorService pool = Executors.newFixedThreadPool(2);
            Verifier viaFetcher = new Verifier("BlockFetcher", names, lengths, crcs);
            try {
                BlockFetcher fetcher = new BlockFetcher(client, pool);
                CompletableFuture<Void> done = fetcher.fetch(request, new ChunkListener() {
                    @Override
                    public void onChunk(FetchedChunk chunk) {
                        try (FetchedChunk c = chunk) {
                            viaFetcher.chunk(c);
                        }
                    }

                    @Override
                    public void onFailure(int block, FerryException failure) {
                        viaFetcher.failed(block, failure);
                    }
                });
                done.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                viaFetcher.finish();

                // Whole blocks into heap buffers, and a block the server never registered.
                List<ByteBuffer> heap = fetcher.fetchBlocks(Collections.singletonList(
                        FetchRequest.of(address, id(names.get(0)), id(WHOLE))))
                        .get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                check(crcOf(heap.get(0)) == crcs.get(0), "fetchBlocks: block-0 crc32");
                check(crcOf(heap.get(1)) == crcs.get(names.size() - 1), "fetchBlocks: whole crc32");
                try {
                    fetcher.fetchBlocks(Collections.singletonList(
                            FetchRequest.of(address, id("no-such-block"))))
                            .get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                    check(false, "an unknown block must fail");
                } catch (java.util.concurrent.ExecutionException e) {
                    check(e.getCause() instanceof FerryPeerException,
                            "an unknown block fails with FerryPeerException, got " + e.getCause());
                }
            } finally {
                pool.shutdownNow();
            }

            NodeStats stats = client.stats();
            check(stats.poolInUseBytes() == 0, "every chunk returned to the pool: " + stats);
            // Two passes over every block (the blocks and the whole file: 2 * size each), then
            // block-0 and the whole file once more; the unknown block moves nothing.
            long expectedBytes = 2 * 2 * size + lengths.get(0) + size;
            check(stats.bytesFetched() == expectedBytes,
                    "bytes fetched " + stats.bytesFetched() + ", expected " + expectedBytes);
            problems.addAll(viaStream.problems);
            problems.addAll(viaFetcher.problems);
            stopServer(server);

            if (!problems.isEmpty()) {
                for (String p : problems) {
                    System.err.println("  " + p);
                }
                System.out.println("ferry consumer: FAILED: " + problems.size() + " problem(s)");
                return 1;
            }
            System.out.printf("ferry consumer: OK: 2 nodes (server JVM pid %d), %d bytes file-backed"
                    + " in %d blocks of %d + 1 whole-file block; crc32 of all %d blocks verified"
                    + " via FetchStream and BlockFetcher; %d chunks; first pass %.1f MB/s%n",
                    server.pid(), size, names.size() - 1, blockSize, names.size(),
                    viaStream.chunks + viaFetcher.chunks, 2 * size / seconds / 1e6);
            return 0;
        } finally {
            server.destroyForcibly();
        }
    }

    private void check(boolean ok, String what) {
        if (!ok) {
            problems.add(what);
        }
    }

    static long crcOf(ByteBuffer buffer) {
        CRC32 crc = new CRC32();
        crc.update(buffer.duplicate());
        return crc.getValue();
    }

    private static Process startServer(Path file, long blockSize) throws IOException {
        String java = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new ArrayList<>();
        command.add(java);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        String level = System.getProperty("org.slf4j.simpleLogger.defaultLogLevel");
        if (level != null) {
            command.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=" + level);
        }
        command.add(ConsumerMain.class.getName());
        command.add("serve");
        command.add(file.toString());
        command.add(Long.toString(blockSize));
        return new ProcessBuilder(command)
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
    }

    /** Waits for the server's {@code listening on HOST:PORT} line. */
    private static InetSocketAddress awaitAddress(Process server) throws Exception {
        CompletableFuture<String> line = CompletableFuture.supplyAsync(() -> {
            try {
                BufferedReader reader = new BufferedReader(
                        new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
                for (String l = reader.readLine(); l != null; l = reader.readLine()) {
                    if (l.startsWith("listening on ")) {
                        return l.substring("listening on ".length()).trim();
                    }
                }
                throw new IllegalStateException("the server JVM exited before listening");
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        String hostPort = line.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        int colon = hostPort.lastIndexOf(':');
        return new InetSocketAddress(hostPort.substring(0, colon),
                Integer.parseInt(hostPort.substring(colon + 1)));
    }

    private void stopServer(Process server) throws Exception {
        OutputStream stdin = server.getOutputStream();
        stdin.close();
        if (!server.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            problems.add("the server JVM did not exit after its stdin closed");
        } else if (server.exitValue() != 0) {
            problems.add("the server JVM exited with status " + server.exitValue());
        }
    }

    /** Checks chunk order, lengths and each block's CRC32 as chunks arrive. */
    static final class Verifier {
        final String via;
        final List<String> names;
        final List<Long> lengths;
        final List<Long> crcs;
        final Map<Integer, CRC32> running = new HashMap<>();
        final long[] received;
        final boolean[] done;
        final List<String> problems = new ArrayList<>();
        long chunks;

        Verifier(String via, List<String> names, List<Long> lengths, List<Long> crcs) {
            this.via = via;
            this.names = names;
            this.lengths = lengths;
            this.crcs = crcs;
            this.received = new long[names.size()];
            this.done = new boolean[names.size()];
        }

        synchronized void chunk(FetchedChunk chunk) {
            chunks++;
            int b = chunk.block();
            String name = via + " " + names.get(b);
            if (chunk.blockLength() != lengths.get(b)) {
                problems.add(name + ": block length " + chunk.blockLength() + ", expected "
                        + lengths.get(b));
                return;
            }
            if (chunk.offset() != received[b]) {
                problems.add(name + ": chunk at " + chunk.offset() + ", expected " + received[b]);
                return;
            }
            ByteBuffer data = chunk.data();
            received[b] += data.remaining();
            running.computeIfAbsent(b, k -> new CRC32()).update(data);
            if (chunk.isLast()) {
                done[b] = true;
                long crc = running.remove(b).getValue();
                if (received[b] != lengths.get(b)) {
                    problems.add(name + ": " + received[b] + " bytes, expected " + lengths.get(b));
                } else if (crc != crcs.get(b)) {
                    problems.add(String.format("%s: crc32 %08x, expected %08x", name, crc,
                            crcs.get(b)));
                }
            }
        }

        synchronized void failed(int block, FerryException failure) {
            problems.add(via + " " + names.get(block) + ": failed: " + failure);
        }

        synchronized void finish() {
            for (int b = 0; b < done.length; b++) {
                if (!done[b]) {
                    problems.add(via + " " + names.get(b) + ": incomplete, " + received[b]
                            + " of " + lengths.get(b) + " bytes");
                }
            }
        }
    }
}
