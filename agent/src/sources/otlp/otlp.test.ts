// The receiver inside a real agent, fed by the OpenTelemetry JS SDK's own
// OTLP exporters (gRPC, HTTP/protobuf, HTTP/JSON; plain and gzip), with the
// landed Parquet read back by pyarrow.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { stringify } from 'yaml';
import { testConfig } from '../../../../test/support/agent.ts';
import {
  EXPORTERS,
  type ExporterKind,
  exportWith,
  makeSpans,
  readSpanRows,
  startOtlpAgent,
} from '../../../../test/support/otlp.ts';
import { tempDir } from '../../../../test/support/tmp.ts';
import type { ConfigError } from '../../config/load.ts';

const K8S = {
  'k8s.namespace.name': 'shop',
  'k8s.pod.name': 'orders-7d9c-abcde',
  'k8s.pod.uid': '6f1c2d3e-uid',
  'k8s.node.name': 'node-7',
  'k8s.container.name': 'orders',
};

/** A server span, a client call it made (older conventions), and a gRPC server span. */
function scenario(service: string): ReadableSpan[] {
  return makeSpans(
    [
      {
        name: 'GET /orders/{id}',
        kind: SpanKind.SERVER,
        status: { code: SpanStatusCode.OK },
        attributes: {
          'http.request.method': 'GET',
          'http.route': '/orders/{id}',
          'url.path': '/orders/42',
          'url.query': 'token=not-kept',
          'http.response.status_code': 200,
          'server.address': 'orders.shop.svc',
          'server.port': 8080,
          'network.peer.address': '10.1.2.3',
          'network.peer.port': 51234,
          'http.request.header.x-request-id': ['req-abc-123'],
        },
        durationMs: 40,
      },
      {
        name: 'POST',
        kind: SpanKind.CLIENT,
        parent: 0,
        status: { code: SpanStatusCode.ERROR, message: 'upstream failed' },
        attributes: {
          'http.method': 'POST',
          'http.url': 'http://payments:9000/charge?card=not-kept',
          'http.status_code': 502,
          'net.peer.name': 'payments',
          'net.peer.port': 9000,
          'net.sock.peer.addr': '10.1.9.9',
        },
      },
      {
        name: 'shop.Cart/Add',
        kind: SpanKind.SERVER,
        attributes: {
          'rpc.system': 'grpc',
          'rpc.service': 'shop.Cart',
          'rpc.method': 'Add',
          'rpc.grpc.status_code': 5,
          'net.host.name': 'cart',
          'net.host.port': 50051,
          'net.peer.ip': '10.1.4.4',
          'net.peer.port': 40000,
        },
      },
    ],
    { 'service.name': service, ...K8S },
  );
}

const us = (t: readonly [number, number]) => t[0] * 1_000_000 + Math.floor(t[1] / 1000);

/** What the agent must land for each SDK span (everything the test can know up front). */
function expectedRow(span: ReadableSpan, source: string) {
  const ctx = span.spanContext();
  return {
    trace_id: ctx.traceId,
    span_id: ctx.spanId,
    parent_span_id: span.parentSpanContext?.spanId ?? null,
    name: span.name,
    source,
    node: 'node-a',
    start_time: us(span.startTime),
    end_time: us(span.endTime),
    event_time: us(span.endTime),
    duration_us: us(span.endTime) - us(span.startTime),
    service_name: span.resource.attributes['service.name'],
    k8s_namespace: 'shop',
    k8s_pod: 'orders-7d9c-abcde',
    k8s_pod_uid: '6f1c2d3e-uid',
    k8s_node: 'node-7',
    k8s_container: 'orders',
    scope_name: 'hoptrace-test',
  };
}

const pickKeys = (row: Record<string, unknown>, keys: readonly string[]) =>
  Object.fromEntries(keys.map((k) => [k, row[k]]));

test('the SDK exporters (gRPC, HTTP/protobuf, HTTP/JSON; plain and gzip) land every span, mapped', async () => {
  const dir = tempDir();
  const { agent, ports } = await startOtlpAgent(dir);
  const sent = new Map<string, { span: ReadableSpan; source: string }>();
  try {
    for (const kind of EXPORTERS)
      for (const gzip of [false, true]) {
        const spans = scenario(`svc-${kind}-${gzip ? 'gzip' : 'plain'}`);
        const result = await exportWith(kind, ports, spans, { gzip });
        assert.equal(result.code, 0, `${kind} gzip=${gzip}: ${result.error?.message}`);
        for (const span of spans)
          sent.set(span.spanContext().spanId, { span, source: kind === 'grpc' ? 'otlp-grpc' : 'otlp-http' });
      }
  } finally {
    await agent.stop();
  }
  const rows = await readSpanRows(join(dir, 'landing'));
  assert.equal(rows.length, sent.size);
  for (const row of rows) {
    const { span, source } = sent.get(row.span_id as string)!;
    const expected = expectedRow(span, source);
    assert.deepEqual(pickKeys(row, Object.keys(expected)), expected);
  }
  const byName = (name: string) => rows.filter((r) => r.name === name);
  for (const r of byName('GET /orders/{id}'))
    assert.deepEqual(
      pickKeys(r, [
        'kind',
        'status_code',
        'http_method',
        'http_route',
        'url_path',
        'http_status',
        'server_address',
        'server_port',
        'peer_address',
        'peer_port',
        'request_id',
      ]),
      {
        kind: 'SERVER',
        status_code: 'OK',
        http_method: 'GET',
        http_route: '/orders/{id}',
        url_path: '/orders/42',
        http_status: 200,
        server_address: 'orders.shop.svc',
        server_port: 8080,
        peer_address: '10.1.2.3',
        peer_port: 51234,
        request_id: 'req-abc-123',
      },
    );
  for (const r of byName('POST'))
    assert.deepEqual(
      pickKeys(r, ['kind', 'status_code', 'http_method', 'url_path', 'http_status', 'server_address', 'peer_address']),
      {
        kind: 'CLIENT',
        status_code: 'ERROR',
        http_method: 'POST',
        url_path: '/charge',
        http_status: 502,
        server_address: 'payments',
        peer_address: '10.1.9.9',
      },
    );
  for (const r of byName('shop.Cart/Add'))
    assert.deepEqual(
      pickKeys(r, [
        'rpc_system',
        'rpc_service',
        'rpc_method',
        'grpc_status',
        'server_address',
        'server_port',
        'peer_address',
        'peer_port',
      ]),
      {
        rpc_system: 'grpc',
        rpc_service: 'shop.Cart',
        rpc_method: 'Add',
        grpc_status: 5,
        server_address: 'cart',
        server_port: 50051,
        peer_address: '10.1.4.4',
        peer_port: 40000,
      },
    );
  assert.ok(!JSON.stringify(rows).includes('not-kept'));
  assert.deepEqual(agent.metrics.drops(), []);
  const received = await agent.metrics.otlpSpansReceived.get();
  assert.deepEqual(received.values.map((v) => [v.labels.protocol, v.value]).sort(), [
    ['grpc', 6],
    ['http', 12],
  ]);
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

test('hoptrace run: an otlp source from the config file receives, exposes metrics, and lands on SIGTERM', async () => {
  const dir = tempDir();
  const [grpcPort, httpPort, serverPort] = [await freePort(), await freePort(), await freePort()];
  writeFileSync(
    join(dir, 'hoptrace.yaml'),
    stringify({
      node_name: 'node-run',
      spool: { dir: 'spool' },
      store: { type: 'local', dir: 'landing' },
      batch: { max_age: '1h' },
      server: { host: '127.0.0.1', port: serverPort },
      log: { level: 'warn' },
      sources: [
        {
          type: 'otlp',
          grpc: { host: '127.0.0.1', port: grpcPort },
          http: { host: '127.0.0.1', port: httpPort },
        },
      ],
    }),
  );
  const child = spawn(process.execPath, ['agent/bin/hoptrace.ts', 'run', '--config', join(dir, 'hoptrace.yaml')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ports = { grpc: grpcPort, http: httpPort };
  const sent: Record<ExporterKind, ReadableSpan[]> = {
    grpc: scenario('svc-grpc'),
    'http-proto': scenario('svc-proto'),
    'http-json': scenario('svc-json'),
  };
  try {
    // The receiver listens shortly after start; exporters retry refused connections within their timeout.
    for (const kind of EXPORTERS) {
      let result = await exportWith(kind, ports, sent[kind]);
      for (let i = 0; i < 100 && result.code !== 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        result = await exportWith(kind, ports, sent[kind]);
      }
      assert.equal(result.code, 0, `${kind}: ${result.error?.message} ${stderr}`);
    }
    const metrics = await (await fetch(`http://127.0.0.1:${serverPort}/metrics`)).text();
    assert.match(metrics, /hoptrace_otlp_spans_received_total\{protocol="grpc"\} 3/);
    assert.match(metrics, /hoptrace_otlp_spans_received_total\{protocol="http"\} 6/);
    assert.match(metrics, /hoptrace_otlp_requests_total\{protocol="http",result="ok"\} 2/);
    assert.match(metrics, /hoptrace_otlp_request_bytes_bucket\{le="\d+",protocol="grpc"\}/);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  } finally {
    child.kill('SIGKILL');
  }
  const rows = await readSpanRows(join(dir, 'landing'));
  assert.equal(rows.length, 9);
  assert.deepEqual(new Set(rows.map((r) => r.node)), new Set(['node-run']));
  assert.deepEqual(
    rows.map((r) => r.span_id).sort(),
    Object.values(sent)
      .flat()
      .map((s) => s.spanContext().spanId)
      .sort(),
  );
});

test('config: defaults are the OTLP ports and limits; contradictory settings are refused with the key named', () => {
  const dir = tempDir();
  const [otlp] = testConfig(dir, { sources: [{ type: 'otlp' }] }).sources;
  assert.deepEqual(otlp, {
    type: 'otlp',
    name: 'otlp',
    grpc: { enabled: true, host: '0.0.0.0', port: 4317 },
    http: { enabled: true, host: '0.0.0.0', port: 4318 },
    max_request_bytes: 16 * 1024 * 1024,
    max_inflight_bytes: 64 * 1024 * 1024,
    retry_after: 5000,
  });
  assert.throws(
    () => testConfig(dir, { sources: [{ type: 'otlp', grpc: { enabled: false }, http: { enabled: false } }] }),
    (err: ConfigError) => err.problems.some((p) => p.startsWith('sources.0.grpc.enabled: enable at least one')),
  );
  assert.throws(
    () => testConfig(dir, { sources: [{ type: 'otlp', max_request_bytes: '32MiB', max_inflight_bytes: '16MiB' }] }),
    (err: ConfigError) => err.problems.some((p) => p.startsWith('sources.0.max_inflight_bytes:')),
  );
  assert.throws(
    () => testConfig(dir, { sources: [{ type: 'otlp', retry_after: 'soon', grpc: { port: 70000 } }] }),
    (err: ConfigError) => err.problems.length === 2,
  );
});
