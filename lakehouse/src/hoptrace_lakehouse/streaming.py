"""The streaming tier: Bronze -> Silver hops (deduplicated by record_id), inventory
intervals, and provisional request paths upserted within minutes of a request's end.

On Databricks the queries run continuously (processing-time triggers); locally and in
tests the same queries run with available-now triggers and stop when caught up.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from . import contract
from .bronze import Platform, bronze_key, start_bronze_stream
from .correlate import correlate
from .finalize import (
    FinalizeConfig,
    _utc,
    correlate_params,
    finalized_window_starts,
    window_floor,
    window_inputs,
)
from .gold import PROVISIONAL_SCHEMA
from .lb_logs import attach_lb_hops, lb_window, start_lb_stream
from .silver import conform as _conform
from .silver import (
    dedup_by_record_id,
    normalize_flows,
    normalize_http,
    normalize_spans,
    pod_ip_intervals,
    service_endpoint_intervals,
)
from .tables import Tables

OBSERVATION_TABLES = ("http_requests", "flows", "spans")
NORMALIZERS = {"http_requests": normalize_http, "flows": normalize_flows, "spans": normalize_spans}


def _delta_target(spark: SparkSession, tables: Tables, key: str):  # noqa: ANN202 - DeltaTable is untyped
    from delta.tables import DeltaTable

    if tables.is_local:
        return DeltaTable.forPath(spark, tables.path(key))
    return DeltaTable.forName(spark, tables.name(key))


def merge_hops(spark: SparkSession, tables: Tables, hops: DataFrame) -> None:
    """Insert observations whose record_id Silver does not hold yet (insert-only MERGE:
    replaying a batch or re-ingesting a file changes nothing)."""
    batch = dedup_by_record_id(hops).localCheckpoint(eager=True)
    bounds = batch.agg(F.min("event_date").alias("lo"), F.max("event_date").alias("hi")).first()
    if bounds is None or bounds["lo"] is None:
        return
    cond = (
        "t.record_id = s.record_id AND t.event_date = s.event_date "
        f"AND t.event_date BETWEEN DATE'{bounds['lo']}' AND DATE'{bounds['hi']}'"
    )
    _delta_target(spark, tables, "silver.hops").alias("t").merge(
        batch.alias("s"), cond
    ).whenNotMatchedInsertAll().execute()


def rebuild_intervals(spark: SparkSession, tables: Tables) -> None:
    """Intervals depend on the whole object history (a later DELETED closes an earlier
    interval), so they are rebuilt from Bronze rather than appended to."""
    k8s = tables.read(spark, bronze_key("k8s_objects"))
    tables.overwrite(pod_ip_intervals(k8s).localCheckpoint(eager=True), "silver.pod_ip_intervals")
    tables.overwrite(
        service_endpoint_intervals(k8s).localCheckpoint(eager=True), "silver.service_endpoint_intervals"
    )


def start_silver_stream(
    spark: SparkSession,
    tables: Tables,
    checkpoint_root: str,
    *,
    available_now: bool = True,
    processing_time: str = "30 seconds",
    max_files_per_trigger: int = 1000,
) -> StreamingQuery:
    streams = [
        NORMALIZERS[t](
            tables.read_stream(
                spark, bronze_key(t), skipChangeCommits="true", maxFilesPerTrigger=str(max_files_per_trigger)
            )
        )
        for t in OBSERVATION_TABLES
    ]
    union = streams[0]
    for s in streams[1:]:
        union = union.unionByName(s)

    def write(batch: DataFrame, _batch_id: int) -> None:
        merge_hops(batch.sparkSession, tables, batch)

    writer = (
        union.writeStream.queryName("silver_hops")
        .option("checkpointLocation", f"{checkpoint_root.rstrip('/')}/silver/hops")
        .foreachBatch(write)
    )
    writer = (
        writer.trigger(availableNow=True) if available_now else writer.trigger(processingTime=processing_time)
    )
    return writer.start()


def start_inventory_stream(
    spark: SparkSession,
    tables: Tables,
    checkpoint_root: str,
    *,
    available_now: bool = True,
    processing_time: str = "60 seconds",
) -> StreamingQuery:
    source = tables.read_stream(spark, bronze_key("k8s_objects"), skipChangeCommits="true")

    def write(batch: DataFrame, _batch_id: int) -> None:
        if not batch.isEmpty():
            rebuild_intervals(batch.sparkSession, tables)

    writer = (
        source.writeStream.queryName("silver_inventory")
        .option("checkpointLocation", f"{checkpoint_root.rstrip('/')}/silver/inventory")
        .foreachBatch(write)
    )
    writer = (
        writer.trigger(availableNow=True) if available_now else writer.trigger(processingTime=processing_time)
    )
    return writer.start()


def affected_windows(batch: DataFrame, cfg: FinalizeConfig) -> list[datetime]:
    """Windows whose requests a batch of observations can change: an observation may
    complete a request up to ``pad`` minutes away from it."""
    row = batch.agg(F.min("event_time").alias("lo"), F.max("event_time").alias("hi")).first()
    if row is None or row["lo"] is None:
        return []
    pad = timedelta(minutes=cfg.pad_minutes)
    times = batch.select(F.date_trunc("minute", "event_time").alias("m")).distinct().collect()
    out: set[datetime] = set()
    for r in times:
        t = _utc(r["m"])
        a = window_floor(t - pad, cfg.window_minutes)
        while a <= t + pad:
            out.add(a)
            a += timedelta(minutes=cfg.window_minutes)
    return sorted(out)


def upsert_provisional(
    spark: SparkSession, tables: Tables, window_starts: list[datetime], cfg: FinalizeConfig
) -> int:
    """Correlate the given windows provisionally (one pass over their range) and upsert
    the paths by path_id; windows the finalizer already owns are left alone."""
    final = finalized_window_starts(spark, tables)
    todo = [w for w in window_starts if w not in final]
    if not todo:
        return 0
    start, end = todo[0], todo[-1] + timedelta(minutes=cfg.window_minutes)
    obs, pods, svcs = window_inputs(spark, tables, start, end, cfg)
    params = correlate_params(start, end, cfg, is_final=False)
    obs = obs.localCheckpoint(eager=True)
    paths = correlate(obs, pods, svcs, params).paths
    # The LB hop where the LB's logs have landed already (they arrive minutes later).
    lb = lb_window(spark, tables, start, end, timedelta(minutes=cfg.pad_minutes))
    paths = attach_lb_hops(paths, obs, lb, pods, svcs, params).paths
    paths = paths.filter(F.col("window_start").isin([F.lit(w).cast("timestamp") for w in todo]))
    paths = _conform(paths.withColumn("computed_at", F.current_timestamp()), PROVISIONAL_SCHEMA)
    paths = paths.localCheckpoint(eager=True)
    n = paths.count()
    if n == 0:
        return 0
    (
        _delta_target(spark, tables, "gold.request_paths_provisional")
        .alias("t")
        .merge(paths.alias("s"), "t.path_id = s.path_id AND t.window_start = s.window_start")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )
    return n


def start_provisional_stream(
    spark: SparkSession,
    tables: Tables,
    checkpoint_root: str,
    cfg: FinalizeConfig | None = None,
    *,
    available_now: bool = True,
    processing_time: str = "20 seconds",
    max_files_per_trigger: int = 1000,
) -> StreamingQuery:
    cfg = cfg or FinalizeConfig()
    source = tables.read_stream(
        spark, "silver.hops", skipChangeCommits="true", maxFilesPerTrigger=str(max_files_per_trigger)
    ).select("event_time")

    def write(batch: DataFrame, _batch_id: int) -> None:
        upsert_provisional(batch.sparkSession, tables, affected_windows(batch, cfg), cfg)

    writer = (
        source.writeStream.queryName("gold_provisional")
        .option("checkpointLocation", f"{checkpoint_root.rstrip('/')}/gold/provisional")
        .foreachBatch(write)
    )
    writer = (
        writer.trigger(availableNow=True) if available_now else writer.trigger(processingTime=processing_time)
    )
    return writer.start()


def run_available_now(
    spark: SparkSession,
    tables: Tables,
    landing_root: str,
    checkpoint_root: str,
    cfg: FinalizeConfig | None = None,
    *,
    platform: Platform = "local",
    max_files_per_trigger: int = 1000,
    provisional: bool = True,
    lb_logs_root: str | None = None,
) -> None:
    """The whole streaming tier once, in dependency order, each query until caught up."""
    for table in contract.TABLES:
        start_bronze_stream(
            spark,
            tables,
            table,
            landing_root,
            checkpoint_root,
            platform=platform,
            max_files_per_trigger=max_files_per_trigger,
        ).awaitTermination()
    if lb_logs_root is not None:
        start_lb_stream(spark, tables, lb_logs_root, checkpoint_root, platform=platform).awaitTermination()
    # Downstream of Bronze each micro-batch costs a MERGE or a correlation pass, so the
    # small-trigger setting (exercising many Bronze batches) stops at Bronze.
    start_inventory_stream(spark, tables, checkpoint_root).awaitTermination()
    start_silver_stream(spark, tables, checkpoint_root).awaitTermination()
    if provisional:
        start_provisional_stream(spark, tables, checkpoint_root, cfg).awaitTermination()


def start_continuous(
    spark: SparkSession,
    tables: Tables,
    landing_root: str,
    checkpoint_root: str,
    cfg: FinalizeConfig | None = None,
    *,
    platform: Platform = "databricks",
) -> list[StreamingQuery]:
    """Every streaming query of the tier, running until stopped (the continuous job)."""
    queries = [
        start_bronze_stream(
            spark,
            tables,
            t,
            landing_root,
            checkpoint_root,
            platform=platform,
            available_now=False,
            max_files_per_trigger=5000,
        )
        for t in contract.TABLES
    ]
    queries.append(start_inventory_stream(spark, tables, checkpoint_root, available_now=False))
    queries.append(start_silver_stream(spark, tables, checkpoint_root, available_now=False))
    queries.append(start_provisional_stream(spark, tables, checkpoint_root, cfg, available_now=False))
    return queries


def renormalize_from_bronze(spark: SparkSession, tables: Tables, start: datetime, end: datetime) -> None:
    """Re-derive Silver observations for ``[start, end)`` from Bronze (backfill source)."""
    lo, hi = F.lit(_utc(start)), F.lit(_utc(end))
    frames = []
    for t in OBSERVATION_TABLES:
        b = tables.read(spark, bronze_key(t))
        time_col = "end_time" if t == "spans" else "event_time"
        frames.append(NORMALIZERS[t](b.filter((F.col(time_col) >= lo) & (F.col(time_col) < hi))))
    union = frames[0]
    for f in frames[1:]:
        union = union.unionByName(f)
    merge_hops(spark, tables, union)
    rebuild_intervals(spark, tables)


def now_utc() -> datetime:
    return datetime.now(UTC)
