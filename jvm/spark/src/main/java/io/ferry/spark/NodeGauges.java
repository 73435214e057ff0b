package io.ferry.spark;

import java.util.Map;

import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;

import io.ferry.FerryNode;

/**
 * An executor node's counters ({@link io.ferry.NodeStats#toMap()}) as gauges in the plugin's
 * metric registry: Spark publishes them through its metrics system, to every configured sink (JMX,
 * Prometheus, ...), as {@code <app>.<executor>.plugin.io.ferry.spark.FerryPlugin.<counter>}.
 */
final class NodeGauges {
    private final FerryNode node;
    /** The counters last read, still reported after the node closes (sinks report at stop). */
    private volatile Map<String, Long> last;

    private NodeGauges(FerryNode node) {
        this.node = node;
        this.last = node.stats().toMap();
    }

    static void register(MetricRegistry registry, FerryNode node) {
        NodeGauges gauges = new NodeGauges(node);
        for (String counter : gauges.last.keySet()) {
            registry.register(counter, (Gauge<Long>) () -> gauges.now().get(counter));
        }
    }

    private Map<String, Long> now() {
        try {
            last = node.stats().toMap();
        } catch (IllegalStateException closed) {
            // the executor is stopping: its final values stand
        }
        return last;
    }
}
