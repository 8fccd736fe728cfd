"""Writing contract rows as landed agent files (Parquet, ZSTD, the agent's object keys)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import contract


def object_key(table: str, node: str, epoch: str, seq: int, event_hour: Any) -> str:
    return (
        f"v1/{table}/date={event_hour:%Y-%m-%d}/hour={event_hour:%H}/node={node}/{epoch}-{seq:012d}.parquet"
    )


def _arrow_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return [(k, _arrow_ready(v)) for k, v in sorted(value.items())]
    if isinstance(value, list):
        return [_arrow_ready_struct(v) for v in value]
    return value


def _arrow_ready_struct(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (_arrow_ready(v) if isinstance(v, list) else v) for k, v in value.items()}
    return value


def write_rows(
    landing_dir: str | Path,
    table: str,
    node: str,
    epoch: str,
    seq: int,
    rows: Sequence[dict[str, Any]],
    *,
    extra_columns: dict[str, Any] | None = None,
) -> Path:
    """Write rows of one contract table into one landed file; returns its path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = contract.arrow_schema(table)
    prepared = [{k: _arrow_ready(v) for k, v in r.items()} for r in rows]
    data = pa.Table.from_pylist(prepared, schema=schema)
    if extra_columns:
        for name, value in extra_columns.items():
            data = data.append_column(name, pa.array([value] * data.num_rows))
    first = min(r["event_time"] for r in rows)
    path = Path(landing_dir) / object_key(table, node, epoch, seq, first)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(data, tmp, compression="zstd")
    tmp.rename(path)
    return path
