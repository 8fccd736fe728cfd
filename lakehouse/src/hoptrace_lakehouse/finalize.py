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
from .lb_logs import attach_lb_hops, landed_through, lb_window, read_lb_logs
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
            F.coalesce(F.col("_prev_end"), F.col("min_event_time") - F.expr("INTERVAL 1 HOUR")).alias(
                "gap_from"
            ),
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
    obs = (
        tables.read(spark, "silver.hops")
        .filter((F.col("event_date") >= F.lit(lo.date())) & (F.col("event_date") <= F.lit(hi.date())))
        .filter((F.col("event_time") >= F.lit(lo)) & (F.col("event_time") < F.lit(hi)))
    )
    live = (F.col("valid_to").isNull() | (F.col("valid_to") >= F.lit(lo))) & (F.col("valid_from") < F.lit(hi))
    pods = tables.read(spark, "silver.pod_ip_intervals").filter(live)
    svcs = tables.read(spark, "silver.service_endpoint_intervals").filter(live)
    return dedup_by_record_id(obs), pods, svcs


def _windows_df(spark: SparkSession, start: datetime, end: datetime, minutes: int) -> DataFrame:
    rows = [(a, b) for a, b in plan_windows(start, end, minutes)]
    return spark.createDataFrame(rows, "w_start timestamp, w_end timestamp")


def too_late_issues(
    obs: DataFrame, finalized: DataFrame, start: datetime, end: datetime, cfg: FinalizeConfig
) -> DataFrame:
    """Observations that arrived after their window was first finalized, per window, node
    and table: counted as issues (and kept on every re-finalization of the window)."""
    fw = finalized.select(F.col("window_start").alias("fw_start"), "window_end", "first_finalized_at")
    late = obs.join(
        fw,
        (F.col("event_time") >= F.col("fw_start"))
        & (F.col("event_time") < F.col("window_end"))
        & (F.col("_ingest_time") > F.col("first_finalized_at")),
    ).filter((F.col("fw_start") >= F.lit(_utc(start))) & (F.col("fw_start") < F.lit(_utc(end))))
    agg = late.groupBy("fw_start", "first_finalized_at", "node", "source_table").agg(
        F.count("*").alias("rows"), F.max("event_time").alias("last_event")
    )
    evidence = F.to_json(
        F.struct(
            F.col("source_table").alias("table"),
            F.col("rows"),
            F.col("first_finalized_at").alias("window_finalized_at"),
        )
    )
    out = agg.select(
        F.sha2(
            F.concat_ws("|", F.lit("too_late"), F.col("fw_start").cast("string"), "node", "source_table"), 256
        )
        .substr(1, 32)
        .alias("issue_id"),
        F.col("fw_start").alias("window_start"),
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


def gap_issues(gaps: DataFrame, windows: DataFrame, cfg: FinalizeConfig) -> DataFrame:
    """One window-level agent_gap issue per window, node and table with a gap in it."""
    g = gaps.join(windows, (F.col("gap_from") < F.col("w_end")) & (F.col("gap_to") >= F.col("w_start")))
    out = g.groupBy("w_start", "node", "table").agg(
        F.min("gap_from").alias("gap_from"), F.max("gap_to").alias("gap_to")
    )
    out = out.select(
        F.sha2(F.concat_ws("|", F.lit("agent_gap"), F.col("w_start").cast("string"), "node", "table"), 256)
        .substr(1, 32)
        .alias("issue_id"),
        F.col("w_start").alias("window_start"),
        F.to_date("w_start").alias("event_date"),
        F.col("w_start").alias("event_time"),
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


def correlate_params(
    start: datetime, end: datetime, cfg: FinalizeConfig, *, is_final: bool
) -> CorrelateParams:
    return CorrelateParams(
        window_start=_utc(start),
        window_end=_utc(end),
        match_tolerance_us=cfg.match_tolerance_us,
        skew_tolerance_us=cfg.skew_tolerance_us,
        window_minutes=cfg.window_minutes,
        pad_minutes=cfg.pad_minutes,
        is_final=is_final,
        correlator_version=cfg.correlator_version,
    )


def finalize_range(
    spark: SparkSession,
    tables: Tables,
    start: datetime,
    end: datetime,
    cfg: FinalizeConfig,
    *,
    as_of: datetime,
) -> WindowResult:
    """Recompute the windows in ``[start, end)`` from Silver and replace them in Gold
    (idempotent). One pass over several windows gives the same rows as one per window."""
    start, end = window_floor(start, cfg.window_minutes), _utc(end)
    obs, pods, svcs = window_inputs(spark, tables, start, end, cfg)
    obs = obs.localCheckpoint(eager=True)
    files = tables.read(spark, "ops.landed_files")
    heartbeats = tables.read(spark, "bronze.agent_heartbeats")
    gaps = agent_gaps(files, heartbeats, as_of, cfg).localCheckpoint(eager=True)
    params = correlate_params(start, end, cfg, is_final=True)
    result = correlate(obs, pods, svcs, params, gaps=gaps)
    # The load-balancer hop comes from the LB's own access logs, after the correlator.
    lb = attach_lb_hops(
        result.paths,
        obs,
        lb_window(spark, tables, start, end, timedelta(minutes=cfg.pad_minutes)),
        pods,
        svcs,
        params,
    )
    finalized = tables.read(spark, "ops.finalized_windows")
    issues = (
        result.issues.unionByName(lb.issues)
        .unionByName(too_late_issues(obs, finalized, start, end, cfg))
        .unionByName(gap_issues(gaps, _windows_df(spark, start, end, cfg.window_minutes), cfg))
        .dropDuplicates(["issue_id"])
    )
    where = f"window_start >= {_ts_sql(start)} AND window_start < {_ts_sql(end)}"
    paths = lb.paths.localCheckpoint(eager=True)
    issues = issues.localCheckpoint(eager=True)
    tables.overwrite(paths, "gold.request_paths", replace_where=where)
    tables.overwrite(issues, "gold.correlation_issues", replace_where=where)
    tables.overwrite(result.offsets, "silver.node_clock_offsets", replace_where=where)
    _mark_finalized(spark, tables, start, end, cfg)
    n_obs = obs.filter((F.col("event_time") >= F.lit(start)) & (F.col("event_time") < F.lit(end))).count()
    return WindowResult(
        start, end, n_obs, paths.count(), issues.count(), issues.filter(F.col("reason") == "too_late").count()
    )


def finalize_window(
    spark: SparkSession, tables: Tables, ws: datetime, we: datetime, cfg: FinalizeConfig, *, as_of: datetime
) -> WindowResult:
    return finalize_range(spark, tables, ws, we, cfg, as_of=as_of)


def _mark_finalized(
    spark: SparkSession, tables: Tables, start: datetime, end: datetime, cfg: FinalizeConfig
) -> None:
    from delta.tables import DeltaTable

    now = datetime.now(UTC)
    src = spark.createDataFrame(
        [(a, b, now, now, cfg.correlator_version) for a, b in plan_windows(start, end, cfg.window_minutes)],
        FINALIZED_WINDOWS_SCHEMA,
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
    # LB access logs arrive on their own schedule (a file per LB node every 5 minutes): a
    # window also waits for them, up to the same lateness bound.
    lb = read_lb_logs(spark, tables)
    lb_through = landed_through(lb, _utc(as_of)) if lb is not None else None
    if lb_through is not None:
        bound = _utc(as_of) - timedelta(minutes=cfg.max_lateness_minutes + cfg.grace_minutes)
        closed = min(closed, max(bound, _utc(lb_through)))
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
    windows = windows_to_finalize(spark, tables, as_of, cfg)
    if not windows:
        return []
    return [finalize_range(spark, tables, windows[0][0], windows[-1][1], cfg, as_of=as_of)]


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
    batch_windows: int = 12,
) -> list[WindowResult]:
    """Re-finalize every window in ``[start, end)``, ``batch_windows`` per pass; from Silver,
    or re-normalizing from Bronze first (``source='bronze'``). Running it twice leaves
    identical tables."""
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
    windows = plan_windows(start, end, cfg.window_minutes)
    step = max(1, batch_windows)
    return [
        finalize_range(
            spark, tables, windows[i][0], windows[min(i + step, len(windows)) - 1][1], cfg, as_of=as_of
        )
        for i in range(0, len(windows), step)
    ]


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
    return [
        finalize_window(spark, tables, r["window_start"], r["window_end"], cfg, as_of=as_of) for r in stale
    ]


def window_starts(windows: Iterable[WindowResult]) -> list[datetime]:
    return [w.window_start for w in windows]
