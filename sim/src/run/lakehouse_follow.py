"""Runs the lakehouse locally *while* agents land: the streaming tier in repeated
available-now passes (the local stand-in for its continuous triggers) until STOP_FILE
appears, then one last pass, the finalizer as of AS_OF, the data-quality checks, and
writes what the demo reads — in one Spark session:

    python lakehouse_follow.py LANDING WAREHOUSE AS_OF_FILE OUT_DIR STOP_FILE [LB_LOGS]

AS_OF_FILE holds the finalizer's as-of instant (ISO 8601); it is read when STOP_FILE
appears, since the caller knows it only then. LB_LOGS, a directory of load-balancer
access-log files, is read by the final run when it exists by then. One JSON line per pass goes to stdout (progress). OUT_DIR receives what
``lakehouse_dump.py`` writes, plus:

* ``provisional_first_seen.jsonl``: per provisional path the ``computed_at`` of the
  first pass that produced it (the table keeps only the latest upsert, which a later
  pass over the same window overwrites, so freshness needs the first one);
* ``ops.finalized_windows.jsonl``;
* ``table_sizes.json``: rows, files and bytes of every table's current Delta version.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from lakehouse_dump import TABLES
from pyspark.sql import SparkSession

from hoptrace_lakehouse.finalize import FinalizeConfig
from hoptrace_lakehouse.local import run
from hoptrace_lakehouse.local_spark import local_session
from hoptrace_lakehouse.streaming import run_available_now
from hoptrace_lakehouse.tables import Tables, ensure_tables, registered

EXTRA_TABLES = ("ops.finalized_windows",)
PASS_INTERVAL_S = 20


def say(event: dict[str, Any]) -> None:
    print(json.dumps(event), flush=True)


def record_first_seen(
    spark: SparkSession, tables: Tables, seen: dict[str, dict[str, Any]]
) -> int:
    """Remember each provisional path the first time a pass produces it; returns how many are new."""
    # JSON rather than Row objects: Spark writes instants with their offset, Python's
    # datetimes would be naive in the process's time zone.
    rows = (
        tables.read(spark, "gold.request_paths_provisional")
        .select("path_id", "request_id", "ingress_pod", "end_time", "computed_at")
        .toJSON()
        .collect()
    )
    new = 0
    for line in rows:
        r = json.loads(line)
        if r["path_id"] not in seen:
            seen[r["path_id"]] = r
            new += 1
    return new


def table_sizes(spark: SparkSession, tables: Tables) -> dict[str, dict[str, int]]:
    """Rows, files and bytes of each table's current version (not the files older versions left behind)."""
    out: dict[str, dict[str, int]] = {}
    for key in sorted(registered()):
        detail = spark.sql(f"DESCRIBE DETAIL {tables.name(key)}").first()
        out[key] = {
            "rows": tables.read(spark, key).count(),
            "files": int(detail["numFiles"]) if detail else 0,
            "bytes": int(detail["sizeInBytes"]) if detail else 0,
        }
    return out


def main(argv: list[str]) -> int:
    landing, warehouse, as_of_file, out, stop_file = argv[:5]
    lb_logs = argv[5] if len(argv) > 5 else None
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = FinalizeConfig()
    spark = local_session(warehouse)
    seen: dict[str, dict[str, Any]] = {}
    try:
        tables = Tables.local(warehouse)
        ensure_tables(spark, tables)
        checkpoints = str(Path(warehouse).resolve() / "_checkpoints")
        landing_root = str(Path(landing).resolve())
        passes = 0
        say({"event": "ready"})
        while not Path(stop_file).exists():
            t0 = time.monotonic()
            # Passes start at most every PASS_INTERVAL_S, like the provisional query's
            # processing-time trigger, so Spark leaves the agents some CPU.
            if (Path(landing_root) / "v1").exists():
                run_available_now(spark, tables, landing_root, checkpoints, cfg)
                passes += 1
                new = record_first_seen(spark, tables, seen)
                say(
                    {
                        "event": "pass",
                        "pass": passes,
                        "seconds": round(time.monotonic() - t0, 1),
                        "new_paths": new,
                        "paths": len(seen),
                    }
                )
            while (
                time.monotonic() - t0 < PASS_INTERVAL_S and not Path(stop_file).exists()
            ):
                time.sleep(0.5)
        t0 = time.monotonic()
        as_of = datetime.fromisoformat(Path(as_of_file).read_text().strip())
        extra = {"lb_logs": lb_logs} if lb_logs and Path(lb_logs).exists() else {}
        summary = run(spark, landing_root, warehouse, as_of=as_of, cfg=cfg, **extra)
        record_first_seen(spark, tables, seen)
        say({"event": "final", "seconds": round(time.monotonic() - t0, 1)})
        for key in (*TABLES, *EXTRA_TABLES):
            rows = tables.read(spark, key).toJSON().collect()
            (out_dir / f"{key}.jsonl").write_text("".join(f"{r}\n" for r in rows))
        (out_dir / "provisional_first_seen.jsonl").write_text(
            "".join(f"{json.dumps(v)}\n" for v in seen.values())
        )
        (out_dir / "table_sizes.json").write_text(
            json.dumps(table_sizes(spark, tables), indent=2)
        )
    finally:
        spark.stop()
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
