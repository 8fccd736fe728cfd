"""Entry points of the Databricks jobs. Notebooks read their parameters and call exactly
one of these; everything they do is in the package and tested locally."""

from __future__ import annotations

from datetime import UTC, datetime

from pyspark.sql import SparkSession

from . import monitor_feedback
from .dq import write_checks
from .finalize import FinalizeConfig, _utc, backfill, finalize, plan_windows
from .gold import create_latest_view
from .lb_logs import start_lb_stream
from .maintenance import MaintenanceResult, run_maintenance
from .streaming import start_continuous
from .tables import Tables, ensure_tables


def _parse_ts(value: str) -> datetime:
    return _utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))


def setup(spark: SparkSession, catalog: str) -> Tables:
    tables = Tables.unity(catalog)
    ensure_tables(spark, tables)
    create_latest_view(spark, tables)
    return tables


def streaming_job(spark: SparkSession, catalog: str, landing_root: str, checkpoint_root: str) -> None:
    """Continuous job: Auto Loader -> Bronze -> Silver -> provisional Gold, until stopped."""
    tables = setup(spark, catalog)
    start_continuous(spark, tables, landing_root, checkpoint_root, platform="databricks")
    spark.streams.awaitAnyTermination()


def lb_logs_job(spark: SparkSession, catalog: str, lb_logs_root: str, checkpoint_root: str) -> None:
    """Continuous task beside the streaming tier: Auto Loader over the ALB log prefix ->
    ``bronze.lb_access_logs``, until stopped. Its own task, so a broken LB log delivery
    never stops the agents' streams."""
    tables = setup(spark, catalog)
    start_lb_stream(spark, tables, lb_logs_root, checkpoint_root, platform="databricks", available_now=False)
    spark.streams.awaitAnyTermination()


def finalize_job(
    spark: SparkSession,
    catalog: str,
    max_lateness_minutes: int = 15,
    grace_minutes: int = 2,
    window_minutes: int = 5,
) -> int:
    tables = setup(spark, catalog)
    cfg = FinalizeConfig(
        window_minutes=window_minutes, max_lateness_minutes=max_lateness_minutes, grace_minutes=grace_minutes
    )
    as_of = datetime.now(UTC)
    done = finalize(spark, tables, cfg, as_of=as_of)
    for r in done:
        for ws, we in plan_windows(r.window_start, r.window_end, cfg.window_minutes):
            write_checks(spark, tables, ws, we, as_of=as_of)
    return sum(r.paths for r in done)


def backfill_job(spark: SparkSession, catalog: str, start: str, end: str, source: str = "silver") -> int:
    tables = setup(spark, catalog)
    cfg = FinalizeConfig()
    as_of = datetime.now(UTC)
    done = backfill(spark, tables, _parse_ts(start), _parse_ts(end), cfg, source=source, as_of=as_of)
    for r in done:
        for ws, we in plan_windows(r.window_start, r.window_end, cfg.window_minutes):
            write_checks(spark, tables, ws, we, as_of=as_of)
    return sum(r.paths for r in done)


def maintenance_job(spark: SparkSession, catalog: str) -> MaintenanceResult:
    tables = setup(spark, catalog)
    return run_maintenance(spark, tables)


def data_quality_job(spark: SparkSession, catalog: str, lookback_hours: int = 2) -> None:
    """Re-run the checks over recently finalized windows (a late schema-drift or gap
    shows up here even when the finalizer had nothing new to close)."""
    from datetime import timedelta

    from pyspark.sql import functions as F

    tables = setup(spark, catalog)
    as_of = datetime.now(UTC)
    since = as_of - timedelta(hours=lookback_hours)
    rows = (
        tables.read(spark, "ops.finalized_windows")
        .filter(F.col("window_start") >= F.lit(since))
        .select("window_start", "window_end")
        .collect()
    )
    for r in rows:
        write_checks(spark, tables, _utc(r["window_start"]), _utc(r["window_end"]), as_of=as_of)


# --- Lakehouse Monitoring feedback (monitor_feedback.py) ---

MONITOR_FEEDBACK_PARAMETERS = monitor_feedback.PARAMETERS


def refresh_monitors_job(catalog: str, timeout_minutes: int = 40) -> dict[str, str]:
    """Refresh every quality monitor of the bundle and wait, so the feedback task that
    depends on this one judges metrics that include the latest finalized windows."""
    from databricks.sdk import WorkspaceClient  # preinstalled on Databricks Runtime

    names = [f"{catalog}.{spec.key}" for spec in monitor_feedback.MONITORED]
    return monitor_feedback.refresh_monitors(
        WorkspaceClient().quality_monitors, names, timeout_s=timeout_minutes * 60.0
    )


def monitor_feedback_job(spark: SparkSession, catalog: str, params: dict[str, str]) -> None:
    """Judge the latest settled monitor window into ops.dq_results; fail the task (and
    so notify alert_recipients) when a signal fails."""
    tables = setup(spark, catalog)
    th = monitor_feedback.MonitorThresholds.from_params(params)
    results = monitor_feedback.write_feedback(spark, tables, as_of=datetime.now(UTC), th=th)
    monitor_feedback.raise_on_fail(results)
