"""Data-quality checks per finalized window -> ``ops.dq_results``.

Each check yields rows (check, scope, status, value, threshold, details); ``fail`` rows
drive alerts. Per-request problems are already issue rows in gold.correlation_issues;
these checks are the window-level view an on-call reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StringType, StructField, StructType, TimestampType

from . import contract
from .bronze import bronze_key
from .finalize import FinalizeConfig, _ts_sql, _utc, agent_gaps
from .lb_logs import PARSE_STATUSES, read_lb_logs
from .silver import conform
from .tables import Tables, TableSpec, register

DQ_SCHEMA = StructType(
    [
        StructField("window_start", TimestampType()),
        StructField("window_end", TimestampType()),
        StructField("check", StringType()),
        StructField("scope", StringType()),
        # pass | fail | no_data; monitor feedback adds skipped (metrics not available yet)
        StructField("status", StringType()),
        StructField("value", DoubleType()),
        StructField("threshold", DoubleType()),
        StructField("details", StringType()),
    ]
)

CHECKS: tuple[str, ...] = (
    "missing_segments",
    "clock_skew",
    "duplicate_request_id",
    "duplicate_trace_id",
    "schema_drift_rescued",
    "schema_drift_version",
    "agent_gap",
    "freshness",
    "lb_log_parse",
)

register(
    TableSpec(
        "ops",
        "dq_results",
        columns=lambda: DQ_SCHEMA,
        cluster_by=("window_start", "check"),
        retention_days=180,
        retention_column="window_start",
        comment="Data-quality results per finalized window; status fail raises an alert.",
    )
)


@dataclass(frozen=True)
class DQConfig:
    max_partial_rate: float = 0.05
    skew_tolerance_us: int = 100_000
    max_rescued_rate: float = 0.0
    freshness_p95_s: float = 120.0
    # Share of LB log lines that are malformed or carry fields this build does not know.
    max_lb_unparsed_rate: float = 0.0


def _meta(df: DataFrame, ws: datetime, we: datetime, check: str) -> DataFrame:
    return (
        df.withColumn("window_start", F.lit(ws).cast("timestamp"))
        .withColumn("window_end", F.lit(we).cast("timestamp"))
        .withColumn("check", F.lit(check))
    )


def check_missing_segments(paths: DataFrame, ws: datetime, we: datetime, cfg: DQConfig) -> DataFrame:
    agg = paths.agg(
        F.count("*").alias("n"),
        F.sum((F.col("completeness") == "partial").cast("int")).alias("partial"),
    )
    seg = (
        paths.select(F.explode("missing_segments").alias("segment"))
        .groupBy("segment")
        .count()
        .agg(
            F.to_json(F.map_from_entries(F.sort_array(F.collect_list(F.struct("segment", "count"))))).alias(
                "d"
            )
        )
    )
    out = agg.crossJoin(seg).select(
        F.lit("window").alias("scope"),
        F.when(F.col("n") == 0, "no_data")
        .when(F.col("partial") / F.col("n") > cfg.max_partial_rate, "fail")
        .otherwise("pass")
        .alias("status"),
        (F.col("partial") / F.col("n")).cast("double").alias("value"),
        F.lit(cfg.max_partial_rate).alias("threshold"),
        F.coalesce(F.col("d"), F.lit("{}")).alias("details"),
    )
    return conform(_meta(out, ws, we, "missing_segments"), DQ_SCHEMA)


def check_clock_skew(offsets: DataFrame, ws: datetime, we: datetime, cfg: DQConfig) -> DataFrame:
    out = offsets.select(
        F.concat_ws("->", "client_node", "server_node").alias("scope"),
        F.when(F.abs(F.col("offset_p50_us")) > cfg.skew_tolerance_us, "fail")
        .otherwise("pass")
        .alias("status"),
        F.col("offset_p50_us").cast("double").alias("value"),
        F.lit(float(cfg.skew_tolerance_us)).alias("threshold"),
        F.to_json(F.struct("samples", "offset_min_us", "offset_max_us")).alias("details"),
    )
    return conform(_meta(out, ws, we, "clock_skew"), DQ_SCHEMA)


def check_duplicates(issues: DataFrame, ws: datetime, we: datetime, reason: str) -> DataFrame:
    key = "request_id" if reason == "duplicate_request_id" else "trace_id"
    agg = issues.filter(F.col("reason") == reason).agg(
        F.countDistinct(key).alias("n"), F.slice(F.sort_array(F.collect_set(key)), 1, 20).alias("ids")
    )
    out = agg.select(
        F.lit("window").alias("scope"),
        F.when(F.col("n") > 0, "fail").otherwise("pass").alias("status"),
        F.col("n").cast("double").alias("value"),
        F.lit(0.0).alias("threshold"),
        F.to_json(F.struct(F.col("ids"))).alias("details"),
    )
    return conform(_meta(out, ws, we, reason), DQ_SCHEMA)


def _bronze_window(spark: SparkSession, tables: Tables, table: str, ws: datetime, we: datetime) -> DataFrame:
    return tables.read(spark, bronze_key(table)).filter(
        (F.col("event_time") >= F.lit(ws)) & (F.col("event_time") < F.lit(we))
    )


def check_schema_drift(
    spark: SparkSession, tables: Tables, ws: datetime, we: datetime, cfg: DQConfig
) -> DataFrame:
    """Rescued data (columns a newer agent added, values that did not fit) and schema
    versions this build does not know, per contract table."""
    known = list(contract.known_schema_versions())
    frames = []
    for table in contract.TABLES:
        b = _bronze_window(spark, tables, table, ws, we)
        keys = F.filter(F.json_object_keys(F.col("_rescued_data")), lambda k: k != "_file_path")
        agg = b.agg(
            F.count("*").alias("n"),
            F.sum(F.col("_rescued_data").isNotNull().cast("int")).alias("rescued"),
            F.sort_array(F.array_distinct(F.flatten(F.collect_list(F.coalesce(keys, F.array()))))).alias(
                "cols"
            ),
            F.sum((~F.col("schema_version").isin(*known)).cast("int")).alias("unknown_version"),
            F.sort_array(
                F.collect_set(F.when(~F.col("schema_version").isin(*known), F.col("schema_version")))
            ).alias("versions"),
        )
        rescued = agg.select(
            F.lit("schema_drift_rescued").alias("check"),
            F.lit(table).alias("scope"),
            F.when(F.col("n") == 0, "no_data")
            .when(F.col("rescued") / F.col("n") > cfg.max_rescued_rate, "fail")
            .otherwise("pass")
            .alias("status"),
            (F.coalesce(F.col("rescued"), F.lit(0)) / F.greatest(F.col("n"), F.lit(1)))
            .cast("double")
            .alias("value"),
            F.lit(cfg.max_rescued_rate).alias("threshold"),
            F.to_json(F.struct(F.col("cols").alias("unknown_columns"), F.col("rescued").alias("rows"))).alias(
                "details"
            ),
        )
        version = agg.select(
            F.lit("schema_drift_version").alias("check"),
            F.lit(table).alias("scope"),
            F.when(F.col("n") == 0, "no_data")
            .when(F.col("unknown_version") > 0, "fail")
            .otherwise("pass")
            .alias("status"),
            F.coalesce(F.col("unknown_version"), F.lit(0)).cast("double").alias("value"),
            F.lit(0.0).alias("threshold"),
            F.to_json(
                F.struct(F.col("versions").alias("unknown_versions"), F.lit(known).alias("known"))
            ).alias("details"),
        )
        frames += [rescued, version]
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    out = out.withColumn("window_start", F.lit(ws).cast("timestamp")).withColumn(
        "window_end", F.lit(we).cast("timestamp")
    )
    return conform(out, DQ_SCHEMA)


def check_agent_gaps(gaps: DataFrame, nodes: DataFrame, ws: datetime, we: datetime) -> DataFrame:
    """One row per node: fail when a file of that node is missing in this window."""
    g = gaps.filter((F.col("gap_from") < F.lit(we)) & (F.col("gap_to") >= F.lit(ws)))
    per_node = g.groupBy("node").agg(
        F.count("*").alias("gaps"), F.sort_array(F.collect_set("table")).alias("tables")
    )
    out = nodes.join(per_node, "node", "left").select(
        F.col("node").alias("scope"),
        F.when(F.coalesce(F.col("gaps"), F.lit(0)) > 0, "fail").otherwise("pass").alias("status"),
        F.coalesce(F.col("gaps"), F.lit(0)).cast("double").alias("value"),
        F.lit(0.0).alias("threshold"),
        F.to_json(
            F.struct(F.coalesce(F.col("tables"), F.array().cast("array<string>")).alias("tables"))
        ).alias("details"),
    )
    return conform(_meta(out, ws, we, "agent_gap"), DQ_SCHEMA)


def check_freshness(provisional: DataFrame, ws: datetime, we: datetime, cfg: DQConfig) -> DataFrame:
    """Request end -> first queryable (provisional) row: p50 and p95 seconds."""
    lag = F.unix_micros(F.col("computed_at")) - F.unix_micros(F.col("end_time"))
    agg = provisional.filter(F.col("window_start") == F.lit(ws)).agg(
        F.count("*").alias("n"),
        (F.percentile(lag, 0.5) / 1e6).alias("p50"),
        (F.percentile(lag, 0.95) / 1e6).alias("p95"),
    )
    out = agg.select(
        F.lit("window").alias("scope"),
        F.when(F.col("n") == 0, "no_data")
        .when(F.col("p95") > cfg.freshness_p95_s, "fail")
        .otherwise("pass")
        .alias("status"),
        F.col("p95").cast("double").alias("value"),
        F.lit(cfg.freshness_p95_s).alias("threshold"),
        F.to_json(F.struct("n", "p50", "p95")).alias("details"),
    )
    return conform(_meta(out, ws, we, "freshness"), DQ_SCHEMA)


def check_lb_log_parse(lb: DataFrame | None, ws: datetime, we: datetime, cfg: DQConfig) -> DataFrame | None:
    """The load balancer's log lines in the window by ``parse_status``: fail when lines are
    malformed or carry fields this build does not know (AWS appended to the format: the
    parser needs them named). ``missing_fields`` (an older, shorter format, read with the
    absent fields null) is counted, not failed. None where LB logs are not set up."""
    if lb is None:
        return None
    # A malformed line may have no time of its own: it counts in its delivery interval.
    at = F.coalesce(F.col("event_time"), F.col("log_interval_end"), F.col("_ingest_time"))
    rows = lb.filter((at >= F.lit(ws)) & (at < F.lit(we)))
    counts = [F.sum((F.col("parse_status") == s).cast("long")).alias(s) for s in PARSE_STATUSES]
    agg = rows.agg(
        F.count("*").alias("n"),
        *counts,
        F.sort_array(
            F.collect_set(F.when(F.col("parse_status").isin("malformed", "extra_fields"), F.col("elb")))
        ).alias("elbs"),
    )
    unparsed = F.coalesce(F.col("malformed"), F.lit(0)) + F.coalesce(F.col("extra_fields"), F.lit(0))
    out = agg.select(
        F.lit("lb_access_logs").alias("scope"),
        F.when(F.col("n") == 0, "no_data")
        .when(unparsed / F.col("n") > cfg.max_lb_unparsed_rate, "fail")
        .otherwise("pass")
        .alias("status"),
        (unparsed / F.greatest(F.col("n"), F.lit(1))).cast("double").alias("value"),
        F.lit(cfg.max_lb_unparsed_rate).alias("threshold"),
        F.to_json(
            F.struct(
                F.col("n").alias("lines"),
                *[F.coalesce(F.col(s), F.lit(0)).alias(s) for s in PARSE_STATUSES],
                F.col("elbs").alias("load_balancers_affected"),
            )
        ).alias("details"),
    )
    return conform(_meta(out, ws, we, "lb_log_parse"), DQ_SCHEMA)


def run_checks(
    spark: SparkSession,
    tables: Tables,
    ws: datetime,
    we: datetime,
    *,
    as_of: datetime,
    cfg: DQConfig | None = None,
    fcfg: FinalizeConfig | None = None,
) -> DataFrame:
    """Every check for one window, from the tables the finalizer wrote."""
    cfg = cfg or DQConfig()
    fcfg = fcfg or FinalizeConfig()
    ws, we = _utc(ws), _utc(we)
    in_window = F.col("window_start") == F.lit(ws)
    paths = tables.read(spark, "gold.request_paths").filter(in_window)
    issues = tables.read(spark, "gold.correlation_issues").filter(in_window)
    offsets = tables.read(spark, "silver.node_clock_offsets").filter(in_window)
    files = tables.read(spark, "ops.landed_files")
    heartbeats = tables.read(spark, bronze_key("agent_heartbeats"))
    nodes = (
        heartbeats.filter(
            (F.col("event_time") >= F.lit(ws - timedelta(minutes=fcfg.liveness_minutes)))
            & (F.col("event_time") < F.lit(we))
        )
        .select("node")
        .union(files.select("node"))
        .distinct()
    )
    gaps = agent_gaps(files, heartbeats, as_of, fcfg)
    parts = [
        check_missing_segments(paths, ws, we, cfg),
        check_clock_skew(offsets, ws, we, cfg),
        check_duplicates(issues, ws, we, "duplicate_request_id"),
        check_duplicates(issues, ws, we, "duplicate_trace_id"),
        check_schema_drift(spark, tables, ws, we, cfg),
        check_agent_gaps(gaps, nodes, ws, we),
        check_freshness(tables.read(spark, "gold.request_paths_provisional"), ws, we, cfg),
    ]
    lb = check_lb_log_parse(read_lb_logs(spark, tables), ws, we, cfg)
    if lb is not None:
        parts.append(lb)
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def write_checks(
    spark: SparkSession,
    tables: Tables,
    ws: datetime,
    we: datetime,
    *,
    as_of: datetime,
    cfg: DQConfig | None = None,
) -> DataFrame:
    results = run_checks(spark, tables, ws, we, as_of=as_of, cfg=cfg).localCheckpoint(eager=True)
    # Monitor feedback rows (monitor_feedback.py) share the table and window starts.
    tables.overwrite(
        results,
        "ops.dq_results",
        replace_where=f"window_start = {_ts_sql(ws)} AND `check` NOT LIKE 'monitor_%'",
    )
    return results
