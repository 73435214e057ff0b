package io.ferry;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/** The blocks to fetch from one peer. */
public final class FetchRequest {
    private final InetSocketAddress peer;
    private final List<byte[]> blockIds;

    /**
     * @param peer the peer's Ferry address, as returned by its {@link FerryNode#serve}
     * @param blockIds the ids of the blocks to fetch from it
     */
    public FetchRequest(InetSocketAddress peer, List<byte[]> blockIds) {
        this.peer = peer;
        this.blockIds = Collections.unmodifiableList(new ArrayList<>(blockIds));
    }

    /**
     * @param peer the peer's Ferry address
     * @param blockIds the ids of the blocks to fetch from it
     * @return the request
     */
    public static FetchRequest of(InetSocketAddress peer, byte[]... blockIds) {
        return new FetchRequest(peer, Arrays.asList(blockIds));
    }

    /** @return the peer's address */
    public InetSocketAddress peer() {
        return peer;
    }

    /** @return the block ids, in order */
    public List<byte[]> blockIds() {
        return blockIds;
    }

    String hostPort() {
        return FerryNode.hostPort(peer);
    }
}
