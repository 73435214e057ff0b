package io.ferry;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.Map;

/**
 * A serving process for the multi-process tests: {@code ServeMain FILE BLOCK_SIZE [key=value...]}
 * registers FILE as blocks "0", "1", ... of BLOCK_SIZE bytes, prints {@code READY host:port}, and
 * serves until its standard input closes.
 */
public final class ServeMain {
    private ServeMain() {}

    public static void main(String[] args) throws Exception {
        Path file = Paths.get(args[0]);
        long blockSize = Long.parseLong(args[1]);
        Map<String, String> settings = new HashMap<>();
        for (int i = 2; i < args.length; i++) {
            String[] pair = args[i].split("=", 2);
            settings.put(pair[0], pair[1]);
        }
        try (FerryNode node = FerryNode.create(settings)) {
            long size = Files.size(file);
            Region region = node.registerFile(file, 0, size);
            int blocks = 0;
            for (long offset = 0; offset < size; offset += blockSize, blocks++) {
                node.registerBlock(String.valueOf(blocks).getBytes(StandardCharsets.UTF_8),
                        region, offset, Math.min(blockSize, size - offset));
            }
            InetSocketAddress address = node.serve(new InetSocketAddress("127.0.0.1", 0));
            System.out.println("READY " + address.getHostString() + ":" + address.getPort());
            System.out.flush();
            while (System.in.read() >= 0) {
                // serve until the parent closes our stdin (or dies)
            }
        }
    }
}
