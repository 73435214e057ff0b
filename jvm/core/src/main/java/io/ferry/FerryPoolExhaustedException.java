package io.ferry;

/** Thrown, or reported for a block, when no pinned buffer was released within ferry.pool.wait.ms; release fetched chunks sooner or raise ferry.pool.bytes. */
public class FerryPoolExhaustedException extends FerryException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what went wrong
     */
    public FerryPoolExhaustedException(String message) {
        super(message);
    }
}
