"""Lakehouse Monitoring metric tables fed back into ``ops.dq_results``.

The quality monitors (``resources/monitors.yml``) profile ``gold.request_paths`` and
``silver.hops`` into ``ops.<table>_profile_metrics`` and ``ops.<table>_drift_metrics``.
This module judges the latest complete monitor window of those tables and raises the
signals that matter for hop tracing: completeness shifts, hop latency shifts per Service,
request/trace id null-rate jumps (a proxy stopped logging them) and row-count drops per
node or source (an agent or source went silent).

Everything here reads only the documented columns of the metric tables, so tests feed
crafted tables of that shape to the same functions the job runs on Databricks.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from .dq import DQ_SCHEMA, _meta
from .finalize import _ts_sql, _utc
from .silver import conform
from .tables import Tables

# Every check this module writes starts with this prefix; dq.write_checks and
# write_feedback each replace only their own rows of a window.
CHECK_PREFIX = "monitor_"

TABLE_ROW = ":table"  # column_name of the table-level rows in both metric tables


@dataclass(frozen=True)
class MonitoredTable:
    """What to judge in one monitor's metric tables. Slice keys must be among the
    monitor's ``slicing_exprs`` (a test holds the two together)."""

    key: str
    completeness_slice: str | None = None
    latency_column: str | None = None
    latency_slice: str | None = None
    id_columns: tuple[str, ...] = ("request_id", "trace_id")
    # None judges the whole table (slice_key IS NULL in the metric tables).
    id_null_slices: tuple[str | None, ...] = (None,)
    row_count_slices: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.key.split(".")[1]

    @property
    def profile_key(self) -> str:
        return f"ops.{self.name}_profile_metrics"

    @property
    def drift_key(self) -> str:
        return f"ops.{self.name}_drift_metrics"


MONITORED: tuple[MonitoredTable, ...] = (
    MonitoredTable(
        "gold.request_paths",
        completeness_slice="completeness",
        latency_column="duration_us",
        latency_slice="service_name",
        row_count_slices=("ingress_node",),
    ),
    MonitoredTable(
        "silver.hops",
        # Flows carry no ids, so the whole-table null rate moves with the traffic mix;
        # per proxy it is the proxy's own logging.
        id_null_slices=("proxy",),
        row_count_slices=("node", "source"),
    ),
)


@dataclass(frozen=True)
class MonitorThresholds:
    """Parameters of the monitor feedback (job parameters of the same names)."""

    granularity: str = "1 hour"
    # A window is judged once the finalizer has closed everything in it (15 + 2 minutes).
    settle_minutes: int = 20
    min_rows: int = 100
    max_complete_share_drop: float = 0.05
    max_bad_share_rise: float = 0.02
    ks_statistic_min: float = 0.2
    ks_pvalue_max: float = 0.01
    js_distance_max: float = 0.2
    wasserstein_max_us: float = 50_000.0
    max_null_rate_jump_pct: float = 10.0
    max_row_count_drop: float = 0.5

    @classmethod
    def from_params(cls, params: dict[str, str]) -> MonitorThresholds:
        """Job parameters arrive as strings; unknown names are an error, not ignored."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(f"unknown monitor feedback parameters: {unknown}")
        casts: dict[str, Callable[[str], Any]] = {"str": str, "int": int, "float": float}
        values = {k: casts[str(known[k].type)](v.strip()) for k, v in params.items() if v.strip() != ""}
        out = cls(**values)
        granularity_delta(out.granularity)
        return out


PARAMETERS: tuple[str, ...] = tuple(f.name for f in fields(MonitorThresholds))

_GRANULARITY = re.compile(r"^\s*(\d+)\s+(minute|hour|day)s?\s*$")


def granularity_delta(granularity: str) -> timedelta:
    """A monitor granularity as a timedelta. Weeks, months and years are not judged:
    their window alignment is not documented."""
    m = _GRANULARITY.match(granularity)
    if not m:
        raise ValueError(f"unsupported granularity {granularity!r} (use minutes, hours or days)")
    n, unit = int(m.group(1)), m.group(2)
    return timedelta(**{f"{unit}s": n})


def judged_window(as_of: datetime, th: MonitorThresholds) -> tuple[datetime, datetime]:
    """The latest window of the granularity that ended ``settle_minutes`` before ``as_of``."""
    g = granularity_delta(th.granularity)
    ready = _utc(as_of) - timedelta(minutes=th.settle_minutes)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    we = epoch + ((ready - epoch) // g) * g
    return we - g, we


# Columns of the documented metric-table shape that this module reads.
PROFILE_COLUMNS: tuple[str, ...] = (
    "window",
    "granularity",
    "log_type",
    "slice_key",
    "slice_value",
    "column_name",
    "count",
)
DRIFT_COLUMNS: tuple[str, ...] = (
    "window",
    "window_cmp",
    "granularity",
    "drift_type",
    "slice_key",
    "slice_value",
    "column_name",
    "percent_null_delta",
    "js_distance",
    "ks_test",
    "wasserstein_distance",
)


def _stamp(df: DataFrame, ws: datetime, we: datetime) -> DataFrame:
    out = df.withColumn("window_start", F.lit(ws).cast("timestamp"))
    return conform(out.withColumn("window_end", F.lit(we).cast("timestamp")), DQ_SCHEMA)


def _status_row(
    spark: SparkSession, check: str, scope: str, status: str, details: dict[str, Any]
) -> DataFrame:
    return spark.createDataFrame(
        [(check, scope, status, json.dumps(details, sort_keys=True))],
        "check string, scope string, status string, details string",
    )


def _slice_is(key: str | None) -> Column:
    return F.col("slice_key").isNull() if key is None else F.col("slice_key") == key


def _scope(table: str, slice_key: str | None, column: str | None = None) -> Column:
    parts: list[Column | str] = [F.lit(table)]
    if slice_key is not None:
        parts.append(
            F.concat(F.lit(f"[{slice_key}="), F.coalesce(F.col("slice_value"), F.lit("null")), F.lit("]"))
        )
    if column is not None:
        parts.append(F.lit(f".{column}"))
    return F.concat(*parts)


def _counts(profile: DataFrame, th: MonitorThresholds, start: datetime, slice_key: str | None) -> DataFrame:
    """Rows per slice value in one window (the table-level row of each slice)."""
    return profile.filter(
        (F.col("granularity") == th.granularity)
        & (F.col("log_type") == "INPUT")
        & (F.col("window.start") == F.lit(start))
        & (F.col("column_name") == TABLE_ROW)
        & _slice_is(slice_key)
    ).select("slice_value", F.col("count").cast("long").alias("rows"))


def _total(profile: DataFrame, th: MonitorThresholds, start: datetime) -> DataFrame:
    return _counts(profile, th, start, None).agg(F.max("rows").alias("rows"))


def check_completeness_share(
    profile: DataFrame, spec: MonitoredTable, ws: datetime, we: datetime, th: MonitorThresholds
) -> DataFrame:
    """Share of complete paths down, or of ambiguous / failed paths up, against the
    previous window (from the row counts of the ``completeness`` slices)."""
    assert spec.completeness_slice is not None
    prev = ws - granularity_delta(th.granularity)
    spark = profile.sparkSession
    values = spark.createDataFrame(
        [
            ("complete", "monitor_complete_share", -1),
            ("ambiguous", "monitor_ambiguous_share", 1),
            ("failed", "monitor_failed_share", 1),
        ],
        "slice_value string, check string, direction int",
    )
    cur = _counts(profile, th, ws, spec.completeness_slice).withColumnRenamed("rows", "cur")
    old = _counts(profile, th, prev, spec.completeness_slice).withColumnRenamed("rows", "old")
    totals = (
        _total(profile, th, ws)
        .select(F.col("rows").alias("cur_total"))
        .crossJoin(_total(profile, th, prev).select(F.col("rows").alias("old_total")))
    )
    df = (
        values.join(cur, "slice_value", "left")
        .join(old, "slice_value", "left")
        .crossJoin(totals)
        .withColumn("cur_share", F.coalesce(F.col("cur"), F.lit(0)) / F.col("cur_total"))
        .withColumn("old_share", F.coalesce(F.col("old"), F.lit(0)) / F.col("old_total"))
        # Positive = moved the bad way: complete down, ambiguous/failed up.
        .withColumn("shift", (F.col("cur_share") - F.col("old_share")) * F.col("direction"))
    )
    limit = F.when(F.col("direction") < 0, F.lit(th.max_complete_share_drop)).otherwise(
        F.lit(th.max_bad_share_rise)
    )
    too_few = F.coalesce(F.col("cur_total"), F.lit(0)) < th.min_rows
    no_prev = F.coalesce(F.col("old_total"), F.lit(0)) < th.min_rows
    out = df.select(
        "check",
        F.concat(F.lit(f"{spec.key}[{spec.completeness_slice}="), F.col("slice_value"), F.lit("]")).alias(
            "scope"
        ),
        F.when(too_few | no_prev, "skipped")
        .when(F.col("shift") > limit, "fail")
        .otherwise("pass")
        .alias("status"),
        F.col("shift").cast("double").alias("value"),
        limit.cast("double").alias("threshold"),
        F.to_json(
            F.struct(
                F.col("cur_share").alias("share"),
                F.col("old_share").alias("previous_share"),
                F.coalesce(F.col("cur_total"), F.lit(0)).alias("rows"),
                F.coalesce(F.col("old_total"), F.lit(0)).alias("previous_rows"),
                F.when(too_few, F.lit(f"fewer than {th.min_rows} rows in the window"))
                .when(no_prev, F.lit(f"fewer than {th.min_rows} rows in the previous window"))
                .alias("skipped_because"),
            )
        ).alias("details"),
    )
    return _stamp(out, ws, we)


def check_row_count_drop(
    profile: DataFrame,
    spec: MonitoredTable,
    slice_key: str,
    ws: datetime,
    we: datetime,
    th: MonitorThresholds,
) -> DataFrame:
    """Rows per slice (node, source) against the previous window. Compared from the
    profile table, not ``count_delta``: a slice that went silent has no row in the
    latest window and therefore no drift row either."""
    prev = ws - granularity_delta(th.granularity)
    cur = _counts(profile, th, ws, slice_key).withColumnRenamed("rows", "cur")
    old = _counts(profile, th, prev, slice_key).withColumnRenamed("rows", "old")
    df = old.join(cur, "slice_value", "full").select(
        "slice_value",
        F.coalesce(F.col("cur"), F.lit(0)).alias("cur"),
        F.coalesce(F.col("old"), F.lit(0)).alias("old"),
    )
    drop = F.when(F.col("old") > 0, (F.col("old") - F.col("cur")) / F.col("old")).otherwise(F.lit(0.0))
    out = df.select(
        _scope(spec.key, slice_key).alias("scope"),
        F.when(F.col("old") < th.min_rows, "skipped")
        .when(drop > th.max_row_count_drop, "fail")
        .otherwise("pass")
        .alias("status"),
        drop.cast("double").alias("value"),
        F.lit(th.max_row_count_drop).alias("threshold"),
        F.to_json(
            F.struct(
                F.col("cur").alias("rows"),
                F.col("old").alias("previous_rows"),
                F.when(F.col("old") < th.min_rows, F.lit(f"fewer than {th.min_rows} rows before")).alias(
                    "skipped_because"
                ),
            )
        ).alias("details"),
    )
    return conform(_meta(out, ws, we, "monitor_row_count_drop"), DQ_SCHEMA)


def _drift_rows(
    drift: DataFrame, th: MonitorThresholds, ws: datetime, column: str, slice_key: str | None
) -> DataFrame:
    # Only consecutive drift: the monitors have no baseline table.
    return drift.filter(
        (F.col("granularity") == th.granularity)
        & (F.col("drift_type") == "CONSECUTIVE")
        & (F.col("window.start") == F.lit(ws))
        & (F.col("column_name") == column)
        & _slice_is(slice_key)
    )


def _with_rows(
    drift_rows: DataFrame, profile: DataFrame, th: MonitorThresholds, ws: datetime, slice_key: str | None
) -> DataFrame:
    counts = _counts(profile, th, ws, slice_key)
    # slice_value is null for the whole table; a null-safe join keeps that row.
    return (
        drift_rows.alias("d")
        .join(counts.alias("c"), F.col("d.slice_value").eqNullSafe(F.col("c.slice_value")), "left")
        .select("d.*", F.coalesce(F.col("c.rows"), F.lit(0)).alias("rows"))
    )


def check_latency_shift(
    drift: DataFrame,
    profile: DataFrame,
    spec: MonitoredTable,
    ws: datetime,
    we: datetime,
    th: MonitorThresholds,
) -> DataFrame:
    """Distribution shift of the latency column per slice (Service): a significant KS
    test with a large enough statistic, or a JS / Wasserstein distance past its limit."""
    assert spec.latency_column is not None
    d = _with_rows(
        _drift_rows(drift, th, ws, spec.latency_column, spec.latency_slice),
        profile,
        th,
        ws,
        spec.latency_slice,
    )
    ks = (F.col("ks_test.statistic") >= th.ks_statistic_min) & (F.col("ks_test.pvalue") <= th.ks_pvalue_max)
    js = F.col("js_distance") >= th.js_distance_max
    ws_dist = F.col("wasserstein_distance") >= th.wasserstein_max_us
    tripped = F.filter(
        F.array(
            F.when(ks, F.lit("ks_test")),
            F.when(js, F.lit("js_distance")),
            F.when(ws_dist, F.lit("wasserstein_distance")),
        ),
        lambda x: x.isNotNull(),
    )
    too_few = F.col("rows") < th.min_rows
    out = d.select(
        _scope(spec.key, spec.latency_slice, spec.latency_column).alias("scope"),
        F.when(too_few, "skipped").when(F.size(tripped) > 0, "fail").otherwise("pass").alias("status"),
        F.col("ks_test.statistic").cast("double").alias("value"),
        F.lit(th.ks_statistic_min).alias("threshold"),
        F.to_json(
            F.struct(
                tripped.alias("tripped"),
                F.col("ks_test.statistic").alias("ks_statistic"),
                F.col("ks_test.pvalue").alias("ks_pvalue"),
                "js_distance",
                "wasserstein_distance",
                "rows",
                F.col("window_cmp.start").alias("compared_with"),
                F.when(too_few, F.lit(f"fewer than {th.min_rows} rows")).alias("skipped_because"),
            )
        ).alias("details"),
    )
    return conform(_meta(out, ws, we, "monitor_latency_shift"), DQ_SCHEMA)


def check_id_null_jump(
    drift: DataFrame,
    profile: DataFrame,
    spec: MonitoredTable,
    ws: datetime,
    we: datetime,
    th: MonitorThresholds,
) -> DataFrame:
    """Null rate of request / trace ids up by more than the limit (percentage points):
    a proxy stopped logging or propagating them."""
    frames = []
    for column in spec.id_columns:
        for slice_key in spec.id_null_slices:
            d = _with_rows(_drift_rows(drift, th, ws, column, slice_key), profile, th, ws, slice_key)
            too_few = F.col("rows") < th.min_rows
            frames.append(
                d.select(
                    _scope(spec.key, slice_key, column).alias("scope"),
                    F.when(too_few, "skipped")
                    .when(F.col("percent_null_delta") > th.max_null_rate_jump_pct, "fail")
                    .otherwise("pass")
                    .alias("status"),
                    F.col("percent_null_delta").cast("double").alias("value"),
                    F.lit(th.max_null_rate_jump_pct).alias("threshold"),
                    F.to_json(
                        F.struct(
                            "percent_null_delta",
                            "rows",
                            F.col("window_cmp.start").alias("compared_with"),
                            F.when(too_few, F.lit(f"fewer than {th.min_rows} rows")).alias("skipped_because"),
                        )
                    ).alias("details"),
                )
            )
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return conform(_meta(out, ws, we, "monitor_id_null_jump"), DQ_SCHEMA)


def _missing_columns(df: DataFrame, wanted: Iterable[str]) -> list[str]:
    present = set(df.columns)
    return [c for c in wanted if c not in present]


def _profiled(profile: DataFrame, th: MonitorThresholds, ws: datetime) -> bool:
    return bool(_counts(profile, th, ws, None).limit(1).count())


def judge_table(
    spark: SparkSession,
    spec: MonitoredTable,
    profile: DataFrame | None,
    drift: DataFrame | None,
    ws: datetime,
    we: datetime,
    th: MonitorThresholds,
) -> DataFrame:
    """Every signal of one monitored table for window [ws, we). A missing metric table
    or an unprofiled window gives a ``skipped`` ``monitor_metrics`` row, never an error."""
    ws, we = _utc(ws), _utc(we)

    def status(state: str, reason: str | None) -> DataFrame:
        details = {"profile": spec.profile_key, "drift": spec.drift_key, "reason": reason}
        return _stamp(_status_row(spark, "monitor_metrics", spec.key, state, details), ws, we)

    if profile is None:
        return status(
            "skipped", f"{spec.profile_key} not found: the monitor has not been created or refreshed yet"
        )
    missing = _missing_columns(profile, PROFILE_COLUMNS)
    if missing:
        return status("skipped", f"{spec.profile_key} lacks columns {missing}")
    if not _profiled(profile, th, ws):
        return status("skipped", f"window {ws.isoformat()} at {th.granularity} not profiled yet")

    parts = [status("pass", None)]
    if spec.completeness_slice is not None:
        parts.append(check_completeness_share(profile, spec, ws, we, th))
    parts += [check_row_count_drop(profile, spec, key, ws, we, th) for key in spec.row_count_slices]
    drift_missing = [] if drift is None else _missing_columns(drift, DRIFT_COLUMNS)
    if drift is None or drift_missing:
        why = (
            f"{spec.drift_key} not found"
            if drift is None
            else f"{spec.drift_key} lacks columns {drift_missing}"
        )
        parts.append(
            _stamp(_status_row(spark, "monitor_drift", spec.key, "skipped", {"reason": why}), ws, we)
        )
    else:
        if spec.latency_column is not None:
            parts.append(check_latency_shift(drift, profile, spec, ws, we, th))
        if spec.id_columns:
            parts.append(check_id_null_jump(drift, profile, spec, ws, we, th))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def _read_if_exists(spark: SparkSession, tables: Tables, key: str) -> DataFrame | None:
    if tables.is_local:
        from delta.tables import DeltaTable

        return tables.read(spark, key) if DeltaTable.isDeltaTable(spark, tables.path(key)) else None
    return tables.read(spark, key) if spark.catalog.tableExists(tables.name(key)) else None


def run_feedback(
    spark: SparkSession,
    tables: Tables,
    *,
    as_of: datetime,
    th: MonitorThresholds | None = None,
    monitored: Iterable[MonitoredTable] = MONITORED,
) -> tuple[datetime, datetime, DataFrame]:
    th = th or MonitorThresholds()
    ws, we = judged_window(as_of, th)
    parts = [
        judge_table(
            spark,
            spec,
            _read_if_exists(spark, tables, spec.profile_key),
            _read_if_exists(spark, tables, spec.drift_key),
            ws,
            we,
            th,
        )
        for spec in monitored
    ]
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return ws, we, out


def write_feedback(
    spark: SparkSession,
    tables: Tables,
    *,
    as_of: datetime,
    th: MonitorThresholds | None = None,
    monitored: Iterable[MonitoredTable] = MONITORED,
) -> DataFrame:
    """Judge the latest settled window and replace this module's rows of it."""
    ws, _, results = run_feedback(spark, tables, as_of=as_of, th=th, monitored=monitored)
    results = results.localCheckpoint(eager=True)
    tables.overwrite(
        results,
        "ops.dq_results",
        replace_where=f"window_start = {_ts_sql(ws)} AND `check` LIKE '{CHECK_PREFIX}%'",
    )
    return results


class MonitorSignalError(RuntimeError):
    """Raised after the rows are written, so the task fails and its notifications fire."""


def raise_on_fail(results: DataFrame) -> None:
    failed = (
        results.filter(F.col("status") == "fail").select("check", "scope", "value", "threshold").collect()
    )
    if failed:
        lines = [f"{r['check']} {r['scope']}: {r['value']:.4g} > {r['threshold']:.4g}" for r in failed]
        raise MonitorSignalError(f"{len(failed)} monitor signal(s) failed:\n" + "\n".join(sorted(lines)))


class _Refresh(Protocol):
    refresh_id: Any
    state: Any


class MonitorClient(Protocol):
    """The two calls of ``databricks.sdk.WorkspaceClient().quality_monitors`` used here."""

    def run_refresh(self, table_name: str) -> _Refresh: ...

    def get_refresh(self, table_name: str, refresh_id: Any) -> _Refresh: ...


def _state(info: _Refresh) -> str:
    # The SDK returns an enum (MonitorRefreshInfoState.SUCCESS); the newer data-quality
    # API spells the same states MONITOR_REFRESH_STATE_SUCCESS.
    return str(getattr(info.state, "value", info.state)).removeprefix("MONITOR_REFRESH_STATE_")


def refresh_monitors(
    client: MonitorClient,
    table_names: Iterable[str],
    *,
    timeout_s: float = 3600.0,
    poll_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, str]:
    """Start a refresh of every monitor, wait for all; raise if one did not succeed."""
    started = {t: client.run_refresh(table_name=t).refresh_id for t in table_names}
    deadline = clock() + timeout_s
    states: dict[str, str] = {}
    done = {"SUCCESS", "FAILED", "CANCELED"}
    while True:
        for t, rid in started.items():
            if states.get(t) not in done:
                states[t] = _state(client.get_refresh(table_name=t, refresh_id=rid))
        pending = [t for t in started if states[t] not in done]
        if not pending:
            break
        if clock() >= deadline:
            raise TimeoutError(f"monitor refresh still running after {timeout_s:.0f} s: {pending}")
        sleep(poll_s)
    bad = {t: s for t, s in states.items() if s != "SUCCESS"}
    if bad:
        raise RuntimeError(f"monitor refresh did not succeed: {bad}")
    return states
