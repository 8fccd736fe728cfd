"""The final tier: close event-time windows once every live node has landed past them
(measured from heartbeats and landed file sequence numbers, at most ``max_lateness``
plus grace), recompute them with the correlation core, and overwrite them idempotently.
Backfill is the same finalizer over a chosen window range."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from . import CORRELATOR_VERSION, contract
from .correlate import GAPS_SCHEMA, ISSUES_SCHEMA, CorrelateParams, correlate
from .gold import FINALIZED_WINDOWS_SCHEMA
from .silver import conform, dedup_by_record_id
from .tables import Tables, TableSpec, register

register(
    TableSpec(
        "ops",
        "finalized_windows",
        columns=lambda: FINALIZED_WINDOWS_SCHEMA,
        comment="Windows the finalizer has closed: when first and last, by which correlator.",
    )
)

DATA_TABLES: tuple[str, ...] = tuple(t for t in contract.TABLES if t != "agent_heartbeats")


@dataclass(frozen=True)
class FinalizeConfig:
    window_minutes: int = 5
    # Observations are read this far around a window: the longest request plus skew.
    pad_minutes: int = 5
    max_lateness_minutes: int = 15
    grace_minutes: int = 2
    # A node without a heartbeat for this long is not live and holds no window open.
    liveness_minutes: int = 5
    # How far back a first run (with no finalized window yet) starts.
    lookback_hours: int = 6
    match_tolerance_us: int = 1_000_000
    skew_tolerance_us: int = 100_000
    correlator_version: str = CORRELATOR_VERSION


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def window_floor(ts: datetime, minutes: int) -> datetime:
    ts = _utc(ts)
    day = ts.replace(hour=0, minute=0, second=0, microsecond=0)
    span = timedelta(minutes=minutes)
    return day + span * ((ts - day) // span)


def plan_windows(start: datetime, end: datetime, minutes: int) -> list[tuple[datetime, datetime]]:
    """Windows ``[a, a + minutes)`` covering ``[start, end)``, aligned to the day."""
    out: list[tuple[datetime, datetime]] = []
    a = window_floor(start, minutes)
    end = _utc(end)
    while a < end:
        out.append((a, a + timedelta(minutes=minutes)))
        a += timedelta(minutes=minutes)
    return out


# --- completeness: gaps and the frontier ------------------------------------------------


def _contiguous(files: DataFrame) -> DataFrame:
    """Highest sequence number per (table, node, epoch) below which nothing is missing."""
    w = Window.partitionBy("table", "node", "epoch").orderBy("seq")
    return (
        files.select("table", "node", "epoch", "seq")
        .distinct()
        .withColumn("_k", F.row_number().over(w))
        .filter(F.col("seq") == F.col("_k"))
        .groupBy("table", "node", "epoch")
        .agg(F.max("seq").alias("contiguous_seq"))
    )


def _heartbeat_tables(heartbeats: DataFrame) -> DataFrame:
    return heartbeats.select(
        "node", "epoch", F.col("event_time").alias("hb_time"), F.explode("tables").alias("t")
    ).select(
        "node",
        "epoch",
        "hb_time",
        F.col("t.table").alias("table"),
        F.col("t.last_seq").alias("last_seq"),
        F.col("t.flushed_through").alias("flushed_through"),
    )


def agent_gaps(files: DataFrame, heartbeats: DataFrame, as_of: datetime, cfg: FinalizeConfig) -> DataFrame:
    """Time ranges in which a node's files are missing: holes in its sequence numbers, and
    files its heartbeats announced that have not landed within the lateness bound."""
    f = files.select("table", "node", "epoch", "seq", "min_event_time", "max_event_time").distinct()
    w = Window.partitionBy("table", "node", "epoch").orderBy("seq")
    holes = (
        f.withColumn("_prev_seq", F.lag("seq").over(w))
        .withColumn("_prev_end", F.lag("max_event_time").over(w))
        .filter(F.col("seq") - F.coalesce(F.col("_prev_seq"), F.lit(0)) > 1)
        .select(
            "node",
            "table",
            F.coalesce(F.col("_prev_end"), F.col("min_event_time") - F.expr("INTERVAL 1 HOUR")).alias("gap_from"),
            F.col("min_event_time").alias("gap_to"),
        )
    )
    overdue = F.lit(_utc(as_of) - timedelta(minutes=cfg.max_lateness_minutes)).cast("timestamp")
    announced = (
        _heartbeat_tables(heartbeats)
        .filter(F.col("hb_time") <= overdue)
        .groupBy("table", "node", "epoch")
        .agg(F.max("last_seq").alias("announced"), F.max("flushed_through").alias("announced_through"))
    )
    landed = f.groupBy("table", "node", "epoch").agg(
        F.max("seq").alias("max_seq"), F.max("max_event_time").alias("landed_through")
    )
    tail = (
        announced.join(landed, ["table", "node", "epoch"], "left")
        .filter(F.col("announced") > F.coalesce(F.col("max_seq"), F.lit(0)))
        .select(
            "node",
            "table",
            F.coalesce(F.col("landed_through"), F.col("announced_through") - F.expr("INTERVAL 1 HOUR")).alias(
                "gap_from"
            ),
            F.col("announced_through").alias("gap_to"),
        )
    )
    return conform(holes.unionByName(tail), GAPS_SCHEMA)


def node_frontiers(files: DataFrame, heartbeats: DataFrame) -> DataFrame:
    """Per node: the event time through which all its data has landed in Bronze. A table
    counts as landed through a heartbeat's ``flushed_through`` once every sequence number
    that heartbeat announced is present."""
    hb = _heartbeat_tables(heartbeats).filter(F.col("table").isin(*DATA_TABLES))
    done = hb.join(_contiguous(files), ["table", "node", "epoch"], "left").filter(
        F.col("last_seq") <= F.coalesce(F.col("contiguous_seq"), F.lit(0))
    )
    per_table = done.groupBy("node", "table").agg(
        F.max(F.coalesce(F.col("flushed_through"), F.col("hb_time"))).alias("landed_through")
    )
    tables_seen = hb.select("node", "table").distinct()
    last_hb = heartbeats.groupBy("node").agg(F.max("event_time").alias("last_heartbeat"))
    return (
        tables_seen.join(per_table, ["node", "table"], "left")
        .groupBy("node")
        .agg(
            # A table with nothing landed yet holds the node at the beginning of time.
            F.when(F.max(F.col("landed_through").isNull().cast("int")) == 1, F.lit(None))
            .otherwise(F.min("landed_through"))
            .alias("landed_through")
        )
        .join(last_hb, "node", "right")
    )


def closed_through(files: DataFrame, heartbeats: DataFrame, as_of: datetime, cfg: FinalizeConfig) -> datetime:
    """The instant before which every window may be finalized."""
    as_of = _utc(as_of)
    bound = as_of - timedelta(minutes=cfg.max_lateness_minutes + cfg.grace_minutes)
    live_after = F.lit(as_of - timedelta(minutes=cfg.liveness_minutes)).cast("timestamp")
    fr = node_frontiers(files, heartbeats).filter(F.col("last_heartbeat") >= live_after)
    row = fr.agg(
        F.count("*").alias("n"),
        F.max(F.col("landed_through").isNull().cast("int")).alias("any_null"),
        F.min("landed_through").alias("frontier"),
    ).first()
    if row is None or row["n"] == 0 or row["any_null"] == 1 or row["frontier"] is None:
        return bound
    frontier = _utc(row["frontier"])
    return min(as_of, max(bound, frontier))


# --- one window -------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowResult:
    window_start: datetime
    window_end: datetime
    observations: int
    paths: int
    issues: int
    too_late: int


def _ts_sql(ts: datetime) -> str:
    return f"TIMESTAMP'{_utc(ts).strftime('%Y-%m-%d %H:%M:%S')}'"


def window_inputs(
    spark: SparkSession, tables: Tables, ws: datetime, we: datetime, cfg: FinalizeConfig
) -> tuple[DataFrame, DataFrame, DataFrame]:
    pad = timedelta(minutes=cfg.pad_minutes)
    lo, hi = _utc(ws) - pad, _utc(we) + pad
    obs = tables.read(spark, "silver.hops").filter(
        (F.col("event_date") >= F.lit(lo.date())) & (F.col("event_date") <= F.lit(hi.date()))
    ).filter((F.col("event_time") >= F.lit(lo)) & (F.col("event_time") < F.lit(hi)))
    live = (F.col("valid_to").isNull() | (F.col("valid_to") >= F.lit(lo))) & (F.col("valid_from") < F.lit(hi))
    pods = tables.read(spark, "silver.pod_ip_intervals").filter(live)
    svcs = tables.read(spark, "silver.service_endpoint_intervals").filter(live)
    return dedup_by_record_id(obs), pods, svcs


def _first_finalized(spark: SparkSession, tables: Tables, ws: datetime) -> datetime | None:
    row = (
        tables.read(spark, "ops.finalized_windows")
        .filter(F.col("window_start") == F.lit(_utc(ws)))
        .agg(F.min("first_finalized_at").alias("t"))
        .first()
    )
    return None if row is None or row["t"] is None else _utc(row["t"])


def too_late_issues(obs: DataFrame, ws: datetime, we: datetime, first_final: datetime | None,
                    cfg: FinalizeConfig) -> DataFrame:
    """Observations of this window that arrived after it was first finalized, per node and
    table: counted as issues (kept on every re-finalization of the window)."""
    if first_final is None:
        return obs.sparkSession.createDataFrame([], ISSUES_SCHEMA)
    late = obs.filter(
        (F.col("event_time") >= F.lit(_utc(ws)))
        & (F.col("event_time") < F.lit(_utc(we)))
        & (F.col("_ingest_time") > F.lit(first_final))
    )
    agg = late.groupBy("node", "source_table").agg(
        F.count("*").alias("rows"), F.max("event_time").alias("last_event")
    )
    evidence = F.to_json(
        F.struct(F.col("source_table").alias("table"), F.col("rows"), F.lit(first_final).alias("window_finalized_at"))
    )
    out = agg.select(
        F.sha2(F.concat_ws("|", F.lit("too_late"), F.lit(str(ws)), "node", "source_table"), 256)
        .substr(1, 32)
        .alias("issue_id"),
        F.lit(_utc(ws)).cast("timestamp").alias("window_start"),
        F.to_date("last_event").alias("event_date"),
        F.col("last_event").alias("event_time"),
        F.lit("too_late").alias("reason"),
        F.lit(None).cast("string").alias("segment"),
        F.lit(None).cast("string").alias("path_id"),
        F.lit(None).cast("string").alias("request_id"),
        F.lit(None).cast("string").alias("trace_id"),
        F.col("node"),
        evidence.alias("evidence"),
        F.lit(True).alias("is_final"),
        F.lit(cfg.correlator_version).alias("correlator_version"),
    )
    return conform(out, ISSUES_SCHEMA)


def gap_issues(gaps: DataFrame, ws: datetime, we: datetime, cfg: FinalizeConfig) -> DataFrame:
    """One window-level agent_gap issue per node and table whose gap overlaps the window."""
    g = gaps.filter((F.col("gap_from") < F.lit(_utc(we))) & (F.col("gap_to") >= F.lit(_utc(ws))))
    out = g.groupBy("node", "table").agg(F.min("gap_from").alias("gap_from"), F.max("gap_to").alias("gap_to"))
    out = out.select(
        F.sha2(F.concat_ws("|", F.lit("agent_gap"), F.lit(str(ws)), "node", "table"), 256)
        .substr(1, 32)
        .alias("issue_id"),
        F.lit(_utc(ws)).cast("timestamp").alias("window_start"),
        F.lit(_utc(ws).date()).alias("event_date"),
        F.lit(_utc(ws)).cast("timestamp").alias("event_time"),
        F.lit("agent_gap").alias("reason"),
        F.lit(None).cast("string").alias("segment"),
        F.lit(None).cast("string").alias("path_id"),
        F.lit(None).cast("string").alias("request_id"),
        F.lit(None).cast("string").alias("trace_id"),
        "node",
        F.to_json(F.struct("table", "gap_from", "gap_to")).alias("evidence"),
        F.lit(True).alias("is_final"),
        F.lit(cfg.correlator_version).alias("correlator_version"),
    )
    return conform(out, ISSUES_SCHEMA)


def finalize_window(
    spark: SparkSession,
    tables: Tables,
    ws: datetime,
    we: datetime,
    cfg: FinalizeConfig,
    *,
    as_of: datetime,
) -> WindowResult:
    """Recompute one window from Silver and replace it in Gold (idempotent)."""
    obs, pods, svcs = window_inputs(spark, tables, ws, we, cfg)
    obs = obs.localCheckpoint(eager=True)
    files = tables.read(spark, "ops.landed_files")
    heartbeats = tables.read(spark, "bronze.agent_heartbeats")
    gaps = agent_gaps(files, heartbeats, as_of, cfg).localCheckpoint(eager=True)
    params = CorrelateParams(
        window_start=_utc(ws),
        window_end=_utc(we),
        match_tolerance_us=cfg.match_tolerance_us,
        skew_tolerance_us=cfg.skew_tolerance_us,
        is_final=True,
        correlator_version=cfg.correlator_version,
    )
    result = correlate(obs, pods, svcs, params, gaps=gaps)
    first_final = _first_finalized(spark, tables, ws)
    issues = (
        result.issues.unionByName(too_late_issues(obs, ws, we, first_final, cfg))
        .unionByName(gap_issues(gaps, ws, we, cfg))
        .dropDuplicates(["issue_id"])
    )
    where = f"window_start = {_ts_sql(ws)}"
    paths = result.paths.localCheckpoint(eager=True)
    issues = issues.localCheckpoint(eager=True)
    tables.overwrite(paths, "gold.request_paths", replace_where=where)
    tables.overwrite(issues, "gold.correlation_issues", replace_where=where)
    tables.overwrite(result.offsets, "silver.node_clock_offsets", replace_where=where)
    _mark_finalized(spark, tables, ws, we, cfg)
    n_obs = obs.filter((F.col("event_time") >= F.lit(_utc(ws))) & (F.col("event_time") < F.lit(_utc(we)))).count()
    return WindowResult(
        _utc(ws), _utc(we), n_obs, paths.count(), issues.count(), issues.filter(F.col("reason") == "too_late").count()
    )


def _mark_finalized(spark: SparkSession, tables: Tables, ws: datetime, we: datetime, cfg: FinalizeConfig) -> None:
    from delta.tables import DeltaTable

    now = datetime.now(UTC)
    src = spark.createDataFrame(
        [(_utc(ws), _utc(we), now, now, cfg.correlator_version)], FINALIZED_WINDOWS_SCHEMA
    )
    target = (
        DeltaTable.forPath(spark, tables.path("ops.finalized_windows"))
        if tables.is_local
        else DeltaTable.forName(spark, tables.name("ops.finalized_windows"))
    )
    (
        target.alias("t")
        .merge(src.alias("s"), "t.window_start = s.window_start")
        .whenMatchedUpdate(
            set={"last_finalized_at": "s.last_finalized_at", "correlator_version": "s.correlator_version"}
        )
        .whenNotMatchedInsertAll()
        .execute()
    )


def finalized_window_starts(spark: SparkSession, tables: Tables) -> set[datetime]:
    return {_utc(r["window_start"]) for r in tables.read(spark, "ops.finalized_windows").collect()}


def windows_to_finalize(
    spark: SparkSession, tables: Tables, as_of: datetime, cfg: FinalizeConfig
) -> list[tuple[datetime, datetime]]:
    """Closed windows after the last finalized one (or the earliest observation)."""
    files = tables.read(spark, "ops.landed_files")
    heartbeats = tables.read(spark, "bronze.agent_heartbeats")
    closed = closed_through(files, heartbeats, as_of, cfg)
    done = finalized_window_starts(spark, tables)
    if done:
        start = max(done) + timedelta(minutes=cfg.window_minutes)
    else:
        row = tables.read(spark, "silver.hops").agg(F.min("event_time").alias("t")).first()
        if row is None or row["t"] is None:
            return []
        start = max(_utc(row["t"]), _utc(as_of) - timedelta(hours=cfg.lookback_hours))
    return [(a, b) for a, b in plan_windows(start, closed, cfg.window_minutes) if b <= closed]


def finalize(
    spark: SparkSession,
    tables: Tables,
    cfg: FinalizeConfig | None = None,
    *,
    as_of: datetime | None = None,
) -> list[WindowResult]:
    """The scheduled finalizer: finalize every window that has closed since the last run."""
    cfg = cfg or FinalizeConfig()
    as_of = _utc(as_of or datetime.now(UTC))
    return [
        finalize_window(spark, tables, a, b, cfg, as_of=as_of)
        for a, b in windows_to_finalize(spark, tables, as_of, cfg)
    ]


def backfill(
    spark: SparkSession,
    tables: Tables,
    start: datetime,
    end: datetime,
    cfg: FinalizeConfig | None = None,
    *,
    source: str = "silver",
    as_of: datetime | None = None,
    window_minutes: int | None = None,
) -> list[WindowResult]:
    """Re-finalize every window in ``[start, end)``; from Silver, or re-normalizing from
    Bronze first (``source='bronze'``). Running it twice leaves identical tables."""
    cfg = cfg or FinalizeConfig()
    if window_minutes is not None:
        cfg = replace(cfg, window_minutes=window_minutes)
    as_of = _utc(as_of or datetime.now(UTC))
    if source == "bronze":
        from .streaming import renormalize_from_bronze

        pad = timedelta(minutes=cfg.pad_minutes)
        renormalize_from_bronze(spark, tables, _utc(start) - pad, _utc(end) + pad)
    elif source != "silver":
        raise ValueError(f"backfill source must be 'silver' or 'bronze', not {source!r}")
    return [finalize_window(spark, tables, a, b, cfg, as_of=as_of) for a, b in plan_windows(start, end, cfg.window_minutes)]


def refinalize_too_late(
    spark: SparkSession, tables: Tables, cfg: FinalizeConfig | None = None, *, as_of: datetime | None = None
) -> list[WindowResult]:
    """Re-finalize windows that received observations after their last finalization."""
    cfg = cfg or FinalizeConfig()
    as_of = _utc(as_of or datetime.now(UTC))
    done = tables.read(spark, "ops.finalized_windows")
    hops = tables.read(spark, "silver.hops").select("event_time", "_ingest_time")
    stale = (
        done.join(
            hops,
            (hops.event_time >= done.window_start)
            & (hops.event_time < done.window_end)
            & (hops._ingest_time > done.last_finalized_at),
        )
        .select("window_start", "window_end")
        .distinct()
        .orderBy("window_start")
        .collect()
    )
    return [finalize_window(spark, tables, r["window_start"], r["window_end"], cfg, as_of=as_of) for r in stale]


def window_starts(windows: Iterable[WindowResult]) -> list[datetime]:
    return [w.window_start for w in windows]
