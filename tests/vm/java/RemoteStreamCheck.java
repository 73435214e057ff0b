import io.ferry.FerryNode;
import io.ferry.FerryStream;
import io.ferry.RemotePayload;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;

/**
 * The Java stream API on real RDMA (run in the Soft-RoCE VM by tests/vm/verbs.sh): two verbs nodes
 * in one JVM, a remote FerryStream each way over a TCP socket on the VM's test network. Checks the
 * bytes (CRC32), that READs moved them, and that no node's CPU served any (the NIC did).
 * Usage: RemoteStreamCheck IP. Exits non-zero on any failure.
 */
public final class RemoteStreamCheck {
    private static final int UP = 6 << 20;
    private static final int DOWN = 1 << 20;

    public static void main(String[] args) throws Exception {
        String ip = args[0];
        Map<String, String> verbs = Map.of("ferry.provider", "verbs", "ferry.pool.bytes", "16m",
                "ferry.pool.buffer.size", "256k", "ferry.request.timeout.ms", "20000", "ferry.auth.secret", "vm");
        byte[] secret = "vm".getBytes(StandardCharsets.UTF_8);
        try (FerryNode a = FerryNode.create(verbs); FerryNode b = FerryNode.create(verbs);
                ServerSocketChannel listener = ServerSocketChannel.open().bind(new InetSocketAddress(ip, 0));
                SocketChannel connected = SocketChannel.open(listener.getLocalAddress());
                SocketChannel accepted = listener.accept()) {
            check(a.provider().equals("verbs") && b.provider().equals("verbs"), "nodes are not on verbs");
            // A window that holds all of it: beyond the window, writes would ride in DATA frames.
            RemotePayload ra = new RemotePayload(a, a.serve(new InetSocketAddress(ip, 0)).getPort(), 8 << 20,
                    1 << 20, 16 << 10, 8);
            RemotePayload rb = new RemotePayload(b, b.serve(new InetSocketAddress(ip, 0)).getPort(), 8 << 20,
                    1 << 20, 16 << 10, 8);
            FerryStream.Counters before = FerryStream.counters();
            byte[] up = random(UP, 1);
            byte[] down = random(DOWN, 2);
            try (FerryStream client = FerryStream.client(connected, secret, 1 << 20, ra);
                    FerryStream server = FerryStream.server(accepted, secret, 1 << 20, rb)) {
                CompletableFuture<Long> served = CompletableFuture.supplyAsync(() -> {
                    try {
                        long crc = crcOfRead(server, UP);
                        server.write(ByteBuffer.wrap(down));
                        return crc;
                    } catch (IOException e) {
                        throw new RuntimeException(e);
                    }
                });
                for (int off = 0; off < UP; off += 256 << 10) {
                    client.write(ByteBuffer.wrap(up, off, Math.min(256 << 10, UP - off)));
                }
                check(served.get(300, TimeUnit.SECONDS) == crc(up), "bytes client -> server differ");
                check(crcOfRead(client, DOWN) == crc(down), "bytes server -> client differ");
                check(client.isRemote() && server.isRemote(), "the streams did not agree on READs");
            }
            FerryStream.Counters after = FerryStream.counters();
            long read = after.readBytes() - before.readBytes();
            long cpuServed = a.stats().bytesServed() + b.stats().bytesServed();
            System.out.println("remote stream check: " + (UP + DOWN) + " bytes, " + read + " by RDMA READ, "
                    + cpuServed + " served by a node's CPU; " + after);
            check(read >= (UP + DOWN) * 9L / 10, "less than 90% of the payload moved by READ");
            check(cpuServed == 0, "a node's CPU served READ payload: not RDMA");
        }
        System.out.println("remote stream check: OK");
    }

    private static long crcOfRead(FerryStream stream, int n) throws IOException {
        CRC32 crc = new CRC32();
        ByteBuffer buf = ByteBuffer.allocate(64 << 10);
        for (int left = n; left > 0; ) {
            buf.clear().limit(Math.min(buf.capacity(), left));
            int k = stream.read(buf);
            check(k >= 0, "end of stream with " + left + " bytes to go");
            crc.update(buf.array(), 0, k);
            left -= k;
        }
        return crc.getValue();
    }

    private static long crc(byte[] b) {
        CRC32 crc = new CRC32();
        crc.update(b);
        return crc.getValue();
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }
}
