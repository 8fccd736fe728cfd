"""Local Spark + Delta sessions for tests, the local runner and the benchmark.

Databricks provides its own session; nothing here runs there. The Delta jars are
resolved once from Maven Central into the repository's ignored ``.cache/``
directory, so a test run never reaches the network or a user's ``~/.ivy2``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from pyspark.sql import SparkSession

SCALA_VERSION = "2.13"


def repo_root() -> Path:
    # src/hoptrace_lakehouse/local_spark.py -> lakehouse/src/hoptrace_lakehouse -> repo
    return Path(__file__).resolve().parents[3]


def cache_dir() -> Path:
    override = os.environ.get("HOPTRACE_SPARK_CACHE")
    return Path(override) if override else repo_root() / ".cache" / "spark"


def delta_coordinate() -> str:
    """The Maven coordinate of the Delta jar that matches the installed pyspark and delta-spark."""
    import pyspark

    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    delta_version = metadata.version("delta-spark")
    return f"io.delta:delta-spark_{spark_minor}_{SCALA_VERSION}:{delta_version}"


def _manifest_path() -> Path:
    safe = delta_coordinate().replace(":", "_")
    return cache_dir() / f"{safe}.jars.json"


def cached_jars() -> list[str] | None:
    manifest = _manifest_path()
    if not manifest.exists():
        return None
    jars: list[str] = json.loads(manifest.read_text())
    if not jars or not all(Path(j).exists() for j in jars):
        return None
    return jars


_RESOLVE = """
import sys
from pyspark.sql import SparkSession
coord, ivy = sys.argv[1], sys.argv[2]
s = (SparkSession.builder.master("local[1]").appName("hoptrace-fetch-jars")
     .config("spark.ui.enabled", "false")
     .config("spark.jars.packages", coord)
     .config("spark.jars.ivy", ivy)
     .getOrCreate())
s.stop()
"""


def _artifact(jar_name: str) -> str:
    return re.sub(r"-[0-9][^-]*\.jar$", "", jar_name)


def _without_spark_provided(jars: list[str]) -> list[str]:
    """Drop transitive jars pyspark already ships (Jackson, Parquet, Hadoop, logging):
    two versions of one library on a classpath is a conflict waiting to happen."""
    import pyspark

    provided = {_artifact(p.name) for p in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    # Ivy names retrieved jars "<group>_<artifact>-<version>.jar".
    return [j for j in jars if _artifact(Path(j).name.split("_", 1)[-1]) not in provided]


def ensure_jars() -> list[str]:
    """Resolve the Delta jars into the cache (idempotent) and return their local paths."""
    jars = cached_jars()
    if jars is not None:
        return jars
    coord = delta_coordinate()
    ivy = cache_dir() / "ivy"
    ivy.mkdir(parents=True, exist_ok=True)
    # A separate JVM resolves the packages: the caller's session must start with
    # plain local jars, and a JVM's classpath cannot be swapped after launch.
    subprocess.run([sys.executable, "-c", _RESOLVE, coord, str(ivy)], check=True)
    jars = _without_spark_provided(sorted(str(p) for p in (ivy / "jars").glob("*.jar")))
    if not any("delta-spark" in Path(j).name for j in jars):
        raise RuntimeError(f"Delta jar {coord} was not resolved into {ivy / 'jars'}")
    _manifest_path().write_text(json.dumps(jars, indent=2) + "\n")
    return jars


def local_session(
    warehouse: str | Path | None = None,
    *,
    app_name: str = "hoptrace-lakehouse",
    cores: int = 2,
    shuffle_partitions: int = 4,
    driver_memory: str = "2g",
) -> SparkSession:
    """A small local SparkSession with Delta enabled, sized for a shared 2-core machine."""
    jars = ensure_jars()
    builder = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(app_name)
        .config("spark.jars", ",".join(jars))
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(cores))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.databricks.delta.snapshotPartitions", "2")
        .config("spark.databricks.delta.properties.defaults.enableDeletionVectors", "true")
        .config(
            "spark.sql.streaming.stateStore.providerClass",
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        )
    )
    if warehouse is not None:
        wh = Path(warehouse).resolve()
        builder = builder.config("spark.sql.warehouse.dir", str(wh / "_spark_warehouse"))
        builder = builder.config("spark.driver.extraJavaOptions", f"-Dderby.system.home={wh / '_derby'}")
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
