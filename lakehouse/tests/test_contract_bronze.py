"""Contract loading, object-key lineage, the local source seam, and local rescue."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from hoptrace_lakehouse import bronze, contract
from hoptrace_lakehouse.landing import object_key, write_rows
from hoptrace_lakehouse.synth import T0, RequestSpec, Scenario
from hoptrace_lakehouse.tables import Tables, ensure_tables


def test_contract_schemas_load_from_generated_files() -> None:
    assert contract.schema_version() == 1
    for table in contract.TABLES:
        names = [f.name for f in contract.spark_schema(table).fields]
        assert names[:6] == ["record_id", "event_time", "observed_time", "node", "source", "schema_version"]
    assert contract.known_schema_versions() == (1,)


def test_arrow_schema_writes_contract_logical_types(tmp_path: Path) -> None:
    s = Scenario()
    s.request(RequestSpec(T0, "cart", ["cart-1"]))
    path = s.write(tmp_path)[0]
    meta = pq.ParquetFile(path).schema
    event_time = meta.column(meta.names.index("event_time")).logical_type
    assert "Timestamp(isAdjustedToUTC=true, timeUnit=microseconds" in str(event_time)


def test_object_key_lineage(spark: SparkSession) -> None:
    key = object_key("flows", "node-a", "e1", 7, T0)
    assert key == "v1/flows/date=2026-03-02/hour=12/node=node-a/e1-000000000007.parquet"
    df = spark.createDataFrame(
        [(f"s3://bucket/telemetry/{key}",), ("s3://bucket/other/file.parquet",)], "_source_file string"
    )
    rows = bronze.with_lineage(df).orderBy("_source_file").collect()
    assert (rows[1]["_file_node"], rows[1]["_file_epoch"], rows[1]["_file_seq"]) == ("node-a", "e1", 7)
    assert rows[0]["_file_seq"] is None and rows[0]["_file_node"] is None


def test_landing_path_accepts_prefix_or_v1() -> None:
    assert bronze.landing_table_path("/x/", "flows") == "/x/v1/flows"
    assert bronze.landing_table_path("/x/v1", "flows") == "/x/v1/flows"


def test_bronze_stream_available_now_over_several_files(spark: SparkSession, tmp_path: Path) -> None:
    s = Scenario()
    for m in range(3):
        s.request(RequestSpec(T0.replace(minute=m, second=5), "cart", ["cart-1"]))
    landing, wh = tmp_path / "landing", tmp_path / "wh"
    s.write(landing)
    tables = Tables.local(wh)
    ensure_tables(spark, tables, only=("bronze.http_requests", "ops.landed_files"))
    # One file per micro-batch: the stream runs several batches before it stops.
    q = bronze.start_bronze_stream(
        spark,
        tables,
        "http_requests",
        str(landing),
        str(wh / "_cp"),
        platform="local",
        max_files_per_trigger=1,
    )
    q.awaitTermination()
    assert q.lastProgress is not None
    b = tables.read(spark, "bronze.http_requests")
    assert b.count() == 6  # ingress + inbound sidecar per request
    assert b.filter(F.col("_rescued_data").isNotNull()).count() == 0
    files = tables.read(spark, "ops.landed_files").filter(F.col("table") == "http_requests")
    seqs = sorted((r["node"], r["seq"]) for r in files.collect())
    assert seqs == [("node-a", k) for k in range(1, 4)] + [("node-b", k) for k in range(1, 4)]
    # A second run finds nothing new: the checkpoint makes ingestion exactly-once per file.
    bronze.start_bronze_stream(
        spark, tables, "http_requests", str(landing), str(wh / "_cp"), platform="local"
    ).awaitTermination()
    assert tables.read(spark, "bronze.http_requests").count() == 6


def test_local_rescue_keeps_unknown_columns(spark: SparkSession, tmp_path: Path) -> None:
    s = Scenario()
    s.request(RequestSpec(T0, "cart", ["cart-1"]))
    row = s.landing.rows[("flows", "node-a")][0]
    path = write_rows(tmp_path, "flows", "node-a", "e1", 1, [row], extra_columns={"agent_build": "2.0.0"})
    batch = bronze.read_landing_batch(spark, str(tmp_path), "flows").drop(
        "_file_node", "_file_epoch", "_file_seq", "_ingest_time", "ingest_date"
    )
    out = bronze.rescue_locally(spark, batch, "flows").collect()
    assert len(out) == 1
    rescued = json.loads(out[0]["_rescued_data"])
    assert rescued["agent_build"] == "2.0.0"
    assert rescued["_file_path"].endswith(path.name)
    assert out[0]["record_id"] == row["record_id"]
