"""Fetch the Delta Lake jars for local Spark into the repository's .cache/ (idempotent).

Usage: .venv/bin/python lakehouse/scripts/fetch_jars.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from hoptrace_lakehouse.local_spark import cache_dir, delta_coordinate, ensure_jars


def main() -> None:
    jars = ensure_jars()
    print(f"{delta_coordinate()}: {len(jars)} jars cached under {cache_dir()}")
    for jar in jars:
        print(f"  {Path(jar).name}")


if __name__ == "__main__":
    main()
