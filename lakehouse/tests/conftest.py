"""One local Spark + Delta session for the whole run (tests share a 2-core machine)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from hoptrace_lakehouse.local_spark import local_session


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    warehouse: Path = tmp_path_factory.mktemp("spark")
    session = local_session(warehouse, app_name="hoptrace-lakehouse-tests", shuffle_partitions=2)
    yield session
    session.stop()
