"""Retention statements follow each table's declared retention."""

from __future__ import annotations

from datetime import date

from hoptrace_lakehouse.maintenance import retention_sql
from hoptrace_lakehouse.tables import Tables, create_ddl, registered


def test_retention_per_layer() -> None:
    stmts = dict(retention_sql(Tables.unity("hoptrace"), date(2026, 9, 1)))
    assert stmts["bronze.flows"] == (
        "DELETE FROM `hoptrace`.`bronze`.`flows` WHERE `ingest_date` < DATE'2026-08-02'"
    )
    assert stmts["gold.request_paths"].endswith("WHERE `event_date` < DATE'2026-03-05'")
    assert stmts["gold.request_paths_provisional"].endswith("WHERE `event_date` < DATE'2026-08-30'")
    assert "ops.finalized_windows" not in stmts


def test_ddl_clusters_by_time_and_enables_deletion_vectors() -> None:
    specs = registered()
    ddl = create_ddl(specs["gold.request_paths"], Tables.local("/wh"))
    assert ddl.startswith("CREATE TABLE IF NOT EXISTS delta.`/wh/gold/request_paths`")
    assert "CLUSTER BY (window_start, ingress_node)" in ddl
    assert "'delta.enableDeletionVectors' = 'true'" in ddl
    assert {k.split(".")[0] for k in specs} == {"bronze", "silver", "gold", "ops"}
