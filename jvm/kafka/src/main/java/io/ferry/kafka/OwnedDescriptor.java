package io.ferry.kafka;

import java.io.Closeable;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import sun.nio.ch.IOUtil;

/**
 * A descriptor number of the wrapper's own for the JDK socket underneath it, which is what
 * selectors register: a descriptor the wrapper opens ({@code /dev/null}) and then points at the
 * socket with {@code dup2}. The JDK channel closes its own descriptor whenever it decides to — on
 * {@code socket().close()}, and by itself when {@code connect()} or {@code finishConnect()} fails
 * (a refused connection) — while the wrapper is still registered; were that number the registered
 * one, the next connection would reuse it and the selector, deregistering the old key, would take
 * the new connection out of epoll. This number is closed only in {@code kill()}, after the
 * selector deregistered the wrapper, as the JDK does with its own channels; the socket stays open
 * until then. Costs one descriptor per wrapped connection.
 */
final class OwnedDescriptor implements Closeable {
    /**
     * {@code sun.nio.ch.DatagramDispatcher.dup(from, to)}: dup2. The one JDK-internal dup2 with the
     * same signature on JDK 17 and JDK 22+ (where {@code FileDispatcherImpl.dup0} is gone).
     */
    private static final Method DUP2 = dup2();
    private static final Object DISPATCHER = dispatcher();

    /** Owns the number: closing it closes the number, and nothing else does. */
    private final FileInputStream holder;
    private final FileDescriptor fd;
    private final int value;

    private OwnedDescriptor(FileInputStream holder, FileDescriptor fd) {
        this.holder = holder;
        this.fd = fd;
        this.value = IOUtil.fdVal(fd);
    }

    private static Method dup2() {
        try {
            Method m = Class.forName("sun.nio.ch.DatagramDispatcher")
                    .getDeclaredMethod("dup", FileDescriptor.class, FileDescriptor.class);
            m.setAccessible(true);
            return m;
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw missingInternal(e);
        }
    }

    private static Object dispatcher() {
        try {
            Constructor<?> c = Class.forName("sun.nio.ch.DatagramDispatcher").getDeclaredConstructor();
            c.setAccessible(true);
            return c.newInstance();
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw missingInternal(e);
        }
    }

    private static IllegalStateException missingInternal(Exception e) {
        return new IllegalStateException("ferry-kafka needs sun.nio.ch.DatagramDispatcher.dup (JDK 17+, "
                + "--add-opens java.base/sun.nio.ch=ALL-UNNAMED): " + e, e);
    }

    /** @return a descriptor of the wrapper's own for the same socket as {@code socket} */
    static OwnedDescriptor of(FileDescriptor socket) throws IOException {
        FileInputStream holder = new FileInputStream("/dev/null");
        try {
            DUP2.invoke(DISPATCHER, socket, holder.getFD());
            return new OwnedDescriptor(holder, holder.getFD());
        } catch (InvocationTargetException e) {
            holder.close();
            throw new IOException("ferry-kafka: dup2 of a socket failed: " + e.getCause(), e.getCause());
        } catch (IllegalAccessException | RuntimeException e) {
            holder.close();
            throw new IOException("ferry-kafka: dup2 of a socket failed: " + e, e);
        }
    }

    FileDescriptor fd() {
        return fd;
    }

    int value() {
        return value;
    }

    @Override
    public void close() throws IOException {
        holder.close();
    }
}
