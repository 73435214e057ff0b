package io.ferry;

import java.nio.ByteBuffer;

/** The native entry points (native/jni). Handles are addresses of native objects; 0 is none. */
final class Native {
    static {
        NativeLibrary.load();
    }

    private Native() {}

    static native long nodeCreate(String[] keys, String[] values);

    static native void configCheck(String[] keys, String[] values);

    static native void nodeClose(long node);

    static native String nodeServe(long node, String hostPort);

    static native long nodeRegisterFile(long node, String path, long offset, long length);

    static native long nodeRegisterBuffer(long node, ByteBuffer buffer, long position, long length);

    static native boolean nodeDeregister(long node, long region);

    static native void nodeRegisterBlock(long node, byte[] id, long region, long offset, long length);

    static native void nodeRegisterSegmented(long node, byte[] id, long region, long[] bounds);

    static native boolean nodeRemoveBlock(long node, byte[] id);

    static native long[] nodeStats(long node);

    /** "tcp" or "verbs". */
    static native String nodeProvider(long node);

    static native long fetchStart(long node, String[] peers, int[] counts, byte[][] ids);

    /**
     * Null at the end; chunkMarker for chunks already received (meta[0] of them, fields after it:
     * see FetchStream.Batch); a FerryException for a failed block (meta[0] = block).
     */
    static native Object fetchNext(long fetch, long[] meta, Object chunkMarker);

    /** A direct buffer over the whole pool buffer of a live chunk. */
    static native ByteBuffer bufferView(long chunk);

    /** A share of a live chunk's pool: its memory stays mapped until poolShareFree. */
    static native long poolShare(long chunk);

    static native void poolShareFree(long share);

    static native void fetchClose(long fetch);

    static native void chunkRelease(long chunk);

    /**
     * A stream driver over the connected socket {@code fd}; {@code node} 0 offers no READs, else
     * this end moves payload by READ with that node (serving on {@code port}) when the peer agrees.
     */
    static native long streamCreate(boolean server, byte[] secret, int maxFrame, boolean framed, int fd,
            long node, int port, long window, int slabBytes, int minReadBytes, int streamsPerConnection);

    /** Frees the stream; with sendClose it first queues CLOSE and sends what the socket takes now. */
    static native void streamFree(long stream, boolean sendClose);

    /** The FerryStream.STATUS_* bits. */
    static native int streamStatus(long stream);

    /** Counters at the FerryStream.STAT_* positions: the stream's, or (stream 0) the process's. */
    static native long[] streamStats(long stream);

    /** Reads into direct (when not null) or array; bytes read, 0 when none wait now, -1 at the end. */
    static native int streamRead(long stream, ByteBuffer direct, byte[] array, int offset, int length);

    /** Writes from directs[i] (when not null) or arrays[i]; bytes taken, 0 when none now. */
    static native long streamWrite(long stream, ByteBuffer[] directs, byte[][] arrays, int[] offsets,
            int[] lengths);

    /** The descriptor of a JDK socket channel, or -1. */
    static native int socketFd(Object channel);

    /** Waits up to timeoutMs for the descriptor to become readable (or writable). */
    static native boolean socketWait(int fd, boolean writable, int timeoutMs);
}
