"""ALB access logs: the parser over every field and shape of line, the local file source
over gzip files, and the LB hop attached to request paths (trace id, target + client +
interval in IP and instance mode, ambiguity, requests the LB answered itself), on local
Spark + Delta."""

from __future__ import annotations

import gzip
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from helpers import at, gold_snapshot, inventory, observations
from hoptrace_lakehouse import lb_logs
from hoptrace_lakehouse.correlate import correlate
from hoptrace_lakehouse.finalize import FinalizeConfig, backfill, correlate_params
from hoptrace_lakehouse.local import run
from hoptrace_lakehouse.synth import RequestSpec, Scenario, Service, default_cluster
from hoptrace_lakehouse.tables import Tables, ensure_tables

FILE = (
    "file:/lb/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2026/03/02/"
    "123456789012_elasticloadbalancing_eu-west-1_app.shop.5f1e_20260302T1205Z_10.0.200.11_2x9q.log.gz"
)
ELB = "app/shop/5f1e0c6b1a2d3e4f"
TG = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/ingress/73e2d6bc24d8a067"


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def alb_line(
    start: datetime,
    end: datetime,
    *,
    target: str = "10.0.1.10:443",
    client: str = "203.0.113.7:51234",
    status: str = "200",
    target_status: str = "200",
    request: str = "GET https://shop.example.com:443/cart HTTP/1.1",
    trace: str = "Root=1-65e3a1b0-0123456789abcdef01234567",
    user_agent: str = "curl/8",
    actions: str = "forward",
    redirect: str = "-",
    error: str = "-",
    tail: str = "",
) -> str:
    """One line in the documented field order, around the ingress's interval."""
    t_from, t_to = start - timedelta(milliseconds=2), end + timedelta(milliseconds=2)
    rp = "-1" if target == "-" else "0.001"
    tp = "-1" if target == "-" else f"{(end - start).total_seconds():.3f}"
    return (
        f"https {iso(t_to)} {ELB} {client} {target} {rp} {tp} {rp} {status} {target_status} 310 1532 "
        f'"{request}" "{user_agent}" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
        f"{TG if target != '-' else '-'} "
        f'"{trace}" "shop.example.com" "arn:aws:acm:eu-west-1:123456789012:certificate/abcd" 3 {iso(t_from)} '
        f'"{actions}" "{redirect}" "{error}" "{target}" "{target_status}" "-" "-" TID_0a1b2c3d{tail}'
    )


def naive(t: datetime) -> datetime:
    """Spark returns UTC timestamps without a zone (the session's zone is UTC)."""
    return t.replace(tzinfo=None)


def parse(spark: SparkSession, lines: list[str], source: str = FILE) -> DataFrame:
    raw = spark.createDataFrame([(v, source) for v in lines], "value string, _source_file string")
    return lb_logs.parse_lines(raw)


def one(df: DataFrame, **where: Any) -> dict[str, Any]:
    rows = [r.asDict(recursive=True) for r in df.collect()]
    hit = [r for r in rows if all(r[k] == v for k, v in where.items())]
    assert len(hit) == 1, (where, hit)
    return hit[0]


# --- parsing --------------------------------------------------------------------------------


def test_parser_reads_every_field_and_never_keeps_a_query(spark: SparkSession) -> None:
    start = at(3)
    full = alb_line(
        start,
        start + timedelta(milliseconds=40),
        request="GET https://shop.example.com:443/cart/7?token=s3cr3t&x=1 HTTP/1.1",
        user_agent='Mozilla/5.0 (X11) \\"quoted\\"',
    )
    lb_only = alb_line(
        start,
        start,
        target="-",
        status="503",
        target_status="-",
        request="POST http://shop.example.com:80/pay?card=4111 HTTP/1.1",
        trace="Root=1-65e3a1b0-ffffffffffffffffffffffff;Self=1-65e3a1b0-aaaaaaaaaaaaaaaaaaaaaaaa",
        error="-",
    )
    redirect = alb_line(
        start,
        start,
        target="-",
        status="301",
        target_status="-",
        request="GET http://shop.example.com:80/old?q=private HTTP/1.1",
        actions="redirect",
        redirect="https://shop.example.com:443/new?q=private#frag",
    )
    newer = alb_line(start, start, tail=' "transformed.example.com" "/t?secret=1" "TransformSucceeded"')
    older = " ".join(re.findall(lb_logs._TOKEN, full)[:16])  # an older format: ends after the TLS fields
    malformed = "this is not an ALB line ?session=abc"
    df = parse(spark, [full, lb_only, redirect, newer, older, malformed, "", "   "]).cache()

    assert df.count() == 6  # blank lines give no row
    r = one(df, path="/cart/7", parse_status="ok")
    assert r["parse_status"] == "ok"
    assert (r["type"], r["elb"], r["client_ip"], r["client_port"]) == ("https", ELB, "203.0.113.7", 51234)
    assert (r["target_ip"], r["target_port"]) == ("10.0.1.10", 443)
    assert r["request_processing_time"] == pytest.approx(0.001)
    assert r["target_processing_time"] == pytest.approx(0.04)
    assert (r["elb_status_code"], r["target_status_code"], r["received_bytes"], r["sent_bytes"]) == (
        200,
        200,
        310,
        1532,
    )
    assert (r["method"], r["host"], r["protocol"]) == ("GET", "shop.example.com", "HTTP/1.1")
    assert r["user_agent"] == 'Mozilla/5.0 (X11) "quoted"'
    assert (r["ssl_cipher"], r["ssl_protocol"], r["target_group_arn"]) == (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLSv1.2",
        TG,
    )
    assert r["trace_id"] == "1-65e3a1b0-0123456789abcdef01234567"
    assert (r["domain_name"], r["chosen_cert_arn"]) == (
        "shop.example.com",
        "arn:aws:acm:eu-west-1:123456789012:certificate/abcd",
    )
    assert r["matched_rule_priority"] == 3
    assert r["event_time"] == naive(start + timedelta(milliseconds=42))
    assert r["request_creation_time"] == naive(start - timedelta(milliseconds=2))
    assert r["actions_executed"] == ["forward"]
    assert (r["redirect_path"], r["error_reason"]) == (None, None)
    assert (r["target_port_list"], r["target_status_code_list"]) == (["10.0.1.10:443"], [200])
    assert (r["classification"], r["classification_reason"], r["conn_trace_id"]) == (
        None,
        None,
        "TID_0a1b2c3d",
    )
    assert (r["lb_node_ip"], r["log_interval_end"]) == ("10.0.200.11", datetime(2026, 3, 2, 12, 5))
    assert r["extra_fields"] is None and r["raw_line"] is None

    o = one(df, method="POST")
    assert (o["target_ip"], o["target_port"], o["target_status_code"]) == (None, None, None)
    assert (o["elb_status_code"], o["request_processing_time"], o["path"]) == (503, -1.0, "/pay")
    assert o["trace_id"] == "1-65e3a1b0-ffffffffffffffffffffffff"  # the Root, not Self
    assert (o["target_group_arn"], o["target_port_list"], o["target_status_code_list"]) == (None, None, None)

    d = one(df, elb_status_code=301)
    assert (d["path"], d["redirect_path"], d["actions_executed"]) == ("/old", "/new", ["redirect"])

    assert one(df, parse_status="extra_fields")["extra_fields"] == [
        "transformed.example.com",
        "/t",
        "TransformSucceeded",
    ]
    short = one(df, parse_status="missing_fields")
    assert (short["ssl_protocol"], short["trace_id"], short["conn_trace_id"]) == ("TLSv1.2", None, None)
    bad = one(df, parse_status="malformed")
    assert bad["event_time"] is None and bad["raw_line"] == "this is not an ALB line "

    statuses = {r["parse_status"]: r["count"] for r in df.groupBy("parse_status").count().collect()}
    assert statuses == {"ok": 3, "extra_fields": 1, "missing_fields": 1, "malformed": 1}
    for row in df.collect():
        for k, v in row.asDict().items():
            assert "?" not in str(v), (k, v)


def test_local_source_reads_gzip_files_once(spark: SparkSession, tmp_path: Path) -> None:
    key = tmp_path / "alb" / "AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2026/03/02"
    key.mkdir(parents=True)
    name = "123456789012_elasticloadbalancing_eu-west-1_app.shop.5f1e_20260302T1205Z_10.0.200.12_k3j.log.gz"
    lines = [alb_line(at(1), at(1.01)), alb_line(at(2), at(2.01), client="198.51.100.9:40000")]
    with gzip.open(key / name, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    tables = Tables.local(tmp_path / "wh")
    ensure_tables(spark, tables, only=[lb_logs.TABLE])
    for _ in range(2):  # a second run finds nothing new
        lb_logs.start_lb_stream(
            spark, tables, str(tmp_path / "alb"), str(tmp_path / "ck"), platform="local"
        ).awaitTermination()
    rows = tables.read(spark, lb_logs.TABLE).collect()
    assert len(rows) == 2
    assert {r["client_ip"] for r in rows} == {"203.0.113.7", "198.51.100.9"}
    assert {(r["lb_node_ip"], r["parse_status"]) for r in rows} == {("10.0.200.12", "ok")}
    assert lb_logs.landed_through(tables.read(spark, lb_logs.TABLE), at(10)) == datetime(2026, 3, 2, 12, 5)


# --- the LB hop -----------------------------------------------------------------------------


def _paths(spark: SparkSession, s: Scenario, tmp_path: Path, lines: list[str]) -> tuple[DataFrame, DataFrame]:
    landing = tmp_path / "landing"
    s.write(landing)
    obs = observations(spark, landing)
    pods, svcs = inventory(spark, landing)
    params = correlate_params(at(0), at(10), FinalizeConfig(), is_final=True)
    paths = correlate(obs, pods, svcs, params).paths
    res = lb_logs.attach_lb_hops(paths, obs, parse(spark, lines), pods, svcs, params)
    return res.paths.cache(), res.issues.cache()


def _ingress_row(s: Scenario, record_id: str) -> dict[str, Any]:
    for (table, _node), rows in s.landing.rows.items():
        for r in rows:
            if table == "http_requests" and r["record_id"] == record_id:
                return r
    raise KeyError(record_id)


def _lb_hop(path: dict[str, Any]) -> dict[str, Any] | None:
    hops = [h for h in path["hops"] if h["evidence"] == "lb_log"]
    assert len(hops) <= 1
    return hops[0] if hops else None


def test_trace_id_decides_over_the_window(spark: SparkSession, tmp_path: Path) -> None:
    s = Scenario()
    s.add_inventory(at(0))
    t = s.request(RequestSpec(at(1), "cart", ["cart-1"], path="/cart"))
    _ingress_row(s, t.root_record_id)["amzn_trace_id"] = "1-65e3a1b0-0123456789abcdef01234567"
    end = at(1) + timedelta(milliseconds=20)
    # Two LB records fit the interval; only one carries the ingress's trace id.
    lines = [
        alb_line(at(1), end, client="198.51.100.1:1111", trace="Root=1-65e3a1b0-0123456789abcdef01234567"),
        alb_line(at(1), end, client="198.51.100.2:2222", trace="Root=1-65e3a1b0-99999999999999999999999a"),
    ]
    paths, issues = _paths(spark, s, tmp_path, lines)
    p = one(paths, path_id=t.root_record_id)
    hop = _lb_hop(p)
    assert hop is not None and hop["seq"] == 1 and hop["kind"] == "client_to_ingress"
    assert (hop["from_addr"], hop["to_addr"], hop["service"]) == ("198.51.100.1:1111", "10.0.1.10:443", ELB)
    assert (hop["network_evidence"], hop["confidence"], hop["routing"]) == ("amzn_trace_id", 1.0, "ip_target")
    assert (hop["pod"], hop["status"], hop["latency_us"]) == ("ingress-nginx-controller-7d9f", 200, 24_000)
    assert [h["seq"] for h in p["hops"]] == list(range(1, len(p["hops"]) + 1))
    assert sum(h["kind"] == "client_to_ingress" for h in p["hops"]) == 1
    assert p["completeness"] == "complete" and p["client_ip"] == "198.51.100.1"
    assert issues.filter("segment = 'lb'").count() == 0


def test_target_client_and_interval_in_ip_mode(spark: SparkSession, tmp_path: Path) -> None:
    s = Scenario()
    s.add_inventory(at(0))
    a = s.request(RequestSpec(at(1), "cart", ["cart-1"], path="/cart"))
    b = s.request(RequestSpec(at(2), "cart", ["cart-1"], path="/cart"))
    c = s.request(RequestSpec(at(3), "cart", ["cart-1"], path="/cart"))
    d = s.request(RequestSpec(at(4), "cart", ["cart-1"], path="/cart"))
    e = s.request(RequestSpec(at(5), "cart", ["cart-1"], path="/cart", user_agent="okhttp/4.12"))
    lines = [
        # e's LB record carries another client's User-Agent: another request.
        alb_line(at(5), at(5) + timedelta(milliseconds=20), trace="-"),
        # d's LB record saw its target answer 503, the ingress logged 200: another request.
        alb_line(at(4), at(4) + timedelta(milliseconds=20), status="503", target_status="503", trace="-"),
        alb_line(at(1), at(1) + timedelta(milliseconds=20), trace="-"),
        # b's LB record names another client than the ingress's X-Forwarded-For: no match.
        alb_line(at(2), at(2) + timedelta(milliseconds=20), client="198.51.100.4:4000", trace="-"),
        # c's LB record targets another address: not this ingress.
        alb_line(at(3), at(3) + timedelta(milliseconds=20), target="10.0.9.9:443", trace="-"),
    ]
    paths, issues = _paths(spark, s, tmp_path, lines)
    hop = _lb_hop(one(paths, path_id=a.root_record_id))
    assert hop is not None
    assert (hop["network_evidence"], hop["confidence"], hop["from_addr"]) == (
        "target_client_window",
        0.6,
        "203.0.113.7:51234",
    )
    pb = one(paths, path_id=b.root_record_id)
    assert _lb_hop(pb) is None
    assert pb["completeness"] == "partial" and "lb" in pb["missing_segments"]
    assert "missing_segment" in pb["issue_reasons"]
    assert issues.filter(f"path_id = '{b.root_record_id}' AND segment = 'lb'").count() == 1
    # The ingress log's own hop stays where no LB record matched.
    assert [h["evidence"] for h in pb["hops"] if h["kind"] == "client_to_ingress"] == ["ingress_log"]
    assert _lb_hop(one(paths, path_id=c.root_record_id)) is None
    assert _lb_hop(one(paths, path_id=d.root_record_id)) is None
    assert _lb_hop(one(paths, path_id=e.root_record_id)) is None


def test_instance_mode_via_node_port(spark: SparkSession, tmp_path: Path) -> None:
    cluster = default_cluster()
    ing = cluster.ingress
    cluster.services.append(
        Service(
            ing.namespace, "ingress-nginx-controller", "10.96.0.2", (ing.name,), 443, 443, node_port=30443
        )
    )
    s = Scenario(cluster)
    s.add_inventory(at(0))
    t = s.request(RequestSpec(at(1), "cart", ["cart-1"], path="/cart"))
    # node-a's InternalIP and the Service's NodePort, as an instance-mode target group logs it.
    lines = [alb_line(at(1), at(1) + timedelta(milliseconds=20), target="192.168.0.1:30443", trace="-")]
    paths, _ = _paths(spark, s, tmp_path, lines)
    hop = _lb_hop(one(paths, path_id=t.root_record_id))
    assert hop is not None
    assert (hop["routing"], hop["to_addr"], hop["pod"]) == ("instance_target", "192.168.0.1:30443", ing.name)


def test_two_fitting_requests_stay_ambiguous(spark: SparkSession, tmp_path: Path) -> None:
    s = Scenario()
    s.add_inventory(at(0))
    a = s.request(RequestSpec(at(1), "cart", ["cart-1"], path="/cart", duration_ms=10))
    b = s.request(
        RequestSpec(at(1) + timedelta(milliseconds=5), "cart", ["cart-2"], path="/cart", duration_ms=10)
    )
    lines = [alb_line(at(1), at(1) + timedelta(milliseconds=30), trace="-")]
    paths, issues = _paths(spark, s, tmp_path, lines)
    for t in (a, b):
        p = one(paths, path_id=t.root_record_id)
        assert _lb_hop(p) is None
        assert p["completeness"] == "ambiguous" and "ambiguous_candidates" in p["issue_reasons"]
        i = one(issues, path_id=t.root_record_id, segment="lb")
        assert i["reason"] == "ambiguous_candidates" and '"lb_candidates":[' in i["evidence"]


def test_requests_the_lb_answered_end_at_the_lb(spark: SparkSession, tmp_path: Path) -> None:
    s = Scenario()
    s.add_inventory(at(0))
    s.request(RequestSpec(at(1), "cart", ["cart-1"], path="/cart"))
    answers = {
        "460": "-",
        "502": "TargetConnectionErrorCode",
        "503": "-",
        "504": "TargetResponseTimeout",
        "301": "-",
    }
    lines = [
        alb_line(
            at(2 + i),
            at(2 + i),
            target="-",
            status=code,
            target_status="-",
            error=err,
            actions="redirect" if code == "301" else "forward",
            redirect="https://shop.example.com/new" if code == "301" else "-",
            trace=f"Root=1-65e3a1b0-00000000000000000000000{i}",
        )
        for i, (code, err) in enumerate(answers.items())
    ]
    paths, issues = _paths(spark, s, tmp_path, lines)
    ends = paths.filter("ingress_pod IS NULL").cache()
    assert ends.count() == 5
    for code in ("460", "502", "503", "504"):
        p = one(ends, status=int(code))
        assert (p["completeness"], p["issue_reasons"], p["hop_count"]) == ("failed", ["lb_only"], 1)
        hop = p["hops"][0]
        assert (hop["evidence"], hop["to_addr"], hop["pod"], hop["service"]) == ("lb_log", None, None, ELB)
        i = one(issues, path_id=p["path_id"])
        assert (i["reason"], i["segment"]) == ("lb_only", "lb")
        assert f'"elb_status_code":{code}' in i["evidence"]
    assert (
        '"error_reason":"TargetResponseTimeout"'
        in one(issues, path_id=one(ends, status=504)["path_id"])["evidence"]
    )
    r = one(ends, status=301)
    assert (r["completeness"], r["issue_reasons"], r["hops"][0]["routing"]) == ("complete", [], "redirect")
    assert r["window_start"] <= r["end_time"] < r["window_start"] + timedelta(minutes=5)


def test_finalize_with_lb_logs_is_idempotent(spark: SparkSession, tmp_path: Path) -> None:
    s = Scenario()
    s.add_inventory(at(0))
    lines = []
    for i in range(6):
        start = at(1 + i * 1.5)
        t = s.request(RequestSpec(start, "cart", ["cart-1" if i % 2 else "cart-2"], path=f"/cart/{i}"))
        assert t.root_record_id
        lines.append(
            alb_line(
                start,
                start + timedelta(milliseconds=20),
                request=f"GET https://shop.example.com:443/cart/{i}?a=1 HTTP/1.1",
                trace="-",
            )
        )
    lines.append(alb_line(at(4), at(4), target="-", status="503", target_status="-", trace="-"))
    landing, lb_dir, wh = tmp_path / "landing", tmp_path / "alb", tmp_path / "wh"
    s.write(landing, heartbeat_until=at(12))
    lb_dir.mkdir()
    with gzip.open(
        lb_dir
        / "123456789012_elasticloadbalancing_eu-west-1_app.shop.5f1e_20260302T1215Z_10.0.200.11_a.log.gz",
        "wt",
    ) as fh:
        fh.write("\n".join(lines) + "\n")
    summary = run(spark, str(landing), str(wh), as_of=at(40), lb_logs=str(lb_dir), provisional=False)
    assert summary["lb_access_logs"] == {"ok": 7}
    tables = Tables.local(wh)
    first = gold_snapshot(spark, tables)
    paths = tables.read(spark, "gold.request_paths").collect()
    with_lb = [p for p in paths if any(h["evidence"] == "lb_log" for h in p["hops"])]
    assert len(with_lb) == 7  # six ingress paths and the one the LB answered itself
    assert summary["issues"].get("lb_only") == 1
    backfill(spark, tables, at(0), at(15), FinalizeConfig(), as_of=at(40))
    assert gold_snapshot(spark, tables) == first
