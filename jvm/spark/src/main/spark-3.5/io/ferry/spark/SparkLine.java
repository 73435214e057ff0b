package io.ferry.spark;

import java.util.Collections;

import org.apache.spark.SparkConf;
import org.apache.spark.TaskContext;
import org.apache.spark.serializer.Serializer;
import org.apache.spark.shuffle.IndexShuffleBlockResolver;
import org.apache.spark.util.collection.ExternalSorter;

import scala.Option;
import scala.math.Ordering;

/** What Spark 3.5 does differently from the other lines: the spark-3.5 layer of ferry-spark-3.5. */
final class SparkLine {
    /** The Spark releases this build serves, as its error messages name them. */
    static final String NAME = "Spark 3.5";

    /**
     * Spark 3.5 creates the shuffle manager inside SparkEnv, before it starts any plugin (driver and
     * executors alike): the manager can still name FerryPlugin in spark.plugins itself.
     */
    static final boolean SHUFFLE_MANAGER_BEFORE_PLUGINS = true;

    private SparkLine() {}

    /**
     * Spark's resolver, made with 3.5's one constructor. Its map (of migrated map outputs) stays
     * unused: {@link MigrationServingResolver} stores migrated blocks through the shuffle
     * manager's own resolver.
     */
    abstract static class IndexResolver extends IndexShuffleBlockResolver {
        IndexResolver(SparkConf conf) {
            super(conf, null, Collections.emptyMap());
        }
    }

    static boolean serves(String sparkVersion) {
        return sparkVersion.startsWith("3.5.");
    }

    /** Spark's spilling sorter, for a reduce side's key ordering (five parameters up to 4.0). */
    static <K, C> ExternalSorter<K, C, C> keySorter(TaskContext context, Option<Ordering<K>> ordering,
            Serializer serializer) {
        return new ExternalSorter<>(context, Option.empty(), Option.empty(), ordering, serializer);
    }
}
