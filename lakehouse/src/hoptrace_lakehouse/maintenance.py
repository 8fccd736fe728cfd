"""Daily maintenance: retention (Bronze 30 days, Silver/Gold 180, provisional 2),
OPTIMIZE (clustering), VACUUM, and re-finalization of windows that got late data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from pyspark.sql import SparkSession

from .finalize import FinalizeConfig, WindowResult, refinalize_too_late
from .tables import Tables, registered


@dataclass(frozen=True)
class MaintenanceResult:
    deleted: dict[str, int]
    refinalized: list[WindowResult]


def retention_sql(tables: Tables, today: date) -> list[tuple[str, str]]:
    """(table key, DELETE statement) for every table with a retention period."""
    out = []
    for key, spec in sorted(registered().items()):
        if spec.retention_days is None or spec.retention_column is None:
            continue
        cutoff = today - timedelta(days=spec.retention_days)
        where = f"`{spec.retention_column}` < DATE'{cutoff.isoformat()}'"
        out.append((key, f"DELETE FROM {tables.name(key)} WHERE {where}"))
    return out


def apply_retention(spark: SparkSession, tables: Tables, today: date | None = None) -> dict[str, int]:
    today = today or datetime.now(UTC).date()
    deleted: dict[str, int] = {}
    for key, sql in retention_sql(tables, today):
        rows = spark.sql(sql).collect()
        deleted[key] = int(rows[0][0]) if rows and rows[0][0] is not None else 0
    return deleted


def optimize_and_vacuum(spark: SparkSession, tables: Tables, retain_hours: int = 168) -> None:
    for key in sorted(registered()):
        spark.sql(f"OPTIMIZE {tables.name(key)}")
        spark.sql(f"VACUUM {tables.name(key)} RETAIN {retain_hours} HOURS")


def run_maintenance(
    spark: SparkSession,
    tables: Tables,
    cfg: FinalizeConfig | None = None,
    *,
    today: date | None = None,
    optimize: bool = True,
    as_of: datetime | None = None,
) -> MaintenanceResult:
    refinalized = refinalize_too_late(spark, tables, cfg, as_of=as_of)
    deleted = apply_retention(spark, tables, today)
    if optimize:
        optimize_and_vacuum(spark, tables)
    return MaintenanceResult(deleted, refinalized)
