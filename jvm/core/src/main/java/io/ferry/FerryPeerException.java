package io.ferry;

/** Thrown, or reported for a block, when a peer is unreachable, closed the connection, broke the protocol, or refused a request (an unknown block, a stale or forged key, a read out of range). */
public class FerryPeerException extends FerryException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what went wrong
     */
    public FerryPeerException(String message) {
        super(message);
    }
}
