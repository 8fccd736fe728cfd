"""Run the whole lakehouse locally over a landing directory: the streaming tier with
available-now triggers, then the finalizer and the data-quality checks; print a summary.

    python -m hoptrace_lakehouse.local --landing DIR --warehouse DIR [--lb-logs DIR] [--as-of ISO]
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from .dq import write_checks
from .finalize import FinalizeConfig, _utc, finalize, plan_windows
from .gold import create_latest_view
from .local_spark import local_session
from .streaming import run_available_now
from .tables import Tables, ensure_tables


def summarize(spark: SparkSession, tables: Tables) -> dict[str, Any]:
    def counts(key: str, col: str) -> dict[str, int]:
        rows = tables.read(spark, key).groupBy(col).count().orderBy(col).collect()
        return {str(r[col]): int(r["count"]) for r in rows}

    bronze = {
        t.split(".")[1]: tables.read(spark, t).count()
        for t in sorted(k for k in _keys() if k.startswith("bronze."))
    }
    dq_fail = (
        tables.read(spark, "ops.dq_results")
        .filter(F.col("status") == "fail")
        .groupBy("check")
        .count()
        .orderBy("check")
        .collect()
    )
    return {
        "bronze_rows": bronze,
        "silver_hops": tables.read(spark, "silver.hops").count(),
        "finalized_windows": tables.read(spark, "ops.finalized_windows").count(),
        "lb_access_logs": counts("bronze.lb_access_logs", "parse_status"),
        "request_paths": tables.read(spark, "gold.request_paths").count(),
        "provisional_paths": tables.read(spark, "gold.request_paths_provisional").count(),
        "latest_paths": spark.table("request_paths_latest").count(),
        "completeness": counts("gold.request_paths", "completeness"),
        "issues": counts("gold.correlation_issues", "reason"),
        "dq_failures": {r["check"]: int(r["count"]) for r in dq_fail},
    }


def _keys() -> list[str]:
    from .tables import registered

    return list(registered())


def run(
    spark: SparkSession,
    landing: str,
    warehouse: str,
    *,
    as_of: datetime | None = None,
    cfg: FinalizeConfig | None = None,
    max_files_per_trigger: int = 1000,
    provisional: bool = True,
    lb_logs: str | None = None,
) -> dict[str, Any]:
    cfg = cfg or FinalizeConfig()
    tables = Tables.local(warehouse)
    ensure_tables(spark, tables)
    checkpoints = str(Path(warehouse).resolve() / "_checkpoints")
    run_available_now(
        spark,
        tables,
        str(Path(landing).resolve()),
        checkpoints,
        cfg,
        max_files_per_trigger=max_files_per_trigger,
        provisional=provisional,
        lb_logs_root=str(Path(lb_logs).resolve()) if lb_logs else None,
    )
    as_of = _utc(as_of or datetime.now(UTC))
    for done in finalize(spark, tables, cfg, as_of=as_of):
        for ws, we in plan_windows(done.window_start, done.window_end, cfg.window_minutes):
            write_checks(spark, tables, ws, we, as_of=as_of)
    create_latest_view(spark, tables)
    return summarize(spark, tables)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m hoptrace_lakehouse.local", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--landing", required=True, help="landing directory (the agent's prefix, holding v1/)")
    ap.add_argument("--warehouse", required=True, help="directory for the local Delta tables and checkpoints")
    ap.add_argument("--lb-logs", help="directory of ALB access-log files (*.log.gz), read recursively")
    ap.add_argument("--as-of", help="treat this UTC instant as now when closing windows (ISO 8601)")
    ap.add_argument("--window-minutes", type=int, default=5)
    ap.add_argument("--max-lateness-minutes", type=int, default=15)
    ap.add_argument("--no-provisional", action="store_true", help="skip the provisional tier (replays)")
    args = ap.parse_args(argv)
    as_of = datetime.fromisoformat(args.as_of) if args.as_of else None
    cfg = FinalizeConfig(window_minutes=args.window_minutes, max_lateness_minutes=args.max_lateness_minutes)
    spark = local_session(args.warehouse)
    try:
        summary = run(
            spark,
            args.landing,
            args.warehouse,
            as_of=as_of,
            cfg=cfg,
            provisional=not args.no_provisional,
            lb_logs=args.lb_logs,
        )
    finally:
        spark.stop()
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
