"""hoptrace lakehouse: landed agent Parquet -> Bronze -> Silver hops -> Gold request paths."""

CORRELATOR_VERSION = "1.0.0"
