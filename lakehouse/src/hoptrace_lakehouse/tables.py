"""Where each table lives and how it is created: Unity Catalog names on Databricks,
Delta paths under a warehouse directory locally. Every reader and writer goes through
``Tables`` so the same job code runs in both places."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import DataStreamReader
from pyspark.sql.types import StructType

SCHEMAS: tuple[str, ...] = ("bronze", "silver", "gold", "ops")


@dataclass(frozen=True)
class TableSpec:
    schema: str
    name: str
    columns: Callable[[], StructType]
    cluster_by: tuple[str, ...] = ()
    retention_days: int | None = None
    retention_column: str | None = None
    comment: str = ""
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.name}"


_REGISTRY: dict[str, TableSpec] = {}


def register(spec: TableSpec) -> TableSpec:
    _REGISTRY[spec.key] = spec
    return spec


def registered() -> dict[str, TableSpec]:
    # Importing the layers registers their tables; done lazily to avoid import cycles.
    from . import bronze, dq, finalize, gold, silver  # noqa: F401

    return dict(_REGISTRY)


@dataclass(frozen=True)
class Tables:
    """Table locations. ``root`` set: local Delta paths; ``catalog`` set: Unity Catalog names."""

    root: str | None = None
    catalog: str | None = None

    @classmethod
    def local(cls, warehouse: str | Path) -> Tables:
        return cls(root=str(Path(warehouse).resolve()))

    @classmethod
    def unity(cls, catalog: str) -> Tables:
        return cls(catalog=catalog)

    @property
    def is_local(self) -> bool:
        return self.root is not None

    def path(self, key: str) -> str:
        if self.root is None:
            raise ValueError("Unity Catalog tables have no local path")
        schema, name = key.split(".")
        return f"{self.root}/{schema}/{name}"

    def name(self, key: str) -> str:
        """An identifier usable in SQL text."""
        if self.root is not None:
            return f"delta.`{self.path(key)}`"
        schema, name = key.split(".")
        return f"`{self.catalog}`.`{schema}`.`{name}`"

    def read(self, spark: SparkSession, key: str) -> DataFrame:
        if self.root is not None:
            return spark.read.format("delta").load(self.path(key))
        return spark.read.table(self.name(key))

    def read_stream(self, spark: SparkSession, key: str, **options: str) -> DataFrame:
        reader: DataStreamReader = spark.readStream.format("delta")
        for k, v in options.items():
            reader = reader.option(k, v)
        if self.root is not None:
            return reader.load(self.path(key))
        return reader.table(self.name(key))

    def overwrite(self, df: DataFrame, key: str, replace_where: str | None = None) -> None:
        writer = df.write.format("delta").mode("overwrite")
        if replace_where is not None:
            writer = writer.option("replaceWhere", replace_where)
        if self.root is not None:
            writer.save(self.path(key))
        else:
            writer.saveAsTable(self.name(key))

    def append(self, df: DataFrame, key: str, txn: tuple[str, int] | None = None) -> None:
        writer = df.write.format("delta").mode("append")
        if txn is not None:
            # Delta ignores a (txnAppId, txnVersion) it has already committed, which makes
            # a replayed streaming micro-batch a no-op.
            writer = writer.option("txnAppId", txn[0]).option("txnVersion", str(txn[1]))
        if self.root is not None:
            writer.save(self.path(key))
        else:
            writer.saveAsTable(self.name(key))


def create_ddl(spec: TableSpec, tables: Tables) -> str:
    cols = ",\n  ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in spec.columns().fields)
    props = {"delta.enableDeletionVectors": "true", **spec.properties}
    prop_sql = ", ".join(f"'{k}' = '{v}'" for k, v in sorted(props.items()))
    cluster = f"\nCLUSTER BY ({', '.join(spec.cluster_by)})" if spec.cluster_by else ""
    comment = spec.comment.replace("'", "\\'")
    return (
        f"CREATE TABLE IF NOT EXISTS {tables.name(spec.key)} (\n  {cols}\n) USING DELTA{cluster}\n"
        f"COMMENT '{comment}'\nTBLPROPERTIES ({prop_sql})"
    )


def ensure_tables(spark: SparkSession, tables: Tables, only: Iterable[str] | None = None) -> None:
    """Create every schema and table (or those in ``only``) that does not exist yet."""
    if not tables.is_local:
        for schema in SCHEMAS:
            spark.sql(f"CREATE SCHEMA IF NOT EXISTS `{tables.catalog}`.`{schema}`")
    wanted = set(only) if only is not None else None
    for key, spec in registered().items():
        if wanted is None or key in wanted:
            spark.sql(create_ddl(spec, tables))
