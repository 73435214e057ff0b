package io.ferry.spark;

import java.lang.reflect.Array;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;

import org.apache.spark.SparkConf;
import org.apache.spark.TaskContext;
import org.apache.spark.serializer.Serializer;
import org.apache.spark.shuffle.IndexShuffleBlockResolver;
import org.apache.spark.storage.BlockManager;
import org.apache.spark.util.collection.ExternalSorter;

import scala.Option;
import scala.math.Ordering;

/**
 * What Spark 4 does differently from the other lines: the spark-4 layer of ferry-spark-4, one jar
 * for Spark 4.0, 4.1 and 4.2 (compiled against 4.0). The one API change among them that Ferry
 * meets is chosen at run time, once; the other is avoided (see {@link IndexResolver}).
 */
final class SparkLine {
    /** The Spark releases this build serves, as its error messages name them. */
    static final String NAME = "Spark 4.0, 4.1 and 4.2";

    /**
     * Spark 4 starts plugins before it creates the shuffle manager (SPARK-45762, so the manager can
     * come from --jars): the manager cannot add FerryPlugin to spark.plugins any more.
     */
    static final boolean SHUFFLE_MANAGER_BEFORE_PLUGINS = false;

    /**
     * ExternalSorter's constructor: Spark 4.1 added a sixth parameter (row-based checksums, an
     * array, empty on the reduce side), 4.0 has the five of Spark 3.
     */
    private static final Constructor<?> SORTER = sorterConstructor();

    private SparkLine() {}

    /**
     * Spark's resolver, made with the one constructor whose parameters every 4.x release shares:
     * 4.2 changed the map type of the three-parameter one. The map it defaults to stays unused
     * ({@link MigrationServingResolver} stores migrated blocks through the shuffle manager's own).
     */
    abstract static class IndexResolver extends IndexShuffleBlockResolver {
        IndexResolver(SparkConf conf) {
            super(conf, (BlockManager) null);
        }
    }

    static boolean serves(String sparkVersion) {
        return sparkVersion.startsWith("4.0.") || sparkVersion.startsWith("4.1.") || sparkVersion.startsWith("4.2.");
    }

    /** Spark's spilling sorter, for a reduce side's key ordering. */
    @SuppressWarnings("unchecked")
    static <K, C> ExternalSorter<K, C, C> keySorter(TaskContext context, Option<Ordering<K>> ordering,
            Serializer serializer) {
        Class<?>[] types = SORTER.getParameterTypes();
        Object[] arguments = types.length == 5
                ? new Object[] {context, Option.empty(), Option.empty(), ordering, serializer}
                : new Object[] {context, Option.empty(), Option.empty(), ordering, serializer,
                    Array.newInstance(types[5].getComponentType(), 0)};
        try {
            return (ExternalSorter<K, C, C>) SORTER.newInstance(arguments);
        } catch (InvocationTargetException e) {
            throw new IllegalStateException("Spark's ExternalSorter failed to start", e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot create Spark's ExternalSorter", e);
        }
    }

    private static Constructor<?> sorterConstructor() {
        for (Constructor<?> constructor : ExternalSorter.class.getConstructors()) {
            Class<?>[] types = constructor.getParameterTypes();
            if ((types.length == 5 || types.length == 6 && types[5].isArray()) && types[0] == TaskContext.class
                    && types[4] == Serializer.class) {
                return constructor;
            }
        }
        throw new IllegalStateException("this Spark's ExternalSorter has none of the constructors of "
                + NAME + ": use the ferry-spark artifact of its line");
    }
}
