package io.ferry;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Receives the native library's log records (Rust {@code log}) and passes them to SLF4J. */
final class NativeLog {
    private static final String PREFIX = "io.ferry.native";
    private static final ConcurrentMap<String, Logger> LOGGERS = new ConcurrentHashMap<>();

    private NativeLog() {}

    /** The most verbose level enabled for native loggers: 0 off, 1 error ... 5 trace. */
    static int maxLevel() {
        Logger logger = LoggerFactory.getLogger(PREFIX);
        if (logger.isTraceEnabled()) {
            return 5;
        } else if (logger.isDebugEnabled()) {
            return 4;
        } else if (logger.isInfoEnabled()) {
            return 3;
        } else if (logger.isWarnEnabled()) {
            return 2;
        }
        return logger.isErrorEnabled() ? 1 : 0;
    }

    /** Called from native threads; the target is a Rust module path such as ferry_core::node. */
    static void log(int level, String target, String message) {
        Logger logger = LOGGERS.computeIfAbsent(target,
                t -> LoggerFactory.getLogger(PREFIX + "." + t.replace("::", ".")));
        switch (level) {
            case 1:
                logger.error(message);
                break;
            case 2:
                logger.warn(message);
                break;
            case 3:
                logger.info(message);
                break;
            case 4:
                logger.debug(message);
                break;
            default:
                logger.trace(message);
        }
    }
}
