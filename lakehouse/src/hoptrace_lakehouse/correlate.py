"""The correlation core: observations -> request paths, correlation issues, clock offsets.

One pure, deterministic function used by every tier (provisional stream, finalizer,
backfill, tests). Its rule is the product's: misattribution is worse than none, so when
the evidence admits several answers the path is ``ambiguous`` and an issue names the
candidates; nothing is ever picked at random.

Evidence for the hop ingress -> target, strongest first:
  1. shared ids: x-request-id, trace context (the server's parent span is the ingress's span);
  2. the exact connection tuple (the proxy's upstream local address = the server's peer);
  3. endpoint and time window: the target pod, same method and path, inside the request's
     interval corrected by the measured clock offset of the node pair.
Addresses resolve against the inventory as of the request's time (pod IPs are reused).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from . import CORRELATOR_VERSION
from .silver import conform

REASONS: tuple[str, ...] = (
    "missing_segment",
    "unattributed_ip",
    "ambiguous_candidates",
    "duplicate_request_id",
    "duplicate_trace_id",
    "clock_skew",
    "agent_gap",
    "too_late",
)
COMPLETENESS: tuple[str, ...] = ("complete", "partial", "ambiguous", "failed")
SEGMENTS: tuple[str, ...] = ("service", "target", "network", "server")

CONFIDENCE = {"request_id": 1.0, "trace_context": 1.0, "connection_tuple": 0.9, "endpoint_window": 0.6}

HOP = StructType(
    [
        StructField("seq", IntegerType()),
        StructField("kind", StringType()),  # client_to_ingress | ingress | upstream_attempt | downstream
        StructField("attempt", IntegerType()),
        StructField("from_addr", StringType()),
        StructField("to_addr", StringType()),
        StructField("service", StringType()),
        StructField("routing", StringType()),
        StructField("namespace", StringType()),
        StructField("pod", StringType()),
        StructField("container", StringType()),
        StructField("node", StringType()),
        StructField("evidence", StringType()),
        StructField("network_evidence", StringType()),
        StructField("confidence", DoubleType()),
        StructField("start_time", TimestampType()),
        StructField("end_time", TimestampType()),
        StructField("latency_us", LongType()),
        StructField("status", IntegerType()),
        StructField("record_ids", ArrayType(StringType())),
    ]
)

PATHS_SCHEMA = StructType(
    [
        StructField("path_id", StringType()),
        StructField("window_start", TimestampType()),
        StructField("event_date", DateType()),
        StructField("request_id", StringType()),
        StructField("trace_id", StringType()),
        StructField("start_time", TimestampType()),
        StructField("end_time", TimestampType()),
        StructField("duration_us", LongType()),
        StructField("method", StringType()),
        StructField("authority", StringType()),
        StructField("path", StringType()),
        StructField("status", IntegerType()),
        StructField("grpc_status", IntegerType()),
        StructField("client_ip", StringType()),
        StructField("lb_ip", StringType()),
        StructField("ingress_namespace", StringType()),
        StructField("ingress_pod", StringType()),
        StructField("ingress_node", StringType()),
        StructField("ingress_proxy", StringType()),
        StructField("service_namespace", StringType()),
        StructField("service_name", StringType()),
        StructField("service_evidence", StringType()),
        StructField("routing", StringType()),
        StructField("target_ip", StringType()),
        StructField("target_port", IntegerType()),
        StructField("target_namespace", StringType()),
        StructField("target_pod", StringType()),
        StructField("target_container", StringType()),
        StructField("target_node", StringType()),
        StructField("target_workload", StringType()),
        StructField("attempts", IntegerType()),
        StructField("retries", IntegerType()),
        StructField("hops", ArrayType(HOP)),
        StructField("hop_count", IntegerType()),
        StructField("completeness", StringType()),
        StructField("missing_segments", ArrayType(StringType())),
        StructField("issue_reasons", ArrayType(StringType())),
        StructField("confidence", DoubleType()),
        StructField("clock_offset_us", LongType()),
        StructField("is_final", BooleanType()),
        StructField("correlator_version", StringType()),
    ]
)

ISSUES_SCHEMA = StructType(
    [
        StructField("issue_id", StringType()),
        StructField("window_start", TimestampType()),
        StructField("event_date", DateType()),
        StructField("event_time", TimestampType()),
        StructField("reason", StringType()),
        StructField("segment", StringType()),
        StructField("path_id", StringType()),
        StructField("request_id", StringType()),
        StructField("trace_id", StringType()),
        StructField("node", StringType()),
        StructField("evidence", StringType()),
        StructField("is_final", BooleanType()),
        StructField("correlator_version", StringType()),
    ]
)

OFFSETS_SCHEMA = StructType(
    [
        StructField("window_start", TimestampType()),
        StructField("client_node", StringType()),
        StructField("server_node", StringType()),
        StructField("samples", LongType()),
        StructField("offset_p50_us", LongType()),
        StructField("offset_min_us", LongType()),
        StructField("offset_max_us", LongType()),
    ]
)

GAPS_SCHEMA = StructType(
    [
        StructField("node", StringType()),
        StructField("table", StringType()),
        StructField("gap_from", TimestampType()),
        StructField("gap_to", TimestampType()),
    ]
)


@dataclass(frozen=True)
class CorrelateParams:
    window_start: datetime
    window_end: datetime
    # How far apart two clocks may be before time-window evidence stops being trusted.
    match_tolerance_us: int = 1_000_000
    # A server interval outside its caller's interval by more than this is clock skew.
    skew_tolerance_us: int = 100_000
    bucket_seconds: int = 2
    # Paths belong to the window holding their end; evidence is looked for at most this
    # far from a request, so a window's result never depends on how windows are batched.
    window_minutes: int = 5
    pad_minutes: int = 5
    is_final: bool = True
    correlator_version: str = CORRELATOR_VERSION
    # How far apart the two nodes' records of one connection (the client's and the
    # server's) may be: the largest clock skew the correlator pairs across.
    pair_tolerance_us: int = 10_000_000


@dataclass(frozen=True)
class Correlation:
    paths: DataFrame
    issues: DataFrame
    offsets: DataFrame


def _us(c: Column) -> Column:
    return F.unix_micros(c)


def _ts(us: Column) -> Column:
    return F.timestamp_micros(us.cast("long"))


def _pod_key(ns: Column, pod: Column) -> Column:
    return F.when(pod.isNotNull(), F.concat_ws("/", F.coalesce(ns, F.lit("")), pod))


def _as_of(
    df: DataFrame, intervals: DataFrame, ip: str, at: str, prefix: str, port: str | None = None
) -> DataFrame:
    """Left-join ``intervals`` valid at ``df[at]`` for address ``df[ip]`` (and port)."""
    iv = intervals.select(*[F.col(c).alias(f"{prefix}{c}") for c in intervals.columns])
    cond = (
        (F.col(ip) == F.col(f"{prefix}ip"))
        & (F.col(f"{prefix}valid_from") <= F.col(at))
        & (F.col(f"{prefix}valid_to").isNull() | (F.col(at) < F.col(f"{prefix}valid_to")))
    )
    if port is not None:
        cond = cond & (F.col(port) == F.col(f"{prefix}port"))
    return df.join(iv, cond, "left")


def _range_join(
    left: DataFrame,
    right: DataFrame,
    keys: list[tuple[str, str]],
    l_from: str,
    l_to: str,
    r_time: str,
    bucket_s: int,
) -> DataFrame:
    """Equi-join on ``keys`` with ``l_from <= r_time <= l_to``, bucketed by time so the
    join stays an equi-join instead of a per-key cross product."""
    lb = left.withColumn(
        "_b",
        F.explode(
            F.sequence(
                F.floor(F.unix_seconds(F.col(l_from)) / bucket_s),
                F.floor(F.unix_seconds(F.col(l_to)) / bucket_s),
            )
        ),
    )
    rb = right.withColumn("_rb", F.floor(F.unix_seconds(F.col(r_time)) / bucket_s))
    cond = [F.col(lk) == F.col(rk) for lk, rk in keys] + [F.col("_b") == F.col("_rb")]
    joined = lb.join(rb, cond).filter((F.col(r_time) >= F.col(l_from)) & (F.col(r_time) <= F.col(l_to)))
    return joined.drop("_b", "_rb")


def _cut(df: DataFrame) -> DataFrame:
    """Materialize a stage. The stages join their own aggregates back, so without a cut
    the logical plan doubles at every step; the data itself is small by then."""
    return df.localCheckpoint(eager=True)


def _empty(df: DataFrame, schema: StructType) -> DataFrame:
    return df.sparkSession.createDataFrame([], schema)


CONNECTIONS_SCHEMA = StructType(
    [
        StructField("c_id", StringType()),
        StructField("c_node", StringType()),  # whose clock c_open / c_close are in
        StructField("c_src_ip", StringType()),
        StructField("c_src_port", IntegerType()),
        StructField("c_addr_ip", StringType()),  # what the client addressed
        StructField("c_addr_port", IntegerType()),
        StructField("c_backend_ip", StringType()),  # where it went; null when unknown
        StructField("c_backend_port", IntegerType()),
        StructField("c_routing", StringType()),  # direct | kube_proxy_dnat | ebpf_socket_lb | translated
        StructField("c_service", StringType()),
        StructField("c_open", TimestampType()),  # SYN; null when it opened before it was seen
        StructField("c_close", TimestampType()),  # FIN / RST; null while open
        StructField("c_ids", ArrayType(StringType())),
    ]
)


def _tcp_open() -> Column:
    return F.coalesce(F.col("tcp_flags").rlike("SYN") & ~F.col("tcp_flags").rlike("ACK"), F.lit(False))


def _tcp_close() -> Column:
    return F.coalesce(F.col("tcp_flags").rlike("FIN|RST"), F.lit(False))


def _flow_instances(flows: DataFrame) -> DataFrame:
    """One row per connection as one node saw it: per 5-tuple and direction, a SYN starts a
    new connection (ports are reused) and a FIN or RST ends it. With aggregated monitoring
    these few packets are all there is of a kept-alive connection's many requests."""
    tcp = flows.filter(F.col("src_port").isNotNull() & F.col("dst_port").isNotNull()).select(
        F.col("record_id").alias("f_id"),
        F.col("node").alias("i_node"),
        F.when(F.col("flow_direction") == "INGRESS", "server").otherwise("client").alias("i_side"),
        F.col("event_time").alias("f_time"),
        F.coalesce(F.col("start_time"), F.col("event_time")).alias("f_start"),
        F.col("tcp_flags").isNotNull().alias("f_flagged"),
        (F.col("flow_event_type") == "SOCK").alias("f_sock"),
        F.col("src_ip").alias("i_src_ip"),
        F.col("src_port").alias("i_src_port"),
        F.col("dst_ip").alias("i_dst_ip"),
        F.col("dst_port").alias("i_dst_port"),
        F.col("orig_dst_ip").alias("f_orig_ip"),
        F.col("orig_dst_port").alias("f_orig_port"),
        F.col("dst_service").alias("f_service"),
        _tcp_open().alias("f_open"),
        _tcp_close().alias("f_close"),
    )
    key = ["i_node", "i_side", "i_src_ip", "i_src_port", "i_dst_ip", "i_dst_port"]
    w = Window.partitionBy(*key).orderBy("f_time", "f_id").rowsBetween(Window.unboundedPreceding, 0)
    tcp = tcp.withColumn("i_k", F.sum(F.col("f_open").cast("int")).over(w))
    # Flow records without TCP flags (flow logs aggregated over an interval) bound the
    # connection by the activity they report instead.
    flagged = F.max("f_flagged")
    return tcp.groupBy(*key, "i_k").agg(
        F.when(flagged, F.min(F.when(F.col("f_open"), F.col("f_time"))))
        .otherwise(F.min("f_start"))
        .alias("i_open"),
        F.when(flagged, F.min(F.when(F.col("f_close"), F.col("f_time"))))
        .otherwise(F.max("f_time"))
        .alias("i_close"),
        F.min("f_time").alias("i_first"),
        F.max("f_time").alias("i_last"),
        F.coalesce(F.max("f_sock"), F.lit(False)).alias("i_sock"),
        F.max("f_orig_ip").alias("i_orig_ip"),
        F.max("f_orig_port").alias("i_orig_port"),
        F.max("f_service").alias("i_service"),
        F.sort_array(F.collect_list("f_id")).alias("i_ids"),
    )


def _pair_sides(inst: DataFrame, tolerance_us: int) -> DataFrame:
    """Client-side and server-side records of one connection: the same client address and
    port, at most ``tolerance_us`` apart. Each client record with exactly one partner."""
    c = inst.filter(F.col("i_side") == "client").select(*[F.col(x).alias(f"c{x}") for x in inst.columns])
    s = inst.filter(F.col("i_side") == "server").select(*[F.col(x).alias(f"s{x}") for x in inst.columns])
    near = (_us(F.col("si_first")) <= _us(F.col("ci_last")) + tolerance_us) & (
        _us(F.col("si_last")) >= _us(F.col("ci_first")) - tolerance_us
    )
    pairs = c.join(
        s,
        (F.col("ci_src_ip") == F.col("si_src_ip")) & (F.col("ci_src_port") == F.col("si_src_port")) & near,
    )
    w = Window.partitionBy("ci_node", "ci_src_ip", "ci_src_port", "ci_dst_ip", "ci_dst_port", "ci_k")
    return pairs.withColumn("_n", F.count("*").over(w)).filter(F.col("_n") == 1).drop("_n")


def flow_connections(flows: DataFrame, cluster_ips: DataFrame, params: CorrelateParams) -> DataFrame:
    """Connections from the flows, as the client addressed them and where they went.

    kube-proxy translates in the host stack: the client's node sees the ClusterIP, the
    backend's node the pod; the two records share the client's address and port, which
    reconstructs the DNAT. Socket-LB translates in the socket: a SOCK event at connect
    time names the ClusterIP and the backend the connection's packets then carry.
    """
    inst = _cut(_flow_instances(flows))
    vips = cluster_ips.select(
        F.col("ip").alias("v_ip"), F.col("port").alias("v_port"), F.lit(True).alias("v_is_vip")
    ).distinct()
    pairs = _pair_sides(inst, params.pair_tolerance_us).select(
        "ci_node",
        "ci_src_ip",
        "ci_src_port",
        "ci_dst_ip",
        "ci_dst_port",
        "ci_k",
        F.col("si_dst_ip").alias("p_dst_ip"),
        F.col("si_dst_port").alias("p_dst_port"),
        F.col("si_ids").alias("p_ids"),
    )
    client = (
        inst.filter(F.col("i_side") == "client")
        .select(*[F.col(x).alias(f"c{x}") for x in inst.columns])
        .join(pairs, ["ci_node", "ci_src_ip", "ci_src_port", "ci_dst_ip", "ci_dst_port", "ci_k"], "left")
        .join(
            vips,
            (F.col("ci_dst_ip") == F.col("v_ip")) & (F.col("ci_dst_port") == F.col("v_port")),
            "left",
        )
    )
    # Socket-LB: the connect-time translation event of the same client, towards this backend.
    sock = flows.filter(
        (F.col("flow_event_type") == "SOCK") & F.col("orig_dst_ip").isNotNull() & F.col("dst_ip").isNotNull()
    ).select(
        F.col("node").alias("k_node"),
        F.col("src_ip").alias("k_src_ip"),
        F.col("dst_ip").alias("k_dst_ip"),
        F.col("dst_port").alias("k_dst_port"),
        F.col("orig_dst_ip").alias("k_vip"),
        F.col("orig_dst_port").alias("k_vip_port"),
        F.col("dst_service").alias("k_service"),
        F.col("event_time").alias("k_time"),
        F.col("record_id").alias("k_id"),
    )
    connect = F.coalesce(F.col("ci_open"), F.col("ci_first"))
    sock_j = (
        client.filter(F.col("ci_orig_ip").isNull() & F.col("v_is_vip").isNull())
        .select(
            "ci_node", "ci_src_ip", "ci_src_port", "ci_dst_ip", "ci_dst_port", "ci_k", connect.alias("_t")
        )
        .join(
            sock,
            (F.col("k_node") == F.col("ci_node"))
            & (F.col("k_src_ip") == F.col("ci_src_ip"))
            & (F.col("k_dst_ip") == F.col("ci_dst_ip"))
            & (F.col("k_dst_port") == F.col("ci_dst_port"))
            & (F.abs(_us(F.col("k_time")) - _us(F.col("_t"))) <= params.skew_tolerance_us),
        )
        .groupBy("ci_node", "ci_src_ip", "ci_src_port", "ci_dst_ip", "ci_dst_port", "ci_k")
        .agg(
            F.countDistinct("k_vip", "k_vip_port").alias("k_n"),
            F.min(F.struct("k_vip", "k_vip_port", "k_service", "k_id")).alias("k"),
        )
        .filter(F.col("k_n") == 1)
        .drop("k_n")
    )
    client = client.join(
        sock_j, ["ci_node", "ci_src_ip", "ci_src_port", "ci_dst_ip", "ci_dst_port", "ci_k"], "left"
    )
    is_vip = F.coalesce(F.col("v_is_vip"), F.lit(False))
    translated = F.col("ci_orig_ip").isNotNull()
    via_sock = F.col("k").isNotNull()
    client_rows = client.select(
        F.sha2(
            F.concat_ws("|", "ci_node", "ci_src_ip", "ci_src_port", "ci_dst_ip", "ci_dst_port", "ci_k"), 256
        )
        .substr(1, 24)
        .alias("c_id"),
        F.col("ci_node").alias("c_node"),
        F.col("ci_src_ip").alias("c_src_ip"),
        F.col("ci_src_port").alias("c_src_port"),
        F.when(translated, F.col("ci_orig_ip"))
        .when(via_sock, F.col("k.k_vip"))
        .otherwise(F.col("ci_dst_ip"))
        .alias("c_addr_ip"),
        F.when(translated, F.col("ci_orig_port"))
        .when(via_sock, F.col("k.k_vip_port"))
        .otherwise(F.col("ci_dst_port"))
        .alias("c_addr_port"),
        F.when(is_vip & ~translated, F.col("p_dst_ip")).otherwise(F.col("ci_dst_ip")).alias("c_backend_ip"),
        F.when(is_vip & ~translated, F.col("p_dst_port"))
        .otherwise(F.col("ci_dst_port"))
        .alias("c_backend_port"),
        F.when(via_sock | (translated & F.col("ci_sock")), "ebpf_socket_lb")
        .when(translated, "translated")
        .when(is_vip, "kube_proxy_dnat")
        .otherwise("direct")
        .alias("c_routing"),
        F.coalesce(F.col("ci_service"), F.col("k.k_service")).alias("c_service"),
        F.col("ci_open").alias("c_open"),
        F.col("ci_close").alias("c_close"),
        F.concat(
            F.col("ci_ids"),
            F.coalesce(F.col("p_ids"), F.array().cast("array<string>")),
            F.filter(F.array(F.col("k.k_id")), lambda x: x.isNotNull()),
        ).alias("c_ids"),
    )
    # A connection only its server's node reported (the client's node has no flows):
    # the packets there carry the backend, which is all the client side could be.
    paired = pairs.select(F.explode("p_ids").alias("_pid")).distinct()
    server_only = (
        inst.filter(F.col("i_side") == "server")
        .withColumn("_pid", F.col("i_ids")[0])
        .join(paired, "_pid", "left_anti")
        .select(
            F.sha2(F.concat_ws("|", "i_node", "i_src_ip", "i_src_port", "i_dst_ip", "i_dst_port", "i_k"), 256)
            .substr(1, 24)
            .alias("c_id"),
            F.col("i_node").alias("c_node"),
            F.col("i_src_ip").alias("c_src_ip"),
            F.col("i_src_port").alias("c_src_port"),
            F.coalesce(F.col("i_orig_ip"), F.col("i_dst_ip")).alias("c_addr_ip"),
            F.coalesce(F.col("i_orig_port"), F.col("i_dst_port")).alias("c_addr_port"),
            F.col("i_dst_ip").alias("c_backend_ip"),
            F.col("i_dst_port").alias("c_backend_port"),
            F.when(F.col("i_orig_ip").isNotNull(), "translated").otherwise("direct").alias("c_routing"),
            F.col("i_service").alias("c_service"),
            F.col("i_open").alias("c_open"),
            F.col("i_close").alias("c_close"),
            F.col("i_ids").alias("c_ids"),
        )
    )
    return conform(client_rows, CONNECTIONS_SCHEMA).unionByName(conform(server_only, CONNECTIONS_SCHEMA))


def _offset_stats(samples: DataFrame) -> DataFrame:
    return samples.groupBy("window_start", "client_node", "server_node").agg(
        F.count("*").alias("samples"),
        F.percentile(F.col("off"), 0.5).cast("long").alias("offset_p50_us"),
        F.min("off").cast("long").alias("offset_min_us"),
        F.max("off").cast("long").alias("offset_max_us"),
    )


def flow_clock_offsets(flows: DataFrame, params: CorrelateParams) -> DataFrame:
    """Clock offsets of node pairs from one packet seen twice: a connection's SYN (and its
    FIN) on the client's node and on the server's node. The wire between them takes
    microseconds, far below any skew worth reporting."""
    inst = _flow_instances(flows)
    pairs = _pair_sides(inst, params.pair_tolerance_us).filter(F.col("ci_node") != F.col("si_node"))
    win_s = params.window_minutes * 60
    return pairs.select(
        F.col("ci_node").alias("client_node"),
        F.col("si_node").alias("server_node"),
        F.explode(
            F.filter(
                F.array(
                    F.struct(F.col("ci_open").alias("c"), F.col("si_open").alias("s")),
                    F.struct(F.col("ci_close").alias("c"), F.col("si_close").alias("s")),
                ),
                lambda x: x["c"].isNotNull() & x["s"].isNotNull(),
            )
        ).alias("x"),
    ).select(
        "client_node",
        "server_node",
        _ts(F.floor(F.unix_seconds(F.col("x.c")) / win_s) * win_s * 1_000_000).alias("window_start"),
        (_us(F.col("x.s")) - _us(F.col("x.c"))).alias("off"),
    )


def correlate(
    obs: DataFrame,
    pod_ips: DataFrame,
    service_addrs: DataFrame,
    params: CorrelateParams,
    gaps: DataFrame | None = None,
) -> Correlation:
    """Correlate the requests that ended in ``[window_start, window_end)``.

    ``obs`` must cover the window padded on both sides by the longest request plus the
    clock tolerance, deduplicated by record_id. Output is a function of the inputs only.
    """
    tol = params.match_tolerance_us
    ws = F.lit(params.window_start).cast("timestamp")
    we = F.lit(params.window_end).cast("timestamp")
    if gaps is None:
        gaps = _empty(obs, GAPS_SCHEMA)

    pad_us = params.pad_minutes * 60_000_000
    win_s = params.window_minutes * 60
    pods = pod_ips.filter(F.col("entity") == "pod")
    is_root = (F.col("source_table") == "http_requests") & F.col("role").isin("ingress", "gateway")
    all_roots = obs.filter(is_root)

    def window_of(t: Column) -> Column:
        return _ts(F.floor(F.unix_seconds(t) / win_s) * win_s * 1_000_000)

    def near_windows(t: Column) -> Column:
        """Every window whose padded range contains ``t``."""
        lo = F.floor((F.unix_seconds(t) - params.pad_minutes * 60) / win_s)
        hi = F.floor((F.unix_seconds(t) + params.pad_minutes * 60) / win_s)
        return F.transform(F.sequence(lo, hi), lambda k: _ts(k * win_s * 1_000_000))

    # Ids shared by several requests near a window are no evidence at all.
    def duplicates(col: str, alias: str) -> DataFrame:
        return (
            all_roots.filter(F.col(col).isNotNull())
            .select(col, "record_id", F.explode(near_windows(F.col("event_time"))).alias("r_window"))
            .groupBy("r_window", col)
            .agg(F.countDistinct("record_id").alias("n"))
            .filter(F.col("n") > 1)
            .select(
                F.col("r_window").alias(f"{alias}_window"),
                F.col(col).alias(alias),
                F.col("n").alias(f"{alias}_n"),
            )
        )

    dup_rid = duplicates("request_id", "dup_rid")
    dup_tid = duplicates("trace_id", "dup_tid")

    roots = (
        obs.filter(is_root & (F.col("event_time") >= ws) & (F.col("event_time") < we))
        .select(
            F.col("record_id").alias("path_id"),
            F.col("request_id").alias("r_rid"),
            F.col("trace_id").alias("r_tid"),
            F.col("span_id").alias("r_span"),
            F.coalesce("start_time", "event_time").alias("r_start"),
            F.col("event_time").alias("r_end"),
            F.col("node").alias("r_node"),
            F.col("namespace").alias("r_ns"),
            F.col("pod").alias("r_pod"),
            F.col("proxy").alias("r_proxy"),
            F.col("src_ip").alias("r_local_ip"),
            F.col("src_port").alias("r_local_port"),
            F.col("method").alias("r_method"),
            F.col("authority").alias("r_authority"),
            F.col("path").alias("r_path"),
            F.col("status").alias("r_status"),
            F.col("grpc_status").alias("r_grpc"),
            F.col("duration_us").alias("r_duration"),
            F.col("upstream_service").alias("r_upstream_service"),
            F.col("upstream_cluster").alias("r_upstream_cluster"),
            F.col("client_ip").alias("r_client_ip"),
            F.col("lb_ip").alias("r_lb_ip"),
            F.coalesce(F.col("attempts"), F.array()).alias("r_attempts"),
        )
        # A log stamped to the second (ingress-nginx's $time_local) ended up to a second
        # later than it says.
        .withColumn(
            "r_end_hi",
            F.when(_us(F.col("r_end")) % 1_000_000 == 0, _ts(_us(F.col("r_end")) + 999_999)).otherwise(
                F.col("r_end")
            ),
        )
        .withColumn("r_window", window_of(F.col("r_end")))
        .join(
            dup_rid,
            (F.col("r_rid") == F.col("dup_rid")) & (F.col("r_window") == F.col("dup_rid_window")),
            "left",
        )
        .join(
            dup_tid,
            (F.col("r_tid") == F.col("dup_tid")) & (F.col("r_window") == F.col("dup_tid_window")),
            "left",
        )
        .withColumn("rid_ok", F.col("r_rid").isNotNull() & F.col("dup_rid").isNull())
        .withColumn("tid_ok", F.col("r_tid").isNotNull() & F.col("dup_tid").isNull())
    )
    # The ingress's own address, as of the request: inventory first, else its upstream socket.
    roots = _cut(_ingress_ip(roots, pods))

    # --- attempts and as-of address resolution ------------------------------------
    att = roots.select(
        "path_id",
        "r_start",
        "r_end",
        "r_end_hi",
        "r_node",
        "ingress_ip",
        "r_local_ip",
        "r_local_port",
        F.posexplode(F.col("r_attempts")).alias("attempt_no", "a"),
        F.size("r_attempts").alias("n_attempts"),
    ).select(
        "*",
        F.col("a.address").alias("a_addr"),
        F.col("a.port").alias("a_port"),
        F.col("a.status").alias("a_status"),
        F.col("a.duration_us").alias("a_duration"),
    )
    att_pod = (
        _as_of(att.select("path_id", "attempt_no", "a_addr", "r_start"), pods, "a_addr", "r_start", "p_")
        .filter(F.col("p_pod_uid").isNotNull())
        .groupBy("path_id", "attempt_no")
        .agg(
            F.countDistinct("p_pod_uid").alias("n_addr_pods"),
            F.min(F.struct("p_namespace", "p_pod", "p_node", "p_workload", "p_containers")).alias("addr_pod"),
        )
    )
    vips = service_addrs.filter(F.col("addr_kind") == "cluster_ip")
    att_vip = (
        _as_of(
            att.select("path_id", "attempt_no", "a_addr", "a_port", "r_start"),
            vips,
            "a_addr",
            "r_start",
            "v_",
            port="a_port",
        )
        .filter(F.col("v_service_name").isNotNull())
        .groupBy("path_id", "attempt_no")
        .agg(F.min(F.concat_ws("/", "v_service_namespace", "v_service_name")).alias("vip_service"))
    )
    att = att.join(att_pod, ["path_id", "attempt_no"], "left").join(
        att_vip, ["path_id", "attempt_no"], "left"
    )

    # --- network evidence: the connections the attempt may have used -----------------
    # A kept-alive upstream connection carries many requests but shows in the flows only
    # when it opens and closes: an attempt is matched to the connections from the ingress
    # to its address that were open during the request (on the ingress's own clock). The
    # proxy's logged local port, when there is one, names the connection exactly.
    flows = obs.filter(F.col("source_table") == "flows")
    conns = _cut(flow_connections(flows, service_addrs.filter(F.col("addr_kind") == "cluster_ip"), params))
    # Same clock on both sides (the ingress's node), so only the proxy's own rounding of
    # its timestamps is allowed for.
    eps = params.skew_tolerance_us
    net = att.select(
        "path_id", "attempt_no", "ingress_ip", "a_addr", "a_port", "r_local_port", "r_start", "r_end_hi"
    ).join(
        conns,
        (F.col("ingress_ip") == F.col("c_src_ip"))
        & (F.col("a_addr") == F.col("c_addr_ip"))
        & (F.col("a_port") == F.col("c_addr_port")),
    )
    net = net.filter(
        (F.col("r_local_port").isNull() | (F.col("r_local_port") == F.col("c_src_port")))
        & (F.col("c_open").isNull() | (_us(F.col("c_open")) <= _us(F.col("r_end_hi")) + eps))
        & (F.col("c_close").isNull() | (_us(F.col("c_close")) >= _us(F.col("r_start")) - eps))
    )
    backend = F.when(
        F.col("c_backend_ip").isNotNull(),
        F.concat_ws(":", F.col("c_backend_ip"), F.col("c_backend_port").cast("string")),
    )
    net_agg = net.groupBy("path_id", "attempt_no").agg(
        F.countDistinct("c_id").alias("n_flows"),
        F.sort_array(F.collect_set(backend)).alias("flow_dsts"),
        F.max(F.col("c_backend_ip").isNull()).alias("flow_unknown"),
        F.min(F.struct("c_backend_ip", "c_backend_port")).alias("_b"),
        F.max(F.col("c_routing") == "ebpf_socket_lb").alias("flow_sock"),
        F.max(F.col("c_routing") != "direct").alias("flow_translated"),
        F.sort_array(F.collect_set("c_service")).alias("flow_services"),
        F.max(F.col("r_local_port").isNotNull()).alias("flow_exact"),
        F.min(F.struct("c_src_port", "c_id")).alias("_c"),
        F.slice(F.sort_array(F.flatten(F.collect_list("c_ids"))), 1, 8).alias("flow_ids"),
    )
    net_agg = net_agg.select(
        "*",
        F.col("_b.c_backend_ip").alias("flow_dst_ip"),
        F.col("_b.c_backend_port").alias("flow_dst_port"),
        # The one connection the attempt can have used: the server's record of it is exact.
        F.when(F.col("n_flows") == 1, F.col("_c.c_src_port")).alias("conn_port"),
    ).drop("_b", "_c")
    att = att.join(net_agg, ["path_id", "attempt_no"], "left")

    # Target of each attempt: the addressed pod, or the single pod the translation led to.
    # Several connections that led to different pods (or one whose backend is unknown)
    # leave the target open.
    flow_options = F.size(F.coalesce(F.col("flow_dsts"), F.array())) + F.coalesce(
        F.col("flow_unknown"), F.lit(False)
    ).cast("int")
    flow_target_ip = F.when(
        (F.size(F.coalesce(F.col("flow_dsts"), F.array())) == 1)
        & ~F.coalesce(F.col("flow_unknown"), F.lit(False)),
        F.col("flow_dst_ip"),
    )
    att = att.withColumn(
        "target_ip",
        F.when(F.col("addr_pod").isNotNull(), F.col("a_addr")).when(
            F.col("vip_service").isNotNull(), flow_target_ip
        ),
    ).withColumn(
        "target_port",
        F.when(F.col("addr_pod").isNotNull(), F.col("a_port")).when(
            F.col("vip_service").isNotNull() & flow_target_ip.isNotNull(), F.col("flow_dst_port")
        ),
    )
    att = att.withColumn(
        "routing",
        F.when(F.col("addr_pod").isNotNull(), F.lit("endpoints_by_ingress"))
        .when(
            F.col("vip_service").isNotNull() & F.coalesce(F.col("flow_sock"), F.lit(False)), "ebpf_socket_lb"
        )
        .when(F.col("vip_service").isNotNull() & F.col("flow_dsts").isNotNull(), "kube_proxy_dnat")
        .otherwise("unknown"),
    ).withColumn(
        "target_ambiguous",
        F.col("vip_service").isNotNull() & (flow_options > 1)
        | (F.coalesce(F.col("n_addr_pods"), F.lit(0)) > 1),
    )
    flow_pod = (
        _as_of(
            att.filter(F.col("addr_pod").isNull() & F.col("target_ip").isNotNull()).select(
                "path_id", "attempt_no", "target_ip", "r_start"
            ),
            pods,
            "target_ip",
            "r_start",
            "q_",
        )
        .filter(F.col("q_pod_uid").isNotNull())
        .groupBy("path_id", "attempt_no")
        .agg(F.min(F.struct("q_namespace", "q_pod", "q_node", "q_workload", "q_containers")).alias("via_pod"))
    )
    att = att.join(flow_pod, ["path_id", "attempt_no"], "left").withColumn(
        "tpod",
        F.coalesce(
            F.when(F.col("addr_pod").isNotNull(), F.col("addr_pod")).cast(
                "struct<ns:string,pod:string,node:string,workload:string,containers:array<struct<name:string,ports:array<int>>>>"
            ),
            F.col("via_pod").cast(
                "struct<ns:string,pod:string,node:string,workload:string,containers:array<struct<name:string,ports:array<int>>>>"
            ),
        ),
    )
    att = _cut(att.withColumn("tkey", _pod_key(F.col("tpod.ns"), F.col("tpod.pod"))))

    # --- server side ------------------------------------------------------------------
    server = obs.filter(F.col("side") == "server").select(
        F.col("record_id").alias("s_id"),
        F.col("node").alias("s_node"),
        _pod_key(F.col("namespace"), F.col("pod")).alias("s_key"),
        F.col("namespace").alias("s_ns"),
        F.col("pod").alias("s_pod"),
        F.col("container").alias("s_container"),
        F.col("request_id").alias("s_rid"),
        F.col("trace_id").alias("s_tid"),
        F.col("parent_span_id").alias("s_parent"),
        F.col("src_ip").alias("s_src_ip"),
        F.col("src_port").alias("s_src_port"),
        F.col("method").alias("s_method"),
        F.col("path").alias("s_path"),
        F.col("status").alias("s_status"),
        F.coalesce("start_time", "event_time").alias("s_start"),
        F.col("event_time").alias("s_end"),
        F.col("source_table").alias("s_table"),
    )
    # A pod is instrumented (its server side is expected) when it logged server-side
    # observations near the window.
    instrumented = (
        server.select(F.col("s_key").alias("tkey"), F.explode(near_windows(F.col("s_end"))).alias("r_window"))
        .distinct()
        .withColumn("instrumented", F.lit(True))
    )

    root_ids = roots.select(
        "path_id", "r_rid", "r_tid", "r_span", "rid_ok", "tid_ok", "ingress_ip", "r_node", "r_start", "r_end"
    )
    near = (F.col("s_end") >= _ts(_us(F.col("r_start")) - pad_us)) & (
        F.col("s_end") <= _ts(_us(F.col("r_end")) + pad_us)
    )
    by_rid = (
        root_ids.filter("rid_ok")
        .join(server, F.col("r_rid") == F.col("s_rid"))
        .filter(near)
        .withColumn("s_evidence", F.lit("request_id"))
    )
    by_tid = (
        root_ids.filter("tid_ok")
        .join(server, F.col("r_tid") == F.col("s_tid"))
        .filter(near)
        .withColumn("s_evidence", F.lit("trace_context"))
    )
    id_matches = by_rid.unionByName(by_tid).drop("r_start", "r_end")
    # A request id travels downstream too; only the hop answering the ingress itself is a
    # candidate: its peer is the ingress (when logged) and its parent span is the ingress's.
    direct = (F.col("s_src_ip").isNull() | (F.col("s_src_ip") == F.col("ingress_ip"))) & (
        F.col("s_parent").isNull() | F.col("r_span").isNull() | (F.col("s_parent") == F.col("r_span"))
    )
    id_w = Window.partitionBy("path_id", "s_id").orderBy(F.col("s_evidence").desc())
    id_matches = (
        id_matches.withColumn("_rn", F.row_number().over(id_w))
        .filter(F.col("_rn") == 1)
        .drop("_rn")
        .withColumn("is_direct", direct)
    )
    downstream = id_matches.filter(~F.col("is_direct"))
    direct_ids = id_matches.filter(F.col("is_direct"))

    # Each attempt takes the id-matched server rows in its target pod; attempts whose
    # target is unknown share the rows outside every known target pod. Within a group,
    # k attempts and k rows pair by order; any other count is ambiguous.
    known = (
        att.filter(F.col("tkey").isNotNull())
        .select(F.col("path_id").alias("k_path"), F.col("tkey").alias("gkey"))
        .distinct()
    )
    unknown_paths = (
        att.filter(F.col("tkey").isNull())
        .select(F.col("path_id").alias("u_path"))
        .distinct()
        .withColumn("has_unknown", F.lit(1))
    )
    cands = (
        direct_ids.join(
            known, (F.col("path_id") == F.col("k_path")) & (F.col("s_key") == F.col("gkey")), "left"
        )
        .join(unknown_paths, F.col("path_id") == F.col("u_path"), "left")
        .drop("k_path", "u_path")
        .withColumn("gkey", F.coalesce(F.col("gkey"), F.when(F.col("has_unknown") == 1, F.lit("*"))))
        .filter(F.col("gkey").isNotNull())
    )
    cw = Window.partitionBy("path_id", "gkey").orderBy("s_start", "s_id")
    cands = cands.withColumn("rank", F.row_number().over(cw)).withColumn(
        "n_cands", F.count("*").over(Window.partitionBy("path_id", "gkey"))
    )
    att = att.withColumn("gkey", F.coalesce(F.col("tkey"), F.lit("*")))
    aw = Window.partitionBy("path_id", "gkey").orderBy("attempt_no")
    att = att.withColumn("rank", F.row_number().over(aw)).withColumn(
        "n_group", F.count("*").over(Window.partitionBy("path_id", "gkey"))
    )
    l1_counts = cands.groupBy("path_id", "gkey").agg(
        F.first("n_cands").alias("l1_n"),
        F.sort_array(F.collect_list("s_id")).alias("l1_ids"),
    )
    att = att.join(l1_counts, ["path_id", "gkey"], "left")
    l1_pick = cands.select(
        "path_id",
        "gkey",
        "rank",
        F.struct(
            "s_id",
            "s_node",
            "s_key",
            "s_ns",
            "s_pod",
            "s_container",
            "s_start",
            "s_end",
            "s_status",
            "s_evidence",
        ).alias("l1"),
    )
    att = att.join(l1_pick, ["path_id", "gkey", "rank"], "left").withColumn(
        "l1",
        F.when(F.col("l1_n") == F.col("n_group"), F.col("l1")),
    )
    att = att.withColumn("l1_ambiguous", F.coalesce(F.col("l1_n"), F.lit(0)) > 0)
    att = _cut(att.withColumn("l1_ambiguous", F.col("l1_ambiguous") & F.col("l1").isNull()))

    # Clock offsets of node pairs: from a connection's packets seen on both nodes, else
    # from exactly matched single-attempt requests (below).
    flow_samples = flow_clock_offsets(flows, params).filter(
        (F.col("window_start") >= ws) & (F.col("window_start") < we)
    )
    flow_offs = _offset_stats(flow_samples)

    def with_offset(df: DataFrame, offs: DataFrame) -> DataFrame:
        o = offs.select(
            F.col("window_start").alias("o_window"),
            F.col("client_node").alias("o_client"),
            F.col("server_node").alias("o_server"),
            F.col("offset_p50_us").alias("o_off"),
        )
        return (
            df.join(
                o,
                (F.col("o_window") == window_of(F.col("r_end")))
                & (F.col("o_client") == F.col("r_node"))
                & (F.col("o_server") == F.col("tpod.node")),
                "left",
            )
            .withColumn("o_off", F.coalesce(F.col("o_off"), F.lit(0)))
            .drop("o_window", "o_client", "o_server")
        )

    # Level 2: the exact upstream connection: the proxy's logged local address, or the one
    # connection the flows leave for the attempt. Requests follow each other on a kept-alive
    # connection, so several on it in the window are told apart by method and path.
    server_cols = ["s_id", "s_node", "s_key", "s_ns", "s_pod", "s_container", "s_start", "s_end", "s_status"]
    l2_left = with_offset(
        att.filter(
            F.col("l1").isNull()
            & ~F.col("l1_ambiguous")
            & F.coalesce(F.col("r_local_port"), F.col("conn_port")).isNotNull()
        ).join(roots.select("path_id", "r_method", "r_path"), "path_id"),
        flow_offs,
    ).select(
        "path_id",
        "attempt_no",
        "r_method",
        "r_path",
        F.coalesce(F.col("r_local_ip"), F.col("ingress_ip")).alias("l2_ip"),
        F.coalesce(F.col("r_local_port"), F.col("conn_port")).alias("l2_port"),
        _ts(_us(F.col("r_start")) + F.col("o_off") - tol).alias("w_from"),
        _ts(_us(F.col("r_end_hi")) + F.col("o_off") + tol).alias("w_to"),
    )
    l2 = _range_join(
        l2_left,
        server,
        [("l2_ip", "s_src_ip"), ("l2_port", "s_src_port")],
        "w_from",
        "w_to",
        "s_end",
        params.bucket_seconds,
    ).withColumn(
        "same", F.col("s_method").eqNullSafe(F.col("r_method")) & F.col("s_path").eqNullSafe(F.col("r_path"))
    )
    pick = F.struct(*server_cols, F.lit("connection_tuple").alias("s_evidence"))
    l2_agg = (
        l2.groupBy("path_id", "attempt_no")
        .agg(
            F.count("*").alias("l2_all"),
            F.sum(F.col("same").cast("int")).alias("l2_same"),
            F.sort_array(F.collect_list("s_id")).alias("l2_ids"),
            F.min(pick).alias("l2_any"),
            F.min(F.when(F.col("same"), pick)).alias("l2_same_pick"),
        )
        .select(
            "path_id",
            "attempt_no",
            "l2_ids",
            F.when(F.col("l2_all") == 1, F.lit(1)).otherwise(F.col("l2_same")).alias("l2_n"),
            F.when(F.col("l2_all") == 1, F.col("l2_any")).otherwise(F.col("l2_same_pick")).alias("l2_pick"),
        )
    )
    att = _cut(att.join(l2_agg, ["path_id", "attempt_no"], "left"))

    exact = (
        att.filter((F.col("n_attempts") == 1) & (F.col("r_end_hi") == F.col("r_end")))
        .select(
            window_of(F.col("r_end")).alias("window_start"),
            "r_node",
            "r_start",
            "r_end",
            F.coalesce(F.col("l1"), F.when(F.col("l2_n") == 1, F.col("l2_pick"))).alias("m"),
        )
        .filter(F.col("m").isNotNull())
    )
    request_samples = exact.select(
        "window_start",
        F.col("r_node").alias("client_node"),
        F.col("m.s_node").alias("server_node"),
        (
            (_us(F.col("m.s_start")) + _us(F.col("m.s_end")) - _us(F.col("r_start")) - _us(F.col("r_end")))
            / 2
        ).alias("off"),
    )
    # Packet pairs are exact; request intervals only bound the offset, so they count where
    # a node pair has no packet pairs.
    with_flows = flow_samples.select("window_start", "client_node", "server_node").distinct()
    pair_offsets = _offset_stats(
        flow_samples.unionByName(
            request_samples.join(with_flows, ["window_start", "client_node", "server_node"], "left_anti")
        )
    )

    # Level 3: the target pod, same method and path, inside the (offset-corrected) interval.
    l3_left = with_offset(
        att.filter(
            F.col("l1").isNull()
            & ~F.col("l1_ambiguous")
            & (F.coalesce(F.col("l2_n"), F.lit(0)) == 0)
            & F.col("tkey").isNotNull()
        ).join(roots.select("path_id", "r_method", "r_path"), "path_id"),
        pair_offsets,
    ).select(
        "path_id",
        "attempt_no",
        "tkey",
        "ingress_ip",
        "r_method",
        "r_path",
        "o_off",
        _ts(_us(F.col("r_start")) + F.col("o_off") - tol).alias("w_from"),
        _ts(_us(F.col("r_end_hi")) + F.col("o_off") + tol).alias("w_to"),
    )
    l3 = _range_join(
        l3_left, server, [("tkey", "s_key")], "w_from", "w_to", "s_end", params.bucket_seconds
    ).filter(
        (F.col("s_src_ip").isNull() | (F.col("s_src_ip") == F.col("ingress_ip")))
        & F.col("s_method").eqNullSafe(F.col("r_method"))
        & F.col("s_path").eqNullSafe(F.col("r_path"))
    )
    l3_agg = l3.groupBy("path_id", "attempt_no").agg(
        F.count("*").alias("l3_n"),
        F.sort_array(F.collect_list("s_id")).alias("l3_ids"),
        F.min(F.struct(*server_cols, F.lit("endpoint_window").alias("s_evidence"))).alias("l3_pick"),
    )
    att = att.join(l3_agg, ["path_id", "attempt_no"], "left")
    pair_offsets = _cut(pair_offsets)

    att = (
        att.withColumn(
            "srv",
            F.coalesce(
                F.col("l1"),
                F.when(F.col("l2_n") == 1, F.col("l2_pick")),
                F.when(F.col("l3_n") == 1, F.col("l3_pick")),
            ),
        )
        .withColumn(
            "srv_ambiguous",
            F.col("l1_ambiguous") | (F.col("l2_n") > 1) | (F.coalesce(F.col("l3_n"), F.lit(0)) > 1),
        )
        .withColumn(
            "srv_candidates",
            F.when(F.col("l1_ambiguous"), F.col("l1_ids"))
            .when(F.col("l2_n") > 1, F.col("l2_ids"))
            .when(F.col("l3_n") > 1, F.col("l3_ids")),
        )
    )
    # A target known only from the server side (a VIP with no flow evidence).
    # Several translated destinations leave the target open; an exact match on the server
    # side (ids or the connection) is stronger than the time window and settles it.
    settles = F.col("srv").isNotNull() & F.col("srv.s_evidence").isin(
        "request_id", "trace_context", "connection_tuple"
    )
    att = att.withColumn("target_ambiguous", F.col("target_ambiguous") & ~F.coalesce(settles, F.lit(False)))
    att = att.withColumn("target_from_server", F.col("tpod").isNull() & F.col("srv").isNotNull()).withColumn(
        "tkey", F.coalesce(F.col("tkey"), F.col("srv.s_key"))
    )
    att = att.withColumn("r_window", window_of(F.col("r_end")))
    att = att.join(instrumented, ["tkey", "r_window"], "left")

    # --- assemble per path --------------------------------------------------------------
    # A node reports flows (so the network segment is expected) when it landed flows near
    # the window.
    flow_nodes = flows.select(
        F.col("node").alias("fn"), F.explode(near_windows(F.col("event_time"))).alias("r_window")
    )
    flow_nodes = flow_nodes.distinct()
    att = att.withColumn("t_node", F.coalesce(F.col("tpod.node"), F.col("srv.s_node")))
    att = att.join(
        flow_nodes.withColumnRenamed("fn", "r_node").withColumn("r_node_flows", F.lit(True)),
        ["r_node", "r_window"],
        "left",
    ).join(
        flow_nodes.withColumnRenamed("fn", "t_node").withColumn("t_node_flows", F.lit(True)),
        ["t_node", "r_window"],
        "left",
    )

    container = F.filter(
        F.coalesce(F.col("tpod.containers"), F.array().cast("array<struct<name:string,ports:array<int>>>")),
        lambda c: F.array_contains(c["ports"], F.col("target_port")),
    )
    att = att.withColumn(
        "t_container",
        F.coalesce(F.when(F.size(container) == 1, container[0]["name"]), F.col("srv.s_container")),
    )
    hop_attempt = F.struct(
        F.lit(None).cast("int").alias("seq"),
        F.lit("upstream_attempt").alias("kind"),
        F.col("attempt_no").cast("int").alias("attempt"),
        F.col("ingress_ip").alias("from_addr"),
        F.concat_ws(":", F.col("a_addr"), F.col("a_port").cast("string")).alias("to_addr"),
        F.col("vip_service").alias("service"),
        F.col("routing"),
        F.coalesce(F.col("tpod.ns"), F.col("srv.s_ns")).alias("namespace"),
        F.coalesce(F.col("tpod.pod"), F.col("srv.s_pod")).alias("pod"),
        F.col("t_container").alias("container"),
        F.col("t_node").alias("node"),
        F.coalesce(
            F.col("srv.s_evidence"),
            F.when(F.col("addr_pod").isNotNull(), F.lit("ingress_upstream")),
            F.when(F.col("via_pod").isNotNull(), F.lit("flow_translation")),
        ).alias("evidence"),
        F.when(
            F.col("n_flows") > 0, F.when(F.col("flow_exact"), "connection_tuple").otherwise("endpoint_window")
        ).alias("network_evidence"),
        F.coalesce(F.col("srv.s_start"), F.lit(None).cast("timestamp")).alias("start_time"),
        F.col("srv.s_end").alias("end_time"),
        F.col("a_duration").alias("latency_us"),
        F.col("a_status").alias("status"),
        F.filter(
            F.concat(
                F.array(F.col("srv.s_id")), F.coalesce(F.col("flow_ids"), F.array().cast("array<string>"))
            ),
            lambda x: x.isNotNull(),
        ).alias("record_ids"),
    )
    att = _cut(att.withColumn("hop", hop_attempt))
    per_path = att.groupBy("path_id").agg(
        F.sort_array(F.collect_list(F.struct(F.col("attempt_no").alias("k"), F.col("hop").alias("h")))).alias(
            "att_hops"
        ),
        F.max_by(
            F.struct(
                "a_addr",
                "a_port",
                "target_ip",
                "target_port",
                "tpod",
                "t_node",
                "t_container",
                "routing",
                "vip_service",
                "srv",
                "srv_ambiguous",
                "srv_candidates",
                "target_ambiguous",
                "flow_dsts",
                "flow_services",
                "n_flows",
                "instrumented",
                "r_node_flows",
                "t_node_flows",
                "addr_pod",
                "target_from_server",
            ),
            F.col("attempt_no"),
        ).alias("last"),
        F.max(F.col("srv_ambiguous") | F.col("target_ambiguous")).alias("any_ambiguous"),
        F.max(F.col("addr_pod").isNull() & F.col("vip_service").isNull()).alias("any_unattributed"),
        F.sort_array(
            F.collect_set(
                F.when(
                    F.col("addr_pod").isNull() & F.col("vip_service").isNull(),
                    F.concat_ws(":", "a_addr", F.col("a_port").cast("string")),
                )
            )
        ).alias("unattributed_addrs"),
    )

    # Service: named by the ingress, the VIP it addressed, the flow, or (inferred) the
    # EndpointSlices that list the target address; several Services -> ambiguous.
    endpoints = service_addrs.filter(F.col("addr_kind") == "endpoint")
    tgt = (
        per_path.join(roots.select("path_id", "r_start"), "path_id")
        .select(
            "path_id",
            "r_start",
            F.col("last.target_ip").alias("t_ip"),
            F.col("last.target_port").alias("t_port"),
        )
        .filter(F.col("t_ip").isNotNull())
    )
    ep_svc = (
        _as_of(tgt, endpoints, "t_ip", "r_start", "e_", port="t_port")
        .filter(F.col("e_service_name").isNotNull())
        .groupBy("path_id")
        .agg(
            F.sort_array(F.collect_set(F.concat_ws("/", "e_service_namespace", "e_service_name"))).alias(
                "ep_services"
            )
        )
    )
    # ingress-nginx logs its upstream as <namespace>-<service>-<port>; names may hold
    # dashes themselves, so it is read against the Services that exist.
    svc_names = service_addrs.filter(F.col("addr_kind") == "cluster_ip").select(
        F.concat_ws("-", "service_namespace", "service_name", F.col("port").cast("string")).alias("u_name"),
        F.concat_ws("/", "service_namespace", "service_name").alias("u_svc"),
    )
    cluster_svc = (
        roots.select("path_id", "r_upstream_cluster")
        .join(svc_names, F.col("r_upstream_cluster") == F.col("u_name"))
        .groupBy("path_id")
        .agg(F.countDistinct("u_svc").alias("u_n"), F.min("u_svc").alias("u_svc"))
        .filter(F.col("u_n") == 1)
        .select("path_id", F.col("u_svc").alias("cluster_svc"))
    )
    p = (
        roots.join(per_path, "path_id", "left")
        .join(ep_svc, "path_id", "left")
        .join(cluster_svc, "path_id", "left")
    )
    upstream_svc = F.coalesce(
        F.nullif(F.regexp_extract(F.col("r_upstream_service"), r"^([^/:]+/[^/:]+)", 1), F.lit("")),
        F.col("cluster_svc"),
    )
    flow_svc = F.when(F.size(F.col("last.flow_services")) == 1, F.col("last.flow_services")[0])
    ep_one = F.when(F.size(F.col("ep_services")) == 1, F.col("ep_services")[0])
    p = (
        p.withColumn(
            "svc",
            F.coalesce(F.nullif(upstream_svc, F.lit("")), F.col("last.vip_service"), flow_svc, ep_one),
        )
        .withColumn(
            "svc_evidence",
            F.when(F.nullif(upstream_svc, F.lit("")).isNotNull(), "ingress_log")
            .when(F.col("last.vip_service").isNotNull(), "cluster_ip")
            .when(flow_svc.isNotNull(), "flow")
            .when(ep_one.isNotNull(), "endpoint_slice"),
        )
        .withColumn(
            "svc_ambiguous", F.col("svc").isNull() & (F.size(F.coalesce(F.col("ep_services"), F.array())) > 1)
        )
    )

    has_attempts = F.size("r_attempts") > 0
    target_known = F.col("last.tpod").isNotNull() | F.col("last.srv").isNotNull()
    network_expected = F.coalesce(F.col("last.r_node_flows"), F.lit(False)) | F.coalesce(
        F.col("last.t_node_flows"), F.lit(False)
    )
    server_expected = F.coalesce(F.col("last.instrumented"), F.lit(False))
    missing = F.filter(
        F.array(
            F.when(F.col("svc").isNull() & ~F.col("svc_ambiguous"), F.lit("service")),
            F.when(
                ~target_known & ~F.coalesce(F.col("last.target_ambiguous"), F.lit(False)), F.lit("target")
            ),
            F.when(network_expected & (F.coalesce(F.col("last.n_flows"), F.lit(0)) == 0), F.lit("network")),
            F.when(
                server_expected
                & F.col("last.srv").isNull()
                & ~F.coalesce(F.col("last.srv_ambiguous"), F.lit(False)),
                F.lit("server"),
            ),
        ),
        lambda x: x.isNotNull(),
    )
    p = p.withColumn("missing_segments", F.when(has_attempts, missing).otherwise(F.array(F.lit("target"))))
    ambiguous = F.coalesce(F.col("any_ambiguous"), F.lit(False)) | F.col("svc_ambiguous")
    # Where the request went is the point: with no target (not even from the server side)
    # the path has failed, whatever else is known about it.
    nothing_resolves = ~has_attempts
    p = p.withColumn(
        "completeness",
        F.when(ambiguous, "ambiguous")
        .when(nothing_resolves | ~target_known, "failed")
        .when(F.size("missing_segments") > 0, "partial")
        .otherwise("complete"),
    )

    # Per-path clock offset and skew: the answering server's interval must sit inside the
    # request's interval; beyond the tolerance the clocks disagree.
    srv_start = _us(F.col("last.srv.s_start"))
    srv_end = _us(F.col("last.srv.s_end"))
    p = p.withColumn(
        "clock_offset_us",
        F.when(
            F.col("last.srv").isNotNull() & (F.size("r_attempts") == 1),
            ((srv_start + srv_end - _us(F.col("r_start")) - _us(F.col("r_end"))) / 2).cast("long"),
        ),
    ).withColumn(
        "skewed",
        F.col("last.srv").isNotNull()
        & (
            (srv_start < _us(F.col("r_start")) - params.skew_tolerance_us)
            | (srv_end > _us(F.col("r_end_hi")) + params.skew_tolerance_us)
        ),
    )

    # Hops: LB -> ingress, the ingress itself, every upstream attempt, then downstream hops
    # that share the request's ids.
    ds = downstream.groupBy("path_id").agg(
        F.sort_array(
            F.collect_list(
                F.struct(
                    F.col("s_start").alias("k"),
                    F.col("s_id").alias("k2"),
                    F.struct(
                        F.lit(None).cast("int").alias("seq"),
                        F.lit("downstream").alias("kind"),
                        F.lit(None).cast("int").alias("attempt"),
                        F.col("s_src_ip").alias("from_addr"),
                        F.lit(None).cast("string").alias("to_addr"),
                        F.lit(None).cast("string").alias("service"),
                        F.lit(None).cast("string").alias("routing"),
                        F.col("s_ns").alias("namespace"),
                        F.col("s_pod").alias("pod"),
                        F.col("s_container").alias("container"),
                        F.col("s_node").alias("node"),
                        F.col("s_evidence").alias("evidence"),
                        F.lit(None).cast("string").alias("network_evidence"),
                        F.col("s_start").alias("start_time"),
                        F.col("s_end").alias("end_time"),
                        (_us(F.col("s_end")) - _us(F.col("s_start"))).alias("latency_us"),
                        F.col("s_status").alias("status"),
                        F.array(F.col("s_id")).alias("record_ids"),
                    ).alias("h"),
                )
            )
        ).alias("ds_hops")
    )
    p = _cut(p.join(ds, "path_id", "left"))
    lb_hop = F.when(
        F.col("r_lb_ip").isNotNull(),
        F.struct(
            F.lit(None).cast("int").alias("seq"),
            F.lit("client_to_ingress").alias("kind"),
            F.lit(None).cast("int").alias("attempt"),
            F.col("r_client_ip").alias("from_addr"),
            F.col("r_lb_ip").alias("to_addr"),
            F.lit(None).cast("string").alias("service"),
            F.lit("load_balancer").alias("routing"),
            F.col("r_ns").alias("namespace"),
            F.col("r_pod").alias("pod"),
            F.lit(None).cast("string").alias("container"),
            F.col("r_node").alias("node"),
            F.lit("ingress_log").alias("evidence"),
            F.lit(None).cast("string").alias("network_evidence"),
            F.col("r_start").alias("start_time"),
            F.col("r_end").alias("end_time"),
            F.lit(None).cast("long").alias("latency_us"),
            F.lit(None).cast("int").alias("status"),
            F.array().cast("array<string>").alias("record_ids"),
        ),
    )
    ingress_hop = F.struct(
        F.lit(None).cast("int").alias("seq"),
        F.lit("ingress").alias("kind"),
        F.lit(None).cast("int").alias("attempt"),
        F.coalesce(F.col("r_lb_ip"), F.col("r_client_ip")).alias("from_addr"),
        F.col("ingress_ip").alias("to_addr"),
        F.col("svc").alias("service"),
        F.lit(None).cast("string").alias("routing"),
        F.col("r_ns").alias("namespace"),
        F.col("r_pod").alias("pod"),
        F.lit(None).cast("string").alias("container"),
        F.col("r_node").alias("node"),
        F.lit("ingress_log").alias("evidence"),
        F.lit(None).cast("string").alias("network_evidence"),
        F.col("r_start").alias("start_time"),
        F.col("r_end").alias("end_time"),
        F.col("r_duration").alias("latency_us"),
        F.col("r_status").alias("status"),
        F.array(F.col("path_id")).alias("record_ids"),
    )
    raw_hops = F.concat(
        F.filter(F.array(lb_hop), lambda h: h.isNotNull()),
        F.array(ingress_hop),
        F.transform(
            F.coalesce(F.col("att_hops"), F.array().cast("array<struct<k:int,h:" + _hop_ddl() + ">>")),
            lambda x: x["h"],
        ),
        F.transform(
            F.coalesce(
                F.col("ds_hops"), F.array().cast("array<struct<k:timestamp,k2:string,h:" + _hop_ddl() + ">>")
            ),
            lambda x: x["h"],
        ),
    )
    hops = F.transform(raw_hops, lambda h, i: _finish_hop(h, i))
    p = p.withColumn("hops", hops)
    p = p.withColumn(
        "confidence",
        F.when(F.col("completeness") == "failed", F.lit(0.0)).otherwise(
            F.array_min(
                F.transform(
                    F.filter(F.col("hops"), lambda h: h["kind"] == "upstream_attempt"),
                    lambda h: F.coalesce(h["confidence"], F.lit(0.0)),
                )
            )
        ),
    )

    # --- issues ---------------------------------------------------------------------------
    gaps_j = gaps.select(F.col("node").alias("g_node"), F.col("table").alias("g_table"), "gap_from", "gap_to")
    miss = p.select(
        "path_id",
        "r_rid",
        "r_tid",
        "r_start",
        "r_end",
        "r_node",
        F.col("last.t_node").alias("t_node"),
        F.explode("missing_segments").alias("segment"),
    )
    responsible = (
        F.when(F.col("segment") == "server", F.array(F.col("t_node")))
        .when(F.col("segment") == "network", F.array(F.col("r_node"), F.col("t_node")))
        .otherwise(F.array().cast("array<string>"))
    )
    tables_for = (
        F.when(F.col("segment") == "server", F.array(F.lit("http_requests"), F.lit("spans")))
        .when(F.col("segment") == "network", F.array(F.lit("flows")))
        .otherwise(F.array().cast("array<string>"))
    )
    miss_gap = (
        miss.select("*", F.explode_outer(responsible).alias("resp_node"), tables_for.alias("resp_tables"))
        .join(
            gaps_j,
            (F.col("resp_node") == F.col("g_node"))
            & F.array_contains(F.col("resp_tables"), F.col("g_table"))
            & (F.col("gap_from") <= F.col("r_end"))
            & (F.col("gap_to") >= F.col("r_start")),
            "left",
        )
        .groupBy("path_id", "r_rid", "r_tid", "r_end", "r_node", "segment")
        .agg(
            F.sort_array(
                F.collect_set(F.when(F.col("g_node").isNotNull(), F.concat_ws("/", "g_node", "g_table")))
            ).alias("gap_keys"),
        )
    )
    is_gap = F.size("gap_keys") > 0
    issues_missing = miss_gap.select(
        "path_id",
        "r_rid",
        "r_tid",
        "r_end",
        F.col("r_node").alias("i_node"),
        F.when(is_gap, "agent_gap").otherwise("missing_segment").alias("reason"),
        "segment",
        F.to_json(F.struct(F.col("segment"), F.col("gap_keys").alias("agent_gaps"))).alias("evidence"),
    )
    base = p.select("path_id", "r_rid", "r_tid", "r_end", F.col("r_node").alias("i_node"), "*")
    issue_cols = ["path_id", "r_rid", "r_tid", "r_end", "i_node", "reason", "segment", "evidence"]
    amb = att.filter(F.col("srv_ambiguous") | F.col("target_ambiguous")).select(
        "path_id",
        F.lit(None).cast("string").alias("r_rid"),
        F.lit(None).cast("string").alias("r_tid"),
        F.col("r_end"),
        F.col("r_node").alias("i_node"),
        F.lit("ambiguous_candidates").alias("reason"),
        F.when(F.col("target_ambiguous"), "target").otherwise("server").alias("segment"),
        F.to_json(
            F.struct(
                F.col("attempt_no").alias("attempt"),
                F.coalesce(F.col("srv_candidates"), F.array().cast("array<string>")).alias(
                    "server_candidates"
                ),
                F.when(F.col("target_ambiguous"), F.col("flow_dsts")).alias("target_candidates"),
            )
        ).alias("evidence"),
    )
    amb = (
        amb.drop("r_rid", "r_tid").join(p.select("path_id", "r_rid", "r_tid"), "path_id").select(*issue_cols)
    )
    svc_amb = base.filter("svc_ambiguous").select(
        "path_id",
        "r_rid",
        "r_tid",
        "r_end",
        "i_node",
        F.lit("ambiguous_candidates").alias("reason"),
        F.lit("service").alias("segment"),
        F.to_json(F.struct(F.col("ep_services").alias("service_candidates"))).alias("evidence"),
    )
    unattributed = base.filter(F.coalesce(F.col("any_unattributed"), F.lit(False))).select(
        "path_id",
        "r_rid",
        "r_tid",
        "r_end",
        "i_node",
        F.lit("unattributed_ip").alias("reason"),
        F.lit("target").alias("segment"),
        F.to_json(F.struct(F.col("unattributed_addrs").alias("addresses"))).alias("evidence"),
    )
    dup_r = base.filter(F.col("dup_rid").isNotNull()).select(
        "path_id",
        "r_rid",
        "r_tid",
        "r_end",
        "i_node",
        F.lit("duplicate_request_id").alias("reason"),
        F.lit(None).cast("string").alias("segment"),
        F.to_json(F.struct(F.col("dup_rid").alias("request_id"), F.col("dup_rid_n").alias("requests"))).alias(
            "evidence"
        ),
    )
    dup_t = base.filter(F.col("dup_tid").isNotNull()).select(
        "path_id",
        "r_rid",
        "r_tid",
        "r_end",
        "i_node",
        F.lit("duplicate_trace_id").alias("reason"),
        F.lit(None).cast("string").alias("segment"),
        F.to_json(F.struct(F.col("dup_tid").alias("trace_id"), F.col("dup_tid_n").alias("requests"))).alias(
            "evidence"
        ),
    )
    skew = base.filter("skewed").select(
        "path_id",
        "r_rid",
        "r_tid",
        "r_end",
        "i_node",
        F.lit("clock_skew").alias("reason"),
        F.lit("server").alias("segment"),
        F.to_json(
            F.struct(
                F.col("last.srv.s_node").alias("server_node"),
                F.col("clock_offset_us").alias("offset_us"),
                F.lit(params.skew_tolerance_us).alias("tolerance_us"),
            )
        ).alias("evidence"),
    )
    issues = (
        issues_missing.select(*issue_cols)
        .unionByName(amb)
        .unionByName(svc_amb.select(*issue_cols))
        .unionByName(unattributed.select(*issue_cols))
        .unionByName(dup_r.select(*issue_cols))
        .unionByName(dup_t.select(*issue_cols))
        .unionByName(skew.select(*issue_cols))
    )
    issues = _finish_issues(issues, params)
    reasons = issues.groupBy("path_id").agg(F.sort_array(F.collect_set("reason")).alias("issue_reasons"))
    p = p.join(reasons, "path_id", "left")

    paths = p.select(
        "path_id",
        F.col("r_window").alias("window_start"),
        F.to_date("r_end").alias("event_date"),
        F.col("r_rid").alias("request_id"),
        F.col("r_tid").alias("trace_id"),
        F.col("r_start").alias("start_time"),
        F.col("r_end").alias("end_time"),
        F.coalesce(F.col("r_duration"), _us(F.col("r_end")) - _us(F.col("r_start"))).alias("duration_us"),
        F.col("r_method").alias("method"),
        F.col("r_authority").alias("authority"),
        F.col("r_path").alias("path"),
        F.col("r_status").alias("status"),
        F.col("r_grpc").alias("grpc_status"),
        F.col("r_client_ip").alias("client_ip"),
        F.col("r_lb_ip").alias("lb_ip"),
        F.col("r_ns").alias("ingress_namespace"),
        F.col("r_pod").alias("ingress_pod"),
        F.col("r_node").alias("ingress_node"),
        F.col("r_proxy").alias("ingress_proxy"),
        F.split(F.col("svc"), "/")[0].alias("service_namespace"),
        F.split(F.col("svc"), "/")[1].alias("service_name"),
        F.col("svc_evidence").alias("service_evidence"),
        F.col("last.routing").alias("routing"),
        F.coalesce(F.col("last.target_ip"), F.when(F.col("last.target_from_server"), F.lit(None))).alias(
            "target_ip"
        ),
        F.col("last.target_port").alias("target_port"),
        F.coalesce(F.col("last.tpod.ns"), F.col("last.srv.s_ns")).alias("target_namespace"),
        F.coalesce(F.col("last.tpod.pod"), F.col("last.srv.s_pod")).alias("target_pod"),
        F.col("last.t_container").alias("target_container"),
        F.col("last.t_node").alias("target_node"),
        F.col("last.tpod.workload").alias("target_workload"),
        F.size("r_attempts").alias("attempts"),
        F.greatest(F.size("r_attempts") - 1, F.lit(0)).alias("retries"),
        "hops",
        F.size("hops").alias("hop_count"),
        "completeness",
        "missing_segments",
        F.coalesce(F.col("issue_reasons"), F.array().cast("array<string>")).alias("issue_reasons"),
        "confidence",
        "clock_offset_us",
        F.lit(params.is_final).alias("is_final"),
        F.lit(params.correlator_version).alias("correlator_version"),
    )
    # An ambiguous path names no target: the candidates are in its issue rows.
    amb_target = F.col("completeness") == "ambiguous"
    for c in (
        "target_ip",
        "target_port",
        "target_namespace",
        "target_pod",
        "target_container",
        "target_node",
        "target_workload",
    ):
        paths = paths.withColumn(c, F.when(~amb_target, F.col(c)))
    offsets = conform(pair_offsets, OFFSETS_SCHEMA)
    return Correlation(conform(paths, PATHS_SCHEMA), issues, offsets)


def _hop_ddl() -> str:
    """The hop struct before confidence is derived from its evidence."""
    return StructType([f for f in HOP.fields if f.name != "confidence"]).simpleString()


def _finish_hop(h: Column, i: Column) -> Column:
    ev = h["evidence"]
    conf = F.coalesce(
        F.when(ev.isin("ingress_log", "ingress_upstream"), F.lit(1.0))
        .when(ev == "flow_translation", F.lit(CONFIDENCE["connection_tuple"]))
        .when(ev == "request_id", F.lit(CONFIDENCE["request_id"]))
        .when(ev == "trace_context", F.lit(CONFIDENCE["trace_context"]))
        .when(ev == "connection_tuple", F.lit(CONFIDENCE["connection_tuple"]))
        .when(ev == "endpoint_window", F.lit(CONFIDENCE["endpoint_window"])),
        F.lit(0.0),
    )
    parts = []
    for f in HOP.fields:
        if f.name == "seq":
            parts.append((i + 1).cast("int").alias("seq"))
        elif f.name == "confidence":
            parts.append(conf.alias("confidence"))
        else:
            parts.append(h[f.name].alias(f.name))
    return F.struct(*parts)


def _finish_issues(issues: DataFrame, params: CorrelateParams) -> DataFrame:
    win_s = params.window_minutes * 60
    ws = _ts(F.floor(F.unix_seconds(F.col("r_end")) / win_s) * win_s * 1_000_000)
    out = issues.select(
        F.sha2(
            F.concat_ws(
                "|",
                F.col("path_id"),
                F.col("reason"),
                F.coalesce(F.col("segment"), F.lit("")),
                F.col("evidence"),
            ),
            256,
        )
        .substr(1, 32)
        .alias("issue_id"),
        ws.alias("window_start"),
        F.to_date("r_end").alias("event_date"),
        F.col("r_end").alias("event_time"),
        "reason",
        "segment",
        "path_id",
        F.col("r_rid").alias("request_id"),
        F.col("r_tid").alias("trace_id"),
        F.col("i_node").alias("node"),
        "evidence",
        F.lit(params.is_final).alias("is_final"),
        F.lit(params.correlator_version).alias("correlator_version"),
    )
    return conform(out.dropDuplicates(["issue_id"]), ISSUES_SCHEMA)


def _ingress_ip(roots: DataFrame, pods: DataFrame) -> DataFrame:
    """The ingress pod's IP as of the request; its logged upstream socket when known."""
    iv = pods.select(
        _pod_key(F.col("namespace"), F.col("pod")).alias("ig_key"),
        F.col("ip").alias("ig_ip"),
        F.col("valid_from").alias("ig_from"),
        F.col("valid_to").alias("ig_to"),
    )
    j = roots.withColumn("_rk", _pod_key(F.col("r_ns"), F.col("r_pod"))).join(
        iv,
        (F.col("_rk") == F.col("ig_key"))
        & (F.col("ig_from") <= F.col("r_start"))
        & (F.col("ig_to").isNull() | (F.col("r_start") < F.col("ig_to"))),
        "left",
    )
    w = Window.partitionBy("path_id").orderBy(F.col("ig_from").desc_nulls_last(), F.col("ig_ip"))
    return (
        j.withColumn("_rn", F.row_number().over(w))
        .filter(F.col("_rn") == 1)
        .withColumn("ingress_ip", F.coalesce(F.col("r_local_ip"), F.col("ig_ip")))
        .drop("_rn", "_rk", "ig_key", "ig_ip", "ig_from", "ig_to")
    )
