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

    static native long fetchStart(long node, String[] peers, int[] counts, byte[][] ids);

    /** Null at the end; chunkMarker for a chunk (see meta); a FerryException for a failed block. */
    static native Object fetchNext(long fetch, long[] meta, Object chunkMarker);

    /** A direct buffer over one pool buffer: address and capacity from fetchNext's meta. */
    static native ByteBuffer bufferView(long address, long capacity);

    static native void fetchClose(long fetch);

    static native void chunkRelease(long chunk);

    static native long streamCreate(boolean server, byte[] secret, int maxFrame, boolean framed);

    static native void streamFree(long stream);

    /** Fills status with {state, control bytes wanted, payload pending (-1: inline), output length, framed}. */
    static native void streamStatus(long stream, long[] status);

    static native int streamInput(long stream, ByteBuffer buffer, int position, int length);

    static native int streamOutput(long stream, ByteBuffer buffer, int position, int length);

    static native long streamDataRead(long stream, long count);

    static native void streamSendData(long stream, int length);

    static native void streamSentInline(long stream, long count);

    static native void streamShutdown(long stream);

    static native byte[] streamPrefix(long stream);

    /** Opened, plain, failed, bytes sent, bytes received, frames sent. */
    static native long[] streamCounters();
}
