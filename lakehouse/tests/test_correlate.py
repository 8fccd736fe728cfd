"""The correlation core on crafted cases: every evidence kind, every completeness, every
per-request reason code; and its result does not depend on how windows are batched."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from helpers import inventory, observations, snapshot
from hoptrace_lakehouse import dq
from hoptrace_lakehouse.correlate import GAPS_SCHEMA, CorrelateParams, correlate
from hoptrace_lakehouse.synth import T0, Faults, RequestSpec, Scenario, standard_traffic


def _at(seconds: float) -> Any:
    return T0 + timedelta(seconds=seconds)


CASES: list[tuple[str, RequestSpec]] = [
    ("rid", RequestSpec(_at(10), "cart", ["cart-1"], ids="request_id", path="/rid")),
    ("trace", RequestSpec(_at(20), "catalog", ["catalog-1"], ids="trace", path="/trace")),
    ("dnat", RequestSpec(_at(30), "cart", ["cart-2"], via="cluster_ip", path="/dnat")),
    ("retry", RequestSpec(_at(40), "cart", ["cart-2", "cart-1"], path="/retry")),
    ("uninstrumented", RequestSpec(_at(50), "search", ["search-1"], ids="none", path="/search")),
    ("no_server", RequestSpec(_at(60), "cart", ["cart-1"], server_side=False, path="/no-server")),
    ("no_flows", RequestSpec(_at(70), "cart", ["cart-2"], flows=False, path="/no-flows")),
    (
        "unattributed",
        RequestSpec(
            _at(80),
            "cart",
            ["cart-1"],
            addresses=[("10.9.9.9", 8080)],
            flows=False,
            server_side=False,
            path="/unattributed",
        ),
    ),
    ("dup_a", RequestSpec(_at(90), "cart", ["cart-1"], request_id="f" * 32, path="/dup")),
    ("dup_b", RequestSpec(_at(95), "cart", ["cart-2"], request_id="f" * 32, path="/dup")),
    ("vip_a", RequestSpec(_at(150), "cart", ["cart-1"], via="cluster_ip", path="/vip")),
    ("vip_b", RequestSpec(_at(150.002), "cart", ["cart-2"], via="cluster_ip", path="/vip")),
    ("vip_none", RequestSpec(_at(150.004), "cart", ["cart-1"], via="cluster_ip", ids="none", path="/vip")),
    ("amb_a", RequestSpec(_at(120), "cart", ["cart-1"], ids="none", path="/amb", duration_ms=30)),
    ("amb_b", RequestSpec(_at(120.005), "cart", ["cart-1"], ids="none", path="/amb", duration_ms=30)),
]


@pytest.fixture(scope="module")
def crafted(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    s = Scenario()
    s.add_inventory(T0)
    ids = {}
    for name, spec in CASES:
        spec.name = name
        ids[name] = s.request(spec).root_record_id
    landing = tmp_path_factory.mktemp("crafted")
    s.write(landing)
    obs = observations(spark, landing).localCheckpoint()
    pods, svcs = inventory(spark, landing)
    result = correlate(
        obs, pods.localCheckpoint(), svcs.localCheckpoint(), CorrelateParams(T0, T0 + timedelta(minutes=5))
    )
    paths = {r["path_id"]: r for r in result.paths.collect()}
    issues = result.issues.collect()
    by_name = {name: paths[rid] for name, rid in ids.items()}
    issues_by = {
        name: sorted((i["reason"], i["segment"]) for i in issues if i["path_id"] == rid)
        for name, rid in ids.items()
    }
    return {"paths": by_name, "issues": issues_by, "raw_issues": issues, "ids": ids}


def test_exact_ids_resolve_as_of_event_time(crafted: dict[str, Any]) -> None:
    p = crafted["paths"]["rid"]
    assert p["completeness"] == "complete" and p["missing_segments"] == []
    # 10.0.2.11 belonged to cart-0 until 11:30; at 12:00 it is cart-1's.
    assert (p["target_pod"], p["target_node"], p["target_container"]) == ("cart-1", "node-b", "app")
    assert (p["service_namespace"], p["service_name"], p["service_evidence"]) == (
        "shop",
        "cart",
        "ingress_log",
    )
    assert p["routing"] == "endpoints_by_ingress"
    kinds = [h["kind"] for h in p["hops"]]
    assert kinds == ["client_to_ingress", "ingress", "upstream_attempt"]
    attempt = p["hops"][2]
    assert (attempt["evidence"], attempt["network_evidence"], attempt["confidence"]) == (
        "request_id",
        "endpoint_window",
        1.0,
    )
    assert p["is_final"] is True and crafted["issues"]["rid"] == []


def test_trace_context_links_the_server_span(crafted: dict[str, Any]) -> None:
    p = crafted["paths"]["trace"]
    assert p["completeness"] == "complete" and p["target_pod"] == "catalog-1"
    assert p["hops"][-1]["evidence"] == "trace_context"


def test_service_vip_translated_by_the_datapath(crafted: dict[str, Any]) -> None:
    p = crafted["paths"]["dnat"]
    assert p["completeness"] == "complete"
    assert (p["routing"], p["target_pod"], p["target_ip"]) == ("ebpf_socket_lb", "cart-2", "10.0.3.12")


def test_retries_keep_every_attempt_and_the_last_answers(crafted: dict[str, Any]) -> None:
    p = crafted["paths"]["retry"]
    assert (p["attempts"], p["retries"], p["target_pod"], p["completeness"]) == (2, 1, "cart-1", "complete")
    attempts = [h for h in p["hops"] if h["kind"] == "upstream_attempt"]
    assert [(h["pod"], h["status"]) for h in attempts] == [("cart-2", 503), ("cart-1", 200)]


def test_uninstrumented_target_needs_no_server_side(crafted: dict[str, Any]) -> None:
    p = crafted["paths"]["uninstrumented"]
    assert p["completeness"] == "complete" and p["target_pod"] == "search-1"


def test_missing_segments_are_named(crafted: dict[str, Any]) -> None:
    assert crafted["paths"]["no_server"]["completeness"] == "partial"
    assert crafted["paths"]["no_server"]["missing_segments"] == ["server"]
    assert crafted["issues"]["no_server"] == [("missing_segment", "server")]
    assert crafted["paths"]["no_flows"]["missing_segments"] == ["network"]
    assert crafted["issues"]["no_flows"] == [("missing_segment", "network")]


def test_unattributed_address_fails_without_guessing(crafted: dict[str, Any]) -> None:
    p = crafted["paths"]["unattributed"]
    assert p["completeness"] == "failed" and p["target_pod"] is None
    assert ("unattributed_ip", "target") in crafted["issues"]["unattributed"]


def test_duplicate_request_ids_are_no_evidence(crafted: dict[str, Any]) -> None:
    for name, pod in (("dup_a", "cart-1"), ("dup_b", "cart-2")):
        p = crafted["paths"][name]
        assert ("duplicate_request_id", None) in crafted["issues"][name]
        # Matched on the weaker connection evidence instead (the one connection open to the
        # pod then, whose client port the server logged), to the right pod.
        assert p["target_pod"] == pod
        assert p["hops"][-1]["evidence"] == "connection_tuple" and p["hops"][-1]["confidence"] == 0.9


def test_several_candidates_make_the_path_ambiguous(crafted: dict[str, Any]) -> None:
    for name in ("amb_a", "amb_b"):
        p = crafted["paths"][name]
        assert p["completeness"] == "ambiguous"
        assert p["target_pod"] is None and p["target_node"] is None
        assert ("ambiguous_candidates", "server") in crafted["issues"][name]
    ev = [json.loads(i["evidence"]) for i in crafted["raw_issues"] if i["path_id"] == crafted["ids"]["amb_a"]]
    assert len(ev[0]["server_candidates"]) == 2


def test_concurrent_vip_requests_need_exact_evidence(crafted: dict[str, Any]) -> None:
    # Three requests to one ClusterIP at once: the translated flows offer both pods to each.
    for name, pod in (("vip_a", "cart-1"), ("vip_b", "cart-2")):
        p = crafted["paths"][name]
        assert (p["completeness"], p["target_pod"]) == ("complete", pod)
    p = crafted["paths"]["vip_none"]
    assert p["completeness"] == "ambiguous" and p["target_pod"] is None
    assert ("ambiguous_candidates", "target") in crafted["issues"]["vip_none"]


def test_issue_ids_are_deterministic(crafted: dict[str, Any]) -> None:
    ids = [i["issue_id"] for i in crafted["raw_issues"]]
    assert len(ids) == len(set(ids))


def test_clock_skew_is_measured_and_window_matching_corrects_for_it(
    spark: SparkSession, tmp_path: Path
) -> None:
    skew = 2_000_000
    s = Scenario(faults=Faults(skew_us={"node-c": skew}))
    s.add_inventory(T0)
    exact = [s.request(RequestSpec(_at(10 + k), "cart", ["cart-2"], path="/x")) for k in range(5)]
    inferred = s.request(RequestSpec(_at(30), "cart", ["cart-2"], ids="none", path="/y"))
    s.request(RequestSpec(_at(35), "cart", ["cart-1"], path="/z"))  # cart-1 logs its server side
    lost = s.request(RequestSpec(_at(40), "cart", ["cart-1"], server_side=False, path="/z"))
    s.write(tmp_path)
    obs = observations(spark, tmp_path)
    pods, svcs = inventory(spark, tmp_path)
    gaps = spark.createDataFrame([("node-b", "http_requests", _at(0), _at(120))], GAPS_SCHEMA)
    r = correlate(obs, pods, svcs, CorrelateParams(T0, T0 + timedelta(minutes=5)), gaps=gaps)
    offsets = r.offsets.filter(
        (F.col("client_node") == "node-a") & (F.col("server_node") == "node-c")
    ).first()
    assert offsets is not None and abs(offsets["offset_p50_us"] - skew) < 1_000
    paths = {p["path_id"]: p for p in r.paths.collect()}
    issues = r.issues.collect()
    for t in exact:
        assert paths[t.root_record_id]["completeness"] == "complete"
        assert any(i["path_id"] == t.root_record_id and i["reason"] == "clock_skew" for i in issues)
    # 2 s of skew is beyond the 1 s match tolerance; the measured offset brings it back.
    assert paths[inferred.root_record_id]["target_pod"] == "cart-2"
    assert paths[inferred.root_record_id]["hops"][-1]["evidence"] == "connection_tuple"
    # The server record is missing while node-b's files have a hole: an agent gap, not a path gap.
    lost_issues = [(i["reason"], i["segment"]) for i in issues if i["path_id"] == lost.root_record_id]
    assert lost_issues == [("agent_gap", "server")]


def test_a_window_is_the_same_alone_or_batched_with_the_next(spark: SparkSession, tmp_path: Path) -> None:
    s = Scenario()
    s.add_inventory(T0)
    standard_traffic(s, start=T0 + timedelta(minutes=3), minutes=4, per_minute=6)
    s.request(RequestSpec(_at(299.99), "cart", ["cart-1"], duration_ms=50, path="/edge"))
    s.request(RequestSpec(_at(300.5), "cart", ["cart-1"], request_id="e" * 32, path="/edge2"))
    s.request(RequestSpec(_at(298), "cart", ["cart-2"], request_id="e" * 32, path="/edge3"))
    s.write(tmp_path)
    obs = observations(spark, tmp_path).localCheckpoint()
    pods, svcs = inventory(spark, tmp_path)
    pods, svcs = pods.localCheckpoint(), svcs.localCheckpoint()
    both = correlate(obs, pods, svcs, CorrelateParams(T0, T0 + timedelta(minutes=10)))
    first = correlate(obs, pods, svcs, CorrelateParams(T0, T0 + timedelta(minutes=5)))
    # The first window's rows do not change when the next window is correlated with it.
    in_first = F.col("window_start") == F.lit(T0)
    assert snapshot(both.paths.filter(in_first)) == snapshot(first.paths)
    assert snapshot(both.issues.filter(in_first)) == snapshot(first.issues)
    assert snapshot(both.offsets.filter(in_first)) == snapshot(first.offsets)
    windows = {r["window_start"].minute for r in both.paths.select("window_start").distinct().collect()}
    assert windows == {0, 5}


@pytest.fixture(scope="module")
def kept_alive(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """ingress-nginx over kept-alive upstream connections: the flows show each connection's
    SYN and FIN only, the log names no local port, and node-c's clock is 2 s ahead."""
    s = Scenario(faults=Faults(skew_us={"node-c": 2_000_000}))
    s.add_inventory(T0)
    nginx: dict[str, Any] = {"nginx_log": True, "ids": "none"}
    s.open_connection("pod", "cart-2", "cart", _at(5))
    s.open_connection("dnat", "search-1", "search", _at(5), via="cluster_ip")
    s.open_connection("vip-1", "cart-1", "cart", _at(100), via="cluster_ip")
    s.open_connection("vip-2", "cart-2", "cart", _at(100), via="cluster_ip")
    specs = {
        # cart-2's sidecar logs the connection's client port: the one open connection names it.
        "pod": RequestSpec(_at(10), "cart", ["cart-2"], connection="pod", path="/p", **nginx),
        "pod_later": RequestSpec(_at(30), "cart", ["cart-2"], connection="pod", path="/p", **nginx),
        # search-1 logs nothing: the DNAT, rebuilt from both nodes' records, is the evidence.
        "dnat": RequestSpec(
            _at(20), "search", ["search-1"], via="cluster_ip", connection="dnat", path="/s", **nginx
        ),
        # Two connections to the ClusterIP, to different pods, both open.
        "vip_open": RequestSpec(
            _at(110), "cart", ["cart-1"], via="cluster_ip", connection="vip-1", server_side=False, **nginx
        ),
        "vip_settled": RequestSpec(
            _at(115), "cart", ["cart-2"], via="cluster_ip", connection="vip-2", nginx_log=True, path="/v"
        ),
        # After the connection closed, nothing in the flows covers this request.
        "after_close": RequestSpec(_at(70), "cart", ["cart-2"], flows=False, path="/late", **nginx),
    }
    ids = {}
    for name, spec in specs.items():
        if name == "after_close":
            s.close_connection("pod", _at(60))
        ids[name] = s.request(spec).root_record_id
    landing = tmp_path_factory.mktemp("kept_alive")
    s.write(landing)
    obs = observations(spark, landing).localCheckpoint()
    pods, svcs = inventory(spark, landing)
    r = correlate(obs, pods, svcs, CorrelateParams(T0, T0 + timedelta(minutes=5)))
    paths = {p["path_id"]: p for p in r.paths.collect()}
    issues = r.issues.collect()
    return {
        "paths": {n: paths[i] for n, i in ids.items()},
        "issues": {
            n: [(x["reason"], x["segment"], x["evidence"]) for x in issues if x["path_id"] == i]
            for n, i in ids.items()
        },
        "offsets": r.offsets,
    }


def test_a_kept_alive_connection_is_evidence_for_every_request_on_it(kept_alive: dict[str, Any]) -> None:
    for name in ("pod", "pod_later"):
        p = kept_alive["paths"][name]
        assert (p["completeness"], p["target_pod"], p["routing"]) == (
            "complete",
            "cart-2",
            "endpoints_by_ingress",
        )
        # Named by ingress-nginx's upstream name only.
        assert (p["service_name"], p["service_evidence"]) == ("cart", "ingress_log")
        attempt = p["hops"][-1]
        assert (attempt["evidence"], attempt["network_evidence"]) == ("connection_tuple", "endpoint_window")
    p = kept_alive["paths"]["after_close"]
    assert p["completeness"] == "partial" and "network" in p["missing_segments"]


def test_kube_proxy_dnat_is_rebuilt_from_both_ends_of_the_connection(kept_alive: dict[str, Any]) -> None:
    p = kept_alive["paths"]["dnat"]
    assert (p["completeness"], p["routing"], p["target_pod"], p["target_ip"], p["target_port"]) == (
        "complete",
        "kube_proxy_dnat",
        "search-1",
        "10.0.3.31",
        8080,
    )
    assert p["hops"][-1]["to_addr"] == "10.96.0.40:80" and p["hops"][-1]["evidence"] == "flow_translation"


def test_open_connections_to_several_pods_leave_the_target_open(kept_alive: dict[str, Any]) -> None:
    p = kept_alive["paths"]["vip_open"]
    assert p["completeness"] == "ambiguous" and p["target_pod"] is None
    [(_, segment, evidence)] = [i for i in kept_alive["issues"]["vip_open"] if i[0] == "ambiguous_candidates"]
    assert segment == "target"
    assert json.loads(evidence)["target_candidates"] == ["10.0.2.11:8080", "10.0.3.12:8080"]
    # The request id in cart-2's sidecar settles which connection carried it.
    p = kept_alive["paths"]["vip_settled"]
    assert (p["completeness"], p["target_pod"], p["routing"]) == ("complete", "cart-2", "kube_proxy_dnat")


def test_clock_offsets_come_from_packets_seen_on_both_nodes(
    spark: SparkSession, kept_alive: dict[str, Any]
) -> None:
    offsets = {(r["client_node"], r["server_node"]): r for r in kept_alive["offsets"].collect()}
    # Every connection's SYN and FIN, as node-a and node-c stamped them.
    skewed = offsets[("node-a", "node-c")]
    assert skewed["offset_p50_us"] == 2_000_000 and skewed["samples"] >= 4
    assert offsets[("node-a", "node-b")]["offset_p50_us"] == 0
    checks = dq.check_clock_skew(kept_alive["offsets"], T0, T0 + timedelta(minutes=5), dq.DQConfig())
    status = {r["scope"]: r["status"] for r in checks.collect()}
    assert status == {"node-a->node-b": "pass", "node-a->node-c": "fail"}
