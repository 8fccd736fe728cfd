"""The agent -> lakehouse contract, loaded at run time from the generated schema files.

The JSON files beside this module are generated from ``proto/hoptrace/v1``; reading
them (instead of restating columns in Python) is what keeps the two halves from drifting.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructType,
    TimestampType,
)

TABLES: tuple[str, ...] = (
    "agent_heartbeats",
    "flows",
    "http_requests",
    "k8s_events",
    "k8s_objects",
    "spans",
)


def _read(name: str) -> str:
    return resources.files(__package__).joinpath("contract", name).read_text(encoding="utf-8")


@cache
def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_read("manifest.json"))
    return data


def schema_version() -> int:
    return int(manifest()["schema_version"])


def known_schema_versions() -> tuple[int, ...]:
    """Versions this lakehouse build understands; rows with others are schema drift."""
    return tuple(range(1, schema_version() + 1))


@cache
def spark_schema(table: str) -> StructType:
    if table not in TABLES:
        raise KeyError(f"unknown contract table {table!r}; known: {', '.join(TABLES)}")
    return StructType.fromJson(json.loads(_read(f"{table}.json")))


def arrow_schema(table: str) -> Any:
    """The contract as a pyarrow schema, for writing fixtures exactly as the agent lands them."""
    import pyarrow as pa

    def convert(dt: DataType) -> Any:
        if isinstance(dt, StringType):
            return pa.string()
        if isinstance(dt, IntegerType):
            return pa.int32()
        if isinstance(dt, LongType):
            return pa.int64()
        if isinstance(dt, BooleanType):
            return pa.bool_()
        if isinstance(dt, TimestampType):
            return pa.timestamp("us", tz="UTC")
        if isinstance(dt, ArrayType):
            return pa.list_(pa.field("element", convert(dt.elementType), nullable=not dt.containsNull))
        if isinstance(dt, MapType):
            return pa.map_(convert(dt.keyType), convert(dt.valueType))
        if isinstance(dt, StructType):
            return pa.struct([pa.field(f.name, convert(f.dataType), nullable=f.nullable) for f in dt.fields])
        raise TypeError(f"no Arrow mapping for {dt.simpleString()}")

    st = spark_schema(table)
    return pa.schema([pa.field(f.name, convert(f.dataType), nullable=f.nullable) for f in st.fields])
