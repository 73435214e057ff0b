package io.ferry.spark;

import java.nio.ByteBuffer;

import io.ferry.FerryNode;

/** Ferry block ids of Spark shuffle data: one segmented block per map output, a segment per reducer. */
public final class ShuffleBlocks {
    private static final byte MAP_OUTPUT = 'S';

    private ShuffleBlocks() {}

    /** The segmented block of map output {@code mapId} (the map task attempt id) of a shuffle. */
    public static byte[] mapOutput(int shuffleId, long mapId) {
        return ByteBuffer.allocate(13).put(MAP_OUTPUT).putInt(shuffleId).putLong(mapId).array();
    }

    /** Reduce partitions {@code [startReduce, endReduce)} of a map output, as one block. */
    public static byte[] partitions(int shuffleId, long mapId, int startReduce, int endReduce) {
        return FerryNode.segmentRunId(mapOutput(shuffleId, mapId), startReduce, endReduce);
    }
}
