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

    /** Null at the end; chunkMarker for a chunk (see meta); a FerryException for a failed block. */
    static native Object fetchNext(long fetch, long[] meta, Object chunkMarker);

    /** A direct buffer over the whole pool buffer of a live chunk. */
    static native ByteBuffer bufferView(long chunk);

    /** A share of a live chunk's pool: its memory stays mapped until poolShareFree. */
    static native long poolShare(long chunk);

    static native void poolShareFree(long share);

    static native void fetchClose(long fetch);

    static native void chunkRelease(long chunk);

    /** remotePort: the port this end's node serves READs on, or -1 to offer none. */
    static native long streamCreate(boolean server, byte[] secret, int maxFrame, boolean framed, int remotePort);

    static native void streamFree(long stream);

    /**
     * Fills status with {state, control bytes wanted, payload pending (-1: inline), output length,
     * framed, the peer node's port when both ends agreed on READs (else -1)}.
     */
    static native void streamStatus(long stream, long[] status);

    static native int streamInput(long stream, ByteBuffer buffer, int position, int length);

    static native int streamOutput(long stream, ByteBuffer buffer, int position, int length);

    static native long streamDataRead(long stream, long count);

    static native void streamSendData(long stream, int length);

    static native void streamSentInline(long stream, long count);

    static native void streamShutdown(long stream);

    static native byte[] streamPrefix(long stream);

    /**
     * Opened, plain, failed, bytes sent, bytes received, frames sent, bytes notified, bytes READ,
     * slab bytes registered now.
     */
    static native long[] streamCounters();

    /** The descriptor of a JDK socket channel, or -1. */
    static native int socketFd(Object channel);

    static native void streamRemoteStart(long stream, long node, int fd, String peerIp, long window,
            int slabBytes, int minReadBytes, int streamsPerConnection);

    /** Reads into direct (when not null) or array; bytes read, 0 when none wait, -1 at the end. */
    static native int streamRemoteRead(long stream, ByteBuffer direct, byte[] array, int offset, int length);

    /** Writes from directs[i] (when not null) or arrays[i]; bytes taken. */
    static native long streamRemoteWrite(long stream, ByteBuffer[] directs, byte[][] arrays, int[] offsets,
            int[] lengths);

    static native boolean streamRemoteWait(long stream, boolean writable, int timeoutMs);
}
