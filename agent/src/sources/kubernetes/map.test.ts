// Mapping Kubernetes objects into rows: what is kept, what never is, and the
// local pod index built from the same state.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TABLES } from '../../contract/generated.ts';
import { validateRow } from '../../contract/validate.ts';
import {
  contentKey,
  MetadataFilter,
  mapEndpointSlice,
  mapEvent,
  mapNode,
  mapPod,
  mapService,
  type ObjectState,
  objectRow,
  ownerWorkload,
  redactMessage,
} from './map.ts';
import { PodIndex } from './pod-index.ts';

const filter = new MetadataFilter({
  labelAllow: ['*'],
  labelDeny: ['controller-revision-hash', 'secret-*'],
  annotationAllow: ['sidecar.istio.io/status', 'kubectl.kubernetes.io/*'],
});
const rc = { node: 'node-a', source: 'k8s-watch' };

function ok<T>(m: { ok: true; value: T } | { ok: false; problem: string }): T {
  if (!m.ok) throw new Error(m.problem);
  return m.value;
}

const pod = {
  metadata: {
    name: 'checkout-6f7c9d8b5-x2x9q',
    namespace: 'shop',
    uid: 'u-1',
    resourceVersion: '42',
    creationTimestamp: '2026-11-01T10:00:00Z',
    labels: { app: 'checkout', 'pod-template-hash': '6f7c9d8b5', 'secret-hint': 'CANARY-LABEL' },
    annotations: {
      'kubectl.kubernetes.io/last-applied-configuration': '{"spec":{"env":"CANARY-LAST-APPLIED"}}',
      'kubectl.kubernetes.io/restartedAt': '2026-11-01T09:00:00Z',
      'vault.hashicorp.com/agent-inject-secret': 'CANARY-ANNOTATION',
    },
    ownerReferences: [
      { kind: 'Node', name: 'not-the-controller' },
      { kind: 'ReplicaSet', name: 'checkout-6f7c9d8b5', controller: true },
    ],
    managedFields: [{ manager: 'kubectl', fieldsV1: { 'f:spec': {} } }],
  },
  spec: {
    nodeName: 'node-a',
    initContainers: [
      { name: 'migrate', image: 'migrate:1', env: [{ name: 'DB_PASSWORD', value: 'CANARY-INIT-ENV' }] },
      { name: 'proxy', image: 'envoy:1.30', restartPolicy: 'Always', ports: [{ containerPort: 15001, name: 'out' }] },
    ],
    containers: [
      {
        name: 'app',
        image: 'checkout:2.1',
        command: ['run', '--token=CANARY-ARG'],
        env: [{ name: 'API_KEY', value: 'CANARY-ENV' }],
        envFrom: [{ secretRef: { name: 'checkout-secrets' } }],
        ports: [{ containerPort: 8080, name: 'http', protocol: 'TCP' }, { containerPort: 99999 }],
      },
    ],
  },
  status: {
    phase: 'Running',
    hostIP: '192.168.1.10',
    podIP: '10.1.2.3',
    podIPs: [{ ip: '10.1.2.3' }, { ip: 'fd00::3' }],
    startTime: '2026-11-01T10:00:01Z',
    conditions: [{ type: 'Ready', status: 'True' }],
    containerStatuses: [{ name: 'app', containerID: 'containerd://aaaa', ready: true }],
    initContainerStatuses: [
      { name: 'migrate', containerID: 'containerd://mmmm', ready: false },
      { name: 'proxy', containerID: 'containerd://pppp', ready: true },
    ],
  },
};

test('pods keep identity, placement, workload, containers and ports — never env, args or annotations off the list', () => {
  const state = ok(mapPod(pod, filter));
  assert.equal(state.kind, 'Pod');
  assert.equal(state.owner_kind, 'Deployment');
  assert.equal(state.owner_name, 'checkout');
  assert.deepEqual(state.pod_ips, ['10.1.2.3', 'fd00::3']);
  assert.equal(state.host_ip, '192.168.1.10');
  assert.equal(state.node_name, 'node-a');
  assert.equal(state.ready, true);
  assert.equal(state.host_network, false);
  assert.equal(state.creation_time, Date.UTC(2026, 10, 1, 10) * 1000);
  assert.deepEqual(state.labels, { app: 'checkout', 'pod-template-hash': '6f7c9d8b5' });
  assert.deepEqual(state.annotations, { 'kubectl.kubernetes.io/restartedAt': '2026-11-01T09:00:00Z' });
  assert.deepEqual(
    state.containers?.map((c) => [c.name, c.container_id, c.is_init, c.ports?.map((p) => p.port)]),
    [
      ['app', 'aaaa', false, [8080]],
      ['proxy', 'pppp', true, [15001]],
    ],
  );
  const row = objectRow(state, 'ADDED', 1, 2, rc);
  assert.equal(validateRow(TABLES.k8s_objects, row), undefined);
  const text = JSON.stringify(row);
  for (const canary of ['CANARY', 'checkout-secrets', 'managedFields', 'migrate'])
    assert.ok(!text.includes(canary), canary);
});

test('owner workload: ReplicaSet → Deployment only when the pod-template-hash confirms it', () => {
  const rs = { ownerReferences: [{ kind: 'ReplicaSet', name: 'api-5d9f', controller: true }] };
  assert.deepEqual(ownerWorkload({ ...rs, labels: { 'pod-template-hash': '5d9f' } }), {
    kind: 'Deployment',
    name: 'api',
  });
  assert.deepEqual(ownerWorkload(rs), { kind: 'ReplicaSet', name: 'api-5d9f' });
  assert.deepEqual(ownerWorkload({ ...rs, labels: { 'pod-template-hash': 'other' } }), {
    kind: 'ReplicaSet',
    name: 'api-5d9f',
  });
  assert.deepEqual(ownerWorkload({ ownerReferences: [{ kind: 'StatefulSet', name: 'db', controller: true }] }), {
    kind: 'StatefulSet',
    name: 'db',
  });
  assert.equal(ownerWorkload({ ownerReferences: [{ kind: 'ReplicaSet', name: 'x' }] }), undefined);
  assert.equal(ownerWorkload({}), undefined);
});

test('services, endpoint slices and nodes keep what resolves an address', () => {
  const svc = ok(
    mapService(
      {
        metadata: { name: 'web', namespace: 'shop', uid: 's1', resourceVersion: '7' },
        spec: {
          type: 'LoadBalancer',
          clusterIP: '10.96.0.10',
          clusterIPs: ['10.96.0.10', 'fd00:96::10'],
          ports: [
            { name: 'http', port: 80, targetPort: 'http', nodePort: 30080, appProtocol: 'http' },
            { port: 443, targetPort: 8443, protocol: 'TCP' },
            { port: 'bad' },
          ],
          selector: { app: 'web' },
          externalTrafficPolicy: 'Local',
          internalTrafficPolicy: 'Cluster',
        },
        status: { loadBalancer: { ingress: [{ ip: '203.0.113.7' }, { hostname: 'lb.example' }] } },
      },
      filter,
    ),
  );
  assert.deepEqual(svc.cluster_ips, ['10.96.0.10', 'fd00:96::10']);
  assert.deepEqual(
    svc.service_ports?.map((p) => [p.name ?? null, p.port, p.target_port, p.node_port ?? null]),
    [
      ['http', 80, 'http', 30080],
      [null, 443, '8443', null],
    ],
  );
  assert.deepEqual(svc.selector, { app: 'web' });
  assert.deepEqual(svc.load_balancer_ips, ['203.0.113.7']);
  assert.equal(validateRow(TABLES.k8s_objects, objectRow(svc, 'SNAPSHOT', 1, 1, rc)), undefined);

  const slice = ok(
    mapEndpointSlice(
      {
        metadata: {
          name: 'web-abc12',
          namespace: 'shop',
          uid: 'e1',
          resourceVersion: '8',
          labels: { 'kubernetes.io/service-name': 'web' },
        },
        addressType: 'IPv4',
        endpoints: [
          {
            addresses: ['10.1.2.3'],
            conditions: { ready: true, serving: true, terminating: false },
            targetRef: { kind: 'Pod', namespace: 'shop', name: 'web-1', uid: 'p1' },
            nodeName: 'node-a',
            zone: 'z1',
          },
          { addresses: ['10.1.2.4'], conditions: {} },
        ],
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      },
      filter,
    ),
  );
  assert.equal(slice.service_name, 'web');
  assert.equal(slice.endpoints?.[0]?.target_name, 'web-1');
  assert.equal(slice.endpoints?.[1]?.ready, undefined);
  assert.equal(slice.endpoint_ports?.[0]?.port, 8080);

  const node = ok(
    mapNode(
      {
        metadata: { name: 'node-a', uid: 'n1', resourceVersion: '9' },
        spec: { podCIDR: '10.1.0.0/24', podCIDRs: ['10.1.0.0/24', 'fd00:1::/64'] },
        status: {
          addresses: [
            { type: 'InternalIP', address: '192.168.1.10' },
            { type: 'Hostname', address: 'node-a' },
          ],
        },
      },
      filter,
    ),
  );
  assert.deepEqual(node.node_internal_ips, ['192.168.1.10']);
  assert.deepEqual(node.pod_cidrs, ['10.1.0.0/24', 'fd00:1::/64']);
  assert.equal(node.namespace, undefined);
});

test('objects without uid, name or resourceVersion are refused with a reason', () => {
  const r = mapPod({ metadata: { name: 'x', resourceVersion: '1' } }, filter);
  assert.equal(r.ok, false);
  assert.equal(mapService({ spec: {} }, filter).ok, false);
});

test('a status heartbeat that changes nothing kept has the same content key', () => {
  const a = ok(mapPod(pod, filter));
  const b = ok(
    mapPod(
      {
        ...pod,
        metadata: { ...pod.metadata, resourceVersion: '43' },
        status: { ...pod.status, conditions: [{ type: 'Ready', status: 'True', lastProbeTime: 'x' }] },
      },
      filter,
    ),
  );
  assert.equal(contentKey(a), contentKey(b));
  const c = ok(mapPod({ ...pod, status: { ...pod.status, phase: 'Failed' } }, filter));
  assert.notEqual(contentKey(a), contentKey(c));
});

test('snapshot rows of an unchanged object get distinct ids; change rows are deterministic', () => {
  const s = ok(mapPod(pod, filter));
  assert.notEqual(objectRow(s, 'SNAPSHOT', 1, 1, rc).record_id, objectRow(s, 'SNAPSHOT', 2, 2, rc).record_id);
  assert.equal(objectRow(s, 'MODIFIED', 1, 1, rc).record_id, objectRow(s, 'MODIFIED', 9, 9, rc).record_id);
  assert.notEqual(objectRow(s, 'MODIFIED', 1, 1, rc).record_id, objectRow(s, 'DELETED', 1, 1, rc).record_id);
});

test('events from both APIs map to the same columns; messages are bounded and credential values blanked', () => {
  const core = ok(
    mapEvent(
      {
        metadata: { name: 'web.1', namespace: 'shop', uid: 'ev1', resourceVersion: '5' },
        involvedObject: { kind: 'Pod', namespace: 'shop', name: 'web', uid: 'p1', fieldPath: 'spec.containers{app}' },
        reason: 'Failed',
        message: 'Failed to pull image "r.example/app": https://bot:CANARY-URL@r.example denied; password=CANARY-KV',
        source: { component: 'kubelet', host: 'node-a' },
        firstTimestamp: '2026-11-01T10:00:00Z',
        lastTimestamp: '2026-11-01T10:05:00Z',
        count: 3,
        type: 'Warning',
        eventTime: null,
      },
      7,
      { message: 'redact' },
      rc,
    ),
  );
  assert.equal(core.event_time, Date.UTC(2026, 10, 1, 10, 5) * 1000);
  assert.equal(core.first_time, Date.UTC(2026, 10, 1, 10, 0) * 1000);
  assert.equal(core.count, 3);
  assert.equal(core.reporting_component, 'kubelet');
  assert.equal(core.reporting_instance, 'node-a');
  assert.equal(core.involved_field_path, 'spec.containers{app}');
  assert.match(core.message ?? '', /^Failed to pull image "r.example\/app": https:\/\/\[redacted\]@r.example denied/);
  assert.ok(!(core.message ?? '').includes('CANARY'));

  const modern = ok(
    mapEvent(
      {
        metadata: { name: 'web.2', namespace: 'shop', uid: 'ev2', resourceVersion: '6' },
        regarding: { kind: 'Pod', name: 'web', namespace: 'shop' },
        note: `Back-off ${'x'.repeat(5000)}`,
        reason: 'BackOff',
        type: 'Warning',
        eventTime: '2026-11-01T10:00:00.123456Z',
        series: { count: 9, lastObservedTime: '2026-11-01T10:09:00.654321Z' },
        reportingController: 'kubelet',
        reportingInstance: 'node-b',
        action: 'Restarting',
      },
      7,
      { message: 'keep' },
      rc,
    ),
  );
  assert.equal(modern.event_time, Date.UTC(2026, 10, 1, 10, 9) * 1000 + 654321);
  assert.equal(modern.first_time, Date.UTC(2026, 10, 1, 10, 0) * 1000 + 123456);
  assert.equal(modern.count, 9);
  assert.equal(modern.message?.length, 1024);
  assert.equal(modern.action, 'Restarting');
  assert.equal(validateRow(TABLES.k8s_events, modern), undefined);

  const dropped = ok(
    mapEvent({ metadata: { name: 'a', uid: 'u', resourceVersion: '1' }, message: 'x' }, 7, { message: 'drop' }, rc),
  );
  assert.equal(dropped.message, undefined);
  assert.equal(dropped.event_time, 7);
});

test('redaction blanks credential values and keeps the sentence', () => {
  const cases: [string, string][] = [
    ['login failed: password=hunter2 for user bob', 'login failed: password=[redacted] for user bob'],
    ['"apiKey": "abc123" rejected', '"apiKey": [redacted] rejected'],
    ['sent Authorization: Bearer eyJhbGciOi.x.y to api', 'sent Authorization: Bearer [redacted] to api'],
    ['fetch https://u:p4ss@git.example/repo.git failed', 'fetch https://[redacted]@git.example/repo.git failed'],
    ['key AKIAABCDEFGHIJKLMNOP used', 'key [redacted] used'],
    ['Readiness probe failed: connection refused', 'Readiness probe failed: connection refused'],
  ];
  for (const [input, expected] of cases) assert.equal(redactMessage(input), expected);
});

test('the pod index finds pods by uid, container id and IP; a reused IP belongs to the running pod', () => {
  const index = new PodIndex();
  const a = ok(mapPod(pod, filter));
  index.upsert(a);
  assert.equal(index.byUid('u-1')?.name, pod.metadata.name);
  assert.equal(index.byContainerId('containerd://aaaa')?.uid, 'u-1');
  assert.equal(index.byContainerId('pppp')?.uid, 'u-1');
  assert.equal(index.byIp('fd00::3')?.uid, 'u-1');
  assert.equal(index.byName('shop', pod.metadata.name)?.uid, 'u-1');

  const finished: ObjectState = { ...a, phase: 'Succeeded', resource_version: '50' };
  index.upsert(finished);
  assert.equal(index.byIp('10.1.2.3'), undefined);
  const b: ObjectState = {
    ...a,
    uid: 'u-2',
    name: 'new',
    pod_ips: ['10.1.2.3'],
    containers: [],
    resource_version: '51',
  };
  index.upsert(b);
  assert.equal(index.byIp('10.1.2.3')?.uid, 'u-2');
  index.remove('u-1');
  assert.equal(index.byIp('10.1.2.3')?.uid, 'u-2');
  assert.equal(index.byContainerId('aaaa'), undefined);
  const host: ObjectState = { ...b, uid: 'u-3', host_network: true, pod_ips: ['192.168.1.10'] };
  index.upsert(host);
  assert.equal(index.byIp('192.168.1.10'), undefined);
  assert.equal(index.size, 2);
});
