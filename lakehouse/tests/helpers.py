"""Shared test helpers: scenarios written as the agent lands them, and table snapshots."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from hoptrace_lakehouse import bronze, silver
from hoptrace_lakehouse.synth import T0
from hoptrace_lakehouse.tables import Tables

LINEAGE = {"_ingest_time", "_source_file", "computed_at"}


def observations(spark: SparkSession, landing: Path) -> DataFrame:
    """Silver observations straight from a landing directory (no stream, no Delta)."""
    b = {t: bronze.read_landing_batch(spark, str(landing), t) for t in ("http_requests", "flows", "spans")}
    obs = silver.normalize_http(b["http_requests"]).unionByName(silver.normalize_flows(b["flows"]))
    return silver.dedup_by_record_id(obs.unionByName(silver.normalize_spans(b["spans"])))


def inventory(spark: SparkSession, landing: Path) -> tuple[DataFrame, DataFrame]:
    k8s = bronze.read_landing_batch(spark, str(landing), "k8s_objects")
    return silver.pod_ip_intervals(k8s), silver.service_endpoint_intervals(k8s)


def snapshot(df: DataFrame, drop: set[str] = LINEAGE) -> list[tuple[Any, ...]]:
    """Rows as sorted tuples, without columns that record when something ran."""
    cols = [c for c in df.columns if c not in drop]
    return sorted((tuple(str(v) for v in r) for r in df.select(*cols).collect()), key=str)


def gold_snapshot(spark: SparkSession, tables: Tables) -> dict[str, list[tuple[Any, ...]]]:
    return {
        key: snapshot(tables.read(spark, key))
        for key in ("gold.request_paths", "gold.correlation_issues", "silver.node_clock_offsets")
    }


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)
