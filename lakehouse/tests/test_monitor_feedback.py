"""Monitor feedback on crafted Lakehouse Monitoring metric tables of the documented shape:
each signal fires on its case, stays quiet on clean metrics, honours its threshold, and a
missing metric table is a skipped row, not an error."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from hoptrace_lakehouse import dq, jobs
from hoptrace_lakehouse import monitor_feedback as mf
from hoptrace_lakehouse.tables import Tables, ensure_tables

# The documented columns of <table>_profile_metrics and <table>_drift_metrics
# (Databricks "Data profiling metric tables", column schemas for generated tables).
PROFILE_DDL = (
    "window struct<start:timestamp,end:timestamp>, log_type string, logging_table_commit_version int,"
    " monitor_version bigint, granularity string, slice_key string, slice_value string, column_name string,"
    " count bigint, data_type string, num_nulls bigint, avg double, quantiles array<double>, min double,"
    " max double, stddev double, num_zeros bigint, num_nan bigint, min_length double, max_length double,"
    " avg_length double, non_null_columns array<string>,"
    " frequent_items array<struct<item:string,count:bigint>>,"
    " median double, distinct_count bigint, percent_nan double, percent_null double, percent_zeros double,"
    " percent_distinct double"
)
DRIFT_DDL = (
    "window struct<start:timestamp,end:timestamp>, granularity string, monitor_version bigint,"
    " slice_key string, slice_value string, column_name string, data_type string,"
    " window_cmp struct<start:timestamp,end:timestamp>,"
    " drift_type string, count_delta bigint, avg_delta double, percent_null_delta double,"
    " percent_zeros_delta double, percent_distinct_delta double,"
    " non_null_columns_delta struct<added:int,missing:int>, js_distance double,"
    " ks_test struct<statistic:double,pvalue:double>, wasserstein_distance double,"
    " population_stability_index double, chi_squared_test struct<statistic:double,pvalue:double>,"
    " tv_distance double, l_infinity_distance double"
)


@cache
def _schema(ddl: str) -> StructType:
    # Parsing DDL needs a running session, so not at import time.
    return StructType.fromDDL(ddl)


H = timedelta(hours=1)
WS = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # the judged window [10:00, 11:00)
AS_OF = WS + H + timedelta(minutes=25)
TH = mf.MonitorThresholds()
GOLD, HOPS = mf.MONITORED
LAKEHOUSE = Path(__file__).resolve().parents[1]

CLEAN_COMPLETENESS = {"complete": 900, "partial": 60, "ambiguous": 30, "failed": 10}
CLEAN_SERVICES = {"cart": 600, "checkout": 400}
CLEAN_NODES = {"node-a": 500, "node-b": 500}


def _row(schema: StructType, **values: Any) -> tuple[Any, ...]:
    return tuple(values.get(f.name) for f in schema.fields)


def _profile_rows(
    start: datetime,
    completeness: dict[str, int],
    slices: dict[str, dict[str, int]],
    granularity: str = "1 hour",
) -> list[tuple[Any, ...]]:
    window = (start, start + H)
    common = {"window": window, "log_type": "INPUT", "granularity": granularity, "monitor_version": 0}
    total = sum(completeness.values())
    rows = [_row(_schema(PROFILE_DDL), **common, column_name=":table", count=total)]
    # A column row besides the table rows, as the monitor writes one per profiled column.
    rows.append(
        _row(_schema(PROFILE_DDL), **common, column_name="duration_us", count=total, percent_null=0.0)
    )
    for key, counts in [("completeness", completeness), *slices.items()]:
        for value, n in counts.items():
            rows.append(
                _row(
                    _schema(PROFILE_DDL),
                    **common,
                    slice_key=key,
                    slice_value=value,
                    column_name=":table",
                    count=n,
                )
            )
    return rows


def gold_profile(
    spark: SparkSession,
    latest: dict[str, int] = CLEAN_COMPLETENESS,
    services: dict[str, int] = CLEAN_SERVICES,
    nodes: dict[str, int] = CLEAN_NODES,
    previous: dict[str, int] = CLEAN_COMPLETENESS,
    previous_nodes: dict[str, int] = CLEAN_NODES,
    extra: list[tuple[Any, ...]] | None = None,
) -> DataFrame:
    rows = _profile_rows(WS - H, previous, {"service_name": CLEAN_SERVICES, "ingress_node": previous_nodes})
    rows += _profile_rows(WS, latest, {"service_name": services, "ingress_node": nodes})
    return spark.createDataFrame(rows + (extra or []), _schema(PROFILE_DDL))


def _drift_row(
    start: datetime, column: str, slice_key: str | None = None, slice_value: str | None = None, **values: Any
) -> tuple[Any, ...]:
    return _row(
        _schema(DRIFT_DDL),
        window=(start, start + H),
        window_cmp=(start - H, start),
        granularity="1 hour",
        drift_type="CONSECUTIVE",
        monitor_version=0,
        column_name=column,
        slice_key=slice_key,
        slice_value=slice_value,
        **values,
    )


QUIET_LATENCY = {"ks_test": (0.03, 0.4), "js_distance": 0.02, "wasserstein_distance": 900.0}


def gold_drift(
    spark: SparkSession,
    latency: dict[str, dict[str, Any]] | None = None,
    nulls: dict[str, float] | None = None,
    extra: list[tuple[Any, ...]] | None = None,
) -> DataFrame:
    latency = latency or dict.fromkeys(CLEAN_SERVICES, QUIET_LATENCY)
    nulls = nulls or {"request_id": 0.5, "trace_id": -0.2}
    rows = [_drift_row(WS, "duration_us", "service_name", s, **v) for s, v in latency.items()]
    rows += [_drift_row(WS, c, percent_null_delta=d) for c, d in nulls.items()]
    rows.append(_drift_row(WS, ":table", count_delta=-10))
    return spark.createDataFrame(rows + (extra or []), _schema(DRIFT_DDL))


def judge(
    spark: SparkSession,
    profile: DataFrame | None,
    drift: DataFrame | None,
    th: mf.MonitorThresholds = TH,
    spec: mf.MonitoredTable = GOLD,
) -> dict[tuple[str, str], dict[str, Any]]:
    out = mf.judge_table(spark, spec, profile, drift, WS, WS + H, th).collect()
    assert {r["window_start"] for r in out} == {WS.replace(tzinfo=None)}
    by_key = {(r["check"], r["scope"]): r.asDict() for r in out}
    assert len(by_key) == len(out), "one row per check and scope"
    return by_key


def failed(rows: dict[tuple[str, str], dict[str, Any]]) -> set[tuple[str, str]]:
    return {k for k, r in rows.items() if r["status"] == "fail"}


def test_judged_window_and_parameters() -> None:
    assert mf.judged_window(AS_OF, TH) == (WS, WS + H)
    assert mf.judged_window(WS + H + timedelta(minutes=15), TH) == (WS - H, WS)
    five = mf.MonitorThresholds.from_params(
        {"granularity": "5 minutes", "settle_minutes": "0", "min_rows": ""}
    )
    assert (five.granularity, five.settle_minutes, five.min_rows) == ("5 minutes", 0, TH.min_rows)
    assert mf.judged_window(WS + timedelta(minutes=7), five) == (WS, WS + timedelta(minutes=5))
    with pytest.raises(ValueError, match="unknown"):
        mf.MonitorThresholds.from_params({"max_row_drop": "0.5"})
    with pytest.raises(ValueError, match="granularity"):
        mf.MonitorThresholds.from_params({"granularity": "1 month"})


def test_clean_metrics_are_quiet(spark: SparkSession) -> None:
    rows = judge(spark, gold_profile(spark), gold_drift(spark))
    assert failed(rows) == set()
    statuses = {k: r["status"] for k, r in rows.items()}
    assert statuses == {
        ("monitor_metrics", "gold.request_paths"): "pass",
        ("monitor_complete_share", "gold.request_paths[completeness=complete]"): "pass",
        ("monitor_ambiguous_share", "gold.request_paths[completeness=ambiguous]"): "pass",
        ("monitor_failed_share", "gold.request_paths[completeness=failed]"): "pass",
        ("monitor_row_count_drop", "gold.request_paths[ingress_node=node-a]"): "pass",
        ("monitor_row_count_drop", "gold.request_paths[ingress_node=node-b]"): "pass",
        ("monitor_latency_shift", "gold.request_paths[service_name=cart].duration_us"): "pass",
        ("monitor_latency_shift", "gold.request_paths[service_name=checkout].duration_us"): "pass",
        ("monitor_id_null_jump", "gold.request_paths.request_id"): "pass",
        ("monitor_id_null_jump", "gold.request_paths.trace_id"): "pass",
    }


def test_completeness_shifts(spark: SparkSession) -> None:
    # complete 90 % -> 80 %, ambiguous 3 % -> 9 %, failed unchanged at 1 %.
    latest = {"complete": 800, "partial": 100, "ambiguous": 90, "failed": 10}
    rows = judge(spark, gold_profile(spark, latest=latest), gold_drift(spark))
    assert failed(rows) == {
        ("monitor_complete_share", "gold.request_paths[completeness=complete]"),
        ("monitor_ambiguous_share", "gold.request_paths[completeness=ambiguous]"),
    }
    drop = rows[("monitor_complete_share", "gold.request_paths[completeness=complete]")]
    assert drop["value"] == pytest.approx(0.1) and drop["threshold"] == TH.max_complete_share_drop
    details = json.loads(drop["details"])
    assert details["share"] == pytest.approx(0.8) and details["previous_share"] == pytest.approx(0.9)
    rise = rows[("monitor_ambiguous_share", "gold.request_paths[completeness=ambiguous]")]
    assert rise["value"] == pytest.approx(0.06) and rise["threshold"] == TH.max_bad_share_rise
    # A failed share that appears from nothing counts from zero.
    appeared = {"complete": 870, "partial": 60, "ambiguous": 30, "failed": 40}
    previous = {"complete": 910, "partial": 60, "ambiguous": 30}
    rows = judge(spark, gold_profile(spark, latest=appeared, previous=previous), gold_drift(spark))
    assert failed(rows) == {("monitor_failed_share", "gold.request_paths[completeness=failed]")}


def test_latency_shift_per_service(spark: SparkSession) -> None:
    latency = {
        "cart": {"ks_test": (0.45, 1e-9), "js_distance": 0.05, "wasserstein_distance": 20_000.0},
        "checkout": {"ks_test": (0.05, 0.2), "js_distance": 0.03, "wasserstein_distance": 120_000.0},
        "search": {"ks_test": (0.9, 1e-12), "js_distance": 0.7, "wasserstein_distance": 900_000.0},
        # A large statistic that is not significant (few rows in each window) does not fire.
        "payments": {"ks_test": (0.3, 0.2), "js_distance": 0.05, "wasserstein_distance": 100.0},
    }
    services = {**CLEAN_SERVICES, "search": 40, "payments": 300}
    rows = judge(spark, gold_profile(spark, services=services), gold_drift(spark, latency=latency))
    scope = "gold.request_paths[service_name={}].duration_us"
    assert failed(rows) == {("monitor_latency_shift", scope.format(s)) for s in ("cart", "checkout")}
    cart = rows[("monitor_latency_shift", scope.format("cart"))]
    assert cart["value"] == pytest.approx(0.45) and cart["threshold"] == TH.ks_statistic_min
    assert json.loads(cart["details"])["tripped"] == ["ks_test"]
    assert json.loads(rows[("monitor_latency_shift", scope.format("checkout"))]["details"])["tripped"] == [
        "wasserstein_distance"
    ]
    # search shifted wildly but has fewer rows than min_rows: judged as skipped, not failed.
    search = rows[("monitor_latency_shift", scope.format("search"))]
    assert search["status"] == "skipped" and "fewer than 100 rows" in search["details"]
    assert rows[("monitor_latency_shift", scope.format("payments"))]["status"] == "pass"


def test_id_null_rate_jump(spark: SparkSession) -> None:
    rows = judge(spark, gold_profile(spark), gold_drift(spark, nulls={"request_id": 35.0, "trace_id": 2.0}))
    assert failed(rows) == {("monitor_id_null_jump", "gold.request_paths.request_id")}
    rid = rows[("monitor_id_null_jump", "gold.request_paths.request_id")]
    assert rid["value"] == 35.0 and rid["threshold"] == TH.max_null_rate_jump_pct


def test_hops_per_proxy_null_jump_and_silent_node(spark: SparkSession) -> None:
    nodes = {"node-a": 4000, "node-b": 3800, "node-c": 3900}
    profile_rows = _profile_rows(WS - H, {}, {"node": nodes, "source": {"envoy": 8000, "hubble": 3700}})
    # node-c landed nothing in the latest window: its slice has no rows at all.
    profile_rows += _profile_rows(
        WS,
        {},
        {"node": {"node-a": 4100, "node-b": 3700}, "source": {"envoy": 7800}, "proxy": {"envoy": 5000}},
    )
    profile_rows += _profile_rows(WS, {}, {"proxy": {"nginx": 7800}})[2:]
    drift = spark.createDataFrame(
        [
            _drift_row(WS, "request_id", "proxy", "envoy", percent_null_delta=48.0),
            _drift_row(WS, "trace_id", "proxy", "envoy", percent_null_delta=0.0),
            _drift_row(WS, "request_id", "proxy", "nginx", percent_null_delta=1.0),
            # The whole-table rate is not judged for silver.hops (flows never carry ids).
            _drift_row(WS, "request_id", percent_null_delta=60.0),
        ],
        _schema(DRIFT_DDL),
    )
    rows = judge(spark, spark.createDataFrame(profile_rows, _schema(PROFILE_DDL)), drift, spec=HOPS)
    assert failed(rows) == {
        ("monitor_id_null_jump", "silver.hops[proxy=envoy].request_id"),
        ("monitor_row_count_drop", "silver.hops[node=node-c]"),
        ("monitor_row_count_drop", "silver.hops[source=hubble]"),
    }
    silent = rows[("monitor_row_count_drop", "silver.hops[node=node-c]")]
    assert silent["value"] == 1.0 and json.loads(silent["details"]) == {"previous_rows": 3900, "rows": 0}
    assert rows[("monitor_row_count_drop", "silver.hops[node=node-b]")]["status"] == "pass"


def test_row_count_drop_per_ingress_node(spark: SparkSession) -> None:
    rows = judge(spark, gold_profile(spark, nodes={"node-a": 750, "node-b": 200}), gold_drift(spark))
    assert failed(rows) == {("monitor_row_count_drop", "gold.request_paths[ingress_node=node-b]")}
    assert rows[("monitor_row_count_drop", "gold.request_paths[ingress_node=node-b]")]["value"] == 0.6


def test_thresholds_are_honoured(spark: SparkSession) -> None:
    latest = {"complete": 800, "partial": 100, "ambiguous": 90, "failed": 10}
    profile = gold_profile(spark, latest=latest, nodes={"node-a": 750, "node-b": 200})
    drift = gold_drift(spark, nulls={"request_id": 35.0, "trace_id": 2.0})
    assert failed(judge(spark, profile, drift))
    loose = replace(
        TH,
        max_complete_share_drop=0.15,
        max_bad_share_rise=0.1,
        max_row_count_drop=0.7,
        max_null_rate_jump_pct=40,
    )
    assert failed(judge(spark, profile, drift, th=loose)) == set()
    strict = replace(TH, max_null_rate_jump_pct=1.0)
    assert ("monitor_id_null_jump", "gold.request_paths.trace_id") in failed(
        judge(spark, profile, drift, th=strict)
    )
    # Below min_rows the window is not judged at all.
    rows = judge(spark, profile, drift, th=replace(TH, min_rows=5000))
    assert failed(rows) == set()
    assert (
        rows[("monitor_complete_share", "gold.request_paths[completeness=complete]")]["status"] == "skipped"
    )


def test_only_the_latest_window_is_judged(spark: SparkSession) -> None:
    # A collapse two windows back, and drift of that window, are history: not judged again.
    old = _profile_rows(WS - 2 * H, {"complete": 100, "failed": 900}, {"ingress_node": {"node-a": 5}})
    old_drift = [_drift_row(WS - H, "request_id", percent_null_delta=90.0)]
    # Other granularities of the same window are not mixed in either.
    other = _profile_rows(WS, {"complete": 1, "failed": 999}, {}, granularity="1 day")
    rows = judge(spark, gold_profile(spark, extra=old + other), gold_drift(spark, extra=old_drift))
    assert failed(rows) == set()


def test_missing_or_unprofiled_metrics_are_skipped(spark: SparkSession) -> None:
    rows = judge(spark, None, None)
    assert list(rows) == [("monitor_metrics", "gold.request_paths")]
    row = rows[("monitor_metrics", "gold.request_paths")]
    assert row["status"] == "skipped" and row["value"] is None
    assert "ops.request_paths_profile_metrics not found" in json.loads(row["details"])["reason"]

    # Profile there, drift not yet (drift needs two refreshes): profile signals still run.
    rows = judge(spark, gold_profile(spark), None)
    assert rows[("monitor_drift", "gold.request_paths")]["status"] == "skipped"
    assert ("monitor_complete_share", "gold.request_paths[completeness=complete]") in rows

    # The monitor has not reached the judged window (refresh failed or still pending).
    stale = spark.createDataFrame(_profile_rows(WS - H, CLEAN_COMPLETENESS, {}), _schema(PROFILE_DDL))
    rows = judge(spark, stale, gold_drift(spark))
    assert list(rows) == [("monitor_metrics", "gold.request_paths")]
    assert "not profiled yet" in rows[("monitor_metrics", "gold.request_paths")]["details"]

    # A table that is not of the documented shape is named, not a crash.
    rows = judge(spark, gold_profile(spark).drop("slice_value"), gold_drift(spark))
    assert "lacks columns ['slice_value']" in rows[("monitor_metrics", "gold.request_paths")]["details"]
    rows = judge(spark, gold_profile(spark), gold_drift(spark).drop("ks_test"))
    assert "lacks columns ['ks_test']" in rows[("monitor_drift", "gold.request_paths")]["details"]


def test_write_feedback_keeps_the_other_checks(spark: SparkSession, tmp_path: Path) -> None:
    tables = Tables.local(tmp_path / "wh")
    ensure_tables(spark, tables)
    latest = {"complete": 800, "partial": 100, "ambiguous": 90, "failed": 10}
    tables.overwrite(gold_profile(spark, latest=latest), GOLD.profile_key)
    tables.overwrite(gold_drift(spark), GOLD.drift_key)
    # The regular checks of the 5-minute window that starts with the monitor window.
    dq.write_checks(spark, tables, WS, WS + timedelta(minutes=5), as_of=AS_OF)
    regular = tables.read(spark, "ops.dq_results").count()
    assert regular > 0

    results = mf.write_feedback(spark, tables, as_of=AS_OF)
    with pytest.raises(mf.MonitorSignalError, match="monitor_complete_share"):
        mf.raise_on_fail(results)
    mf.write_feedback(spark, tables, as_of=AS_OF)  # a re-run replaces its own rows
    dq.write_checks(spark, tables, WS, WS + timedelta(minutes=5), as_of=AS_OF)  # and so does dq

    stored = tables.read(spark, "ops.dq_results")
    assert stored.count() == regular + results.count()
    monitor = {
        (r["check"], r["scope"]): r["status"] for r in stored.filter("`check` LIKE 'monitor%'").collect()
    }
    assert monitor[("monitor_metrics", "silver.hops")] == "skipped"  # no hops metric tables here
    assert monitor[("monitor_complete_share", "gold.request_paths[completeness=complete]")] == "fail"

    clean = mf.judge_table(spark, GOLD, gold_profile(spark), gold_drift(spark), WS, WS + H, TH)
    mf.raise_on_fail(clean)  # nothing raised on clean metrics


class FakeMonitors:
    """The two quality_monitors calls, answering a scripted sequence of refresh states."""

    def __init__(self, states: dict[str, list[str]]) -> None:
        self.states = states
        self.started: list[str] = []

    def run_refresh(self, table_name: str) -> Any:
        self.started.append(table_name)
        return type("Info", (), {"refresh_id": len(self.started), "state": "PENDING"})()

    def get_refresh(self, table_name: str, refresh_id: Any) -> Any:
        script = self.states[table_name]
        state = script.pop(0) if len(script) > 1 else script[0]
        return type("Info", (), {"refresh_id": refresh_id, "state": state})()


def test_refresh_monitors_waits_and_reports() -> None:
    slept: list[float] = []
    client = FakeMonitors(
        {"c.gold.request_paths": ["RUNNING", "SUCCESS"], "c.silver.hops": ["PENDING", "RUNNING", "SUCCESS"]}
    )
    states = mf.refresh_monitors(
        client, ["c.gold.request_paths", "c.silver.hops"], poll_s=5, sleep=slept.append
    )
    assert states == {"c.gold.request_paths": "SUCCESS", "c.silver.hops": "SUCCESS"} and slept == [5, 5]

    client = FakeMonitors({"a": ["MONITOR_REFRESH_STATE_FAILED"], "b": ["SUCCESS"]})
    with pytest.raises(RuntimeError, match="'a': 'FAILED'"):
        mf.refresh_monitors(client, ["a", "b"], sleep=slept.append)

    now = [0.0]
    client = FakeMonitors({"a": ["RUNNING"]})
    with pytest.raises(TimeoutError):
        mf.refresh_monitors(
            client,
            ["a"],
            timeout_s=60,
            poll_s=30,
            sleep=lambda s: now.__setitem__(0, now[0] + s),
            clock=lambda: now[0],
        )


def test_bundle_matches_the_feedback_code() -> None:
    monitors = yaml.safe_load((LAKEHOUSE / "resources" / "monitors.yml").read_text())["resources"][
        "quality_monitors"
    ]
    by_table = {m["table_name"].removeprefix("${var.catalog}."): m for m in monitors.values()}
    assert set(by_table) == {spec.key for spec in mf.MONITORED}
    for spec in mf.MONITORED:
        monitor = by_table[spec.key]
        # The metric tables this code reads are the ones the monitor writes.
        assert monitor["output_schema_name"] == "${var.catalog}.ops"
        assert spec.name == spec.key.split(".")[1] and spec.profile_key == f"ops.{spec.name}_profile_metrics"
        used = {spec.completeness_slice, spec.latency_slice, *spec.id_null_slices, *spec.row_count_slices} - {
            None
        }
        assert used <= set(monitor["slicing_exprs"]), spec.key
        assert TH.granularity in monitor["time_series"]["granularities"]
        assert "schedule" not in monitor  # the data-quality job refreshes it before judging
    job = yaml.safe_load((LAKEHOUSE / "resources" / "data_quality.job.yml").read_text())["resources"]["jobs"][
        "hoptrace_data_quality"
    ]
    params = {p["name"]: p["default"] for p in job["parameters"]}
    assert mf.MonitorThresholds.from_params({k: params[k] for k in jobs.MONITOR_FEEDBACK_PARAMETERS}) == TH
    tasks = {t["task_key"]: t for t in job["tasks"]}
    assert tasks["monitor_feedback"]["depends_on"] == [{"task_key": "refresh_monitors"}]
