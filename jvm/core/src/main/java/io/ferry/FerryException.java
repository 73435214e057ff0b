package io.ferry;

/**
 * Base class of every error Ferry reports, from Java code or from the native library.
 *
 * <p>Native code never lets a Rust panic cross into the JVM: a panic or an error in the native
 * library is thrown as a {@code FerryException} (or a subclass) with the native message.
 */
public class FerryException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception with a message.
     *
     * @param message what went wrong
     */
    public FerryException(String message) {
        super(message);
    }

    /**
     * Creates an exception with a message and the exception that caused it.
     *
     * @param message what went wrong
     * @param cause the underlying exception
     */
    public FerryException(String message, Throwable cause) {
        super(message, cause);
    }
}
