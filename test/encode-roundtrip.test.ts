// The agent's Parquet, judged by an independent reader (pyarrow): exact
// values, nulls, timestamps, lists, maps, and the footer's logical types,
// codec and page version that Spark depends on.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { TableBatch } from '../agent/src/batch/table-batch.ts';
import { type HttpRequestRow, TABLES } from '../agent/src/contract/generated.ts';
import { parseTimestampUs } from '../agent/src/contract/time.ts';
import { validateRow } from '../agent/src/contract/validate.ts';
import { ParquetEncoder } from '../agent/src/encode/parquet-encoder.ts';
import { runPython } from './support/python.ts';
import { tempDir } from './support/tmp.ts';

const READ_BACK = `
import json, sys
import pyarrow.parquet as pq
path = sys.argv[1]
pf = pq.ParquetFile(path)
table = pf.read()
rows = []
for r in table.cast(table.schema).to_pylist():
    out = {}
    for k, v in r.items():
        out[k] = v
    rows.append(out)
# timestamps as integer microseconds, exactly
import pyarrow as pa, pyarrow.compute as pc
ts = {c: [None if v is None else v for v in table.column(c).cast(pa.int64()).to_pylist()]
      for c in ('event_time', 'observed_time', 'start_time')}
meta = pf.metadata
col = {meta.row_group(0).column(i).path_in_schema: meta.row_group(0).column(i) for i in range(meta.num_columns)}
et = col['event_time']
with open(path, 'rb') as f:
    f.seek(et.data_page_offset)
    page_header = f.read(2)
schema = pf.schema_arrow
print(json.dumps({
  'num_rows': meta.num_rows,
  'created_by': meta.created_by,
  'rows': rows,
  'ts': ts,
  'compression': sorted({meta.row_group(0).column(i).compression for i in range(meta.num_columns)}),
  'event_time_logical': str(pf.schema.column(1).logical_type),
  'event_time_physical': pf.schema.column(1).physical_type,
  'path_logical': str(pf.schema.column(pf.schema.names.index('path')).logical_type),
  'attempts_type': str(schema.field('upstream_attempts').type),
  'forwarded_for_type': str(schema.field('forwarded_for').type),
  'page_header_hex': page_header.hex(),
  'nullable': {f.name: f.nullable for f in schema},
}, default=str))
`;

const base = parseTimestampUs('2026-11-25T07:00:01.123456Z')!;

function row(overrides: Partial<HttpRequestRow>): HttpRequestRow {
  return {
    record_id: 'r',
    event_time: base,
    observed_time: base + 250_000,
    node: 'node-a',
    source: 'ingress-nginx',
    schema_version: 1,
    proxy: 'ingress-nginx',
    role: 'ingress',
    ...overrides,
  };
}

test('pyarrow reads back exactly what the agent wrote', async () => {
  const dir = tempDir();
  const rows: HttpRequestRow[] = [
    row({
      record_id: 'full',
      start_time: base - 1530,
      namespace: 'ingress-nginx',
      request_id: 'a1b2c3',
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      method: 'POST',
      path: '/café/übersicht',
      status: 503,
      grpc_status: 14,
      duration_us: 5_000_000_123, // > 2^32
      downstream_remote_port: 65535,
      forwarded_for: ['203.0.113.7', '10.0.0.1'],
      upstream_attempts: [
        { address: '10.244.2.21', port: 8080, status: 502, duration_us: 1000, bytes_received: 0 },
        { address: 'unix:/var/run/php-fpm.sock', port: null, status: null, duration_us: null },
      ],
      bytes_sent: -1,
    }),
    row({ record_id: 'sparse', event_time: base + 1, observed_time: base + 2 }),
    row({ record_id: 'bounded', user_agent: 'x'.repeat(10_000), forwarded_for: [] }),
  ];
  for (const r of rows) assert.equal(validateRow(TABLES.http_requests, r), undefined);
  const truncated: string[] = [];
  const batch = new TableBatch(TABLES.http_requests, 0, Date.now(), (c) => truncated.push(c));
  for (const r of rows) batch.append(r as unknown as Record<string, unknown>, r.event_time);
  const encoder = new ParquetEncoder({ compression: 'zstd', rowGroupRows: 1000, createdBy: 'hoptrace version 0.1.0' });
  const bytes = await encoder.encode(batch.toColumns());
  await encoder.close();
  const path = join(dir, 'http.parquet');
  writeFileSync(path, bytes);

  const got = await runPython<{
    num_rows: number;
    created_by: string;
    rows: Record<string, unknown>[];
    ts: Record<string, (number | null)[]>;
    compression: string[];
    event_time_logical: string;
    event_time_physical: string;
    path_logical: string;
    attempts_type: string;
    forwarded_for_type: string;
    page_header_hex: string;
    nullable: Record<string, boolean>;
  }>(READ_BACK, [path]);

  assert.equal(got.num_rows, 3);
  assert.match(got.created_by, /^hoptrace version 0\.1\.0/);
  assert.deepEqual(got.ts.event_time, [base, base + 1, base]);
  assert.deepEqual(got.ts.start_time, [base - 1530, null, null]);
  assert.deepEqual(got.ts.observed_time, [base + 250_000, base + 2, base + 250_000]);

  const [full, sparse, bounded] = got.rows as Record<string, unknown>[];
  assert.equal(full!.path, '/café/übersicht');
  assert.equal(full!.duration_us, 5_000_000_123);
  assert.equal(full!.bytes_sent, -1);
  assert.equal(full!.status, 503);
  assert.equal(full!.downstream_remote_port, 65535);
  assert.deepEqual(full!.forwarded_for, ['203.0.113.7', '10.0.0.1']);
  assert.deepEqual(full!.upstream_attempts, [
    { address: '10.244.2.21', port: 8080, status: 502, duration_us: 1000, bytes_received: 0 },
    { address: 'unix:/var/run/php-fpm.sock', port: null, status: null, duration_us: null, bytes_received: null },
  ]);
  // Omitted optional columns are null; omitted lists are empty, never null.
  assert.equal(sparse!.request_id, null);
  assert.equal(sparse!.status, null);
  assert.deepEqual(sparse!.forwarded_for, []);
  assert.deepEqual(sparse!.upstream_attempts, []);
  // String bounds from the contract are enforced and counted.
  assert.equal((bounded!.user_agent as string).length, 256);
  assert.deepEqual(truncated, ['user_agent']);

  // The footer Spark relies on.
  assert.deepEqual(got.compression, ['ZSTD']);
  assert.equal(got.event_time_physical, 'INT64');
  assert.match(got.event_time_logical, /Timestamp\(isAdjustedToUTC=true, timeUnit=microseconds/);
  assert.equal(got.path_logical, 'String');
  assert.match(got.attempts_type, /^list<element: struct<address: string not null, port: int32/);
  assert.equal(got.forwarded_for_type, 'list<element: string not null>');
  // Thrift compact PageHeader: field 1 (type, i32) = 0 → DATA_PAGE (V1), not DATA_PAGE_V2 (3).
  assert.equal(got.page_header_hex, '1500');
  assert.equal(got.nullable.record_id, false);
  assert.equal(got.nullable.request_id, true);
});

test('maps, booleans and nested lists of structs round-trip (k8s_objects)', async () => {
  const dir = tempDir();
  const batch = new TableBatch(TABLES.k8s_objects, 0, Date.now(), () => {});
  const pod = {
    record_id: 'p1',
    event_time: base,
    observed_time: base,
    node: 'node-a',
    source: 'k8s-watch',
    schema_version: 1,
    kind: 'Pod',
    uid: 'u1',
    namespace: 'shop',
    name: 'checkout-1',
    resource_version: '12345678901234567890',
    change_type: 'ADDED',
    labels: { app: 'checkout', 'topology.kubernetes.io/zone': 'eu-west-1b', empty: '' },
    pod_ips: ['10.244.2.21', 'fd00::21'],
    ready: false,
    containers: [
      {
        name: 'app',
        is_init: false,
        ready: true,
        ports: [
          { port: 8080, protocol: 'TCP', name: 'http' },
          { port: 9090, protocol: 'TCP' },
        ],
      },
      { name: 'istio-proxy', is_init: true, ports: [] },
    ],
  };
  const svc = { ...pod, record_id: 's1', kind: 'Service', labels: {}, pod_ips: [], containers: [], ready: null };
  assert.equal(validateRow(TABLES.k8s_objects, pod), undefined);
  batch.append(pod, base);
  batch.append(svc, base);
  const encoder = new ParquetEncoder({ compression: 'zstd', rowGroupRows: 1000, createdBy: 'hoptrace version 0.1.0' });
  const path = join(dir, 'k8s.parquet');
  writeFileSync(path, await encoder.encode(batch.toColumns()));
  await encoder.close();
  const got = await runPython<{ rows: Record<string, unknown>[]; labels_type: string }>(
    `
import json, sys
import pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
rows = t.select(['labels', 'pod_ips', 'ready', 'containers', 'resource_version']).to_pylist()
print(json.dumps({'rows': rows, 'labels_type': str(t.schema.field('labels').type)}))
`,
    [path],
  );
  assert.match(got.labels_type, /^map<string, string/);
  const [p, s] = got.rows;
  assert.deepEqual(p!.labels, [
    ['app', 'checkout'],
    ['topology.kubernetes.io/zone', 'eu-west-1b'],
    ['empty', ''],
  ]);
  assert.deepEqual(p!.pod_ips, ['10.244.2.21', 'fd00::21']);
  assert.equal(p!.ready, false);
  assert.equal(p!.resource_version, '12345678901234567890');
  assert.deepEqual(p!.containers, [
    {
      name: 'app',
      container_id: null,
      image: null,
      ready: true,
      is_init: false,
      ports: [
        { name: 'http', port: 8080, protocol: 'TCP' },
        { name: null, port: 9090, protocol: 'TCP' },
      ],
    },
    { name: 'istio-proxy', container_id: null, image: null, ready: null, is_init: true, ports: [] },
  ]);
  assert.deepEqual(s!.labels, []);
  assert.equal(s!.ready, null);
});
