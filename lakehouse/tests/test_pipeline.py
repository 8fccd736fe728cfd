"""End to end on local Spark + Delta: the streaming tier (available-now), the finalizer
with its heartbeat frontier, idempotent re-runs, backfill, too-late data, and DQ."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from helpers import at, gold_snapshot
from hoptrace_lakehouse import finalize as fz
from hoptrace_lakehouse import local
from hoptrace_lakehouse.dq import write_checks
from hoptrace_lakehouse.gold import create_latest_view
from hoptrace_lakehouse.streaming import run_available_now
from hoptrace_lakehouse.synth import T0, Faults, RequestSpec, Scenario, standard_traffic
from hoptrace_lakehouse.tables import Tables, ensure_tables

CFG = fz.FinalizeConfig()


@pytest.fixture(scope="module")
def faulty(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Ten minutes of traffic with a lost file, schema drift, landed and streamed."""
    root = tmp_path_factory.mktemp("faulty")
    s = Scenario(
        faults=Faults(
            lost_files={("node-b", "http_requests", 3)}, drift_extra_column=True, drift_schema_version=2
        )
    )
    s.add_inventory(T0)
    standard_traffic(s, minutes=10, per_minute=6)
    s.write(root / "landing", heartbeat_until=at(12))
    tables = Tables.local(root / "wh")
    ensure_tables(spark, tables)
    run_available_now(
        spark, tables, str(root / "landing"), str(root / "wh" / "_cp"), CFG, max_files_per_trigger=12
    )
    create_latest_view(spark, tables)
    return {"root": root, "tables": tables, "scenario": s}


def test_streaming_tier_lands_everything_once(spark: SparkSession, faulty: dict[str, Any]) -> None:
    tables = faulty["tables"]
    landed = sum(len(v) for (t, _), v in faulty["scenario"].landing.rows.items() if t == "http_requests")
    bronze_http = tables.read(spark, "bronze.http_requests").count()
    lost = 6 * 2 // 3  # one minute of node-b's inbound sidecar rows never landed
    assert landed - lost <= bronze_http < landed
    hops = tables.read(spark, "silver.hops")
    assert hops.count() == hops.select("record_id").distinct().count()
    prov = tables.read(spark, "gold.request_paths_provisional")
    assert prov.count() == 60 and prov.filter(F.col("is_final")).count() == 0
    assert spark.table("request_paths_latest").count() == 60


def test_frontier_holds_windows_while_a_node_has_a_hole(spark: SparkSession, faulty: dict[str, Any]) -> None:
    tables = faulty["tables"]
    files = tables.read(spark, "ops.landed_files")
    hb = tables.read(spark, "bronze.agent_heartbeats")
    held = fz.closed_through(files, hb, at(14), CFG)
    assert held == at(2)  # node-b's contiguous files end where its third http_requests file is missing
    assert fz.finalize(spark, tables, CFG, as_of=at(14)) == []
    # The lateness bound closes the windows anyway, and the hole is reported as a gap.
    gaps = fz.agent_gaps(files, hb, at(30), CFG).collect()
    assert [(g["node"], g["table"]) for g in gaps] == [("node-b", "http_requests")]


@pytest.fixture(scope="module")
def finalized(spark: SparkSession, faulty: dict[str, Any]) -> dict[str, Any]:
    tables = faulty["tables"]
    done = fz.finalize(spark, tables, CFG, as_of=at(30))
    return {"done": done, "snapshot": gold_snapshot(spark, tables)}


def test_finalize_closes_by_the_lateness_bound(
    spark: SparkSession, faulty: dict[str, Any], finalized: dict
) -> None:
    done = finalized["done"]
    assert [(d.window_start, d.window_end, d.paths) for d in done] == [(at(0), at(10), 60)]
    tables = faulty["tables"]
    paths = tables.read(spark, "gold.request_paths")
    assert paths.filter(~F.col("is_final")).count() == 0
    reasons = {r["reason"] for r in tables.read(spark, "gold.correlation_issues").collect()}
    assert "agent_gap" in reasons
    # Finalized windows are served from the final table by the latest view.
    latest = spark.table("request_paths_latest")
    assert latest.count() == 60 and latest.filter(F.col("is_final")).count() == 60


def test_finalize_and_backfill_are_idempotent(
    spark: SparkSession, faulty: dict[str, Any], finalized: dict
) -> None:
    tables = faulty["tables"]
    # Window by window this time: the same rows as the finalizer's single pass.
    fz.backfill(spark, tables, at(0), at(10), CFG, as_of=at(30), batch_windows=1)
    first = gold_snapshot(spark, tables)
    fz.backfill(spark, tables, at(0), at(10), CFG, as_of=at(30), source="bronze")
    assert gold_snapshot(spark, tables) == first == finalized["snapshot"]


def test_dq_checks_fire_on_drift_and_gaps(
    spark: SparkSession, faulty: dict[str, Any], finalized: dict
) -> None:
    tables = faulty["tables"]
    results = write_checks(spark, tables, at(0), at(5), as_of=at(30)).collect()
    fails = {(r["check"], r["scope"]) for r in results if r["status"] == "fail"}
    assert ("schema_drift_rescued", "flows") in fails
    assert ("schema_drift_version", "http_requests") in fails
    assert ("agent_gap", "node-b") in fails
    rescued = next(r for r in results if (r["check"], r["scope"]) == ("schema_drift_rescued", "flows"))
    assert json.loads(rescued["details"])["unknown_columns"] == ["agent_build"]
    quiet = {(r["check"], r["scope"]) for r in results if r["status"] == "pass"}
    assert ("agent_gap", "node-a") in quiet and ("schema_drift_rescued", "spans") not in fails
    assert tables.read(spark, "ops.dq_results").count() == len(results)


def test_too_late_data_is_counted_and_refinalized(
    spark: SparkSession, faulty: dict[str, Any], finalized: dict
) -> None:
    tables, root = faulty["tables"], faulty["root"]
    late = Scenario()
    late._n = 10_000  # new requests, new record ids
    late.request(RequestSpec(at(3.5), "cart", ["cart-1"], path="/late"))
    late.write(root / "landing", epoch="e2")
    run_available_now(spark, tables, str(root / "landing"), str(root / "wh" / "_cp"), CFG)
    # The streaming tier leaves a finalized window alone; maintenance re-finalizes it.
    assert tables.read(spark, "gold.request_paths").filter(F.col("path") == "/late").count() == 0
    redone = fz.refinalize_too_late(spark, tables, CFG, as_of=at(40))
    assert [r.window_start for r in redone] == [at(0)]
    paths = tables.read(spark, "gold.request_paths").filter(F.col("path") == "/late").collect()
    assert len(paths) == 1 and paths[0]["completeness"] == "complete"
    too_late = tables.read(spark, "gold.correlation_issues").filter(F.col("reason") == "too_late").collect()
    assert {(r["node"], json.loads(r["evidence"])["table"]) for r in too_late} >= {
        ("node-a", "http_requests")
    }
    assert fz.refinalize_too_late(spark, tables, CFG, as_of=at(40)) == []


def _scenario() -> Scenario:
    s = Scenario()
    s.add_inventory(T0)
    standard_traffic(s, minutes=5, per_minute=6)
    s.request(RequestSpec(at(4.99), "cart", ["cart-1"], duration_ms=40, path="/edge"))
    return s


def test_local_runner_and_late_data_invariance(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The same inputs, split into files differently and arriving in the opposite order in
    small batches, give the same final tables; the local runner drives the first copy."""
    root_a, root_b = tmp_path_factory.mktemp("run_a"), tmp_path_factory.mktemp("run_b")
    _scenario().write(root_a / "landing", file_minutes=1, heartbeat_until=at(6))
    summary = local.run(
        spark, str(root_a / "landing"), str(root_a / "wh"), as_of=at(7), cfg=CFG, provisional=False
    )
    assert summary["finalized_windows"] == 1 and summary["request_paths"] == 31
    assert summary["completeness"] == {"complete": 31} and summary["issues"] == {}
    assert summary["latest_paths"] == 31 and summary["provisional_paths"] == 0
    # Clean data closed early (every node landed past the window well before the bound) and
    # every check passes or has nothing to look at.
    assert summary["dq_failures"] == {}

    paths = _scenario().write(root_b / "landing", file_minutes=5, heartbeat_until=at(6))
    for k, p in enumerate(sorted(paths, reverse=True)):
        os.utime(p, (1_000_000 + k, 1_000_000 + k))
    b = Tables.local(root_b / "wh")
    ensure_tables(spark, b)
    run_available_now(
        spark,
        b,
        str(root_b / "landing"),
        str(root_b / "wh" / "_cp"),
        CFG,
        max_files_per_trigger=4,
        provisional=False,
    )
    assert [(d.window_start, d.window_end) for d in fz.finalize(spark, b, CFG, as_of=at(7))] == [
        (at(0), at(5))
    ]
    assert gold_snapshot(spark, Tables.local(root_a / "wh")) == gold_snapshot(spark, b)
