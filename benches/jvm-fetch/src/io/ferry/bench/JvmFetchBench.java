package io.ferry.bench;

import io.ferry.FerryNode;
import io.ferry.FetchRequest;
import io.ferry.FetchResult;
import io.ferry.FetchStream;
import io.ferry.FetchedChunk;
import java.io.BufferedOutputStream;
import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.CRC32;

/**
 * Ferry's JVM fetch path against the Rust-native one on the same workload.
 *
 * <ul>
 *   <li>{@code fetch --manifest M.json [--repeat R] [--warmup W]}: the JVM twin of {@code ferry
 *       fetch}. One {@link FerryNode}, one batched {@link FerryNode#fetch} of every block of the
 *       manifest per repetition, each chunk's bytes fed to a per-block CRC32 that is checked at the
 *       block's last chunk (exactly what {@code ferry fetch} does per chunk), the chunk closed at
 *       once. Prints one line per repetition, like {@code ferry fetch}, plus the nanoseconds.
 *   <li>{@code run --ferry PATH [--json OUT] ...}: starts {@code ferry serve --generate} servers
 *       and runs {@code ferry fetch} and the JVM {@code fetch} above as child processes,
 *       alternating, for throughput at each block size and for single-block 4 KiB latency; prints
 *       a table and writes the JSON records.
 * </ul>
 */
public final class JvmFetchBench {
    static final long CHILD_TIMEOUT_SECONDS = 600;
    static final Pattern MB_PER_S = Pattern.compile("MB/s ([0-9.]+)");
    static final Pattern NANOS = Pattern.compile(", ns ([0-9]+)");

    private JvmFetchBench() {}

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            usage();
        }
        Args a = new Args(Arrays.copyOfRange(args, 1, args.length));
        switch (args[0]) {
            case "fetch":
                System.exit(fetch(a));
                break;
            case "run":
                new Runner(a).run();
                break;
            default:
                usage();
        }
    }

    static void usage() {
        System.err.println("usage: JvmFetchBench fetch --manifest M.json [--repeat R] [--warmup W]\n"
                + "       JvmFetchBench run --ferry PATH [--json OUT] [--sizes 4k,32k,256k,1m]"
                + " [--bytes-per-size 256m] [--rounds 5] [--repeat 5] [--warmup 10]"
                + " [--latency-iterations 5000] [--latency-warmup 10000] [--no-pinned]");
        System.exit(2);
    }

    // ------------------------------------------------------------------ fetch (child)

    static int fetch(Args a) throws IOException {
        Manifest manifest = Manifest.read(Paths.get(a.get("--manifest", null)));
        int repeat = Integer.parseInt(a.get("--repeat", "1"));
        int warmup = Integer.parseInt(a.get("--warmup", "0"));
        int n = manifest.ids.size();
        long[] lens = manifest.lens;
        long[] crcs = manifest.crcs;
        PrintStream out = new PrintStream(
                new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 1 << 16), false,
                "UTF-8");
        try (FerryNode node = FerryNode.create()) {
            // Built once, outside the timed region, as ferry fetch builds its id list first.
            List<FetchRequest> request =
                    Collections.singletonList(new FetchRequest(manifest.addr, manifest.ids));
            long[] received = new long[n];
            boolean[] done = new boolean[n];
            CRC32[] hashers = new CRC32[n];
            for (int i = 0; i < n; i++) {
                hashers[i] = new CRC32();
            }
            for (int round = -warmup + 1; round <= repeat; round++) {
                // Per-block state reset before the clock starts (ferry fetch allocates it there).
                Arrays.fill(received, 0);
                Arrays.fill(done, false);
                for (CRC32 h : hashers) {
                    h.reset();
                }
                long bytes = 0;
                int bad = 0;
                String firstProblem = null;
                long start = System.nanoTime();
                try (FetchStream stream = node.fetch(request)) {
                    for (FetchResult r = stream.next(); r != null; r = stream.next()) {
                        if (r.failure() != null) {
                            bad++;
                            if (firstProblem == null) {
                                firstProblem = "block " + r.block() + " failed: " + r.failure();
                            }
                            continue;
                        }
                        try (FetchedChunk chunk = r.chunk()) {
                            int b = chunk.block();
                            ByteBuffer data = chunk.data();
                            int len = data.remaining();
                            bytes += len;
                            if (chunk.blockLength() != lens[b] || chunk.offset() != received[b]
                                    || done[b]) {
                                bad++;
                                if (firstProblem == null) {
                                    firstProblem = "block " + b + ": bad chunk at " + chunk.offset();
                                }
                                continue;
                            }
                            CRC32 h = hashers[b];
                            h.update(data);
                            received[b] += len;
                            if (chunk.isLast()) {
                                done[b] = true;
                                if (received[b] != lens[b] || h.getValue() != crcs[b]) {
                                    bad++;
                                    if (firstProblem == null) {
                                        firstProblem = "block " + b + ": crc32 mismatch";
                                    }
                                }
                            }
                        }
                    }
                }
                long nanos = System.nanoTime() - start;
                for (int b = 0; b < n; b++) {
                    if (!done[b]) {
                        bad++;
                        if (firstProblem == null) {
                            firstProblem = "block " + b + ": incomplete";
                        }
                    }
                }
                if (bad > 0) {
                    System.err.println("jvm fetch: " + bad + " of " + n + " blocks failed; first: "
                            + firstProblem);
                    return 1;
                }
                if (round >= 1) {
                    // One write(2) per line, as ferry fetch does (System.out would issue several:
                    // its buffer is 128 bytes and the formatter writes piece by piece).
                    // Plain concatenation: String.format would keep the JIT busy for seconds.
                    long tenths = Math.round(bytes * 1e4 / nanos);
                    out.print("[" + round + "/" + repeat + "] blocks " + n + ", bytes " + bytes
                            + ", MB/s " + tenths / 10 + "." + tenths % 10 + ", ns " + nanos + "\n");
                    out.flush();
                }
            }
        }
        out.flush();
        return 0;
    }

    /** What {@code ferry serve --manifest} writes: {"addr", "blocks": [{"id", "len", "crc32"}]}. */
    static final class Manifest {
        final InetSocketAddress addr;
        final List<byte[]> ids = new ArrayList<>();
        final long[] lens;
        final long[] crcs;

        private Manifest(InetSocketAddress addr, List<String> ids, List<Long> lens, List<Long> crcs) {
            this.addr = addr;
            for (String id : ids) {
                this.ids.add(id.getBytes(StandardCharsets.UTF_8));
            }
            this.lens = lens.stream().mapToLong(Long::longValue).toArray();
            this.crcs = crcs.stream().mapToLong(Long::longValue).toArray();
        }

        static Manifest read(Path path) throws IOException {
            // The manifest is flat JSON written by serde_json: a small regex reader is enough.
            String text = new String(Files.readAllBytes(path), StandardCharsets.UTF_8);
            Matcher addr = Pattern.compile("\"addr\"\\s*:\\s*\"([^\"]+)\"").matcher(text);
            if (!addr.find()) {
                throw new IOException(path + ": no \"addr\"");
            }
            String hostPort = addr.group(1);
            int colon = hostPort.lastIndexOf(':');
            InetSocketAddress address = new InetSocketAddress(
                    hostPort.substring(0, colon).replace("[", "").replace("]", ""),
                    Integer.parseInt(hostPort.substring(colon + 1)));
            List<String> ids = new ArrayList<>();
            List<Long> lens = new ArrayList<>();
            List<Long> crcs = new ArrayList<>();
            Pattern idP = Pattern.compile("\"id\"\\s*:\\s*\"([^\"]*)\"");
            Pattern lenP = Pattern.compile("\"len\"\\s*:\\s*([0-9]+)");
            Pattern crcP = Pattern.compile("\"crc32\"\\s*:\\s*([0-9]+)");
            Matcher block = Pattern.compile("\\{[^{}]*\\}").matcher(
                    text.substring(text.indexOf("\"blocks\"")));
            while (block.find()) {
                String b = block.group();
                ids.add(field(idP, b, path));
                lens.add(Long.parseLong(field(lenP, b, path)));
                crcs.add(Long.parseLong(field(crcP, b, path)));
            }
            return new Manifest(address, ids, lens, crcs);
        }

        private static String field(Pattern p, String block, Path path) throws IOException {
            Matcher m = p.matcher(block);
            if (!m.find()) {
                throw new IOException(path + ": block without " + p.pattern() + ": " + block);
            }
            return m.group(1);
        }
    }

    // ------------------------------------------------------------------ run (orchestrator)

    static final class Runner {
        final String ferry;
        final String json;
        final List<String> sizes;
        final long bytesPerSize;
        final int rounds;
        final int repeat;
        final int warmup;
        final int latencyIterations;
        final int latencyWarmup;
        final boolean pinned;
        final String command;
        final Path dir;
        final List<String> records = new ArrayList<>();
        final List<String[]> table = new ArrayList<>();
        String loadAtStart;

        Runner(Args a) throws IOException {
            ferry = a.get("--ferry", "target/release/ferry");
            json = a.get("--json", null);
            sizes = Arrays.asList(a.get("--sizes", "4k,32k,256k,1m").split(","));
            bytesPerSize = parseSize(a.get("--bytes-per-size", "256m"));
            rounds = Integer.parseInt(a.get("--rounds", "5"));
            repeat = Integer.parseInt(a.get("--repeat", "5"));
            warmup = Integer.parseInt(a.get("--warmup", "10"));
            latencyIterations = Integer.parseInt(a.get("--latency-iterations", "5000"));
            latencyWarmup = Integer.parseInt(a.get("--latency-warmup", "10000"));
            pinned = !a.flag("--no-pinned") && Files.isExecutable(Paths.get("/usr/bin/taskset"));
            command = a.get("--command", "bash benches/jvm-fetch/run.sh");
            dir = Files.createTempDirectory("ferry-jvm-fetch");
        }

        void run() throws Exception {
            loadAtStart = loadAverage();
            try {
                for (String size : sizes) {
                    throughput(size.trim());
                }
                if (latencyIterations > 0) {
                    latency(false);
                    if (pinned) {
                        latency(true);
                    }
                }
            } finally {
                try (java.util.stream.Stream<Path> files = Files.list(dir)) {
                    for (Path p : (Iterable<Path>) files::iterator) {
                        Files.deleteIfExists(p);
                    }
                }
                Files.deleteIfExists(dir);
            }
            printTable();
            if (json != null) {
                Path out = Paths.get(json);
                if (out.getParent() != null) {
                    Files.createDirectories(out.getParent());
                }
                Files.write(out, ("[\n" + String.join(",\n", records) + "\n]\n")
                        .getBytes(StandardCharsets.UTF_8));
                System.out.println("wrote " + json);
            }
        }

        void throughput(String size) throws Exception {
            long blockSize = parseSize(size);
            long count = Math.max(1, bytesPerSize / blockSize);
            Path manifest = dir.resolve("m-" + size + ".json");
            log("throughput at %s: %d blocks, %d bytes; %d rounds of %d repetitions (after %d"
                    + " warmup) per side", size, count, count * blockSize, rounds, repeat, warmup);
            double bestNative = 0;
            double bestJvm = 0;
            try (Server server = new Server(this, false, count, blockSize, manifest)) {
                for (int round = 1; round <= rounds; round++) {
                    server.check();
                    // Alternate which side goes first, so neither always gets the warmer machine.
                    boolean nativeFirst = round % 2 == 1;
                    double[] nat = new double[1];
                    double[] jvm = new double[1];
                    for (int side = 0; side < 2; side++) {
                        if ((side == 0) == nativeFirst) {
                            // ferry fetch has no warmup option: its first lines are dropped instead.
                            List<String> lines =
                                    runChild(false, nativeFetch(manifest, warmup + repeat));
                            nat[0] = maxOf(MB_PER_S, lines.subList(warmup, lines.size()));
                        } else {
                            jvm[0] = maxOf(MB_PER_S,
                                    runChild(false, jvmFetch(manifest, repeat, warmup)));
                        }
                    }
                    log("  %s round %d: native %.1f MB/s, jvm %.1f MB/s", size, round, nat[0],
                            jvm[0]);
                    bestNative = Math.max(bestNative, nat[0]);
                    bestJvm = Math.max(bestJvm, jvm[0]);
                }
            }
            boolean targeted = blockSize >= (32 << 10);
            record("throughput_" + size, bestJvm, bestNative, "MB/s",
                    targeted ? "ratio >= 0.9" : null, targeted ? bestJvm / bestNative >= 0.9 : null,
                    String.format(Locale.ROOT, "one batched fetch of %d blocks of %s (%d bytes)"
                            + " per repetition, CRC32 of every chunk checked per block on both"
                            + " sides: JVM FerryNode.fetch/FetchStream vs `ferry fetch --repeat %d`;"
                            + " best of %d rounds x %d repetitions after %d warmup repetitions,"
                            + " fresh client process per round, alternating; MB = 10^6 bytes",
                            count, size, count * blockSize, warmup + repeat, rounds, repeat,
                            warmup));
        }

        void latency(boolean pin) throws Exception {
            Path manifest = dir.resolve("m-latency" + (pin ? "-1cpu" : "") + ".json");
            String suffix = pin ? "_1cpu" : "";
            log("latency%s: single 4 KiB block fetches, %d rounds of %d (after %d warmup) per side",
                    suffix, rounds, latencyIterations, latencyWarmup);
            List<Double> nat = new ArrayList<>();
            List<Double> jvm = new ArrayList<>();
            try (Server server = new Server(this, pin, 1, 4096, manifest)) {
                for (int round = 1; round <= rounds; round++) {
                    server.check();
                    boolean nativeFirst = round % 2 == 1;
                    for (int side = 0; side < 2; side++) {
                        if ((side == 0) == nativeFirst) {
                            // ferry fetch has no warmup option: drop its first lines instead. Its
                            // per-fetch time is in its MB/s figure: 4096 bytes / (MB/s * 10^6).
                            List<String> lines = runChild(pin,
                                    nativeFetch(manifest, latencyWarmup + latencyIterations));
                            List<String> timed = lines.subList(latencyWarmup, lines.size());
                            for (String line : timed) {
                                double rate = Double.parseDouble(find(MB_PER_S, line));
                                nat.add(4096 / (rate * 1e6) * 1e6);
                            }
                        } else {
                            for (String line : runChild(pin,
                                    jvmFetch(manifest, latencyIterations, latencyWarmup))) {
                                jvm.add(Long.parseLong(find(NANOS, line)) / 1e3);
                            }
                        }
                    }
                }
            }
            double[] n = quantiles(nat);
            double[] j = quantiles(jvm);
            log("  latency%s: native median %.1f us p99 %.1f us; jvm median %.1f us p99 %.1f us",
                    suffix, n[0], n[1], j[0], j[1]);
            String what = String.format(Locale.ROOT, "%d single-block fetches of a 4 KiB block"
                    + " (inline in the lookup reply) per side, CRC32 checked: JVM FerryNode.fetch"
                    + " vs `ferry fetch --repeat` (per-fetch time from its MB/s line), %d rounds"
                    + " alternating, %d warmup fetches per process dropped%s",
                    rounds * latencyIterations, rounds, latencyWarmup,
                    pin ? "; server and both clients pinned to CPU 0 (taskset -c 0)" : "");
            record("latency_4k_median" + suffix, j[0], n[0], "us", null, null, "median of " + what);
            record("latency_4k_p99" + suffix, j[1], n[1], "us", null, null,
                    "99th percentile of " + what);
        }

        List<String> nativeFetch(Path manifest, int times) {
            return Arrays.asList(ferry, "fetch", "--manifest", manifest.toString(), "--repeat",
                    Integer.toString(times));
        }

        List<String> jvmFetch(Path manifest, int times, int warmup) {
            String java = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
            return Arrays.asList(java, "-cp", System.getProperty("java.class.path"),
                    JvmFetchBench.class.getName(), "fetch", "--manifest", manifest.toString(),
                    "--repeat", Integer.toString(times), "--warmup", Integer.toString(warmup));
        }

        List<String> runChild(boolean pin, List<String> command) throws Exception {
            List<String> full = new ArrayList<>();
            if (pin) {
                full.addAll(Arrays.asList("taskset", "-c", "0"));
            }
            full.addAll(command);
            ProcessBuilder builder = new ProcessBuilder(full)
                    .redirectError(ProcessBuilder.Redirect.INHERIT);
            builder.environment().putIfAbsent("RUST_LOG", "warn");
            Process child = builder.start();
            child.getOutputStream().close();
            CompletableFuture<List<String>> out = CompletableFuture.supplyAsync(() -> {
                List<String> lines = new ArrayList<>();
                try (BufferedReader r = new BufferedReader(new InputStreamReader(
                        child.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String l = r.readLine(); l != null; l = r.readLine()) {
                        lines.add(l);
                    }
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
                return lines;
            });
            if (!child.waitFor(CHILD_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                child.destroyForcibly();
                throw new IllegalStateException("timed out: " + full);
            }
            List<String> lines = out.get(60, TimeUnit.SECONDS);
            if (child.exitValue() != 0) {
                throw new IllegalStateException("exit status " + child.exitValue() + ": " + full);
            }
            return lines;
        }

        void record(String name, double jvm, double nat, String unit, String target, Boolean met,
                String detail) {
            double ratio = jvm / nat;
            // Other work on the machine moves these figures: say how busy it was.
            detail = detail + "; load average " + loadAtStart + " at the start, " + loadAverage()
                    + " here";
            StringBuilder b = new StringBuilder();
            b.append("  {\n");
            b.append(String.format(Locale.ROOT, "    \"name\": \"%s\",\n", name));
            b.append(String.format(Locale.ROOT, "    \"ferry\": %.2f,\n", jvm));
            b.append(String.format(Locale.ROOT, "    \"baseline\": %.2f,\n", nat));
            b.append(String.format(Locale.ROOT, "    \"ratio\": %.3f,\n", ratio));
            b.append(String.format(Locale.ROOT, "    \"unit\": \"%s\",\n", unit));
            if (target != null) {
                b.append(String.format(Locale.ROOT, "    \"target\": \"%s\",\n", target));
                b.append(String.format(Locale.ROOT, "    \"met\": %s,\n", met));
            }
            b.append(String.format(Locale.ROOT, "    \"detail\": \"%s\",\n", jsonEscape(detail)));
            b.append(String.format(Locale.ROOT, "    \"command\": \"%s\"\n", jsonEscape(command)));
            b.append("  }");
            records.add(b.toString());
            table.add(new String[] {name, fmt(jvm) + " " + unit, fmt(nat) + " " + unit,
                String.format(Locale.ROOT, "%.2fx", ratio),
                target == null ? "" : target + (met ? ": met" : ": MISSED")});
        }

        void printTable() {
            System.out.println();
            System.out.println("| Measure | JVM (ferry) | Native (baseline) | Ratio | Target |");
            System.out.println("|---|---|---|---|---|");
            for (String[] row : table) {
                System.out.println("| " + String.join(" | ", row) + " |");
            }
        }

        void log(String format, Object... args) {
            System.out.println(String.format(Locale.ROOT, format, args));
        }
    }

    /** A {@code ferry serve --generate} child that stops when its stdin closes. */
    static final class Server implements AutoCloseable {
        final Process process;

        Server(Runner runner, boolean pin, long count, long size, Path manifest) throws Exception {
            List<String> command = new ArrayList<>();
            if (pin) {
                command.addAll(Arrays.asList("taskset", "-c", "0"));
            }
            command.addAll(Arrays.asList(runner.ferry, "serve", "--listen", "127.0.0.1:0",
                    "--generate", Long.toString(count), "--size", Long.toString(size),
                    "--manifest", manifest.toString(), "--until-stdin-closes"));
            ProcessBuilder builder = new ProcessBuilder(command)
                    .redirectError(ProcessBuilder.Redirect.INHERIT);
            builder.environment().putIfAbsent("RUST_LOG", "warn");
            process = builder.start();
            CompletableFuture<Void> listening = CompletableFuture.runAsync(() -> {
                try {
                    BufferedReader r = new BufferedReader(new InputStreamReader(
                            process.getInputStream(), StandardCharsets.UTF_8));
                    for (String l = r.readLine(); l != null; l = r.readLine()) {
                        if (l.startsWith("listening on ")) {
                            return;
                        }
                    }
                    throw new IllegalStateException("ferry serve exited before listening");
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            try {
                listening.get(120, TimeUnit.SECONDS);
            } catch (Exception e) {
                process.destroyForcibly();
                throw e;
            }
        }

        /** @throws IllegalStateException if the server died */
        void check() {
            if (!process.isAlive()) {
                throw new IllegalStateException("ferry serve exited: " + process.exitValue());
            }
        }

        @Override
        public void close() throws IOException {
            OutputStream in = process.getOutputStream();
            in.close();
            try {
                if (!process.waitFor(30, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    static final class Args {
        final List<String> args;

        Args(String[] args) {
            this.args = Arrays.asList(args);
        }

        String get(String name, String fallback) {
            int i = args.lastIndexOf(name); // the last one wins: run.sh passes defaults first
            if (i >= 0 && i + 1 < args.size()) {
                return args.get(i + 1);
            }
            if (fallback == null) {
                throw new IllegalArgumentException("missing " + name);
            }
            return fallback;
        }

        boolean flag(String name) {
            return args.contains(name);
        }
    }

    static long parseSize(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        long unit = 1;
        char last = t.charAt(t.length() - 1);
        if (last == 'k' || last == 'm' || last == 'g') {
            unit = last == 'k' ? 1L << 10 : last == 'm' ? 1L << 20 : 1L << 30;
            t = t.substring(0, t.length() - 1);
        }
        return Long.parseLong(t) * unit;
    }

    static String find(Pattern p, String line) {
        Matcher m = p.matcher(line);
        if (!m.find()) {
            throw new IllegalStateException("no " + p.pattern() + " in: " + line);
        }
        return m.group(1);
    }

    static double maxOf(Pattern p, List<String> lines) {
        double best = 0;
        for (String line : lines) {
            best = Math.max(best, Double.parseDouble(find(p, line)));
        }
        return best;
    }

    /** Median and 99th percentile (nearest rank). */
    static double[] quantiles(List<Double> samples) {
        double[] s = samples.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return new double[] {rank(s, 0.5), rank(s, 0.99)};
    }

    static double rank(double[] sorted, double q) {
        int i = (int) Math.ceil(sorted.length * q);
        return sorted[Math.max(1, Math.min(i, sorted.length)) - 1];
    }

    /** The 1-minute load average, or "?" where /proc/loadavg is missing. */
    static String loadAverage() {
        try {
            return new String(Files.readAllBytes(Paths.get("/proc/loadavg")),
                    StandardCharsets.US_ASCII).split(" ")[0];
        } catch (IOException | RuntimeException e) {
            return "?";
        }
    }

    static String fmt(double v) {
        return String.format(Locale.ROOT, v >= 100 ? "%.0f" : "%.1f", v);
    }

    static String jsonEscape(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"");
    }
}
