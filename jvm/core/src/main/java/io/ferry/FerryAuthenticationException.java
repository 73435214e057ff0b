package io.ferry;

/** Thrown, or reported for a block, when a peer did not prove the shared secret (ferry.auth.secret), or this node could not prove it. */
public class FerryAuthenticationException extends FerryException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what went wrong
     */
    public FerryAuthenticationException(String message) {
        super(message);
    }
}
