"""Runs the lakehouse locally over a landing directory (the local runner's ``run``)
and writes what the scorecard reads as JSON lines, in one Spark session:

    python lakehouse_dump.py LANDING WAREHOUSE AS_OF OUT_DIR [LB_LOGS]

OUT_DIR receives summary.json and one <table>.jsonl per table read.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from hoptrace_lakehouse.finalize import FinalizeConfig
from hoptrace_lakehouse.local import run
from hoptrace_lakehouse.local_spark import local_session
from hoptrace_lakehouse.tables import Tables

TABLES = (
    "gold.request_paths",
    "gold.correlation_issues",
    "gold.request_paths_provisional",
    "ops.dq_results",
    "silver.node_clock_offsets",
)


def main(argv: list[str]) -> int:
    landing, warehouse, as_of, out = argv[:4]
    lb_logs = argv[4] if len(argv) > 4 else None
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    spark = local_session(warehouse)
    try:
        summary = run(
            spark,
            landing,
            warehouse,
            as_of=datetime.fromisoformat(as_of),
            cfg=FinalizeConfig(),
            lb_logs=lb_logs,
        )
        tables = Tables.local(warehouse)
        for key in TABLES:
            rows = tables.read(spark, key).toJSON().collect()
            (out_dir / f"{key}.jsonl").write_text("".join(f"{r}\n" for r in rows))
    finally:
        spark.stop()
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
