"""Silver: hop observations normalized from every source, deduplicated by ``record_id``,
and validity intervals of pod IPs and Service addresses for as-of resolution.

Every function here is DataFrame -> DataFrame and deterministic.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DateType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from .tables import TableSpec, register

ATTEMPT = StructType(
    [
        StructField("address", StringType()),
        StructField("port", IntegerType()),
        StructField("status", IntegerType()),
        StructField("duration_us", LongType()),
    ]
)

HOPS_SCHEMA = StructType(
    [
        StructField("record_id", StringType()),
        StructField("source_table", StringType()),
        StructField("source", StringType()),
        StructField("node", StringType()),
        StructField("schema_version", IntegerType()),
        StructField("event_time", TimestampType()),
        StructField("start_time", TimestampType()),
        StructField("event_date", DateType()),
        StructField("side", StringType()),
        StructField("role", StringType()),
        StructField("proxy", StringType()),
        StructField("namespace", StringType()),
        StructField("pod", StringType()),
        StructField("container", StringType()),
        StructField("request_id", StringType()),
        StructField("trace_id", StringType()),
        StructField("span_id", StringType()),
        StructField("parent_span_id", StringType()),
        # Root of X-Amzn-Trace-Id when the proxy logs it: the key to the load balancer's record.
        StructField("amzn_trace_id", StringType()),
        # The client's User-Agent as the proxy logged it (bounded by the contract): the load
        # balancer logs it too, which tells apart requests that agree on everything else.
        StructField("user_agent", StringType()),
        StructField("src_ip", StringType()),
        StructField("src_port", IntegerType()),
        StructField("dst_ip", StringType()),
        StructField("dst_port", IntegerType()),
        StructField("orig_dst_ip", StringType()),
        StructField("orig_dst_port", IntegerType()),
        StructField("method", StringType()),
        StructField("authority", StringType()),
        StructField("path", StringType()),
        StructField("protocol", StringType()),
        StructField("status", IntegerType()),
        StructField("grpc_status", IntegerType()),
        StructField("duration_us", LongType()),
        StructField("upstream_service", StringType()),
        # The proxy's upstream name as logged (ingress-nginx: <namespace>-<service>-<port>).
        StructField("upstream_cluster", StringType()),
        StructField("client_ip", StringType()),
        StructField("lb_ip", StringType()),
        StructField("attempts", ArrayType(ATTEMPT)),
        StructField("flow_event_type", StringType()),
        # SYN / FIN / RST mark a connection's open and close (per-connection flows).
        StructField("tcp_flags", StringType()),
        StructField("flow_direction", StringType()),
        StructField("flow_verdict", StringType()),
        StructField("dst_service", StringType()),
        StructField("hop_key", StringType()),
        StructField("evidence_kind", StringType()),
        StructField("_ingest_time", TimestampType()),
        StructField("_source_file", StringType()),
    ]
)

POD_IP_INTERVALS_SCHEMA = StructType(
    [
        StructField("ip", StringType()),
        StructField("valid_from", TimestampType()),
        StructField("valid_to", TimestampType()),
        StructField("entity", StringType()),  # pod | node
        StructField("pod_uid", StringType()),
        StructField("namespace", StringType()),
        StructField("pod", StringType()),
        StructField("node", StringType()),
        StructField("workload", StringType()),
        StructField(
            "containers",
            ArrayType(
                StructType(
                    [StructField("name", StringType()), StructField("ports", ArrayType(IntegerType()))]
                )
            ),
        ),
    ]
)

SERVICE_ENDPOINT_INTERVALS_SCHEMA = StructType(
    [
        StructField("addr_kind", StringType()),  # cluster_ip | endpoint | node_port
        StructField("ip", StringType()),
        StructField("port", IntegerType()),
        StructField("valid_from", TimestampType()),
        StructField("valid_to", TimestampType()),
        StructField("service_namespace", StringType()),
        StructField("service_name", StringType()),
        StructField("target_port", StringType()),
        StructField("ready", StringType()),
        StructField("target_pod", StringType()),
        StructField("target_uid", StringType()),
        StructField("target_node", StringType()),
    ]
)

register(
    TableSpec(
        "silver",
        "hops",
        columns=lambda: HOPS_SCHEMA,
        cluster_by=("event_time", "node"),
        retention_days=180,
        retention_column="event_date",
        comment="Hop observations from http_requests, flows and spans, one row per record_id.",
    )
)
register(
    TableSpec(
        "silver",
        "pod_ip_intervals",
        columns=lambda: POD_IP_INTERVALS_SCHEMA,
        cluster_by=("ip",),
        comment="Which pod (or node) held an IP, and when: rebuilt from k8s_objects.",
    )
)
register(
    TableSpec(
        "silver",
        "service_endpoint_intervals",
        columns=lambda: SERVICE_ENDPOINT_INTERVALS_SCHEMA,
        cluster_by=("ip",),
        comment="Service ClusterIPs and EndpointSlice endpoints with validity intervals.",
    )
)


def conform(df: DataFrame, schema: StructType) -> DataFrame:
    """Select exactly ``schema``'s columns, typed; missing ones become null."""
    present = set(df.columns)
    return df.select(
        *[
            (F.col(f"`{f.name}`") if f.name in present else F.lit(None)).cast(f.dataType).alias(f.name)
            for f in schema.fields
        ]
    )


def _tuple_key(src_ip: Column, src_port: Column, dst_ip: Column, dst_port: Column) -> Column:
    return F.when(
        src_ip.isNotNull() & src_port.isNotNull() & dst_ip.isNotNull() & dst_port.isNotNull(),
        F.concat(F.lit("tcp:"), src_ip, F.lit(":"), src_port, F.lit(">"), dst_ip, F.lit(":"), dst_port),
    )


def _with_hop_key(df: DataFrame) -> DataFrame:
    """The strongest key the observation carries: the caller's span, the request id, the connection."""
    df = conform(df, HOPS_SCHEMA)
    caller_span = F.when(F.col("side") == "server", F.col("parent_span_id")).otherwise(F.col("span_id"))
    trace_key = F.when(
        F.col("trace_id").isNotNull() & caller_span.isNotNull(),
        F.concat(F.lit("trace:"), F.col("trace_id"), F.lit("/"), caller_span),
    )
    rid_key = F.when(F.col("request_id").isNotNull(), F.concat(F.lit("rid:"), F.col("request_id")))
    tuple_key = _tuple_key(F.col("src_ip"), F.col("src_port"), F.col("dst_ip"), F.col("dst_port"))
    kind = (
        F.when(trace_key.isNotNull(), "trace_context")
        .when(rid_key.isNotNull(), "request_id")
        .when(tuple_key.isNotNull(), "connection_tuple")
        .otherwise("none")
    )
    return df.withColumn("hop_key", F.coalesce(trace_key, rid_key, tuple_key)).withColumn(
        "evidence_kind", kind
    )


def _lineage(df: DataFrame) -> list[Column]:
    cols = set(df.columns)
    return [
        (F.col("_ingest_time") if "_ingest_time" in cols else F.lit(None).cast("timestamp")).alias(
            "_ingest_time"
        ),
        (F.col("_source_file") if "_source_file" in cols else F.lit(None).cast("string")).alias(
            "_source_file"
        ),
    ]


def normalize_http(df: DataFrame) -> DataFrame:
    """Proxy access-log rows. Inbound sidecars are the server side of the hop they terminate;
    ingresses, gateways and outbound sidecars are the client side of their upstream hop."""
    server = F.col("role") == "sidecar_inbound"
    # A request answered by the proxy itself (404, 429, a direct response) has no attempt.
    last_attempt = F.try_element_at(F.col("upstream_attempts"), F.lit(-1))
    attempts = F.transform(
        F.col("upstream_attempts"),
        lambda a: F.struct(
            a["address"].alias("address"),
            a["port"].alias("port"),
            a["status"].alias("status"),
            a["duration_us"].alias("duration_us"),
        ),
    )
    start = F.coalesce(
        F.col("start_time"),
        F.when(
            F.col("duration_us").isNotNull(),
            F.timestamp_micros(F.unix_micros(F.col("event_time")) - F.col("duration_us")),
        ),
    )
    has_xff = F.size(F.col("forwarded_for")) > 0
    out = df.select(
        F.col("record_id"),
        F.lit("http_requests").alias("source_table"),
        F.col("source"),
        F.col("node"),
        F.col("schema_version"),
        F.col("event_time"),
        start.alias("start_time"),
        F.to_date("event_time").alias("event_date"),
        F.when(server, "server").otherwise("client").alias("side"),
        F.col("role"),
        F.col("proxy"),
        F.col("namespace"),
        F.col("pod"),
        F.col("container"),
        F.col("request_id"),
        F.col("trace_id"),
        F.col("span_id"),
        F.lit(None).cast("string").alias("parent_span_id"),
        F.col("amzn_trace_id"),
        F.col("user_agent"),
        F.when(server, F.col("downstream_remote_ip")).otherwise(F.col("upstream_local_ip")).alias("src_ip"),
        F.when(server, F.col("downstream_remote_port"))
        .otherwise(F.col("upstream_local_port"))
        .alias("src_port"),
        F.when(server, F.col("downstream_local_ip")).otherwise(last_attempt["address"]).alias("dst_ip"),
        F.when(server, F.col("downstream_local_port")).otherwise(last_attempt["port"]).alias("dst_port"),
        F.col("method"),
        F.col("authority"),
        F.col("path"),
        F.col("protocol"),
        F.col("status"),
        F.col("grpc_status"),
        F.col("duration_us"),
        F.col("upstream_service"),
        F.col("upstream_cluster"),
        F.when(has_xff, F.element_at(F.col("forwarded_for"), 1))
        .otherwise(F.col("downstream_remote_ip"))
        .alias("client_ip"),
        F.when(has_xff & (F.col("role").isin("ingress", "gateway")), F.col("downstream_remote_ip")).alias(
            "lb_ip"
        ),
        F.when(~server, attempts).alias("attempts"),
        *_lineage(df),
    )
    return conform(_with_hop_key(out), HOPS_SCHEMA)


def normalize_flows(df: DataFrame) -> DataFrame:
    """Flow events carry the connection (post-translation) and, when the datapath reports
    it, the Service address before translation."""
    svc = F.when(
        F.col("dst_service_name").isNotNull(),
        F.concat_ws("/", F.col("dst_service_namespace"), F.col("dst_service_name")),
    )
    out = df.filter(F.coalesce(F.col("is_reply"), F.lit(False)) == F.lit(False)).select(
        F.col("record_id"),
        F.lit("flows").alias("source_table"),
        F.col("source"),
        F.col("node"),
        F.col("schema_version"),
        F.col("event_time"),
        F.coalesce(F.col("flow_start_time"), F.col("event_time")).alias("start_time"),
        F.to_date("event_time").alias("event_date"),
        F.lit("network").alias("side"),
        F.lit("flow").alias("role"),
        F.col("src_namespace").alias("namespace"),
        F.col("src_pod").alias("pod"),
        F.col("request_id"),
        F.col("trace_id"),
        F.col("span_id"),
        F.col("src_ip"),
        F.col("src_port"),
        F.col("dst_ip"),
        F.col("dst_port"),
        F.col("pre_translation_dst_ip").alias("orig_dst_ip"),
        F.col("pre_translation_dst_port").alias("orig_dst_port"),
        F.col("http_method").alias("method"),
        F.col("http_path").alias("path"),
        F.col("http_protocol").alias("protocol"),
        F.col("http_status").alias("status"),
        F.col("l7_latency_us").alias("duration_us"),
        F.col("event_type").alias("flow_event_type"),
        F.col("tcp_flags"),
        F.col("traffic_direction").alias("flow_direction"),
        F.col("verdict").alias("flow_verdict"),
        svc.alias("dst_service"),
        *_lineage(df),
    )
    out = out.withColumn("side", F.lit("network"))
    return conform(_with_hop_key(out), HOPS_SCHEMA)


def normalize_spans(df: DataFrame) -> DataFrame:
    server = F.col("kind") == "SERVER"
    client = F.col("kind") == "CLIENT"
    out = df.select(
        F.col("record_id"),
        F.lit("spans").alias("source_table"),
        F.col("source"),
        F.col("node"),
        F.col("schema_version"),
        F.col("end_time").alias("event_time"),
        F.col("start_time"),
        F.to_date("end_time").alias("event_date"),
        F.when(server, "server").when(client, "client").otherwise("internal").alias("side"),
        F.concat(F.lit("span_"), F.lower(F.col("kind"))).alias("role"),
        F.col("k8s_namespace").alias("namespace"),
        F.col("k8s_pod").alias("pod"),
        F.col("k8s_container").alias("container"),
        F.col("request_id"),
        F.col("trace_id"),
        F.col("span_id"),
        F.col("parent_span_id"),
        F.when(server, F.col("peer_address")).alias("src_ip"),
        F.when(server, F.col("peer_port")).alias("src_port"),
        F.when(client, F.coalesce(F.col("peer_address"), F.col("server_address"))).alias("dst_ip"),
        F.when(client, F.coalesce(F.col("peer_port"), F.col("server_port"))).alias("dst_port"),
        F.coalesce(F.col("http_method"), F.col("rpc_method")).alias("method"),
        F.coalesce(F.col("url_path"), F.col("http_route")).alias("path"),
        F.col("http_status").alias("status"),
        F.col("grpc_status"),
        F.col("duration_us"),
        *_lineage(df),
    )
    return conform(_with_hop_key(out), HOPS_SCHEMA)


def dedup_by_record_id(df: DataFrame) -> DataFrame:
    """One row per record_id. A retried upload or a re-read after a crash repeats a
    record with the same content; the earliest ingested copy is kept so lineage is stable."""
    w = Window.partitionBy("record_id").orderBy(
        F.col("_ingest_time").asc_nulls_last(), F.col("_source_file").asc_nulls_last()
    )
    return df.withColumn("_rn", F.row_number().over(w)).filter(F.col("_rn") == 1).drop("_rn")


# --- as-of inventory -------------------------------------------------------------


def _close_intervals(df: DataFrame, by: list[str]) -> DataFrame:
    """Turn holders of one address (rows with ``from_raw`` and ``deleted_at``) into
    non-overlapping intervals: a holder ends at its deletion or when the next one starts."""
    w = Window.partitionBy(*by).orderBy(F.col("from_raw"), F.col("holder"))
    return (
        df.withColumn("_next", F.lead("from_raw").over(w))
        .withColumn("valid_to", F.least(F.col("deleted_at"), F.col("_next")))
        .withColumn("_prev_to", F.lag("valid_to").over(w))
        .withColumn("valid_from", F.greatest(F.col("from_raw"), F.col("_prev_to")))
        .filter(F.col("valid_to").isNull() | (F.col("valid_to") > F.col("valid_from")))
    )


def pod_ip_intervals(k8s: DataFrame) -> DataFrame:
    """IP -> pod (or node) validity intervals. Pod IPs are reused, so a late flow must
    resolve against the holder at its event time, not the current one. hostNetwork pods
    share their node's IP and are left out: the node interval covers that address."""
    pods = k8s.filter((F.col("kind") == "Pod") & ~F.coalesce(F.col("host_network"), F.lit(False)))
    deleted = (
        pods.filter(F.col("change_type") == "DELETED")
        .groupBy("uid")
        .agg(F.min("event_time").alias("deleted_at"))
    )
    held = (
        pods.select("*", F.explode("pod_ips").alias("ip"))
        .filter(F.col("ip").isNotNull() & (F.col("ip") != ""))
        .groupBy("ip", "uid")
        .agg(
            F.min("event_time").alias("first_seen"),
            F.min(F.coalesce(F.col("pod_start_time"), F.col("creation_time"))).alias("start_hint"),
            F.max_by(
                F.struct("namespace", "name", "node_name", "owner_kind", "owner_name", "containers"),
                F.col("event_time"),
            ).alias("latest"),
        )
        .join(deleted, "uid", "left")
        .select(
            "ip",
            F.col("uid").alias("holder"),
            F.least("first_seen", "start_hint").alias("from_raw"),
            "deleted_at",
            "latest",
        )
    )
    pod_rows = _close_intervals(held, ["ip"]).select(
        "ip",
        "valid_from",
        "valid_to",
        F.lit("pod").alias("entity"),
        F.col("holder").alias("pod_uid"),
        F.col("latest.namespace").alias("namespace"),
        F.col("latest.name").alias("pod"),
        F.col("latest.node_name").alias("node"),
        F.when(
            F.col("latest.owner_kind").isNotNull(),
            F.concat_ws("/", F.col("latest.owner_kind"), F.col("latest.owner_name")),
        ).alias("workload"),
        F.transform(
            F.col("latest.containers"),
            lambda c: F.struct(
                c["name"].alias("name"), F.transform(c["ports"], lambda p: p["port"]).alias("ports")
            ),
        ).alias("containers"),
    )
    nodes = k8s.filter(F.col("kind") == "Node")
    node_deleted = (
        nodes.filter(F.col("change_type") == "DELETED")
        .groupBy("uid")
        .agg(F.min("event_time").alias("deleted_at"))
    )
    node_held = (
        nodes.select("*", F.explode("node_internal_ips").alias("ip"))
        .groupBy("ip", "uid")
        .agg(F.min("event_time").alias("from_raw"), F.max_by("name", "event_time").alias("node_name"))
        .join(node_deleted, "uid", "left")
        .withColumnRenamed("uid", "holder")
    )
    node_rows = _close_intervals(node_held, ["ip"]).select(
        "ip",
        "valid_from",
        "valid_to",
        F.lit("node").alias("entity"),
        F.lit(None).cast("string").alias("pod_uid"),
        F.lit(None).cast("string").alias("namespace"),
        F.lit(None).cast("string").alias("pod"),
        F.col("node_name").alias("node"),
        F.lit("Node").alias("workload"),
        F.lit(None).alias("containers"),
    )
    return conform(pod_rows, POD_IP_INTERVALS_SCHEMA).unionByName(conform(node_rows, POD_IP_INTERVALS_SCHEMA))


def service_endpoint_intervals(k8s: DataFrame) -> DataFrame:
    """ClusterIP:port -> Service, and endpoint IP:port -> Service, each with validity."""
    services = k8s.filter(F.col("kind") == "Service")
    svc_deleted = (
        services.filter(F.col("change_type") == "DELETED")
        .groupBy("uid")
        .agg(F.min("event_time").alias("deleted_at"))
    )
    vips = (
        services.select("*", F.explode("cluster_ips").alias("ip"))
        .filter(F.col("ip").isNotNull() & (F.col("ip") != "None") & (F.col("ip") != ""))
        .select("*", F.explode("service_ports").alias("sp"))
        .groupBy("ip", F.col("sp.port").alias("port"), "uid")
        .agg(
            F.min("event_time").alias("from_raw"),
            F.max_by(
                F.struct("namespace", "name", F.col("sp.target_port").alias("target_port")), "event_time"
            ).alias("latest"),
        )
        .join(svc_deleted, "uid", "left")
        .withColumnRenamed("uid", "holder")
    )
    vip_rows = _close_intervals(vips, ["ip", "port"]).select(
        F.lit("cluster_ip").alias("addr_kind"),
        "ip",
        "port",
        "valid_from",
        "valid_to",
        F.col("latest.namespace").alias("service_namespace"),
        F.col("latest.name").alias("service_name"),
        F.col("latest.target_port").alias("target_port"),
    )

    slices = k8s.filter(F.col("kind") == "EndpointSlice")
    times = slices.select("uid", "event_time", "change_type").distinct()
    # Flatten each level before the next explode: nested-field pruning across several
    # generators trips the optimizer.
    eps = slices.filter(F.col("change_type") != "DELETED").select(
        "uid",
        "event_time",
        F.col("namespace").alias("service_namespace"),
        "service_name",
        "endpoint_ports",
        F.explode("endpoints").alias("ep"),
    )
    eps = eps.select(
        "uid",
        "event_time",
        "service_namespace",
        "service_name",
        "endpoint_ports",
        F.col("ep.addresses").alias("addresses"),
        F.col("ep.ready").cast("string").alias("ready"),
        F.col("ep.target_name").alias("target_pod"),
        F.col("ep.target_uid").alias("target_uid"),
        F.col("ep.node_name").alias("target_node"),
    )
    members = (
        eps.select("*", F.explode("addresses").alias("ip"))
        .select("*", F.explode("endpoint_ports").alias("epp"))
        .select(
            "uid",
            "event_time",
            "service_namespace",
            "service_name",
            "ip",
            F.col("epp.port").alias("port"),
            "ready",
            "target_pod",
            "target_uid",
            "target_node",
        )
    )
    key = ["uid", "service_namespace", "service_name", "ip", "port", "target_uid"]
    keys = members.select(*key).distinct()
    grid = (
        keys.join(times, "uid")
        .join(
            members.select(*key, "event_time", "ready", "target_pod", "target_node", F.lit(True).alias("_m")),
            [*key, "event_time"],
            "left",
        )
        .withColumn("present", F.col("_m").isNotNull())
    )
    w = Window.partitionBy(*key).orderBy("event_time")
    islands = (
        grid.withColumn("_next_t", F.lead("event_time").over(w))
        .withColumn("_flip", (F.col("present") != F.lag("present", 1, False).over(w)).cast("int"))
        .withColumn("_island", F.sum("_flip").over(w))
        .filter(F.col("present"))
        .groupBy(*key, "_island")
        .agg(
            F.min("event_time").alias("valid_from"),
            # An island that lasts through the slice's latest version is still open (max()
            # alone would skip that row's null and end it at the latest change).
            F.when(F.max(F.col("_next_t").isNull().cast("int")) == 1, F.lit(None).cast("timestamp"))
            .otherwise(F.max("_next_t"))
            .alias("valid_to"),
            F.max_by(F.struct("ready", "target_pod", "target_node"), "event_time").alias("latest"),
        )
    )
    ep_rows = islands.select(
        F.lit("endpoint").alias("addr_kind"),
        "ip",
        "port",
        "valid_from",
        "valid_to",
        "service_namespace",
        "service_name",
        F.lit(None).cast("string").alias("target_port"),
        F.col("latest.ready").alias("ready"),
        F.col("latest.target_pod").alias("target_pod"),
        "target_uid",
        F.col("latest.target_node").alias("target_node"),
    )
    # A NodePort is open on every node, so its rows carry no ip: the port alone names the
    # Service (what an instance-mode load balancer targets).
    node_ports = (
        services.select("*", F.explode("service_ports").alias("sp"))
        .filter(F.col("sp.node_port").isNotNull())
        .groupBy(F.col("sp.node_port").alias("port"), "uid")
        .agg(
            F.min("event_time").alias("from_raw"),
            F.max_by(
                F.struct("namespace", "name", F.col("sp.target_port").alias("target_port")), "event_time"
            ).alias("latest"),
        )
        .join(svc_deleted, "uid", "left")
        .withColumnRenamed("uid", "holder")
    )
    node_port_rows = _close_intervals(node_ports, ["port"]).select(
        F.lit("node_port").alias("addr_kind"),
        F.lit(None).cast("string").alias("ip"),
        "port",
        "valid_from",
        "valid_to",
        F.col("latest.namespace").alias("service_namespace"),
        F.col("latest.name").alias("service_name"),
        F.col("latest.target_port").alias("target_port"),
    )
    return (
        conform(vip_rows, SERVICE_ENDPOINT_INTERVALS_SCHEMA)
        .unionByName(conform(ep_rows, SERVICE_ENDPOINT_INTERVALS_SCHEMA))
        .unionByName(conform(node_port_rows, SERVICE_ENDPOINT_INTERVALS_SCHEMA))
    )
