"""Finalizer throughput on local Spark: observations correlated per second per core.

Generates a synthetic cluster's traffic as landed agent Parquet, loads it into Silver
(not timed), then times the finalizer over the whole range (one warm-up pass, then the
measured passes). Prints JSON.

    .venv/bin/python lakehouse/scripts/bench_finalizer.py --requests 30000 --minutes 10
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pyspark.sql import functions as F

from hoptrace_lakehouse import bronze, finalize, silver
from hoptrace_lakehouse.local_spark import local_session
from hoptrace_lakehouse.synth import T0, Cluster, Pod, RequestSpec, Scenario, Service
from hoptrace_lakehouse.tables import Tables, ensure_tables


def bench_cluster() -> Cluster:
    ingress = Pod(
        "ingress-nginx",
        "ingress-nginx-controller-0",
        "10.0.1.10",
        "node-0",
        "Deployment/ingress-nginx-controller",
        port=443,
        container="controller",
    )
    nodes = [f"node-{k}" for k in range(6)]
    pods = [ingress]
    services = []
    for s_idx, (name, n, sidecar, tracing) in enumerate(
        [("cart", 16, True, False), ("catalog", 12, False, True), ("search", 8, False, False)]
    ):
        names = []
        for k in range(n):
            node = nodes[1 + (k % 5)]
            pods.append(
                Pod(
                    "shop",
                    f"{name}-{k}",
                    f"10.{s_idx + 2}.{k // 250}.{k % 250 + 1}",
                    node,
                    f"Deployment/{name}",
                    sidecar=sidecar,
                    tracing=tracing,
                )
            )
            names.append(f"{name}-{k}")
        services.append(Service("shop", name, f"10.96.0.{10 * (s_idx + 1)}", tuple(names)))
    return Cluster(nodes, pods, services, ingress)


def generate(landing: Path, requests: int, minutes: int, seed: int) -> Scenario:
    rng = random.Random(seed)
    s = Scenario(bench_cluster(), seed=seed)
    s.add_inventory(T0)
    span_us = minutes * 60_000_000
    ids_by_service = {
        "cart": ["request_id", "both"],
        "catalog": ["trace", "both"],
        "search": ["none", "request_id"],
    }
    for _ in range(requests):
        svc = rng.choice(s.cluster.services)
        pods = list(svc.pods)
        attempts = [rng.choice(pods)] if rng.random() > 0.03 else rng.sample(pods, 2)
        s.request(
            RequestSpec(
                T0 + timedelta(microseconds=rng.randrange(span_us)),
                svc.name,
                attempts,
                duration_ms=rng.uniform(2, 200),
                ids=rng.choice(ids_by_service[svc.name]),
                via="cluster_ip" if rng.random() < 0.2 else "pod_ip",
                path=f"/{svc.name}/{rng.randrange(20)}",
            )
        )
    s.write(landing)
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=30_000)
    ap.add_argument("--minutes", type=int, default=10)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hoptrace-bench-"))
    try:
        t = time.perf_counter()
        generate(work / "landing", args.requests, args.minutes, args.seed)
        gen_s = time.perf_counter() - t
        spark = local_session(
            work / "wh", cores=args.cores, shuffle_partitions=2 * args.cores, driver_memory="4g"
        )
        tables = Tables.local(work / "wh")
        ensure_tables(spark, tables)
        landing = str(work / "landing")
        b = {
            t: bronze.read_landing_batch(spark, landing, t)
            for t in ("http_requests", "flows", "spans", "k8s_objects")
        }
        obs = silver.normalize_http(b["http_requests"]).unionByName(silver.normalize_flows(b["flows"]))
        obs = silver.dedup_by_record_id(obs.unionByName(silver.normalize_spans(b["spans"])))
        tables.overwrite(obs, "silver.hops")
        tables.overwrite(silver.pod_ip_intervals(b["k8s_objects"]), "silver.pod_ip_intervals")
        tables.overwrite(
            silver.service_endpoint_intervals(b["k8s_objects"]), "silver.service_endpoint_intervals"
        )
        n_obs = tables.read(spark, "silver.hops").count()
        cfg = finalize.FinalizeConfig()
        end = T0 + timedelta(minutes=args.minutes)
        timings = []
        for _ in range(args.runs + 1):
            t = time.perf_counter()
            result = finalize.finalize_range(spark, tables, T0, end, cfg, as_of=end + timedelta(hours=1))
            timings.append(time.perf_counter() - t)
        measured = timings[1:]
        best = min(measured)
        paths = tables.read(spark, "gold.request_paths")
        mix = {r["completeness"]: r["count"] for r in paths.groupBy("completeness").count().collect()}
        out = {
            "requests": args.requests,
            "observations": n_obs,
            "observations_per_request": round(n_obs / args.requests, 2),
            "windows": args.minutes // cfg.window_minutes,
            "cores": args.cores,
            "generate_s": round(gen_s, 1),
            "finalize_s_warmup": round(timings[0], 1),
            "finalize_s": [round(x, 1) for x in measured],
            "observations_per_s": round(n_obs / best),
            "observations_per_s_per_core": round(n_obs / best / args.cores),
            "paths": result.paths,
            "completeness": mix,
            "issues": result.issues,
            "ambiguous_rate": round(
                paths.filter(F.col("completeness") == "ambiguous").count() / max(1, result.paths), 4
            ),
        }
        spark.stop()
        print(json.dumps(out, indent=2, sort_keys=True))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
