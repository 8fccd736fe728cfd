"""Normalization, dedup and as-of inventory intervals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from helpers import inventory, observations
from hoptrace_lakehouse import silver
from hoptrace_lakehouse.synth import T0, RequestSpec, Scenario, default_cluster


def test_normalize_sides_keys_and_tuples(spark: SparkSession, tmp_path: Path) -> None:
    s = Scenario()
    s.request(RequestSpec(T0, "cart", ["cart-1"], ids="both", path="/cart"))
    s.request(RequestSpec(T0 + timedelta(seconds=5), "catalog", ["catalog-1"], ids="trace", path="/catalog"))
    s.write(tmp_path)
    rows = observations(spark, tmp_path).collect()
    obs = {(r["source_table"], r["role"], r["path"]): r for r in rows if r["source_table"] != "flows"}
    ingress = obs[("http_requests", "ingress", "/cart")]
    inbound = obs[("http_requests", "sidecar_inbound", "/cart")]
    span = obs[("spans", "span_server", "/catalog")]
    assert ingress["side"] == "client" and inbound["side"] == "server" and span["side"] == "server"
    assert ingress["client_ip"] == "203.0.113.7" and ingress["lb_ip"] == "10.0.0.5"
    assert ingress["dst_ip"] == "10.0.2.11" and ingress["dst_port"] == 8080
    assert inbound["src_ip"] == "10.0.1.10" and inbound["dst_ip"] == "10.0.2.11"
    assert ingress["evidence_kind"] == "trace_context"
    # The server span's hop key names its caller's span: it pairs with the ingress row.
    assert span["hop_key"] == obs[("http_requests", "ingress", "/catalog")]["hop_key"]
    flows = [r for r in rows if r["source_table"] == "flows"]
    assert flows and all(r["side"] == "network" and r["evidence_kind"] == "connection_tuple" for r in flows)


def test_dedup_by_record_id_keeps_first_ingested(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [("a", "2026-01-01 00:00:02", "f2"), ("a", "2026-01-01 00:00:01", "f1"), ("b", None, "f3")],
        "record_id string, _ingest_time string, _source_file string",
    ).withColumn("_ingest_time", F.to_timestamp("_ingest_time"))
    out = {r["record_id"]: r["_source_file"] for r in silver.dedup_by_record_id(df).collect()}
    assert out == {"a": "f1", "b": "f3"}


def test_pod_ip_intervals_follow_ip_reuse(spark: SparkSession, tmp_path: Path) -> None:
    s = Scenario()
    s.add_inventory(T0)
    s.write(tmp_path)
    pods, svcs = inventory(spark, tmp_path)
    reused = pods.filter(F.col("ip") == "10.0.2.11").orderBy("valid_from").collect()
    assert [r["pod"] for r in reused] == ["cart-0", "cart-1"]
    cart0 = next(p for p in default_cluster().pods if p.name == "cart-0")
    assert reused[0]["valid_to"].replace(tzinfo=None) == cart0.deleted.replace(tzinfo=None)
    assert reused[1]["valid_to"] is None
    assert reused[0]["valid_to"] <= reused[1]["valid_from"]
    node_ips = pods.filter(F.col("entity") == "node").count()
    assert node_ips == 3
    vip = svcs.filter((F.col("addr_kind") == "cluster_ip") & (F.col("ip") == "10.96.0.20")).first()
    assert (vip["service_name"], vip["port"], vip["target_port"]) == ("cart", 80, "8080")


def test_endpoint_intervals_close_when_an_endpoint_leaves(spark: SparkSession) -> None:
    from hoptrace_lakehouse import bronze, contract

    def slice_row(t: str, ips: list[str]) -> dict:
        row = {f.name: None for f in contract.spark_schema("k8s_objects").fields}
        row.update(
            kind="EndpointSlice",
            uid="s1",
            namespace="shop",
            name="cart-x",
            change_type="MODIFIED",
            service_name="cart",
            event_time=t,
            endpoints=[{"addresses": [ip], "ready": True, "target_name": ip, "target_uid": ip} for ip in ips],
            endpoint_ports=[{"name": "http", "protocol": "TCP", "port": 8080, "app_protocol": None}],
        )
        return row

    rows = [
        slice_row("2026-03-02 10:00:00", ["10.0.0.1", "10.0.0.2"]),
        slice_row("2026-03-02 10:05:00", ["10.0.0.1"]),
        slice_row("2026-03-02 10:10:00", ["10.0.0.1", "10.0.0.2"]),
    ]
    schema = bronze.bronze_schema("k8s_objects")
    df = spark.createDataFrame(
        [tuple(r.get(f.name) for f in schema.fields) for r in rows],
        "record_id string, event_time string, "
        + ", ".join(
            f"`{f.name}` {f.dataType.simpleString()}"
            for f in schema.fields
            if f.name not in ("record_id", "event_time")
        ),
    ).withColumn("event_time", F.to_timestamp("event_time"))
    eps = (
        silver.service_endpoint_intervals(df)
        .filter(F.col("ip") == "10.0.0.2")
        .orderBy("valid_from")
        .collect()
    )
    spans = [(str(r["valid_from"]), str(r["valid_to"])) for r in eps]
    assert spans == [("2026-03-02 10:00:00", "2026-03-02 10:05:00"), ("2026-03-02 10:10:00", "None")]
    # An endpoint listed by every version of the slice stays valid after its latest change.
    kept = silver.service_endpoint_intervals(df).filter(F.col("ip") == "10.0.0.1").collect()
    assert [(str(r["valid_from"]), str(r["valid_to"])) for r in kept] == [("2026-03-02 10:00:00", "None")]
