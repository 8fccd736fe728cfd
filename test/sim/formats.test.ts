// Every emitted input in its native format, checked against the formats'
// specifications (/work/shared/research/formats.md): kubelet layout and CRI
// framing with partial lines and rotation; ingress-nginx upstreaminfo;
// Istio text; Envoy Gateway JSON; Hubble export lines and the Observer
// messages made from them (encoded with the Cilium protos); Calico flow logs;
// Kubernetes objects. OTLP goes through the agent's own OTLP mapping, whose
// source is finished (its README): every span must be accepted.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { ENUMS, GetFlowsResponse } from '../../agent/src/sources/hubble/proto.ts';
import { mapExportRequest } from '../../agent/src/sources/otlp/mapping.ts';
import { toGetFlowsResponse } from '../../sim/src/feed/hubble.ts';
import { changes, filesUnder, jsonl, run, truth } from './helpers.ts';

const CRI = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z) (stdout|stderr) (F|P) (.*)$/;

/** Logical lines of a CRI file: partial records joined up to their F, per stream. */
function criLines(text: string): { time: string; stream: string; text: string; parts: number }[] {
  const out: { time: string; stream: string; text: string; parts: number }[] = [];
  const open = new Map<string, { time: string; text: string; parts: number }>();
  const records = text.split('\n');
  assert.equal(records.pop(), '', 'every record ends with a newline');
  for (const rec of records) {
    const m = CRI.exec(rec);
    assert.ok(m, `not a CRI record: ${rec.slice(0, 120)}`);
    const [, time, stream, tag, msg] = m as unknown as [string, string, string, string, string];
    const cur = open.get(stream) ?? { time, text: '', parts: 0 };
    cur.text += msg;
    cur.parts++;
    if (tag === 'P') {
      assert.equal(Buffer.byteLength(msg), 16 * 1024, 'a partial record is cut at the runtime limit');
      open.set(stream, cur);
    } else {
      open.delete(stream);
      out.push({ time: cur.time, stream, text: cur.text, parts: cur.parts });
    }
  }
  assert.equal(open.size, 0, 'no partial record left without its F');
  return out;
}

function criTimeNs(iso: string): number {
  const m = /^(.*?)(?:\.(\d{1,9}))?Z$/.exec(iso)!;
  return Date.parse(`${m[1]}Z`) * 1e6 + Number((m[2] ?? '').padEnd(9, '0'));
}

// ingress-nginx `upstreaminfo`, field by field (formats.md §3.1).
const LIST = '(-|[^ ,]+(?:, [^ ,]+)*)';
const UPSTREAMINFO = new RegExp(
  '^(\\S+) - (\\S+) \\[(\\d{2}/\\w{3}/\\d{4}:\\d{2}:\\d{2}:\\d{2} [+-]\\d{4})\\] "([^"]*)" (\\d{3}) (\\d+) "([^"]*)" "([^"]*)" ' +
    `(\\d+) (\\d+\\.\\d{3}) \\[([^\\]]*)\\] \\[([^\\]]*)\\] ${LIST} ${LIST} ${LIST} ${LIST} ([0-9a-f]{32}|[0-9a-f-]{36})$`,
);

// Istio ≥ 1.9 default TEXT format (formats.md §4.2).
const ISTIO = new RegExp(
  '^\\[(\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z)\\] "(\\S+) (\\S+) (HTTP/[\\d.]+)" (\\d+) (\\S+) (\\S+) (\\S+) "([^"]*)" ' +
    '(\\d+) (\\d+) (\\d+) (\\S+) "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" (\\S+) (\\S+) (\\S+) (\\S+) (\\S+) (\\S+)$',
);

// Envoy Gateway's default JSON access log keys.
const GATEWAY_KEYS = [
  ':authority',
  'bytes_received',
  'bytes_sent',
  'connection_termination_details',
  'downstream_local_address',
  'downstream_remote_address',
  'duration',
  'method',
  'protocol',
  'requested_server_name',
  'response_code',
  'response_code_details',
  'response_flags',
  'route_name',
  'start_time',
  'upstream_cluster',
  'upstream_host',
  'upstream_local_address',
  'upstream_transport_failure_reason',
  'user-agent',
  'x-envoy-origin-path',
  'x-envoy-upstream-service-time',
  'x-forwarded-for',
  'x-request-id',
];

test('container logs: kubelet layout, CRI framing, partial lines, proxy access lines in their formats', () => {
  const r = run({ seed: 31, longLineShare: 0.05, durationS: 20, rate: 15, faults: { churn: 1 } });
  const files = filesUnder(r, 'nodes/', '.log');
  const logs = files.filter((f) => f.includes('/var/log/pods/'));
  assert.ok(logs.length > 10);
  let partial = 0;
  const seen = { nginx: 0, istio: 0, gateway: 0 };
  const requestIds = new Set<string>();
  for (const f of logs) {
    const m = /^nodes\/([^/]+)\/var\/log\/pods\/([a-z0-9-]+)_([a-z0-9.-]+)_([0-9a-f-]{36})\/([a-z0-9-]+)\/0\.log$/.exec(
      f,
    );
    assert.ok(m, `kubelet layout: ${f}`);
    const container = m[5]!;
    const lines = criLines(readFileSync(join(r.dir, f), 'utf8'));
    let last = 0;
    for (const l of lines) {
      const t = criTimeNs(l.time);
      assert.ok(t >= last, `${f}: CRI timestamps never go back (${l.time})`);
      last = t;
      if (l.parts > 1) partial++;
      if (l.stream !== 'stdout') continue;
      if (container === 'controller' && l.text.includes('" ')) {
        const a = UPSTREAMINFO.exec(l.text);
        if (!a) {
          assert.ok(!/^\d/.test(l.text) || l.text.startsWith('-'), `upstreaminfo: ${l.text.slice(0, 300)}`);
          continue;
        }
        const lists = [a[13], a[14], a[15], a[16]].map((x) => x!.split(', ').length);
        assert.ok(
          lists.every((n) => n === lists[0]),
          'upstream lists have one element per try',
        );
        requestIds.add(a[17]!);
        seen.nginx++;
      } else if (container === 'istio-proxy' && l.text.startsWith('[20')) {
        const a = ISTIO.exec(l.text);
        assert.ok(a, `istio text: ${l.text.slice(0, 300)}`);
        assert.match(a[19]!, /^(inbound\|\d+\|\||outbound\|\d+\|\|[a-z0-9.-]+\.svc\.cluster\.local)$/);
        seen.istio++;
      } else if (container === 'envoy' && l.text.startsWith('{')) {
        const o = JSON.parse(l.text) as Record<string, unknown>;
        assert.deepEqual(Object.keys(o), GATEWAY_KEYS);
        assert.equal(typeof o.response_code, 'number');
        assert.equal(typeof o.duration, 'number');
        assert.match(
          o['x-request-id'] as string,
          /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
        );
        seen.gateway++;
      }
    }
  }
  assert.ok(seen.nginx > 20 && seen.istio > 20 && seen.gateway > 10, JSON.stringify(seen));
  assert.ok(partial > 0, 'long lines were split into P records');
  const t = truth(r).filter(
    (q) => q.ingress.controller === 'ingress-nginx' && !q.faults.some((f) => f.includes('ingress_log')),
  );
  for (const q of t) assert.ok(requestIds.has(q.request_id), `${q.id}: its $req_id is logged`);
});

test('kubelet rotation: renamed with a timestamp, older rotations gzipped, at most maxFiles kept', () => {
  const r = run({ seed: 32, durationS: 30, rate: 40, logMaxBytes: 64 * 1024, logMaxFiles: 3, longLineShare: 0.01 });
  const rotated = filesUnder(r, 'nodes/').filter((f) => /\/0\.log\.\d{8}-\d{6}(-\d+)?(\.gz)?$/.test(f));
  assert.ok(rotated.length > 0, 'some container rotated');
  const dirs = new Map<string, string[]>();
  for (const f of filesUnder(r, 'nodes/').filter((x) => x.includes('/var/log/pods/'))) {
    const d = f.slice(0, f.lastIndexOf('/'));
    dirs.set(d, [...(dirs.get(d) ?? []), f.slice(d.length + 1)]);
  }
  let gz = 0;
  for (const [d, names] of dirs) {
    assert.ok(names.length <= 3, `${d}: ${names.join(' ')}`);
    assert.ok(names.includes('0.log'), `${d} has a current file`);
    const plain = names.filter((n) => /^0\.log\.\d{8}-\d{6}(-\d+)?$/.test(n));
    assert.ok(plain.length <= 1, 'only the newest rotation stays uncompressed');
    for (const n of names.filter((x) => x.endsWith('.gz'))) {
      gz++;
      criLines(gunzipSync(readFileSync(join(r.dir, d, n))).toString('utf8'));
      if (plain[0]) assert.ok(n.slice(0, -3) < plain[0], 'the uncompressed rotation is the newest');
    }
  }
  assert.ok(gz > 0, 'older rotations are compressed');
  assert.ok(r.manifest.faults.rotated_away > 0, 'records only in compressed or deleted rotations are accounted');
});

test('Hubble export lines: protojson of the Cilium protos, and Observer messages that encode', () => {
  for (const routing of ['kube-proxy', 'ebpf'] as const) {
    const r = run({ seed: 33, routing, policyDenyShare: 0.5, faults: { 'hubble-lost': 0.05 } });
    const kinds = new Map<string, number>();
    for (const f of filesUnder(r, 'nodes/', 'events.log')) {
      for (const line of readFileSync(join(r.dir, f), 'utf8').split('\n').filter(Boolean)) {
        const ev = JSON.parse(line);
        if (ev.lost_events) {
          assert.equal(ev.lost_events.source, 'PERF_EVENT_RING_BUFFER');
          assert.match(ev.lost_events.num_events_lost, /^\d+$/);
          kinds.set('lost', (kinds.get('lost') ?? 0) + 1);
        } else {
          const flow = ev.flow;
          assert.equal(ev.time, flow.time);
          assert.equal(ev.node_name, flow.node_name);
          assert.match(flow.time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);
          assert.match(flow.uuid, /^[0-9a-f-]{36}$/);
          const has = (names: ReadonlyMap<number, string>, v: string) => [...names.values()].includes(v);
          assert.ok(has(ENUMS.verdict, flow.verdict), flow.verdict);
          assert.ok(has(ENUMS.flowType, flow.Type), flow.Type);
          if (flow.traffic_direction) assert.ok(has(ENUMS.trafficDirection, flow.traffic_direction));
          if (flow.trace_observation_point) assert.ok(has(ENUMS.observationPoint, flow.trace_observation_point));
          if (flow.drop_reason_desc) assert.ok(has(ENUMS.dropReason, flow.drop_reason_desc));
          if (flow.sock_xlate_point) {
            assert.ok(has(ENUMS.sockXlatePoint, flow.sock_xlate_point));
            assert.match(flow.socket_cookie, /^\d+$/);
          }
          if (flow.l7?.latency_ns !== undefined) assert.match(flow.l7.latency_ns, /^\d+$/);
          kinds.set(`${flow.Type}/${flow.verdict}`, (kinds.get(`${flow.Type}/${flow.verdict}`) ?? 0) + 1);
        }
        // The Observer message the gRPC test server sends, encoded and decoded with the protos.
        const res = toGetFlowsResponse(line);
        const msg = GetFlowsResponse.fromObject(res);
        const back = GetFlowsResponse.toObject(GetFlowsResponse.decode(GetFlowsResponse.encode(msg).finish()), {
          enums: String,
          longs: String,
        }) as Record<string, Record<string, unknown>>;
        if (ev.flow) {
          assert.equal(back.flow!.uuid, ev.flow.uuid);
          assert.equal(back.flow!.verdict, ev.flow.verdict);
          const ip = back.flow!.IP as Record<string, unknown>;
          assert.deepEqual([ip.source, ip.destination], [ev.flow.IP.source, ev.flow.IP.destination]);
        } else assert.equal(back.lost_events!.num_events_lost, ev.lost_events.num_events_lost);
      }
    }
    assert.ok(
      (kinds.get('L3_L4/FORWARDED') ?? 0) > 0 && (kinds.get('L3_L4/DROPPED') ?? 0) > 0,
      JSON.stringify([...kinds]),
    );
    assert.ok((kinds.get('lost') ?? 0) > 0);
    if (routing === 'ebpf') assert.ok((kinds.get('SOCK/TRACED') ?? 0) > 0, 'socket-LB translation events');
    assert.ok((kinds.get('L7/FORWARDED') ?? 0) > 0, 'L7 records for workloads under an L7 policy');
  }
});

test('Calico flow logs: the documented fields, one JSON object per line', () => {
  const r = run({ seed: 34, cni: 'calico', policyDenyShare: 0.5 });
  const keys = [
    'start_time',
    'end_time',
    'source_ip',
    'source_name',
    'source_name_aggr',
    'source_namespace',
    'source_port',
    'source_type',
    'source_labels',
    'dest_ip',
    'dest_name',
    'dest_name_aggr',
    'dest_namespace',
    'dest_port',
    'dest_type',
    'dest_labels',
    'dest_service_namespace',
    'dest_service_name',
    'dest_service_port',
    'dest_service_port_num',
    'dest_domains',
    'proto',
    'action',
    'reporter',
    'policies',
    'bytes_in',
    'bytes_out',
    'num_flows',
    'num_flows_started',
    'num_flows_completed',
    'packets_in',
    'packets_out',
    'http_requests_allowed_in',
    'http_requests_denied_in',
    'original_source_ips',
    'num_original_source_ips',
    'process_name',
    'num_process_names',
    'process_id',
    'num_process_ids',
    'process_args',
    'num_process_args',
    'nat_outgoing_ports',
  ];
  let deny = 0;
  let service = 0;
  const files = filesUnder(r, 'nodes/', 'flows.log');
  assert.equal(files.length, 3);
  assert.equal(filesUnder(r, 'nodes/', 'events.log').length, 0, 'no Hubble on a Calico cluster');
  for (const f of files)
    for (const rec of jsonl(join(r.dir, f))) {
      assert.deepEqual(Object.keys(rec).sort(), [...keys].sort());
      assert.ok(Number.isInteger(rec.start_time) && (rec.end_time as number) - (rec.start_time as number) === 15);
      assert.ok(['wep', 'hep', 'ns', 'net'].includes(rec.source_type as string));
      assert.ok(['allow', 'deny'].includes(rec.action as string) && ['src', 'dst'].includes(rec.reporter as string));
      assert.equal(rec.proto, 'tcp');
      for (const p of (rec.policies as { enforced_policies: string[] }).enforced_policies)
        assert.match(p, /^\d+\|[^|]+\|[^|]+\|(allow|deny|pass)\|-?\d+$/);
      if (rec.action === 'deny') deny++;
      if (rec.dest_service_name !== '-') service++;
    }
  assert.ok(deny > 0 && service > 0);
});

test('OTLP/JSON export requests: the agent maps every span', () => {
  const r = run({ seed: 35, tracingShare: 1 });
  let spans = 0;
  let withRequestId = 0;
  for (const f of filesUnder(r, 'nodes/', 'requests.jsonl')) {
    for (const line of jsonl<{ sent_at: string; body: Record<string, unknown> }>(join(r.dir, f))) {
      // Over the wire the body is JSON text; parse it as the receiver does.
      const result = mapExportRequest(JSON.parse(JSON.stringify(line.body)), {
        node: 'n',
        source: 'otlp-http',
        observedUs: 1,
      });
      assert.equal(result.rejected.size, 0, result.firstProblem);
      assert.equal(result.rows.length, result.received);
      spans += result.rows.length;
      for (const row of result.rows) {
        assert.ok(row.k8s_pod && row.k8s_namespace && row.k8s_node, 'resource attributes kept');
        if (row.kind === 'SERVER') assert.ok(row.peer_address && row.http_status !== undefined);
        if (row.kind === 'CLIENT') assert.ok(row.server_address?.endsWith('.svc.cluster.local'));
        if (row.request_id) withRequestId++;
      }
    }
  }
  assert.equal(spans, r.manifest.counts.spans);
  assert.ok(withRequestId > 0, 'some instrumentations capture x-request-id');
});

test('Kubernetes objects: Pods, Services, EndpointSlices, Nodes and Events as the API serves them', () => {
  const r = run({ seed: 36, durationS: 60, faults: { churn: 2 } });
  const cs = changes(r);
  const kinds = new Set(cs.map((c) => `${c.collection}:${c.object.kind}`));
  for (const k of ['pods:Pod', 'services:Service', 'endpointslices:EndpointSlice', 'nodes:Node', 'events.k8s.io:Event'])
    assert.ok(kinds.has(k), k);
  const pods = new Map<string, { ip?: string }>();
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i]!;
    if (i) assert.ok(c.at >= cs[i - 1]!.at, 'changes in time order');
    const o = c.object;
    assert.ok(o.apiVersion && o.metadata.name && o.metadata.uid && o.metadata.creationTimestamp);
    if (c.collection === 'pods') {
      assert.equal(o.metadata.ownerReferences[0].kind, 'ReplicaSet');
      assert.ok(o.spec.nodeName && o.spec.containers.length > 0);
      if (o.status.phase === 'Running') {
        assert.equal(o.status.podIPs[0].ip, o.status.podIP);
        for (const cst of o.status.containerStatuses) assert.match(cst.containerID, /^containerd:\/\/[0-9a-f]{64}$/);
        pods.set(o.metadata.uid, { ip: o.status.podIP });
      }
    }
    if (c.collection === 'endpointslices') {
      assert.equal(o.addressType, 'IPv4');
      assert.ok(o.metadata.labels['kubernetes.io/service-name']);
      for (const e of o.endpoints) {
        assert.equal(e.targetRef.kind, 'Pod');
        assert.equal(pods.get(e.targetRef.uid)?.ip, e.addresses[0], 'endpoint address is its pod IP');
        if (e.conditions.terminating) assert.equal(e.conditions.ready, false);
      }
    }
    if (c.collection === 'services') {
      assert.deepEqual(o.spec.clusterIPs, [o.spec.clusterIP]);
      if (o.spec.type === 'LoadBalancer') assert.ok(o.status.loadBalancer.ingress[0].ip && o.spec.ports[0].nodePort);
    }
  }
  assert.ok(cs.some((c) => c.type === 'DELETED' && c.collection === 'pods'));
});
