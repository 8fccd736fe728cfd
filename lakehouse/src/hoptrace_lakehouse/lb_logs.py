"""The load-balancer hop: AWS Application Load Balancer access logs into Bronze
``lb_access_logs``, and the LB hop attached to the correlator's request paths.

ALBs deliver their own logs (gzip text, one space-separated line per request, a file per
LB node about every 5 minutes) to their own S3 prefix; no agent is involved. Parsing keeps
every documented field, never a query string, and never fails a batch: a line that does
not parse is kept (queries stripped) with ``parse_status = 'malformed'`` and counted.

Attaching pairs an ingress path with the LB record of the same request, strongest
evidence first: the ``X-Amzn-Trace-Id`` root when the ingress logs it; else the LB's
target (the ingress pod in IP target mode, a node and NodePort of the ingress Service in
instance mode) with the same method and path, the same client when the ingress knows it,
and the ingress interval inside the LB's. Several candidates stay ambiguous. Requests the
LB answered itself (target ``-``) become paths that end at the LB.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.types import (
    ArrayType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from .bronze import Platform, _local_path
from .correlate import CONFIDENCE, HOP, PATHS_SCHEMA, CorrelateParams, _finish_issues, _pod_key
from .silver import conform
from .tables import Tables, TableSpec, register

TABLE = "bronze.lb_access_logs"

# The documented field order (AWS "Access log entries", Application Load Balancers).
# Newer fields are appended by AWS: anything after the last known one is drift.
FIELDS: tuple[str, ...] = (
    "type",
    "time",
    "elb",
    "client:port",
    "target:port",
    "request_processing_time",
    "target_processing_time",
    "response_processing_time",
    "elb_status_code",
    "target_status_code",
    "received_bytes",
    "sent_bytes",
    "request",
    "user_agent",
    "ssl_cipher",
    "ssl_protocol",
    "target_group_arn",
    "trace_id",
    "domain_name",
    "chosen_cert_arn",
    "matched_rule_priority",
    "request_creation_time",
    "actions_executed",
    "redirect_url",
    "error_reason",
    "target:port_list",
    "target_status_code_list",
    "classification",
    "classification_reason",
    "conn_trace_id",
)
# Through the request line: older ALB formats stop at various points after it.
MIN_FIELDS = FIELDS.index("request") + 1
USER_AGENT_MAX = 256
PARSE_STATUSES: tuple[str, ...] = ("ok", "extra_fields", "missing_fields", "malformed")
LB_REASONS: tuple[str, ...] = ("lb_only",)

# A quoted field (with backslash escapes) or a bare token.
_TOKEN = r'"(?:[^"\\]|\\.)*"|[^ "]+'
# <prefix>/AWSLogs/<account>/elasticloadbalancing/<region>/yyyy/mm/dd/
#   <account>_elasticloadbalancing_<region>_<lb-id>_<end-time>_<lb-node-ip>_<random>.log.gz
_KEY = r"_([0-9]{8}T[0-9]{4}Z)_([0-9A-Fa-f.:]+)_[^_/]+\.log(?:\.gz)?$"
_URL = r"^(?:([A-Za-z][A-Za-z0-9+.-]*)://)?(\[[^\]]*\]|[^/?#:]*)(?::[0-9]*)?([^?#]*)"
_QUERY = r"\?[^ \"]*"

LB_ACCESS_LOGS_SCHEMA = StructType(
    [
        StructField("record_id", StringType()),
        StructField("event_time", TimestampType()),  # `time`: the LB sent the response
        StructField("event_date", DateType()),
        StructField("parse_status", StringType()),
        StructField("type", StringType()),
        StructField("elb", StringType()),
        StructField("client_ip", StringType()),
        StructField("client_port", IntegerType()),
        StructField("target_ip", StringType()),
        StructField("target_port", IntegerType()),
        StructField("request_processing_time", DoubleType()),
        StructField("target_processing_time", DoubleType()),
        StructField("response_processing_time", DoubleType()),
        StructField("elb_status_code", IntegerType()),
        StructField("target_status_code", IntegerType()),
        StructField("received_bytes", LongType()),
        StructField("sent_bytes", LongType()),
        StructField("method", StringType()),
        StructField("host", StringType()),
        StructField("path", StringType()),
        StructField("protocol", StringType()),
        StructField("user_agent", StringType()),
        StructField("ssl_cipher", StringType()),
        StructField("ssl_protocol", StringType()),
        StructField("target_group_arn", StringType()),
        StructField("trace_id", StringType()),
        StructField("domain_name", StringType()),
        StructField("chosen_cert_arn", StringType()),
        StructField("matched_rule_priority", IntegerType()),
        StructField("request_creation_time", TimestampType()),
        StructField("actions_executed", ArrayType(StringType())),
        StructField("redirect_path", StringType()),
        StructField("error_reason", StringType()),
        StructField("target_port_list", ArrayType(StringType())),
        StructField("target_status_code_list", ArrayType(IntegerType())),
        StructField("classification", StringType()),
        StructField("classification_reason", StringType()),
        StructField("conn_trace_id", StringType()),
        StructField("extra_fields", ArrayType(StringType())),
        StructField("raw_line", StringType()),
        StructField("lb_node_ip", StringType()),
        StructField("log_interval_end", TimestampType()),
        StructField("_source_file", StringType()),
        StructField("_ingest_time", TimestampType()),
        StructField("ingest_date", DateType()),
    ]
)

register(
    TableSpec(
        "bronze",
        "lb_access_logs",
        columns=lambda: LB_ACCESS_LOGS_SCHEMA,
        cluster_by=("event_date", "elb"),
        retention_days=30,
        retention_column="ingest_date",
        comment="ALB access-log lines, every field parsed, query strings removed; kept 30 days.",
        properties={
            "delta.logRetentionDuration": "interval 30 days",
            "delta.dataSkippingStatsColumns": "record_id,event_time,event_date,elb,ingest_date",
        },
    )
)


# --- parsing ------------------------------------------------------------------------------


def _dash(c: Column) -> Column:
    return F.when((c != "-") & (c != ""), c)


def _ts(c: Column) -> Column:
    return F.try_to_timestamp(c, F.lit("yyyy-MM-dd'T'HH:mm:ss[.SSSSSS][.SSS]X"))


def _addr(c: Column) -> tuple[Column, Column]:
    """``ip:port`` (IPv6 unbracketed: the last colon splits)."""
    m = F.regexp_extract(c, r"^(.+):([0-9]+)$", 1)
    p = F.regexp_extract(c, r"^(.+):([0-9]+)$", 2)
    return F.nullif(m, F.lit("")), F.nullif(p, F.lit("")).try_cast("int")


def _url_path(c: Column) -> Column:
    """The path of a URL or request target, never its query or fragment."""
    p = F.regexp_extract(c, _URL, 3)
    return F.when(c.isNotNull(), F.when(p == "", F.lit("/")).otherwise(p))


def _unquote(t: Column) -> Column:
    inner = F.substring(t, F.lit(2), F.length(t) - 2)
    return F.when(
        t.startswith('"') & t.endswith('"') & (F.length(t) >= 2),
        F.regexp_replace(inner, r"\\(.)", "$1"),
    ).otherwise(t)


def strip_queries(c: Column) -> Column:
    return F.regexp_replace(c, _QUERY, "")


def parse_lines(raw: DataFrame, ingest_time: Column | None = None) -> DataFrame:
    """Raw lines (``value``, ``_source_file``) -> ``lb_access_logs`` rows. Blank lines are
    dropped; every other line gives one row, whatever its shape."""
    ts_ingest = ingest_time if ingest_time is not None else F.current_timestamp()
    lines = raw.filter(F.trim(F.col("value")) != "")
    toks = F.regexp_extract_all(F.col("value"), F.lit(_TOKEN), 0)
    df = lines.select("value", "_source_file", toks.alias("_t"))
    # Staged columns: each regex and unquoting is computed once, not inlined into every
    # expression that reads it (a single projection grows past what codegen compiles).
    df = df.select(
        "*",
        F.size("_t").alias("_n"),
        *[_dash(_unquote(F.get(F.col("_t"), i))).alias(f"_f{i}") for i in range(len(FIELDS))],
    )

    def f(name: str) -> Column:
        return F.col(f"_f{FIELDS.index(name)}")

    df = df.withColumn("_req", F.regexp_extract_all(F.coalesce(f("request"), F.lit("")), F.lit(r"[^ ]+"), 0))
    df = df.withColumn("_time", _ts(f("time"))).withColumn(
        "_url", F.when(F.size("_req") == 3, _dash(F.get(F.col("_req"), 1)))
    )
    n = F.col("_n")
    time = F.col("_time")
    df = df.withColumn(
        "_status",
        F.when((n < MIN_FIELDS) | time.isNull() | f("elb").isNull(), "malformed")
        .when(n > len(FIELDS), "extra_fields")
        .when(n < len(FIELDS), "missing_fields")
        .otherwise("ok"),
    )
    client_ip, client_port = _addr(f("client:port"))
    target_ip, target_port = _addr(f("target:port"))
    req_parts = F.col("_req")
    req_ok = F.size(req_parts) == 3
    url = F.col("_url")
    host = F.nullif(F.regexp_extract(F.coalesce(url, F.lit("")), _URL, 2), F.lit(""))
    trace_root = F.nullif(
        F.regexp_extract(
            F.coalesce(f("trace_id"), F.lit("")), r"Root=([0-9A-Fa-f]+-[0-9A-Fa-f]{8}-[0-9A-Fa-f]{24})", 1
        ),
        F.lit(""),
    )
    status = F.col("_status")
    malformed = status == "malformed"

    def keep(c: Column) -> Column:
        return F.when(~malformed, c)

    def split_list(c: Column, sep: str) -> Column:
        return F.when(c.isNotNull(), F.filter(F.split(c, sep), lambda x: (x != "") & (x != "-")))

    key_end = F.regexp_extract(F.col("_source_file"), _KEY, 1)
    key_ip = F.regexp_extract(F.col("_source_file"), _KEY, 2)
    out = df.select(
        F.substring(F.sha2(F.col("value"), 256), 1, 32).alias("record_id"),
        keep(time).alias("event_time"),
        keep(F.to_date(time)).alias("event_date"),
        status.alias("parse_status"),
        keep(f("type")).alias("type"),
        keep(f("elb")).alias("elb"),
        keep(client_ip).alias("client_ip"),
        keep(client_port).alias("client_port"),
        keep(target_ip).alias("target_ip"),
        keep(target_port).alias("target_port"),
        keep(f("request_processing_time").try_cast("double")).alias("request_processing_time"),
        keep(f("target_processing_time").try_cast("double")).alias("target_processing_time"),
        keep(f("response_processing_time").try_cast("double")).alias("response_processing_time"),
        keep(f("elb_status_code").try_cast("int")).alias("elb_status_code"),
        keep(f("target_status_code").try_cast("int")).alias("target_status_code"),
        keep(f("received_bytes").try_cast("long")).alias("received_bytes"),
        keep(f("sent_bytes").try_cast("long")).alias("sent_bytes"),
        keep(F.when(req_ok, _dash(F.get(req_parts, 0)))).alias("method"),
        keep(host).alias("host"),
        keep(_url_path(url)).alias("path"),
        keep(F.when(req_ok, _dash(F.get(req_parts, 2)))).alias("protocol"),
        keep(F.substring(f("user_agent"), 1, USER_AGENT_MAX)).alias("user_agent"),
        keep(f("ssl_cipher")).alias("ssl_cipher"),
        keep(f("ssl_protocol")).alias("ssl_protocol"),
        keep(f("target_group_arn")).alias("target_group_arn"),
        keep(trace_root).alias("trace_id"),
        keep(f("domain_name")).alias("domain_name"),
        keep(f("chosen_cert_arn")).alias("chosen_cert_arn"),
        keep(f("matched_rule_priority").try_cast("int")).alias("matched_rule_priority"),
        keep(_ts(f("request_creation_time"))).alias("request_creation_time"),
        keep(split_list(f("actions_executed"), ",")).alias("actions_executed"),
        keep(_url_path(f("redirect_url"))).alias("redirect_path"),
        keep(f("error_reason")).alias("error_reason"),
        keep(split_list(f("target:port_list"), " ")).alias("target_port_list"),
        keep(F.transform(split_list(f("target_status_code_list"), " "), lambda x: x.try_cast("int"))).alias(
            "target_status_code_list"
        ),
        keep(f("classification")).alias("classification"),
        keep(f("classification_reason")).alias("classification_reason"),
        keep(f("conn_trace_id")).alias("conn_trace_id"),
        keep(
            F.when(
                n > len(FIELDS),
                F.transform(F.slice("_t", len(FIELDS) + 1, n), lambda x: strip_queries(_unquote(x))),
            )
        ).alias("extra_fields"),
        F.when(malformed, strip_queries(F.col("value"))).alias("raw_line"),
        F.nullif(key_ip, F.lit("")).alias("lb_node_ip"),
        F.try_to_timestamp(F.nullif(key_end, F.lit("")), F.lit("yyyyMMdd'T'HHmmX")).alias("log_interval_end"),
        F.col("_source_file"),
        ts_ingest.alias("_ingest_time"),
        F.to_date(ts_ingest).alias("ingest_date"),
    )
    return conform(out, LB_ACCESS_LOGS_SCHEMA)


# --- ingestion ------------------------------------------------------------------------------


def make_source(
    spark: SparkSession, lb_root: str, *, platform: Platform, max_files_per_trigger: int = 1000
) -> DataFrame:
    """A streaming DataFrame of the ALB log lines under ``lb_root``: ``value`` and
    ``_source_file``. Auto Loader on Databricks, Spark's text source locally; both read
    the gzip files as they are."""
    if platform == "databricks":
        df = (
            spark.readStream.format("cloudFiles")
            .option("cloudFiles.format", "text")
            .option("cloudFiles.useManagedFileEvents", "true")
            .option("cloudFiles.maxFilesPerTrigger", str(max_files_per_trigger))
            # yyyy/mm/dd directories are not partitions.
            .option("cloudFiles.partitionColumns", "")
            .option("pathGlobFilter", "*.log.gz")
            .load(lb_root)
        )
    else:
        Path(_local_path(lb_root)).mkdir(parents=True, exist_ok=True)
        df = (
            spark.readStream.format("text")
            .option("recursiveFileLookup", "true")
            .option("pathGlobFilter", "*.{log,gz}")
            .option("maxFilesPerTrigger", str(max_files_per_trigger))
            .load(lb_root)
        )
    return df.select("value", F.col("_metadata.file_path").alias("_source_file"))


def _app_id(checkpoint: str) -> str:
    return f"hoptrace-lb-logs-{hashlib.sha256(checkpoint.encode()).hexdigest()[:12]}"


def start_lb_stream(
    spark: SparkSession,
    tables: Tables,
    lb_root: str,
    checkpoint_root: str,
    *,
    platform: Platform,
    available_now: bool = True,
    processing_time: str = "60 seconds",
    max_files_per_trigger: int = 1000,
) -> StreamingQuery:
    checkpoint = f"{checkpoint_root.rstrip('/')}/bronze/lb_access_logs"
    source = make_source(spark, lb_root, platform=platform, max_files_per_trigger=max_files_per_trigger)
    app_id = _app_id(checkpoint)

    def write(batch: DataFrame, batch_id: int) -> None:
        tables.append(parse_lines(batch), TABLE, txn=(app_id, batch_id))

    writer = (
        source.writeStream.queryName("bronze_lb_access_logs")
        .option("checkpointLocation", checkpoint)
        .foreachBatch(write)
    )
    writer = (
        writer.trigger(availableNow=True) if available_now else writer.trigger(processingTime=processing_time)
    )
    return writer.start()


def read_lb_logs(spark: SparkSession, tables: Tables) -> DataFrame | None:
    """The Bronze table, or None where it was never created (a deployment without LB logs)."""
    if tables.is_local:
        if not (Path(tables.path(TABLE)) / "_delta_log").exists():
            return None
    elif not spark.catalog.tableExists(tables.name(TABLE).replace("`", "")):
        return None
    return tables.read(spark, TABLE)


def lb_window(
    spark: SparkSession, tables: Tables, ws: datetime, we: datetime, pad: timedelta
) -> DataFrame | None:
    """Parsed LB records near ``[ws, we)``, one per record_id; None when there are none."""
    lb = read_lb_logs(spark, tables)
    if lb is None:
        return None
    lo, hi = ws - pad, we + pad
    lb = (
        lb.filter((F.col("event_date") >= F.lit(lo.date())) & (F.col("event_date") <= F.lit(hi.date())))
        .filter((F.col("event_time") >= F.lit(lo)) & (F.col("event_time") < F.lit(hi)))
        .filter(F.col("parse_status") != "malformed")
        .dropDuplicates(["record_id"])
    )
    return None if lb.isEmpty() else lb


def landed_through(
    lb: DataFrame, as_of: datetime, lookback: timedelta = timedelta(hours=1)
) -> datetime | None:
    """The end of the newest log interval every recently delivering LB node has landed:
    LB records of a window are complete once this passes the window's end. None when no
    LB node delivered within ``lookback``."""
    recent = lb.filter(F.col("log_interval_end") >= F.lit(as_of - lookback))
    row = (
        recent.groupBy("elb", "lb_node_ip")
        .agg(F.max("log_interval_end").alias("through"))
        .agg(F.min("through").alias("t"))
        .first()
    )
    return None if row is None else row["t"]


# --- the LB hop -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LbAttachment:
    paths: DataFrame
    issues: DataFrame


def _hop_ddl_full() -> str:
    return HOP.simpleString()


def _lb_hop(prefix: str, *, to_ingress: bool) -> Column:
    """The LB record as a hop: client (as the LB saw it) -> target, the LB's own times."""

    def c(name: str) -> Column:
        return F.col(f"{prefix}{name}")

    addr = F.concat_ws(":", c("client_ip"), c("client_port").cast("string"))
    target = F.when(
        c("target_ip").isNotNull(), F.concat_ws(":", c("target_ip"), c("target_port").cast("string"))
    )
    return F.struct(
        F.lit(None).cast("int").alias("seq"),
        F.lit("client_to_ingress").alias("kind"),
        F.lit(None).cast("int").alias("attempt"),
        addr.alias("from_addr"),
        target.alias("to_addr"),
        c("elb").alias("service"),
        (c("routing") if to_ingress else F.concat_ws(",", c("actions_executed"))).alias("routing"),
        (F.col("ingress_namespace") if to_ingress else F.lit(None).cast("string")).alias("namespace"),
        (F.col("ingress_pod") if to_ingress else F.lit(None).cast("string")).alias("pod"),
        F.lit(None).cast("string").alias("container"),
        (F.col("ingress_node") if to_ingress else F.lit(None).cast("string")).alias("node"),
        F.lit("lb_log").alias("evidence"),
        (c("match") if to_ingress else F.lit(None).cast("string")).alias("network_evidence"),
        (c("confidence") if to_ingress else F.lit(1.0)).cast("double").alias("confidence"),
        F.coalesce(c("request_creation_time"), c("event_time")).alias("start_time"),
        c("event_time").alias("end_time"),
        (
            F.unix_micros(c("event_time"))
            - F.unix_micros(F.coalesce(c("request_creation_time"), c("event_time")))
        ).alias("latency_us"),
        c("elb_status_code").alias("status"),
        F.array(c("record_id")).alias("record_ids"),
    ).cast(_hop_ddl_full())


def _resolve_targets(lb: DataFrame, pods: DataFrame, services: DataFrame) -> DataFrame:
    """Each LB record with a target -> the pods it can have reached, as of the request:
    the pod holding the target IP (IP target mode), or the endpoints of the Service owning
    the NodePort on a node IP (instance mode)."""
    at = F.coalesce(F.col("request_creation_time"), F.col("event_time"))
    live = lambda p: (F.col(f"{p}valid_from") <= at) & (  # noqa: E731
        F.col(f"{p}valid_to").isNull() | (at < F.col(f"{p}valid_to"))
    )
    t = lb.filter(F.col("target_ip").isNotNull())
    iv = pods.select(*[F.col(c).alias(f"p_{c}") for c in pods.columns])
    held = t.join(iv, (F.col("target_ip") == F.col("p_ip")) & live("p_"))
    ports = F.flatten(F.transform(F.coalesce(F.col("p_containers"), F.array()), lambda x: x["ports"]))
    ip_mode = held.filter(
        (F.col("p_entity") == "pod") & ((F.size(ports) == 0) | F.array_contains(ports, F.col("target_port")))
    ).select(
        "record_id",
        _pod_key(F.col("p_namespace"), F.col("p_pod")).alias("t_key"),
        F.lit("ip_target").alias("routing"),
    )
    np = services.filter(F.col("addr_kind") == "node_port").select(
        *[F.col(c).alias(f"n_{c}") for c in services.columns]
    )
    ep = services.filter(F.col("addr_kind") == "endpoint").select(
        *[F.col(c).alias(f"e_{c}") for c in services.columns]
    )
    inst = (
        held.filter(F.col("p_entity") == "node")
        .join(np, (F.col("target_port") == F.col("n_port")) & live("n_"))
        .join(
            ep,
            (F.col("e_service_namespace") == F.col("n_service_namespace"))
            & (F.col("e_service_name") == F.col("n_service_name"))
            & F.col("e_target_pod").isNotNull()
            & live("e_"),
        )
        .select(
            "record_id",
            _pod_key(F.col("e_service_namespace"), F.col("e_target_pod")).alias("t_key"),
            F.lit("instance_target").alias("routing"),
        )
    )
    return ip_mode.unionByName(inst).distinct()


def _unique_pairs(pairs: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Pairs (path_id, record_id) -> (matched one-to-one, ambiguous per path with candidates)."""
    per_path = pairs.groupBy("path_id").agg(F.sort_array(F.collect_set("record_id")).alias("lb_candidates"))
    per_lb = pairs.groupBy("record_id").agg(F.countDistinct("path_id").alias("n_paths"))
    j = pairs.join(per_path, "path_id").join(per_lb, "record_id")
    ok = (F.size("lb_candidates") == 1) & (F.col("n_paths") == 1)
    matched = j.filter(ok).drop("lb_candidates", "n_paths")
    amb = (
        j.filter(~ok)
        .groupBy("path_id")
        .agg(F.first("lb_candidates").alias("lb_candidates"), F.max("n_paths").alias("paths_per_record"))
    )
    return matched, amb


def attach_lb_hops(
    paths: DataFrame,
    obs: DataFrame,
    lb: DataFrame | None,
    pods: DataFrame,
    services: DataFrame,
    params: CorrelateParams,
) -> LbAttachment:
    """Fill the LB hop of the correlator's paths from the LB records near the window, and
    add the paths of requests the LB answered itself. ``obs`` are the window's Silver
    observations (for the ingress's X-Amzn-Trace-Id). Pure and deterministic."""
    empty_issues = _finish_issues(
        paths.sparkSession.createDataFrame(
            [],
            "path_id string, r_rid string, r_tid string, r_end timestamp, i_node string, "
            "reason string, segment string, evidence string",
        ),
        params,
    )
    if lb is None:
        return LbAttachment(paths, empty_issues)
    tol = params.match_tolerance_us
    pad_us = params.pad_minutes * 60_000_000
    ws = F.lit(params.window_start).cast("timestamp")
    we = F.lit(params.window_end).cast("timestamp")
    # Materialized once: every stage below reads it (without the cut each would re-plan it).
    lb = (
        lb.filter(F.col("parse_status") != "malformed")
        .dropDuplicates(["record_id"])
        .localCheckpoint(eager=True)
    )
    paths = paths.localCheckpoint(eager=True)

    p = paths.select(
        "path_id",
        "start_time",
        "end_time",
        "method",
        "path",
        "status",
        "client_ip",
        "lb_ip",
        _pod_key(F.col("ingress_namespace"), F.col("ingress_pod")).alias("p_key"),
    ).join(
        obs.select(
            F.col("record_id").alias("path_id"),
            F.col("amzn_trace_id").alias("p_amzn"),
            F.substring("user_agent", 1, USER_AGENT_MAX).alias("p_ua"),
        ).dropDuplicates(["path_id"]),
        "path_id",
        "left",
    )

    # 1. X-Amzn-Trace-Id, when both sides have it once.
    lb_tid = lb.filter(F.col("trace_id").isNotNull() & F.col("target_ip").isNotNull())
    uniq_lb_tid = lb_tid.groupBy("trace_id").count().filter("count = 1").select("trace_id")
    uniq_p_tid = (
        p.filter(F.col("p_amzn").isNotNull()).groupBy("p_amzn").count().filter("count = 1").select("p_amzn")
    )
    by_trace = (
        p.join(uniq_p_tid, "p_amzn")
        .join(
            lb_tid.join(uniq_lb_tid, "trace_id").select("record_id", "trace_id", "event_time"),
            F.col("p_amzn") == F.col("trace_id"),
        )
        .filter(F.abs(F.unix_micros("event_time") - F.unix_micros("end_time")) <= pad_us)
        .select(
            "path_id",
            "record_id",
            F.lit("amzn_trace_id").alias("match"),
            F.lit(CONFIDENCE["trace_context"]).alias("confidence"),
        )
    )
    trace_paths = by_trace.select("path_id").distinct()
    trace_lbs = by_trace.select("record_id").distinct()

    # 2. The target (ingress pod), method and path, client, and the interval.
    targets = _resolve_targets(lb, pods, services).localCheckpoint(eager=True)
    cand = lb.join(targets, "record_id").join(trace_lbs, "record_id", "left_anti")
    cand = cand.select(
        "record_id",
        "t_key",
        F.col("method").alias("l_method"),
        F.col("path").alias("l_path"),
        F.col("client_ip").alias("l_client"),
        F.col("target_status_code").alias("l_status"),
        F.col("user_agent").alias("l_ua"),
        F.coalesce("request_creation_time", "event_time").alias("l_from"),
        F.col("event_time").alias("l_to"),
    )
    window_pairs = (
        p.join(trace_paths, "path_id", "left_anti")
        .join(
            cand,
            (F.col("p_key") == F.col("t_key"))
            & (F.col("method") == F.col("l_method"))
            & (F.col("path") == F.col("l_path")),
        )
        .filter(
            (F.unix_micros("start_time") >= F.unix_micros("l_from") - tol)
            & (F.unix_micros("end_time") <= F.unix_micros("l_to") + tol)
            # The ingress knows the client only behind X-Forwarded-For (then lb_ip is its peer).
            & (F.col("lb_ip").isNull() | (F.col("client_ip") == F.col("l_client")))
            # The LB logs the status its target (the ingress) answered: two requests to one
            # pod with the same method and path in the same second are told apart by it.
            & (F.col("status").isNull() | F.col("l_status").isNull() | (F.col("status") == F.col("l_status")))
            # Both log the client's User-Agent (each cut to the same bound).
            & (F.col("p_ua").isNull() | F.col("l_ua").isNull() | (F.col("p_ua") == F.col("l_ua")))
        )
        .select(
            "path_id",
            "record_id",
            F.lit("target_client_window").alias("match"),
            F.lit(CONFIDENCE["endpoint_window"]).alias("confidence"),
        )
    )
    matched_t, amb_t = _unique_pairs(by_trace)
    matched_w, amb_w = _unique_pairs(window_pairs)
    matched = matched_t.unionByName(matched_w)
    amb = amb_t.unionByName(amb_w)

    # The LB segment is expected where the ingress pod is an LB target near the window and
    # the request's peer is no pod (traffic from inside the cluster skips the LB).
    lb_targets = targets.select(F.col("t_key").alias("x_key")).distinct()
    pod_peer = (
        p.select("path_id", "start_time", F.coalesce("lb_ip", "client_ip").alias("peer"))
        .join(
            pods.filter(F.col("entity") == "pod").select(
                F.col("ip").alias("q_ip"),
                F.col("valid_from").alias("q_from"),
                F.col("valid_to").alias("q_to"),
            ),
            (F.col("peer") == F.col("q_ip"))
            & (F.col("q_from") <= F.col("start_time"))
            & (F.col("q_to").isNull() | (F.col("start_time") < F.col("q_to"))),
        )
        .select("path_id")
        .distinct()
    )
    expected = (
        p.join(lb_targets, F.col("p_key") == F.col("x_key"))
        .join(pod_peer, "path_id", "left_anti")
        .select("path_id", F.lit(True).alias("lb_expected"))
        .distinct()
    )

    m = matched.join(
        lb.select(*[F.col(c).alias(f"m_{c}") for c in lb.columns]), F.col("record_id") == F.col("m_record_id")
    )
    m = m.join(
        targets.select(
            F.col("record_id").alias("m_record_id"), F.col("routing").alias("m_routing")
        ).distinct(),
        "m_record_id",
        "left",
    )
    m = m.select(
        "path_id",
        *[c for c in m.columns if c.startswith("m_")],
        F.col("match").alias("m_match"),
        F.col("confidence").alias("m_confidence"),
    ).dropDuplicates(["path_id"])
    j = (
        paths.join(m, "path_id", "left")
        .join(amb.select("path_id", "lb_candidates"), "path_id", "left")
        .join(expected, "path_id", "left")
        .localCheckpoint(eager=True)
    )
    is_m = F.col("m_record_id").isNotNull()
    is_amb = F.col("lb_candidates").isNotNull()
    is_missing = ~is_m & ~is_amb & F.coalesce(F.col("lb_expected"), F.lit(False))
    hop = _lb_hop("m_", to_ingress=True)
    renumber = lambda hs: F.transform(hs, lambda h, i: h.withField("seq", (i + 1).cast("int")))  # noqa: E731
    new_hops = F.when(
        is_m,
        renumber(F.concat(F.array(hop), F.filter(F.col("hops"), lambda h: h["kind"] != "client_to_ingress"))),
    ).otherwise(F.col("hops"))
    add_reason = (
        F.when(is_amb, F.array(F.lit("ambiguous_candidates")))
        .when(is_missing, F.array(F.lit("missing_segment")))
        .otherwise(F.array().cast("array<string>"))
    )
    out = (
        j.withColumn("hops", new_hops)
        .withColumn("hop_count", F.size("hops"))
        # Behind no X-Forwarded-For the ingress's "client" is the LB: the LB knows the client.
        .withColumn(
            "lb_ip", F.when(is_m & F.col("lb_ip").isNull(), F.col("client_ip")).otherwise(F.col("lb_ip"))
        )
        .withColumn("client_ip", F.when(is_m, F.col("m_client_ip")).otherwise(F.col("client_ip")))
        .withColumn(
            "completeness",
            F.when(is_amb & F.col("completeness").isin("complete", "partial"), F.lit("ambiguous"))
            .when(is_missing & (F.col("completeness") == "complete"), F.lit("partial"))
            .otherwise(F.col("completeness")),
        )
        .withColumn(
            "missing_segments",
            F.when(
                is_missing,
                F.array_union(
                    F.coalesce("missing_segments", F.array().cast("array<string>")), F.array(F.lit("lb"))
                ),
            ).otherwise(F.col("missing_segments")),
        )
        .withColumn(
            "issue_reasons",
            F.array_sort(
                F.array_union(F.coalesce("issue_reasons", F.array().cast("array<string>")), add_reason)
            ),
        )
    )
    issue_base = j.select(
        "path_id",
        F.col("request_id").alias("r_rid"),
        F.col("trace_id").alias("r_tid"),
        F.col("end_time").alias("r_end"),
        F.col("ingress_node").alias("i_node"),
        "lb_candidates",
        "lb_expected",
        "m_record_id",
    )
    amb_issues = issue_base.filter(F.col("lb_candidates").isNotNull()).select(
        "path_id",
        "r_rid",
        "r_tid",
        "r_end",
        "i_node",
        F.lit("ambiguous_candidates").alias("reason"),
        F.lit("lb").alias("segment"),
        F.to_json(F.struct(F.col("lb_candidates"))).alias("evidence"),
    )
    missing_issues = issue_base.filter(
        F.col("m_record_id").isNull()
        & F.col("lb_candidates").isNull()
        & F.coalesce(F.col("lb_expected"), F.lit(False))
    ).select(
        "path_id",
        "r_rid",
        "r_tid",
        "r_end",
        "i_node",
        F.lit("missing_segment").alias("reason"),
        F.lit("lb").alias("segment"),
        F.to_json(
            F.struct(F.lit("lb").alias("segment"), F.array().cast("array<string>").alias("agent_gaps"))
        ).alias("evidence"),
    )

    # 3. Requests the LB answered itself: paths that end at the LB.
    only = lb.filter(F.col("target_ip").isNull() & (F.col("event_time") >= ws) & (F.col("event_time") < we))
    failed = F.coalesce(F.col("elb_status_code"), F.lit(599)) >= 400
    win_s = params.window_minutes * 60
    lb_paths = only.select(
        F.col("record_id").alias("path_id"),
        F.timestamp_seconds(F.floor(F.unix_seconds("event_time") / win_s) * win_s).alias("window_start"),
        F.col("event_date"),
        F.coalesce("request_creation_time", "event_time").alias("start_time"),
        F.col("event_time").alias("end_time"),
        (
            F.unix_micros("event_time") - F.unix_micros(F.coalesce("request_creation_time", "event_time"))
        ).alias("duration_us"),
        "method",
        F.col("host").alias("authority"),
        "path",
        F.col("elb_status_code").alias("status"),
        "client_ip",
        F.array(_lb_hop("", to_ingress=False).withField("seq", F.lit(1))).alias("hops"),
        F.lit(1).alias("hop_count"),
        F.lit(0).alias("attempts"),
        F.lit(0).alias("retries"),
        F.when(failed, "failed").otherwise("complete").alias("completeness"),
        F.array().cast("array<string>").alias("missing_segments"),
        F.when(failed, F.array(F.lit("lb_only")))
        .otherwise(F.array().cast("array<string>"))
        .alias("issue_reasons"),
        F.when(failed, F.lit(0.0)).otherwise(F.lit(1.0)).alias("confidence"),
        F.lit(params.is_final).alias("is_final"),
        F.lit(params.correlator_version).alias("correlator_version"),
    )
    only_issues = only.filter(failed).select(
        F.col("record_id").alias("path_id"),
        F.lit(None).cast("string").alias("r_rid"),
        F.lit(None).cast("string").alias("r_tid"),
        F.col("event_time").alias("r_end"),
        F.lit(None).cast("string").alias("i_node"),
        F.lit("lb_only").alias("reason"),
        F.lit("lb").alias("segment"),
        F.to_json(
            F.struct(
                "elb",
                "elb_status_code",
                "error_reason",
                "actions_executed",
                "classification",
                "classification_reason",
                F.col("trace_id").alias("amzn_trace_id"),
                "target_group_arn",
            )
        ).alias("evidence"),
    )
    issues = _finish_issues(amb_issues.unionByName(missing_issues).unionByName(only_issues), params)
    all_paths = conform(out, PATHS_SCHEMA).unionByName(conform(lb_paths, PATHS_SCHEMA))
    return LbAttachment(all_paths, issues)
