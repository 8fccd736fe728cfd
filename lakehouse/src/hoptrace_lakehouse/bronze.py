"""Bronze: every landed contract file as-is, plus lineage (source file, its node/epoch/seq,
ingest time) and ``_rescued_data`` for anything that does not fit the contract.

``make_source`` is the one place that knows where the code runs: Auto Loader on
Databricks, Spark's Parquet file source over the landing directory locally.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.types import (
    DateType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from . import contract
from .tables import Tables, TableSpec, register

Platform = Literal["databricks", "local"]

LINEAGE_FIELDS: tuple[StructField, ...] = (
    StructField("_rescued_data", StringType()),
    StructField("_source_file", StringType()),
    StructField("_file_node", StringType()),
    StructField("_file_epoch", StringType()),
    StructField("_file_seq", LongType()),
    StructField("_ingest_time", TimestampType()),
    StructField("ingest_date", DateType()),
)

# <prefix>/v1/<table>/date=YYYY-MM-DD/hour=HH/node=<node>/<epoch>-<seq12>.parquet
OBJECT_KEY_PATTERN = r"/node=([^/]+)/([^/]+)-([0-9]+)\.parquet$"


def bronze_key(table: str) -> str:
    return f"bronze.{table}"


def bronze_schema(table: str) -> StructType:
    return StructType([*contract.spark_schema(table).fields, *LINEAGE_FIELDS])


for _table in contract.TABLES:
    register(
        TableSpec(
            "bronze",
            _table,
            columns=lambda t=_table: bronze_schema(t),
            cluster_by=("ingest_date", "node"),
            retention_days=30,
            retention_column="ingest_date",
            comment=f"Landed agent rows of contract table {_table}, with lineage; kept 30 days.",
            properties={
                "delta.logRetentionDuration": "interval 30 days",
                # Contract tables are wider than the 32 columns Delta indexes by default;
                # clustering needs stats on its keys, which sit at the end.
                "delta.dataSkippingStatsColumns": "record_id,event_time,node,ingest_date,_file_seq",
            },
        )
    )


LANDED_FILES_SCHEMA = StructType(
    [
        StructField("table", StringType()),
        StructField("node", StringType()),
        StructField("epoch", StringType()),
        StructField("seq", LongType()),
        StructField("source_file", StringType()),
        StructField("rows", LongType()),
        StructField("min_event_time", TimestampType()),
        StructField("max_event_time", TimestampType()),
        StructField("ingest_time", TimestampType()),
    ]
)

register(
    TableSpec(
        "ops",
        "landed_files",
        columns=lambda: LANDED_FILES_SCHEMA,
        cluster_by=("table", "node"),
        retention_days=30,
        retention_column="ingest_time",
        comment="One row per ingested agent file: the per-node sequence numbers behind gap detection.",
    )
)


def landed_files(bronze_rows: DataFrame, table: str) -> DataFrame:
    """File-level summary of a Bronze batch (what the frontier and gap checks read)."""
    return (
        bronze_rows.groupBy("_source_file", "_file_node", "_file_epoch", "_file_seq")
        .agg(
            F.count("*").alias("rows"),
            F.min("event_time").alias("min_event_time"),
            F.max("event_time").alias("max_event_time"),
            F.min("_ingest_time").alias("ingest_time"),
        )
        .select(
            F.lit(table).alias("table"),
            F.col("_file_node").alias("node"),
            F.col("_file_epoch").alias("epoch"),
            F.col("_file_seq").alias("seq"),
            F.col("_source_file").alias("source_file"),
            "rows",
            "min_event_time",
            "max_event_time",
            "ingest_time",
        )
    )


def landing_table_path(landing_root: str, table: str) -> str:
    """Accept either the agent's prefix (holding ``v1/``) or the ``v1`` directory itself."""
    root = landing_root.rstrip("/")
    if not root.endswith("/v1"):
        root = f"{root}/v1"
    return f"{root}/{table}"


def make_source(
    spark: SparkSession,
    table: str,
    landing_root: str,
    *,
    platform: Platform,
    schema_location: str | None = None,
    max_files_per_trigger: int = 1000,
) -> DataFrame:
    """A streaming DataFrame of one contract table's landed files: contract columns,
    ``_rescued_data`` and ``_source_file``/``_file_mtime`` lineage."""
    schema = contract.spark_schema(table)
    path = landing_table_path(landing_root, table)
    if platform == "databricks":
        if schema_location is None:
            raise ValueError("Auto Loader needs a schema location per source")
        df = (
            spark.readStream.format("cloudFiles")
            .option("cloudFiles.format", "parquet")
            .option("cloudFiles.useManagedFileEvents", "true")
            .option("cloudFiles.schemaLocation", schema_location)
            # A provided schema rules out addNewColumns; rescue keeps unknown columns
            # (a newer agent) in _rescued_data instead of stopping the stream.
            .option("cloudFiles.schemaEvolutionMode", "rescue")
            .option("rescuedDataColumn", "_rescued_data")
            # The key's date=/hour=/node= directories duplicate row columns.
            .option("cloudFiles.partitionColumns", "")
            .option("cloudFiles.maxFilesPerTrigger", str(max_files_per_trigger))
            .option("cloudFiles.maxBytesPerTrigger", "10g")
            .option("pathGlobFilter", "*.parquet")
            .schema(schema)
            .load(path)
        )
        rescued = F.col("_rescued_data")
    else:
        Path(_local_path(path)).mkdir(parents=True, exist_ok=True)
        df = (
            spark.readStream.format("parquet")
            .schema(schema)
            # No partition discovery: node= in the key would shadow the row's node column.
            .option("recursiveFileLookup", "true")
            .option("pathGlobFilter", "*.parquet")
            .option("maxFilesPerTrigger", str(max_files_per_trigger))
            .load(path)
        )
        rescued = F.lit(None).cast("string")
    return df.select(
        *[F.col(f"`{f.name}`") for f in schema.fields],
        rescued.alias("_rescued_data"),
        F.col("_metadata.file_path").alias("_source_file"),
    )


def with_lineage(df: DataFrame, ingest_time: Column | None = None) -> DataFrame:
    """Add the object-key lineage and ingest time; pure, so it is tested without a stream."""
    ts = ingest_time if ingest_time is not None else F.current_timestamp()
    path = F.col("_source_file")
    seq = F.regexp_extract(path, OBJECT_KEY_PATTERN, 3)
    return (
        df.withColumn("_file_node", F.nullif(F.regexp_extract(path, OBJECT_KEY_PATTERN, 1), F.lit("")))
        .withColumn("_file_epoch", F.nullif(F.regexp_extract(path, OBJECT_KEY_PATTERN, 2), F.lit("")))
        .withColumn("_file_seq", F.when(seq != "", seq.cast("long")))
        .withColumn("_ingest_time", ts)
        .withColumn("ingest_date", F.to_date(F.col("_ingest_time")))
    )


def _local_path(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme in ("file", "") else uri


def rescue_locally(spark: SparkSession, batch: DataFrame, table: str) -> DataFrame:
    """Emulate Auto Loader's rescue for the local file source: a file whose columns are
    not all in the contract is re-read whole and its extra columns go to ``_rescued_data``
    as JSON (with ``_file_path``), as Auto Loader does. Files that match are untouched."""
    import pyarrow.parquet as pq

    known = {f.name for f in contract.spark_schema(table).fields}
    drifted: list[tuple[str, list[str]]] = []
    for row in batch.select("_source_file").distinct().collect():
        uri = row["_source_file"]
        names = pq.read_schema(_local_path(uri)).names
        extra = [n for n in names if n not in known]
        if extra:
            drifted.append((uri, extra))
    if not drifted:
        return batch
    out = batch.filter(~F.col("_source_file").isin([u for u, _ in drifted]))
    schema = contract.spark_schema(table)
    for uri, extra in drifted:
        raw = spark.read.parquet(uri)
        present = set(raw.columns)
        cols = [
            (F.col(f"`{f.name}`") if f.name in present else F.lit(None).cast(f.dataType)).alias(f.name)
            for f in schema.fields
        ]
        payload = F.to_json(F.struct(*[F.col(f"`{n}`") for n in extra], F.lit(uri).alias("_file_path")))
        out = out.unionByName(
            raw.select(*cols, payload.alias("_rescued_data"), F.lit(uri).alias("_source_file"))
        )
    return out


def _app_id(table: str, checkpoint: str) -> str:
    digest = hashlib.sha256(checkpoint.encode()).hexdigest()[:12]
    return f"hoptrace-bronze-{table}-{digest}"


def start_bronze_stream(
    spark: SparkSession,
    tables: Tables,
    table: str,
    landing_root: str,
    checkpoint_root: str,
    *,
    platform: Platform,
    available_now: bool = True,
    processing_time: str = "30 seconds",
    max_files_per_trigger: int = 1000,
) -> StreamingQuery:
    checkpoint = f"{checkpoint_root.rstrip('/')}/bronze/{table}"
    source = make_source(
        spark,
        table,
        landing_root,
        platform=platform,
        schema_location=f"{checkpoint}/_schema",
        max_files_per_trigger=max_files_per_trigger,
    )
    app_id = _app_id(table, checkpoint)
    key = bronze_key(table)

    def write(batch: DataFrame, batch_id: int) -> None:
        if platform == "local":
            batch = rescue_locally(batch.sparkSession, batch, table)
        rows = with_lineage(batch).persist()
        try:
            tables.append(rows, key, txn=(app_id, batch_id))
            tables.append(landed_files(rows, table), "ops.landed_files", txn=(f"{app_id}-files", batch_id))
        finally:
            rows.unpersist()

    writer = source.writeStream.queryName(f"bronze_{table}").option("checkpointLocation", checkpoint)
    writer = writer.foreachBatch(write)
    writer = (
        writer.trigger(availableNow=True) if available_now else writer.trigger(processingTime=processing_time)
    )
    return writer.start()


def ingest_available_now(
    spark: SparkSession,
    tables: Tables,
    landing_root: str,
    checkpoint_root: str,
    *,
    platform: Platform = "local",
    only: Iterable[str] = contract.TABLES,
    max_files_per_trigger: int = 1000,
) -> None:
    """Ingest every file landed so far into Bronze and return (the local and backfill mode)."""
    for table in only:
        query = start_bronze_stream(
            spark,
            tables,
            table,
            landing_root,
            checkpoint_root,
            platform=platform,
            available_now=True,
            max_files_per_trigger=max_files_per_trigger,
        )
        query.awaitTermination()


def read_landing_batch(spark: SparkSession, landing_root: str, table: str) -> DataFrame:
    """The landed files of one table as a batch DataFrame shaped like Bronze (for a
    backfill from raw files, and for tests that skip the stream)."""
    path = landing_table_path(landing_root, table)
    if "://" not in path and not Path(path).exists():
        return spark.createDataFrame([], bronze_schema(table))
    df = (
        spark.read.format("parquet")
        .schema(contract.spark_schema(table))
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", "*.parquet")
        .load(path)
    )
    df = df.select(
        "*",
        F.lit(None).cast("string").alias("_rescued_data"),
        F.col("_metadata.file_path").alias("_source_file"),
    )
    return with_lineage(df)
