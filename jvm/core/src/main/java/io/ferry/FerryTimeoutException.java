package io.ferry;

/** Thrown, or reported for a block, when a peer made no progress within ferry.request.timeout.ms. */
public class FerryTimeoutException extends FerryException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what went wrong
     */
    public FerryTimeoutException(String message) {
        super(message);
    }
}
