# The Spark versions the Spark tests run, and the ferry-spark artifact for each: the one place.
# Source it. Each version is a line's newest release that PyPI serves as pyspark (whose package
# carries a whole Spark: bin/spark-submit, jars/).

# tests/spark/run.sh with no version: the full suite, on the newest line that both PyPI (pyspark)
# and Maven Central (spark-core) serve. pyspark 4.3.0 is on PyPI, but spark-core_2.13 4.3.0 is
# not on Maven Central (newest there: 4.2.0), and 4.3 changed the ShuffleManager interface
# (jvm/spark/NOTES.md).
SPARK_NEWEST=4.2.0

# tests/spark/run.sh --lines: a compact run on each other line.
# VERSION_2.13: Spark 3.5's Scala 2.13 build, which PyPI lacks (tests/spark/setup.sh assembles it
# from Maven Central). VERSION:25 runs Spark's JVMs on Temurin 25 (Spark 4 supports Java 17+).
SPARK_OTHER_LINES=(3.5.9 3.5.9_2.13 4.0.5 4.1.4 "$SPARK_NEWEST:25")

# ferry_spark_project VERSION: the Gradle project, also the Maven artifact, serving that Spark.
ferry_spark_project() {
  case $1 in
    3.5.*_2.13) echo ferry-spark-3.5_2.13 ;;
    3.5.*) echo ferry-spark-3.5_2.12 ;; # pyspark 3.5 carries Spark's Scala 2.12 build
    4.[012].*) echo ferry-spark-4_2.13 ;;
    *) echo "no ferry-spark artifact for Spark $1" >&2 && return 1 ;;
  esac
}

# spark_scala_binary VERSION: the Scala version of pyspark's Spark build.
spark_scala_binary() {
  case $1 in
    *_2.13) echo 2.13 ;;
    3.*) echo 2.12 ;;
    *) echo 2.13 ;;
  esac
}

# jar_of DIR NAME: the jar Gradle built for the module in DIR (from the repository's root; not its
# sources or javadoc jar).
jar_of() {
  ls "$PWD/$1"/build/libs/"$2"-*.jar | grep -v -e '-sources' -e '-javadoc'
}
