package io.ferry.spark;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;

/**
 * What executor plugins ask the driver plugin. Spark's plugin RPC Java-serializes messages and
 * their answers, and an executor deserializes answers on a Netty thread that cannot see classes of
 * jars added with {@code --jars}: so messages are {@code String[]} and answers JDK types.
 *
 * <ul>
 *   <li>{@code {REGISTER, executorId, host:port}}: the executor's node serves there; answered with
 *       {@code Boolean.TRUE}.
 *   <li>{@code {LOOKUP, executorId...}}: answered with a {@code HashMap} of the known ones to their
 *       {@code host:port}.
 *   <li>{@code {SECRET}}: answered with the application's Ferry secret, which executors' nodes
 *       prove to each other when {@code spark.authenticate} is off, or null when it is on (then
 *       Spark's own secret serves).
 * </ul>
 */
final class EndpointMessages {
    static final String REGISTER = "ferry.register";
    static final String LOOKUP = "ferry.lookup";
    static final String SECRET = "ferry.secret";

    private EndpointMessages() {}

    static String[] secret() {
        return new String[] {SECRET};
    }

    static String[] register(String executorId, String hostPort) {
        return new String[] {REGISTER, executorId, hostPort};
    }

    static String[] lookup(Collection<String> executorIds) {
        List<String> message = new ArrayList<>();
        message.add(LOOKUP);
        message.addAll(executorIds);
        return message.toArray(new String[0]);
    }

    /** @return the message's kind, or null if it is not one of these messages */
    static String kind(Object message) {
        return message instanceof String[] && ((String[]) message).length > 0 ? ((String[]) message)[0] : null;
    }

    /** @return the message's arguments, after its kind */
    static List<String> arguments(Object message) {
        String[] parts = (String[]) message;
        return Arrays.asList(parts).subList(1, parts.length);
    }
}
