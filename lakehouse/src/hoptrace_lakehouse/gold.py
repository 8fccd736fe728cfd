"""Gold tables: final and provisional request paths, correlation issues, and the view
that serves the finalized tier where it exists and the provisional tier beyond it."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StringType, StructField, StructType, TimestampType

from .correlate import ISSUES_SCHEMA, OFFSETS_SCHEMA, PATHS_SCHEMA
from .tables import Tables, TableSpec, register

PROVISIONAL_SCHEMA = StructType([*PATHS_SCHEMA.fields, StructField("computed_at", TimestampType())])

register(
    TableSpec(
        "gold",
        "request_paths",
        columns=lambda: PATHS_SCHEMA,
        cluster_by=("window_start", "ingress_node"),
        retention_days=180,
        retention_column="event_date",
        comment="One row per request, final: written only by the finalizer and backfill, per window.",
    )
)
register(
    TableSpec(
        "gold",
        "correlation_issues",
        columns=lambda: ISSUES_SCHEMA,
        cluster_by=("window_start", "reason"),
        retention_days=180,
        retention_column="event_date",
        comment="One row per correlation problem, with a reason code and its evidence.",
    )
)
register(
    TableSpec(
        "gold",
        "request_paths_provisional",
        columns=lambda: PROVISIONAL_SCHEMA,
        cluster_by=("window_start",),
        retention_days=2,
        retention_column="event_date",
        comment="Best-effort paths from the streaming tier (is_final = false), upserted by path_id.",
    )
)
register(
    TableSpec(
        "silver",
        "node_clock_offsets",
        columns=lambda: OFFSETS_SCHEMA,
        cluster_by=("window_start",),
        retention_days=180,
        retention_column="window_start",
        comment="Median clock offset per (client node, server node) per window, from exactly matched hops.",
    )
)

FINALIZED_WINDOWS_SCHEMA = StructType(
    [
        StructField("window_start", TimestampType()),
        StructField("window_end", TimestampType()),
        StructField("first_finalized_at", TimestampType()),
        StructField("last_finalized_at", TimestampType()),
        StructField("correlator_version", StringType()),
    ]
)


def latest_view_sql(tables: Tables) -> str:
    """Final rows for finalized windows, provisional rows for the rest (the same SQL
    backs the catalog view on Databricks and the temporary view locally)."""
    cols = ", ".join(f"`{f.name}`" for f in PATHS_SCHEMA.fields)
    final = tables.name("gold.request_paths")
    prov = tables.name("gold.request_paths_provisional")
    done = tables.name("ops.finalized_windows")
    return (
        f"SELECT {cols} FROM {final}\n"
        f"UNION ALL\n"
        f"SELECT {cols} FROM {prov} p\n"
        f"WHERE NOT EXISTS (SELECT 1 FROM {done} w WHERE w.window_start = p.window_start)"
    )


def create_latest_view(spark: SparkSession, tables: Tables) -> None:
    sql = latest_view_sql(tables)
    if tables.is_local:
        spark.sql(f"CREATE OR REPLACE TEMP VIEW request_paths_latest AS {sql}")
    else:
        spark.sql(f"CREATE OR REPLACE VIEW `{tables.catalog}`.`gold`.`request_paths_latest` AS {sql}")


def read_latest(spark: SparkSession, tables: Tables) -> DataFrame:
    return spark.sql(latest_view_sql(tables))
