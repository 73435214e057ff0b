package io.ferry.spark;

import org.apache.spark.storage.BlockId;
import org.apache.spark.storage.BlockManagerId;
import org.apache.spark.storage.ShuffleBlockBatchId;
import org.apache.spark.storage.ShuffleBlockId;

/** Reduce partitions {@code [startReduce, endReduce)} of one map output: what one read brings. */
final class MapOutputPiece {
    final BlockManagerId address;
    final int shuffleId;
    final long mapId;
    final int mapIndex;
    final int startReduce;
    final int endReduce;

    MapOutputPiece(BlockManagerId address, int shuffleId, long mapId, int mapIndex, int startReduce, int endReduce) {
        this.address = address;
        this.shuffleId = shuffleId;
        this.mapId = mapId;
        this.mapIndex = mapIndex;
        this.startReduce = startReduce;
        this.endReduce = endReduce;
    }

    /** This piece extended to reduce partition {@code reduceId}, as Spark's batch fetch merges them. */
    MapOutputPiece through(int reduceId) {
        return new MapOutputPiece(address, shuffleId, mapId, mapIndex, startReduce, reduceId + 1);
    }

    /** Spark's id for these bytes, which decides how they are decompressed and decrypted. */
    BlockId sparkBlockId() {
        return endReduce - startReduce == 1 ? new ShuffleBlockId(shuffleId, mapId, startReduce)
                : new ShuffleBlockBatchId(shuffleId, mapId, startReduce, endReduce);
    }

    byte[] ferryBlockId() {
        return ShuffleBlocks.partitions(shuffleId, mapId, startReduce, endReduce);
    }

    @Override
    public String toString() {
        return sparkBlockId().name() + "@" + address.executorId();
    }
}
