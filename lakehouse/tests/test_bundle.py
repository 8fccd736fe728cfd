"""The bundle validates offline against the Databricks bundle JSON schema, and its
notebooks are thin entry points into the package."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

LAKEHOUSE = Path(__file__).resolve().parents[1]
SCHEMA = LAKEHOUSE.parent.parent / "shared" / "schemas" / "databricks-bundle.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    if not SCHEMA.exists():
        pytest.fail(
            f"bundle JSON schema not found at {SCHEMA}: it is the output of `databricks bundle schema` "
            "and is read from the shared folder beside the repository, never committed"
        )
    raw = SCHEMA.read_text()
    # The schema's patterns use Go's Unicode classes; Python's re spells them differently.
    raw = raw.replace(r"[\\p{L}\\p{N}]", r"[^\\W_]").replace(r"\\p{L}", r"[^\\W\\d_]")
    return jsonschema.Draft7Validator(json.loads(raw))


def _bundle_files() -> list[Path]:
    root = yaml.safe_load((LAKEHOUSE / "databricks.yml").read_text())
    files = [LAKEHOUSE / "databricks.yml"]
    for pattern in root["include"]:
        files += sorted(LAKEHOUSE.glob(pattern))
    return files


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


@pytest.mark.parametrize("path", _bundle_files(), ids=lambda p: p.name)
def test_bundle_file_matches_schema(validator: jsonschema.Draft7Validator, path: Path) -> None:
    errors = [f"{list(e.path)}: {e.message[:200]}" for e in validator.iter_errors(_load(path))]
    assert errors == []


def test_validator_rejects_an_unknown_job_key(validator: jsonschema.Draft7Validator) -> None:
    assert list(validator.iter_errors({"resources": {"jobs": {"x": {"not_a_job_key": 1}}}}))


def test_bundle_has_the_promised_shape() -> None:
    root = _load(LAKEHOUSE / "databricks.yml")
    assert {"catalog", "landing_root", "alert_recipients"} <= set(root["variables"])
    assert {"dev", "prod"} <= set(root["targets"])
    resources: dict[str, dict[str, Any]] = {}
    for f in _bundle_files()[1:]:
        for kind, items in _load(f).get("resources", {}).items():
            resources.setdefault(kind, {}).update(items)
    assert set(resources["schemas"]) == {"bronze", "silver", "gold", "ops"}
    jobs = resources["jobs"]
    assert {
        "hoptrace_streaming",
        "hoptrace_finalize",
        "hoptrace_backfill",
        "hoptrace_maintenance",
        "hoptrace_data_quality",
    } <= set(jobs)
    assert jobs["hoptrace_streaming"]["continuous"]["pause_status"] == "UNPAUSED"
    assert jobs["hoptrace_finalize"]["max_concurrent_runs"] == 1
    assert {p["name"] for p in jobs["hoptrace_backfill"]["parameters"]} >= {"start", "end"}
    monitor = resources["quality_monitors"]["request_paths"]
    assert monitor["table_name"].endswith(".gold.request_paths")


def test_notebooks_are_thin_and_call_existing_entry_points() -> None:
    from hoptrace_lakehouse import jobs

    notebooks = sorted((LAKEHOUSE / "src" / "notebooks").glob("*.py"))
    assert notebooks
    referenced = set()
    for f in _bundle_files()[1:]:
        referenced |= set(re.findall(r"notebook_path: \.\./src/notebooks/(\w+\.py)", f.read_text()))
    assert referenced == {n.name for n in notebooks}
    for nb in notebooks:
        text = nb.read_text()
        assert text.startswith("# Databricks notebook source\n")
        calls = re.findall(r"jobs\.(\w+)\(", text)
        assert len(calls) == 1 and callable(getattr(jobs, calls[0]))
