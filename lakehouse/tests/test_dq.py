"""Each data-quality check fires on a crafted case and stays quiet on clean data."""

from __future__ import annotations

from datetime import timedelta

from pyspark.sql import DataFrame, SparkSession

from helpers import at
from hoptrace_lakehouse import dq
from hoptrace_lakehouse.correlate import GAPS_SCHEMA, ISSUES_SCHEMA, OFFSETS_SCHEMA, PATHS_SCHEMA
from hoptrace_lakehouse.gold import PROVISIONAL_SCHEMA
from hoptrace_lakehouse.lb_logs import LB_ACCESS_LOGS_SCHEMA
from hoptrace_lakehouse.silver import conform

WS, WE = at(0), at(5)
CFG = dq.DQConfig()


def _statuses(df: DataFrame) -> dict[str, str]:
    return {r["scope"]: r["status"] for r in df.collect()}


def _paths(spark: SparkSession, completeness: list[str]) -> DataFrame:
    rows = [(f"p{k}", c, ["server"] if c == "partial" else []) for k, c in enumerate(completeness)]
    df = spark.createDataFrame(rows, "path_id string, completeness string, missing_segments array<string>")
    return conform(df, PATHS_SCHEMA)


def test_missing_segments(spark: SparkSession) -> None:
    assert _statuses(dq.check_missing_segments(_paths(spark, ["complete"] * 20), WS, WE, CFG)) == {
        "window": "pass"
    }
    bad = dq.check_missing_segments(_paths(spark, ["complete"] * 8 + ["partial"] * 2), WS, WE, CFG).first()
    assert bad["status"] == "fail" and bad["value"] == 0.2 and '"server":2' in bad["details"]


def test_clock_skew(spark: SparkSession) -> None:
    offsets = conform(
        spark.createDataFrame(
            [("node-a", "node-b", 40, 1_000), ("node-a", "node-c", 40, 250_000)],
            "client_node string, server_node string, samples long, offset_p50_us long",
        ),
        OFFSETS_SCHEMA,
    )
    assert _statuses(dq.check_clock_skew(offsets, WS, WE, CFG)) == {
        "node-a->node-b": "pass",
        "node-a->node-c": "fail",
    }


def test_duplicate_ids(spark: SparkSession) -> None:
    issues = conform(
        spark.createDataFrame(
            [
                ("duplicate_request_id", "r1", None),
                ("duplicate_request_id", "r1", None),
                ("missing_segment", "r2", None),
            ],
            "reason string, request_id string, trace_id string",
        ),
        ISSUES_SCHEMA,
    )
    rid = dq.check_duplicates(issues, WS, WE, "duplicate_request_id").first()
    assert (rid["status"], rid["value"]) == ("fail", 1.0)
    assert dq.check_duplicates(issues, WS, WE, "duplicate_trace_id").first()["status"] == "pass"


def test_agent_gaps(spark: SparkSession) -> None:
    gaps = spark.createDataFrame(
        [("node-b", "flows", at(1), at(2)), ("node-c", "spans", at(20), at(21))], GAPS_SCHEMA
    )
    nodes = spark.createDataFrame([("node-a",), ("node-b",), ("node-c",)], "node string")
    assert _statuses(dq.check_agent_gaps(gaps, nodes, WS, WE)) == {
        "node-a": "pass",
        "node-b": "fail",
        "node-c": "pass",
    }


def test_freshness(spark: SparkSession) -> None:
    def prov(lag_s: float) -> DataFrame:
        rows = [(f"p{k}", WS, at(1), at(1) + timedelta(seconds=lag_s)) for k in range(20)]
        df = spark.createDataFrame(
            rows, "path_id string, window_start timestamp, end_time timestamp, computed_at timestamp"
        )
        return conform(df, PROVISIONAL_SCHEMA)

    fresh = dq.check_freshness(prov(45), WS, WE, CFG).first()
    assert fresh["status"] == "pass" and abs(fresh["value"] - 45) < 1e-6
    assert dq.check_freshness(prov(600), WS, WE, CFG).first()["status"] == "fail"
    assert dq.check_freshness(prov(45).limit(0), WS, WE, CFG).first()["status"] == "no_data"


def test_lb_log_parse(spark: SparkSession) -> None:
    def lb(rows: list[tuple]) -> DataFrame:
        df = spark.createDataFrame(
            rows,
            "parse_status string, elb string, event_time timestamp, log_interval_end timestamp",
        )
        return conform(df, LB_ACCESS_LOGS_SCHEMA)

    clean = [("ok", "app/shop/1", at(1), at(5))] * 3 + [("missing_fields", "app/old/2", at(2), at(5))]
    ok = dq.check_lb_log_parse(lb(clean), WS, WE, CFG)
    assert ok is not None
    r = ok.first()
    # An older, shorter format is read, counted, not failed.
    assert (r["check"], r["scope"]) == ("lb_log_parse", "lb_access_logs")
    assert (r["status"], r["value"]) == ("pass", 0.0)
    assert '"missing_fields":1' in r["details"] and '"lines":4' in r["details"]

    # A malformed line has no time of its own: it counts in its delivery interval. Lines
    # outside the window do not count.
    drifted = [
        *clean,
        ("malformed", None, None, at(3)),
        ("extra_fields", "app/shop/1", at(4), at(5)),
        ("malformed", None, None, at(30)),
    ]
    bad = dq.check_lb_log_parse(lb(drifted), WS, WE, CFG)
    assert bad is not None
    r = bad.first()
    assert r["status"] == "fail" and abs(r["value"] - 2 / 6) < 1e-9
    assert '"malformed":1' in r["details"] and '"extra_fields":1' in r["details"]
    assert '"load_balancers_affected":["app/shop/1"]' in r["details"]

    empty = dq.check_lb_log_parse(lb(clean).limit(0), WS, WE, CFG)
    assert empty is not None and empty.first()["status"] == "no_data"
    # No LB logs set up: no row at all rather than a no_data row every window.
    assert dq.check_lb_log_parse(None, WS, WE, CFG) is None
