"""A small synthetic cluster that writes contract rows exactly as the agent lands them
(Parquet, contract schema, object keys with per-node sequence numbers), together with the
ground truth of every request. Tests, the local demo and the benchmark build on it.

Faults are explicit knobs: clock skew per node, files that never land (agent gaps),
duplicated request ids, indistinguishable concurrent requests, pod IP reuse, schema drift.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from . import contract

US = timedelta(microseconds=1)


def _hid(*parts: object, n: int = 32) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:n]


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    ip: str
    node: str
    workload: str
    port: int = 8080
    container: str = "app"
    sidecar: bool = False
    tracing: bool = False
    started: datetime = datetime(2026, 3, 1, tzinfo=UTC)
    deleted: datetime | None = None

    @property
    def uid(self) -> str:
        return _hid("pod", self.namespace, self.name, n=36)


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    cluster_ip: str
    pods: tuple[str, ...]
    port: int = 80
    target_port: int = 8080
    node_port: int | None = None  # set: a LoadBalancer Service (what an instance-mode LB targets)

    @property
    def uid(self) -> str:
        return _hid("svc", self.namespace, self.name, n=36)


@dataclass
class RequestSpec:
    """One request entering through the ingress; ``attempts`` are pod names, the last one answers."""

    start: datetime
    service: str
    attempts: list[str]
    duration_ms: float = 20.0
    ids: str = "request_id"  # request_id | trace | both | none
    via: str = "pod_ip"  # pod_ip (ingress picks endpoints) | cluster_ip (kube-proxy / socket-LB DNAT)
    method: str = "GET"
    path: str = "/"
    status: int = 200
    request_id: str | None = None
    server_tuple: bool = True  # whether the server side logs the ingress's connection tuple
    flows: bool = True
    server_side: bool = True  # False: the server's record never reaches the lakehouse
    addresses: list[tuple[str, int]] | None = None  # override what the ingress logged per attempt
    name: str = ""
    # cluster_ip only: socket_lb (the socket translates; Hubble reports both addresses) or
    # kube_proxy (iptables DNAT: the client's node sees the ClusterIP, the backend's the pod)
    datapath: str = "socket_lb"
    # a kept-alive upstream connection (``Scenario.open_connection``): the request leaves no
    # flow of its own, only the connection's SYN and FIN do
    connection: str | None = None
    # the ingress logs its upstream local address (Envoy does, ingress-nginx does not)
    logs_local_port: bool = False
    # ingress-nginx's own upstreaminfo log: stamped to the second, no start time, the
    # Service named only in its upstream name (<namespace>-<service>-<port>)
    nginx_log: bool = False
    user_agent: str = "curl/8"


@dataclass
class Connection:
    """A kept-alive upstream connection from the ingress to one backend pod."""

    name: str
    pod: str
    service: str
    via: str  # pod_ip | cluster_ip
    datapath: str
    src_port: int
    opened: datetime


@dataclass
class Truth:
    name: str
    request_id: str | None
    root_record_id: str
    target_pod: str | None
    service: str
    expected: str  # complete | partial | ambiguous | failed


@dataclass
class Cluster:
    nodes: list[str]
    pods: list[Pod]
    services: list[Service]
    ingress: Pod
    lb_ip: str = "10.0.0.5"

    def pod(self, name: str) -> Pod:
        for p in self.pods:
            if p.name == name:
                return p
        raise KeyError(name)

    def service(self, name: str) -> Service:
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError(name)


T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def default_cluster() -> Cluster:
    ingress = Pod(
        "ingress-nginx",
        "ingress-nginx-controller-7d9f",
        "10.0.1.10",
        "node-a",
        "Deployment/ingress-nginx-controller",
        port=443,
        container="controller",
    )
    pods = [
        ingress,
        # cart-0 held 10.0.2.11 before cart-1: the lakehouse must resolve by event time.
        Pod(
            "shop",
            "cart-0",
            "10.0.2.11",
            "node-b",
            "Deployment/cart",
            sidecar=True,
            started=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
            deleted=datetime(2026, 3, 2, 11, 30, tzinfo=UTC),
        ),
        Pod(
            "shop",
            "cart-1",
            "10.0.2.11",
            "node-b",
            "Deployment/cart",
            sidecar=True,
            started=datetime(2026, 3, 2, 11, 40, tzinfo=UTC),
        ),
        Pod("shop", "cart-2", "10.0.3.12", "node-c", "Deployment/cart", sidecar=True),
        Pod("shop", "catalog-1", "10.0.2.21", "node-b", "Deployment/catalog", tracing=True),
        Pod("shop", "search-1", "10.0.3.31", "node-c", "Deployment/search"),
    ]
    services = [
        Service("shop", "cart", "10.96.0.20", ("cart-1", "cart-2")),
        Service("shop", "catalog", "10.96.0.30", ("catalog-1",)),
        Service("shop", "search", "10.96.0.40", ("search-1",)),
    ]
    return Cluster(["node-a", "node-b", "node-c"], pods, services, ingress)


def _base(table: str) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for f in contract.spark_schema(table).fields:
        t = f.dataType.typeName()
        row[f.name] = [] if t == "array" else ({} if t == "map" else None)
    row["schema_version"] = contract.schema_version()
    return row


@dataclass
class Landing:
    """Rows per (table, node) with their event times; turned into files by ``write``."""

    rows: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows[(table, row["node"])].append(row)


@dataclass
class Faults:
    skew_us: dict[str, int] = field(default_factory=dict)  # node -> its clock's offset
    lost_files: set[tuple[str, str, int]] = field(default_factory=set)  # (node, table, seq) never landed
    drift_extra_column: bool = False
    drift_schema_version: int | None = None


class Scenario:
    """Turns a cluster and request specs into contract rows (and the truth)."""

    def __init__(self, cluster: Cluster | None = None, faults: Faults | None = None, seed: int = 7) -> None:
        self.cluster = cluster or default_cluster()
        self.faults = faults or Faults()
        self.rng = random.Random(seed)
        self.landing = Landing()
        self.truth: list[Truth] = []
        self._n = 0
        self.connections: dict[str, Connection] = {}

    # --- clocks -------------------------------------------------------------------
    def _t(self, node: str, t: datetime) -> datetime:
        return t + self.faults.skew_us.get(node, 0) * US

    # --- inventory ----------------------------------------------------------------
    def add_inventory(self, at: datetime) -> None:
        """Watch rows for every pod, Service, EndpointSlice and node; deletions where pods end."""
        c = self.cluster
        exporter = c.nodes[0]
        for p in c.pods:
            self._pod_row(
                p, "ADDED", max(p.started, at - timedelta(hours=3)) if p.started > at else p.started
            )
            if p.deleted is not None:
                self._pod_row(p, "DELETED", p.deleted)
        for s in c.services:
            self._service_row(s, at - timedelta(hours=2), exporter)
            self._slice_row(s, at - timedelta(hours=2), exporter)
        for n in c.nodes:
            row = _base("k8s_objects")
            row.update(
                kind="Node",
                uid=_hid("node", n, n=36),
                name=n,
                resource_version="1",
                change_type="SNAPSHOT",
                node=exporter,
                source="k8s-watch",
                event_time=at - timedelta(hours=2),
                observed_time=at - timedelta(hours=2),
                node_internal_ips=[f"192.168.0.{c.nodes.index(n) + 1}"],
            )
            row["record_id"] = _hid("k8s", row["uid"], "SNAPSHOT")
            self.landing.add("k8s_objects", row)

    def _pod_row(self, p: Pod, change: str, t: datetime) -> None:
        row = _base("k8s_objects")
        containers = [
            {
                "name": p.container,
                "container_id": _hid("cid", p.name, n=64),
                "image": "app:1",
                "ready": True,
                "is_init": False,
                "ports": [{"name": "http", "port": p.port, "protocol": "TCP"}],
            }
        ]
        if p.sidecar:
            containers.append(
                {
                    "name": "istio-proxy",
                    "container_id": _hid("cid2", p.name, n=64),
                    "image": "proxy:1",
                    "ready": True,
                    "is_init": True,
                    "ports": [{"name": "http-envoy-prom", "port": 15090, "protocol": "TCP"}],
                }
            )
        rv = str(self.rng.randint(1000, 9999))
        row.update(
            kind="Pod",
            uid=p.uid,
            namespace=p.namespace,
            name=p.name,
            resource_version=rv,
            change_type=change,
            node=p.node,
            source="k8s-watch",
            event_time=t,
            observed_time=t,
            labels={"app": p.workload.split("/")[1]},
            owner_kind=p.workload.split("/")[0],
            owner_name=p.workload.split("/")[1],
            creation_time=p.started,
            pod_ips=[p.ip],
            host_ip="192.168.0.1",
            node_name=p.node,
            phase="Running",
            pod_start_time=p.started,
            ready=True,
            host_network=False,
            containers=containers,
            deletion_time=p.deleted if change == "DELETED" else None,
        )
        row["record_id"] = _hid("k8s", p.uid, rv, change)
        self.landing.add("k8s_objects", row)

    def _service_row(self, s: Service, t: datetime, node: str) -> None:
        row = _base("k8s_objects")
        row.update(
            kind="Service",
            uid=s.uid,
            namespace=s.namespace,
            name=s.name,
            resource_version="10",
            change_type="SNAPSHOT",
            node=node,
            source="k8s-watch",
            event_time=t,
            observed_time=t,
            service_type="ClusterIP" if s.node_port is None else "LoadBalancer",
            cluster_ips=[s.cluster_ip],
            service_ports=[
                {
                    "name": "http",
                    "protocol": "TCP",
                    "port": s.port,
                    "target_port": str(s.target_port),
                    "node_port": s.node_port,
                    "app_protocol": None,
                }
            ],
            selector={"app": s.name},
        )
        row["record_id"] = _hid("k8s", s.uid, "svc")
        self.landing.add("k8s_objects", row)

    def _slice_row(self, s: Service, t: datetime, node: str) -> None:
        row = _base("k8s_objects")
        eps = []
        for name in s.pods:
            p = self.cluster.pod(name)
            eps.append(
                {
                    "addresses": [p.ip],
                    "ready": True,
                    "serving": True,
                    "terminating": False,
                    "target_kind": "Pod",
                    "target_namespace": p.namespace,
                    "target_name": p.name,
                    "target_uid": p.uid,
                    "node_name": p.node,
                    "zone": None,
                }
            )
        uid = _hid("eps", s.namespace, s.name, n=36)
        row.update(
            kind="EndpointSlice",
            uid=uid,
            namespace=s.namespace,
            name=f"{s.name}-x1",
            resource_version="11",
            change_type="SNAPSHOT",
            node=node,
            source="k8s-watch",
            event_time=t,
            observed_time=t,
            service_name=s.name,
            address_type="IPv4",
            endpoints=eps,
            endpoint_ports=[{"name": "http", "protocol": "TCP", "port": s.target_port, "app_protocol": None}],
        )
        row["record_id"] = _hid("k8s", uid, "eps")
        self.landing.add("k8s_objects", row)

    # --- traffic ------------------------------------------------------------------
    def open_connection(
        self,
        name: str,
        pod: str,
        service: str,
        at: datetime,
        *,
        via: str = "pod_ip",
        datapath: str = "kube_proxy",
        src_port: int | None = None,
    ) -> Connection:
        """The SYN of a kept-alive connection, as both nodes' flows report it."""
        self._n += 1
        conn = Connection(name, pod, service, via, datapath, src_port or 30000 + self._n % 20000, at)
        self.connections[name] = conn
        spec = RequestSpec(at, service, [pod], via=via, datapath=datapath)
        self._flows(self._n, 0, self.cluster.pod(pod), self.cluster.service(service), spec, at, conn.src_port)
        return conn

    def close_connection(self, name: str, at: datetime) -> None:
        conn = self.connections.pop(name)
        self._n += 1
        spec = RequestSpec(at, conn.service, [conn.pod], via=conn.via, datapath=conn.datapath)
        p, svc = self.cluster.pod(conn.pod), self.cluster.service(conn.service)
        self._flows(self._n, 0, p, svc, spec, at, conn.src_port, flags="FIN,ACK")

    def request(self, spec: RequestSpec, expected: str = "complete") -> Truth:
        c = self.cluster
        self._n += 1
        n = self._n
        ing = c.ingress
        svc = c.service(spec.service)
        start = spec.start
        end = start + timedelta(milliseconds=spec.duration_ms)
        rid = spec.request_id or (_hid("rid", n) if spec.ids in ("request_id", "both") else None)
        trace = _hid("trace", n) if spec.ids in ("trace", "both") else None
        ingress_span = _hid("span", n, n=16) if trace else None
        attempts = []
        per_attempt = (end - start) / max(len(spec.attempts), 1)
        for i, pod_name in enumerate(spec.attempts):
            p = c.pod(pod_name)
            a_start = start + per_attempt * i + timedelta(milliseconds=1)
            a_end = start + per_attempt * (i + 1) - timedelta(milliseconds=1)
            last = i == len(spec.attempts) - 1
            status = spec.status if last else 503
            local_port = 40000 + (n * 7 + i) % 20000
            if spec.connection is not None:
                local_port = self.connections[spec.connection].src_port
            addr, port = (p.ip, p.port) if spec.via == "pod_ip" else (svc.cluster_ip, svc.port)
            if spec.addresses is not None:
                addr, port = spec.addresses[i]
            attempts.append(
                {
                    "address": addr,
                    "port": port,
                    "status": status,
                    "duration_us": int((a_end - a_start) / US),
                    "bytes_received": 512,
                }
            )
            if spec.flows and spec.connection is None:
                # a connection of its own: opened for the attempt, closed after it
                self._flows(n, i, p, svc, spec, a_start, local_port)
                self._flows(n, i, p, svc, spec, a_end, local_port, flags="FIN,ACK")
            if spec.server_side:
                self._server_side(n, i, p, spec, rid, trace, ingress_span, a_start, a_end, status, local_port)
        logged_end = self._t(ing.node, end)
        if spec.nginx_log:
            logged_end = logged_end.replace(microsecond=0)
        row = _base("http_requests")
        row.update(
            record_id=_hid("http", ing.node, "ingress", n),
            event_time=logged_end,
            observed_time=self._t(ing.node, end) + timedelta(seconds=1),
            node=ing.node,
            source="ingress-nginx",
            start_time=None if spec.nginx_log else self._t(ing.node, start),
            namespace=ing.namespace,
            pod=ing.name,
            pod_uid=ing.uid,
            container=ing.container,
            proxy="ingress-nginx",
            role="ingress",
            request_id=rid,
            trace_id=trace,
            span_id=ingress_span,
            method=spec.method,
            authority="shop.example.com",
            path=spec.path,
            protocol="HTTP/1.1",
            status=spec.status,
            duration_us=int((end - start) / US),
            downstream_remote_ip=c.lb_ip,
            downstream_remote_port=50000 + n % 10000,
            downstream_local_ip=ing.ip,
            downstream_local_port=443,
            forwarded_for=["203.0.113.7"],
            upstream_attempts=attempts,
            upstream_cluster=f"{svc.namespace}-{svc.name}-{svc.port}",
            upstream_service=None if spec.nginx_log else f"{svc.namespace}/{svc.name}:{svc.port}",
            upstream_local_ip=ing.ip if spec.logs_local_port else None,
            upstream_local_port=local_port if spec.logs_local_port and spec.attempts else None,
            bytes_received=120,
            bytes_sent=512,
            user_agent=spec.user_agent,
        )
        self.landing.add("http_requests", row)
        truth = Truth(
            spec.name or f"r{n}",
            rid,
            row["record_id"],
            spec.attempts[-1] if spec.attempts else None,
            spec.service,
            expected,
        )
        self.truth.append(truth)
        return truth

    def _flows(
        self,
        n: int,
        i: int,
        p: Pod,
        svc: Service,
        spec: RequestSpec,
        t: datetime,
        sport: int,
        flags: str = "SYN",
    ) -> None:
        ing = self.cluster.ingress
        for reporter, direction, point in (
            (ing.node, "EGRESS", "TO_STACK"),
            (p.node, "INGRESS", "TO_ENDPOINT"),
        ):
            row = _base("flows")
            row.update(
                record_id=_hid("flow", reporter, n, i)
                if flags == "SYN"
                else _hid("flow", reporter, n, i, flags),
                event_time=self._t(reporter, t),
                observed_time=self._t(reporter, t) + timedelta(seconds=1),
                node=reporter,
                source="hubble-grpc",
                src_ip=ing.ip,
                src_port=sport,
                dst_ip=p.ip,
                dst_port=p.port,
                l4_protocol="TCP",
                tcp_flags=flags,
                verdict="FORWARDED",
                traffic_direction=direction,
                observation_point=point,
                is_reply=False,
                event_type="L3_L4",
                src_namespace=ing.namespace,
                src_pod=ing.name,
                dst_namespace=p.namespace,
                dst_pod=p.name,
                dst_workload=p.workload,
                flow_uuid=_hid("uuid", reporter, n, i, flags, n=36),
            )
            if spec.via == "cluster_ip" and spec.datapath == "kube_proxy":
                # DNAT happens in the host stack, after the client's egress
                if reporter == ing.node and direction == "EGRESS":
                    row.update(
                        dst_ip=svc.cluster_ip,
                        dst_port=svc.port,
                        dst_namespace=None,
                        dst_pod=None,
                        dst_workload=None,
                        dst_service_namespace=svc.namespace,
                        dst_service_name=svc.name,
                    )
            elif spec.via == "cluster_ip":
                row.update(
                    pre_translation_dst_ip=svc.cluster_ip,
                    pre_translation_dst_port=svc.port,
                    dst_service_namespace=svc.namespace,
                    dst_service_name=svc.name,
                    event_type="SOCK" if reporter == ing.node else "L3_L4",
                )
            self.landing.add("flows", row)

    def _server_side(
        self,
        n: int,
        i: int,
        p: Pod,
        spec: RequestSpec,
        rid: str | None,
        trace: str | None,
        parent: str | None,
        a_start: datetime,
        a_end: datetime,
        status: int,
        sport: int,
    ) -> None:
        ing = self.cluster.ingress
        if p.sidecar:
            row = _base("http_requests")
            row.update(
                record_id=_hid("http", p.node, "inbound", n, i),
                event_time=self._t(p.node, a_end),
                observed_time=self._t(p.node, a_end) + timedelta(seconds=1),
                node=p.node,
                source="envoy",
                start_time=self._t(p.node, a_start),
                namespace=p.namespace,
                pod=p.name,
                pod_uid=p.uid,
                container="istio-proxy",
                proxy="envoy",
                role="sidecar_inbound",
                request_id=rid,
                trace_id=trace,
                span_id=_hid("srvspan", n, i, n=16) if trace else None,
                method=spec.method,
                authority="shop.example.com",
                path=spec.path,
                protocol="HTTP/1.1",
                status=status,
                duration_us=int((a_end - a_start) / US),
                downstream_remote_ip=ing.ip if spec.server_tuple else None,
                downstream_remote_port=sport if spec.server_tuple else None,
                downstream_local_ip=p.ip,
                downstream_local_port=p.port,
                upstream_attempts=[
                    {
                        "address": "127.0.0.1",
                        "port": p.port,
                        "status": status,
                        "duration_us": int((a_end - a_start) / US) - 100,
                        "bytes_received": 512,
                    }
                ],
                upstream_cluster="inbound|8080||",
            )
            self.landing.add("http_requests", row)
        elif p.tracing and trace:
            row = _base("spans")
            row.update(
                record_id=_hid("span", trace, n, i),
                event_time=self._t(p.node, a_end),
                observed_time=self._t(p.node, a_end) + timedelta(seconds=1),
                node=p.node,
                source="otlp-grpc",
                trace_id=trace,
                span_id=_hid("srvspan", n, i, n=16),
                parent_span_id=parent,
                kind="SERVER",
                name=f"{spec.method} {spec.path}",
                service_name=p.workload.split("/")[1],
                k8s_namespace=p.namespace,
                k8s_pod=p.name,
                k8s_pod_uid=p.uid,
                k8s_node=p.node,
                k8s_container=p.container,
                start_time=self._t(p.node, a_start),
                end_time=self._t(p.node, a_end),
                duration_us=int((a_end - a_start) / US),
                status_code="UNSET",
                http_method=spec.method,
                http_route=spec.path,
                url_path=spec.path,
                http_status=status,
                peer_address=ing.ip if spec.server_tuple else None,
                peer_port=sport if spec.server_tuple else None,
                request_id=rid,
            )
            self.landing.add("spans", row)

    # --- writing ------------------------------------------------------------------
    def write(
        self,
        landing_dir: str | Path,
        *,
        file_minutes: int = 1,
        epoch: str = "e1",
        heartbeat_until: datetime | None = None,
        heartbeat_every_s: int = 15,
        heartbeat_from: datetime | None = None,
    ) -> list[Path]:
        """Write every row into files keyed as the agent does, plus heartbeats per node.
        Returns the written paths in sequence order."""
        from .landing import write_rows

        written: list[Path] = []
        progress: dict[str, dict[str, list[tuple[int, datetime, datetime]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for (table, node), rows in sorted(self.landing.rows.items()):
            buckets: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
            for r in rows:
                t = r["event_time"]
                minute = t.replace(second=0, microsecond=0)
                bucket = minute - timedelta(minutes=minute.minute % file_minutes)
                buckets[bucket].append(r)
            for seq, bucket in enumerate(sorted(buckets), start=1):
                chunk = sorted(buckets[bucket], key=lambda r: (r["event_time"], r["record_id"]))
                if self.faults.drift_schema_version is not None and table == "http_requests" and seq == 1:
                    for r in chunk:
                        r["schema_version"] = self.faults.drift_schema_version
                drift = self.faults.drift_extra_column and table == "flows" and seq == 1
                extra = {"agent_build": "2.0.0"} if drift else None
                flushed = bucket + timedelta(minutes=file_minutes)
                progress[node][table].append((seq, bucket, flushed + timedelta(seconds=5)))
                if (node, table, seq) in self.faults.lost_files:
                    continue
                written.append(write_rows(landing_dir, table, node, epoch, seq, chunk, extra_columns=extra))
        if heartbeat_until is not None:
            written += self._heartbeats(
                landing_dir, epoch, progress, heartbeat_from or T0, heartbeat_until, heartbeat_every_s
            )
        return written

    def _heartbeats(
        self,
        landing_dir: str | Path,
        epoch: str,
        progress: dict[str, dict[str, list[tuple[int, datetime, datetime]]]],
        start: datetime,
        until: datetime,
        every_s: int,
    ) -> list[Path]:
        from .landing import write_rows

        out: list[Path] = []
        for node in self.cluster.nodes:
            rows = []
            t = start
            k = 0
            while t <= until:
                k += 1
                tables = []
                for table in contract.TABLES:
                    if table == "agent_heartbeats":
                        continue
                    files = progress[node].get(table, [])
                    last = max((s for s, _, w in files if w <= t), default=0)
                    # Everything before the oldest file still being filled is in the spool.
                    pending = [b for _, b, w in files if w > t]
                    flushed = min([t - timedelta(seconds=10), *pending])
                    tables.append(
                        {
                            "table": table,
                            "last_seq": last,
                            "uploaded_seq": last,
                            "flushed_through": flushed,
                            "records_in": 0,
                            "records_spooled": 0,
                            "records_buffered": 0,
                        }
                    )
                row = _base("agent_heartbeats")
                row.update(
                    record_id=_hid("hb", node, epoch, k),
                    event_time=t,
                    observed_time=t,
                    node=node,
                    source="agent",
                    epoch=epoch,
                    agent_version="0.1.0",
                    started_at=start,
                    heartbeat_seq=k,
                    tables=tables,
                    spool_bytes=0,
                    spool_files=0,
                )
                rows.append(row)
                t += timedelta(seconds=every_s)
            by_minute: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
            for r in rows:
                by_minute[r["event_time"].replace(second=0, microsecond=0)].append(r)
            for seq, minute in enumerate(sorted(by_minute), start=1):
                out.append(write_rows(landing_dir, "agent_heartbeats", node, epoch, seq, by_minute[minute]))
        return out


def standard_traffic(s: Scenario, start: datetime = T0, minutes: int = 10, per_minute: int = 6) -> None:
    """Healthy traffic: every kind of evidence the lakehouse uses, spread over the minutes."""
    kinds = [
        ("cart", ["cart-1"], "request_id", "pod_ip", "/cart"),
        ("cart", ["cart-2"], "both", "pod_ip", "/cart/items"),
        ("catalog", ["catalog-1"], "trace", "pod_ip", "/catalog"),
        ("cart", ["cart-2"], "request_id", "cluster_ip", "/cart"),
        ("cart", ["cart-2", "cart-1"], "request_id", "pod_ip", "/cart/checkout"),
        ("search", ["search-1"], "none", "pod_ip", "/search"),
    ]
    for m in range(minutes):
        for k in range(per_minute):
            svc, attempts, ids, via, path = kinds[k % len(kinds)]
            t = start + timedelta(minutes=m, seconds=k * (60 / per_minute) + 1)
            s.request(RequestSpec(t, svc, list(attempts), ids=ids, via=via, path=path))
