package io.ferry;

/** Thrown, or reported for a block, when a configuration key or value is wrong; the message names the key. */
public class FerryConfigException extends FerryException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what went wrong
     */
    public FerryConfigException(String message) {
        super(message);
    }
}
