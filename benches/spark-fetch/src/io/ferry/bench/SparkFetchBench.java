package io.ferry.bench;

import io.ferry.FerryNode;
import io.ferry.FetchRequest;
import io.ferry.FetchResult;
import io.ferry.FetchStream;
import io.ferry.FetchedChunk;
import io.ferry.Region;
import io.netty.buffer.ByteBuf;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.CRC32;
import org.apache.spark.SparkConf;
import org.apache.spark.network.buffer.ManagedBuffer;
import org.apache.spark.network.netty.NettyBlockTransferService;
import org.apache.spark.network.shuffle.BlockFetchingListener;

/**
 * Ferry's fetcher against Spark's own {@link NettyBlockTransferService} on the same blocks of
 * the same file, in one run.
 *
 * <ul>
 *   <li>{@code serve --size S --bytes B --dir D}: writes B bytes of random data to a file in D,
 *       serves its S-sized segments both ways (a {@link FerryNode} on the tcp provider, the file
 *       registered as one region with a block per segment; a {@code NettyBlockTransferService}
 *       serving them as shuffle blocks through {@link SparkBlocks}), prints {@code manifest PATH}
 *       (the format {@code ferry serve --manifest} writes, plus {@code "netty_port"}) and serves
 *       until its stdin closes.
 *   <li>{@code run [--json OUT] ...}: for each block size starts a {@code serve} child, then
 *       fetches every block with each transport in this process, alternating, CRC32 of every
 *       block checked on both sides; prints a table and writes the JSON records.
 * </ul>
 */
public final class SparkFetchBench {
    static final double MIB = 1 << 20;
    static final long RESULT_TIMEOUT_SECONDS = 120;
    static final String EXECUTOR = "server";

    private SparkFetchBench() {}

    public static void main(String[] args) throws Exception {
        JvmFetchBench.Args a = new JvmFetchBench.Args(Arrays.copyOfRange(args, 1, args.length));
        switch (args.length == 0 ? "" : args[0]) {
            case "serve":
                serve(a);
                break;
            case "run":
                new Runner(a).run();
                System.exit(0); // Netty's and Ferry's non-daemon threads
                break;
            default:
                System.err.println("usage: SparkFetchBench run [--json OUT] [--sizes 32k,1m]"
                        + " [--bytes-per-size 256m] [--rounds 8] [--repeat 3] [--warmup 30]"
                        + " [--max-in-flight 48m] [--ferry-settings KEY=VALUE,...]"
                        + " [--dir DIR]\n"
                        + "       SparkFetchBench serve --size S --bytes B --dir DIR");
                System.exit(2);
        }
    }

    // ------------------------------------------------------------------ serve (child)

    static void serve(JvmFetchBench.Args a) throws IOException {
        long blockSize = JvmFetchBench.parseSize(a.get("--size", null));
        long count = Math.max(1, JvmFetchBench.parseSize(a.get("--bytes", null)) / blockSize);
        Path dir = Paths.get(a.get("--dir", null));
        Path data = dir.resolve("shuffle_0_" + blockSize + ".data");
        Path manifest = dir.resolve("m-" + blockSize + ".json");
        long[] crcs = writeData(data, blockSize, count);

        SparkConf conf = SparkBlocks.conf();
        NettyBlockTransferService netty =
                SparkBlocks.start(conf, new SparkBlocks(conf, data.toFile(), blockSize, count));
        try (FerryNode ferry = FerryNode.create(Collections.singletonMap("ferry.provider", "tcp"));
                Region region = ferry.registerFile(data, 0, count * blockSize)) {
            InetSocketAddress addr = ferry.serve(new InetSocketAddress(SparkBlocks.HOST, 0));
            StringBuilder m = new StringBuilder();
            m.append("{\"addr\": \"").append(SparkBlocks.HOST).append(':').append(addr.getPort())
                    .append("\", \"netty_port\": ").append(netty.port())
                    .append(", \"netty\": \"").append(SparkBlocks.transport(conf))
                    .append("\", \"blocks\": [\n");
            for (long i = 0; i < count; i++) {
                byte[] id = SparkBlocks.blockId(i).getBytes(StandardCharsets.UTF_8);
                ferry.registerBlock(id, region, i * blockSize, blockSize);
                m.append(i == 0 ? "" : ",\n").append("{\"id\": \"").append(SparkBlocks.blockId(i))
                        .append("\", \"len\": ").append(blockSize).append(", \"crc32\": ")
                        .append(crcs[(int) i]).append('}');
            }
            m.append("\n]}\n");
            Files.write(manifest, m.toString().getBytes(StandardCharsets.UTF_8));
            System.out.println("manifest " + manifest);
            System.out.flush();
            while (System.in.read() >= 0) {
                // serve until the runner closes our stdin
            }
        } finally {
            netty.close();
            Files.deleteIfExists(data);
            Files.deleteIfExists(manifest);
        }
    }

    /** Writes count blocks of seeded random bytes; returns each block's CRC32. */
    static long[] writeData(Path path, long blockSize, long count) throws IOException {
        long[] crcs = new long[Math.toIntExact(count)];
        SplittableRandom random = new SplittableRandom(42);
        byte[] piece = new byte[(int) Math.min(blockSize, 1 << 20)];
        CRC32 crc = new CRC32();
        try (FileChannel out = FileChannel.open(path, StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            for (int b = 0; b < count; b++) {
                crc.reset();
                for (long done = 0; done < blockSize; done += piece.length) {
                    random.nextBytes(piece);
                    crc.update(piece);
                    ByteBuffer buf = ByteBuffer.wrap(piece);
                    while (buf.hasRemaining()) {
                        out.write(buf);
                    }
                }
                crcs[b] = crc.getValue();
            }
        }
        return crcs;
    }

    // ------------------------------------------------------------------ the two clients

    /** Per-block order, length and CRC32 checks, the same work for both transports. */
    static final class Checker {
        final long[] lens;
        final long[] crcs;
        final long[] received;
        final CRC32[] hashers;
        int complete;

        Checker(JvmFetchBench.Manifest m) {
            lens = m.lens;
            crcs = m.crcs;
            received = new long[lens.length];
            hashers = new CRC32[lens.length];
            for (int i = 0; i < hashers.length; i++) {
                hashers[i] = new CRC32();
            }
        }

        void reset() {
            Arrays.fill(received, 0);
            for (CRC32 h : hashers) {
                h.reset();
            }
            complete = 0;
        }

        void update(int block, long offset, ByteBuffer data) {
            if (offset != received[block]) {
                throw new IllegalStateException("block " + block + ": piece at " + offset
                        + ", expected " + received[block]);
            }
            received[block] += data.remaining();
            hashers[block].update(data);
        }

        void complete(int block) {
            if (received[block] != lens[block] || hashers[block].getValue() != crcs[block]) {
                throw new IllegalStateException("block " + block + ": " + received[block]
                        + " bytes, crc32 " + hashers[block].getValue() + ", expected "
                        + lens[block] + " bytes, crc32 " + crcs[block]);
            }
            complete++;
        }

        /** @return the bytes of all blocks, once every block is complete */
        long finish() {
            if (complete != lens.length) {
                throw new IllegalStateException(complete + " of " + lens.length + " blocks");
            }
            return Arrays.stream(lens).sum();
        }
    }

    /** Ferry: one batched {@link FerryNode#fetch} of every block, chunks closed at once. */
    static final class FerryClient implements AutoCloseable {
        final FerryNode node;
        final List<FetchRequest> request;
        final Checker checker;

        FerryClient(JvmFetchBench.Manifest m, long maxInFlight, Map<String, String> extra,
                Checker checker) {
            Map<String, String> settings = new HashMap<>();
            settings.put("ferry.provider", "tcp");
            settings.put("ferry.fetch.inflight.bytes", Long.toString(maxInFlight));
            settings.putAll(extra);
            node = FerryNode.create(settings);
            request = Collections.singletonList(new FetchRequest(m.addr, m.ids));
            this.checker = checker;
        }

        /** @return MiB/s */
        double fetchAll() {
            checker.reset();
            long start = System.nanoTime();
            try (FetchStream stream = node.fetch(request)) {
                for (FetchResult r = stream.next(); r != null; r = stream.next()) {
                    if (r.failure() != null) {
                        throw new IllegalStateException("ferry: block " + r.block(), r.failure());
                    }
                    try (FetchedChunk chunk = r.chunk()) {
                        checker.update(chunk.block(), chunk.offset(), chunk.data());
                        if (chunk.isLast()) {
                            checker.complete(chunk.block());
                        }
                    }
                }
            }
            long nanos = System.nanoTime() - start;
            return checker.finish() / MIB / (nanos / 1e9);
        }

        @Override
        public void close() {
            node.close();
        }
    }

    /**
     * Netty: what Spark's ShuffleBlockFetcherIterator does with a remote executor's blocks.
     * Requests of up to maxSizeInFlight / 5 of blocks, sent while the bytes requested and not yet
     * consumed stay within maxSizeInFlight (Spark's default 48 MiB); {@code fetchBlocks} with no
     * {@code DownloadFileManager} (in memory); the listener retains each buffer and queues it; this
     * thread takes it, checks it and releases it, then sends what the bound allows.
     */
    static final class NettyClient implements AutoCloseable {
        final NettyBlockTransferService service;
        final int port;
        final long[] lens;
        final Map<String, Integer> index = new HashMap<>();
        final List<String[]> requests = new ArrayList<>();
        final List<Long> requestBytes = new ArrayList<>();
        final long maxInFlight;
        final Checker checker;

        NettyClient(JvmFetchBench.Manifest m, int port, long maxInFlight, Checker checker) {
            SparkConf conf = SparkBlocks.conf();
            service = SparkBlocks.start(conf, new SparkBlocks(conf, null, 0, 0));
            this.port = port;
            this.lens = m.lens;
            this.maxInFlight = maxInFlight;
            this.checker = checker;
            long target = Math.max(maxInFlight / 5, 1);
            List<String> ids = new ArrayList<>();
            long bytes = 0;
            for (int b = 0; b < m.ids.size(); b++) {
                String id = new String(m.ids.get(b), StandardCharsets.UTF_8);
                index.put(id, b);
                ids.add(id);
                bytes += lens[b];
                if (bytes >= target || b == m.ids.size() - 1) {
                    requests.add(ids.toArray(new String[0]));
                    requestBytes.add(bytes);
                    ids.clear();
                    bytes = 0;
                }
            }
        }

        /** @return MiB/s */
        double fetchAll() throws InterruptedException, IOException {
            checker.reset();
            BlockingQueue<Object[]> results = new LinkedBlockingQueue<>();
            BlockFetchingListener listener = new BlockFetchingListener() {
                @Override
                public void onBlockFetchSuccess(String blockId, ManagedBuffer data) {
                    data.retain();
                    results.add(new Object[] {blockId, data});
                }

                @Override
                public void onBlockFetchFailure(String blockId, Throwable failure) {
                    results.add(new Object[] {blockId, failure});
                }
            };
            long start = System.nanoTime();
            int next = 0;
            long inFlight = 0;
            for (int left = lens.length; left > 0; left--) {
                while (next < requests.size() && (inFlight == 0
                        || inFlight + requestBytes.get(next) <= maxInFlight)) {
                    inFlight += requestBytes.get(next);
                    service.fetchBlocks(SparkBlocks.HOST, port, EXECUTOR, requests.get(next),
                            listener, null);
                    next++;
                }
                Object[] r = results.poll(RESULT_TIMEOUT_SECONDS, TimeUnit.SECONDS);
                if (r == null) {
                    throw new IllegalStateException("netty: no block for "
                            + RESULT_TIMEOUT_SECONDS + " s");
                }
                if (r[1] instanceof Throwable) {
                    throw new IllegalStateException("netty: block " + r[0], (Throwable) r[1]);
                }
                int b = index.get((String) r[0]);
                ManagedBuffer data = (ManagedBuffer) r[1];
                inFlight -= lens[b];
                // The received frame may be a composite of socket reads: check its parts in
                // place (nioByteBuffer() would copy a composite into one buffer).
                ByteBuf bytes = (ByteBuf) data.convertToNetty();
                try {
                    for (ByteBuffer part : bytes.nioBuffers()) {
                        checker.update(b, checker.received[b], part);
                    }
                } finally {
                    bytes.release();
                    data.release();
                }
                checker.complete(b);
            }
            long nanos = System.nanoTime() - start;
            return checker.finish() / MIB / (nanos / 1e9);
        }

        @Override
        public void close() {
            service.close();
        }
    }

    // ------------------------------------------------------------------ run (orchestrator)

    static final class Runner {
        final String json;
        final List<String> sizes;
        final long bytesPerSize;
        final int rounds;
        final int repeat;
        final int warmup;
        final String maxInFlightText;
        final long maxInFlight;
        final Map<String, String> ferrySettings = new TreeMap<>();
        final String command;
        final Path dir;
        final List<String> records = new ArrayList<>();
        final List<String> table = new ArrayList<>();
        String loadAtStart;

        Runner(JvmFetchBench.Args a) throws IOException {
            json = a.flag("--json") ? a.get("--json", null) : null;
            sizes = Arrays.asList(a.get("--sizes", "32k,1m").split(","));
            bytesPerSize = JvmFetchBench.parseSize(a.get("--bytes-per-size", "256m"));
            rounds = Integer.parseInt(a.get("--rounds", "8"));
            repeat = Integer.parseInt(a.get("--repeat", "3"));
            // Netty's pipeline needs some 20 repetitions before C2 has compiled it on 2 vCPUs (with 6
            // it ran at half its steady rate at 1 MiB); executors are long-lived: steady state.
            warmup = Integer.parseInt(a.get("--warmup", "30"));
            // Spark's default spark.reducer.maxSizeInFlight, for both transports.
            maxInFlightText = a.get("--max-in-flight", "48m");
            maxInFlight = JvmFetchBench.parseSize(maxInFlightText);
            // Extra client settings, e.g. ferry.pool.buffer.size=64k; default: none.
            for (String kv : a.get("--ferry-settings", "").split(",")) {
                if (!kv.isEmpty()) {
                    ferrySettings.put(kv.substring(0, kv.indexOf('=')),
                            kv.substring(kv.indexOf('=') + 1));
                }
            }
            command = a.get("--command", "bash benches/spark-fetch/run.sh");
            String base = a.get("--dir", System.getProperty("java.io.tmpdir"));
            dir = Files.createTempDirectory(Paths.get(base), "ferry-spark-fetch");
        }

        void run() throws Exception {
            loadAtStart = JvmFetchBench.loadAverage();
            log("machine: %s", machine());
            try {
                for (String size : sizes) {
                    throughput(size.trim());
                }
            } finally {
                Files.deleteIfExists(dir); // each server deletes its own files
            }
            System.out.println();
            System.out.println("| Block size | Ferry | Spark Netty | Ratio (best) | Ratio (median)"
                    + " | Target |");
            System.out.println("|---|---|---|---|---|---|");
            table.forEach(System.out::println);
            if (json != null) {
                Path out = Paths.get(json).toAbsolutePath();
                Files.createDirectories(out.getParent());
                Files.writeString(out, "[\n" + String.join(",\n", records) + "\n]\n");
                System.out.println("wrote " + json);
            }
        }

        void throughput(String size) throws Exception {
            long blockSize = JvmFetchBench.parseSize(size);
            double target = blockSize <= (32 << 10) ? 1.5 : 1.2;
            try (Server server = new Server(size, bytesPerSize, dir)) {
                JvmFetchBench.Manifest m = JvmFetchBench.Manifest.read(server.manifest);
                String text = new String(Files.readAllBytes(server.manifest),
                        StandardCharsets.UTF_8);
                int nettyPort = Integer.parseInt(field(text, "\"netty_port\": ([0-9]+)"));
                String netty = field(text, "\"netty\": \"([^\"]*)\"");
                long total = Arrays.stream(m.lens).sum();
                String inFlight = maxInFlightText;
                log("%s blocks: %d blocks, %d bytes; netty %s; %d warmup repetitions, then %d"
                        + " rounds of %d repetitions per side", size, m.lens.length, total, netty,
                        warmup, rounds, repeat);
                List<Double> ferry = new ArrayList<>();
                List<Double> spark = new ArrayList<>();
                // CPU ticks (client process, server process) over all timed repetitions, per side.
                long[][] ticks = new long[2][2];
                Checker checker = new Checker(m);
                try (FerryClient f = new FerryClient(m, maxInFlight, ferrySettings, checker);
                        NettyClient n = new NettyClient(m, nettyPort, maxInFlight, checker)) {
                    for (int i = 0; i < warmup; i++) {
                        f.fetchAll();
                        n.fetchAll();
                    }
                    for (int round = 1; round <= rounds; round++) {
                        server.check();
                        // Alternate which side goes first: neither always gets the warmer machine.
                        boolean ferryFirst = round % 2 == 1;
                        double[] best = new double[2];
                        for (int side = 0; side < 2; side++) {
                            boolean isFerry = (side == 0) == ferryFirst;
                            for (int r = 0; r < repeat; r++) {
                                long client = cpuTicks(ProcessHandle.current().pid());
                                long serving = cpuTicks(server.process.pid());
                                double mibs = isFerry ? f.fetchAll() : n.fetchAll();
                                ticks[isFerry ? 0 : 1][0] +=
                                        cpuTicks(ProcessHandle.current().pid()) - client;
                                ticks[isFerry ? 0 : 1][1] +=
                                        cpuTicks(server.process.pid()) - serving;
                                (isFerry ? ferry : spark).add(mibs);
                                best[isFerry ? 0 : 1] = Math.max(best[isFerry ? 0 : 1], mibs);
                            }
                        }
                        log("  %s round %d: ferry %.0f MiB/s, netty %.0f MiB/s (best of %d each;"
                                + " load %s)", size, round, best[0], best[1], repeat,
                                JvmFetchBench.loadAverage());
                    }
                }
                double bestFerry = Collections.max(ferry);
                double bestNetty = Collections.max(spark);
                double ratio = bestFerry / bestNetty;
                double medianRatio = median(ferry) / median(spark);
                boolean met = ratio >= target;
                String detail = String.format(Locale.ROOT, "%d blocks of %s (%d bytes) from one"
                        + " file, every block fetched per repetition, CRC32 of every block checked"
                        + " on both sides; Ferry: FerryNode.fetch of all blocks in one batch"
                        + " (tcp provider, ferry.fetch.inflight.bytes=%s%s); Netty: Spark's"
                        + " NettyBlockTransferService.fetchBlocks as ShuffleBlockFetcherIterator"
                        + " calls it (requests of <= %s / 5, <= %s requested and not yet"
                        + " consumed), server blocks as FileSegmentManagedBuffer, %s; both servers"
                        + " in one JVM, both clients in another; best of %d rounds x %d"
                        + " repetitions per side after %d warmup repetitions each, alternating;"
                        + " median ratio %.3f; MiB = 2^20 bytes; load average %s at the start, %s"
                        + " here", m.lens.length, size, total, inFlight,
                        ferrySettings.isEmpty() ? "" : ", " + ferrySettings, inFlight, inFlight,
                        netty, rounds, repeat, warmup, medianRatio, loadAtStart,
                        JvmFetchBench.loadAverage());
                StringBuilder b = new StringBuilder();
                b.append("  {\n");
                b.append(String.format(Locale.ROOT, "    \"name\": \"throughput_%s\",\n", size));
                b.append(String.format(Locale.ROOT, "    \"ferry\": %.1f,\n", bestFerry));
                b.append(String.format(Locale.ROOT, "    \"baseline\": %.1f,\n", bestNetty));
                b.append(String.format(Locale.ROOT, "    \"ratio\": %.3f,\n", ratio));
                b.append("    \"unit\": \"MiB/s\",\n");
                b.append(String.format(Locale.ROOT, "    \"ferry_median\": %.1f,\n",
                        median(ferry)));
                b.append(String.format(Locale.ROOT, "    \"baseline_median\": %.1f,\n",
                        median(spark)));
                // ms of CPU per GiB moved: 10 ms a tick (USER_HZ 100), bytes from all repetitions.
                double gib = (double) rounds * repeat * total / (1 << 30);
                double[] ms = new double[4];
                for (int i = 0; i < 4; i++) {
                    ms[i] = ticks[i / 2][i % 2] * 10 / gib;
                }
                String cpu = "    \"%s_cpu_ms_per_gib\": {\"client\": %.0f, \"server\": %.0f},\n";
                b.append(String.format(Locale.ROOT, cpu, "ferry", ms[0], ms[1]));
                b.append(String.format(Locale.ROOT, cpu, "baseline", ms[2], ms[3]));
                b.append(String.format(Locale.ROOT, "    \"target\": \"ratio >= %.1f\",\n",
                        target));
                b.append(String.format(Locale.ROOT, "    \"met\": %s,\n", met));
                b.append(String.format(Locale.ROOT, "    \"machine\": \"%s\",\n",
                        JvmFetchBench.jsonEscape(machine())));
                b.append(String.format(Locale.ROOT, "    \"detail\": \"%s\",\n",
                        JvmFetchBench.jsonEscape(detail)));
                b.append(String.format(Locale.ROOT, "    \"command\": \"%s\"\n",
                        JvmFetchBench.jsonEscape(command)));
                b.append("  }");
                records.add(b.toString());
                log("  %s CPU ms per GiB, client + server: ferry %.0f + %.0f, netty %.0f + %.0f",
                        size, ms[0], ms[1], ms[2], ms[3]);
                table.add(String.format(Locale.ROOT, "| %s | %s MiB/s | %s MiB/s | %.2fx | %.2fx"
                        + " | >= %.1f: %s |", size, JvmFetchBench.fmt(bestFerry),
                        JvmFetchBench.fmt(bestNetty), ratio, medianRatio, target,
                        met ? "met" : "MISSED"));
            }
        }

        static String field(String text, String regex) {
            Matcher matcher = Pattern.compile(regex).matcher(text);
            if (!matcher.find()) {
                throw new IllegalStateException("manifest without " + regex);
            }
            return matcher.group(1);
        }

        static double median(List<Double> samples) {
            double[] s = samples.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            int half = s.length / 2;
            return s.length % 2 == 1 ? s[half] : (s[half - 1] + s[half]) / 2;
        }

        /** utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15). */
        static long cpuTicks(long pid) throws IOException {
            String stat = new String(Files.readAllBytes(Paths.get("/proc/" + pid + "/stat")),
                    StandardCharsets.US_ASCII);
            // Fields after the command name, which is in parentheses and may hold spaces.
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(f[11]) + Long.parseLong(f[12]);
        }

        static String machine() {
            String cpu = "?";
            try {
                for (String line : Files.readAllLines(Paths.get("/proc/cpuinfo"))) {
                    if (line.startsWith("model name")) {
                        cpu = line.substring(line.indexOf(':') + 1).trim();
                        break;
                    }
                }
            } catch (IOException e) {
                // keep "?"
            }
            return Runtime.getRuntime().availableProcessors() + " vCPU VM (" + cpu + "), "
                    + System.getProperty("os.name") + " " + System.getProperty("os.version")
                    + ", Java " + System.getProperty("java.version") + ", loopback (127.0.0.1)";
        }

        void log(String format, Object... args) {
            System.out.println(String.format(Locale.ROOT, format, args));
        }
    }

    /** A {@code serve} child JVM: ready once it prints its manifest, stops when stdin closes. */
    static final class Server implements AutoCloseable {
        final Process process;
        final Path manifest;

        Server(String size, long bytes, Path dir) throws IOException {
            List<String> command = new ArrayList<>(Arrays.asList(
                    Paths.get(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx1g", "-cp", System.getProperty("java.class.path")));
            String log4j = System.getProperty("log4j2.configurationFile");
            if (log4j != null) {
                command.add("-Dlog4j2.configurationFile=" + log4j);
            }
            command.addAll(Arrays.asList(SparkFetchBench.class.getName(), "serve", "--size", size,
                    "--bytes", Long.toString(bytes), "--dir", dir.toString()));
            process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT)
                    .start();
            // Writing and checksumming the file takes a few seconds; readLine returns null if the
            // child dies first.
            BufferedReader out = new BufferedReader(
                    new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            String line = out.readLine();
            if (line == null || !line.startsWith("manifest ")) {
                process.destroyForcibly();
                throw new IllegalStateException("the server did not start: " + line);
            }
            manifest = Paths.get(line.substring("manifest ".length()));
        }

        void check() {
            if (!process.isAlive()) {
                throw new IllegalStateException("the server exited: " + process.exitValue());
            }
        }

        @Override
        public void close() throws IOException {
            process.getOutputStream().close();
            try {
                if (process.waitFor(30, TimeUnit.SECONDS)) {
                    return;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            process.destroyForcibly();
        }
    }
}
